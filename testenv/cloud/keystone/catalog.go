package keystone

// Endpoints are the versioned URLs the catalog publishes.
type Endpoints struct {
	Identity string // http://127.0.0.1:P/v3
	Compute  string // http://127.0.0.1:P/v2.1
	Volume   string // http://127.0.0.1:P/v3/<project id>
	Image    string // http://127.0.0.1:P (Glance, read-only: the image instances boot from)
}

type catalogEndpoint struct{ id, iface, url string }

type catalogService struct {
	id, name, kind string
	endpoints      []catalogEndpoint
}

// Publish fills the service catalog once the listeners' URLs are known: versioned URLs, as a real
// deployment registers them, so clients need no discovery round trip. It is called once, before Keystone serves.
func (s *Service) Publish(e Endpoints) {
	s.endpoints = e
	service := func(name, kind, url string) catalogService {
		svc := catalogService{id: s.ids.Hex32(), name: name, kind: kind}
		for _, iface := range []string{"public", "internal", "admin"} {
			svc.endpoints = append(svc.endpoints, catalogEndpoint{s.ids.Hex32(), iface, url})
		}
		return svc
	}
	s.catalog = []catalogService{
		service("keystone", "identity", e.Identity+"/"),
		service("nova", "compute", e.Compute),
		service("cinderv3", "volumev3", e.Volume),
		service("cinder", "block-storage", e.Volume),
		service("glance", "image", e.Image),
	}
}
