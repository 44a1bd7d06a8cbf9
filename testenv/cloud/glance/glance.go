package glance

import (
	"net/http"
	"time"

	"github.com/osdr/osdr/testenv/cloud/osapi"
)

// Authenticator is keystonemiddleware, which Glance runs behind as the other services do.
type Authenticator interface {
	Authenticate(w http.ResponseWriter, r *http.Request) (osapi.Token, bool)
}

// Service is Glance with its one image.
type Service struct {
	auth           Authenticator
	imageID, owner string
	created        time.Time
}

// New serves the image imageID, owned by the project owner and created at created.
func New(auth Authenticator, imageID, owner string, created time.Time) *Service {
	return &Service{auth: auth, imageID: imageID, owner: owner, created: created}
}

// Handler serves the read side of Glance's image API v2, every answer with its request id.
func (s *Service) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", s.versions)
	mux.HandleFunc("GET /v2/images", s.authenticated(s.listImages))
	mux.HandleFunc("GET /v2/images/{id}", s.authenticated(s.showImage))
	return osapi.WithRequestID(mux)
}

func (s *Service) authenticated(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if _, ok := s.auth.Authenticate(w, r); ok {
			h(w, r)
		}
	}
}

func (s *Service) versions(w http.ResponseWriter, r *http.Request) {
	self := []any{osapi.Link("self", osapi.BaseURL(r)+"/v2/")}
	versions := []any{map[string]any{"id": "v2.16", "status": "CURRENT", "links": self}}
	for _, v := range []string{"v2.15", "v2.9", "v2.7", "v2.6", "v2.5", "v2.4", "v2.3", "v2.2", "v2.1", "v2.0"} {
		versions = append(versions, map[string]any{"id": v, "status": "SUPPORTED", "links": self})
	}
	osapi.WriteJSON(w, http.StatusMultipleChoices, map[string]any{"versions": versions})
}

func (s *Service) imageView() map[string]any {
	created := s.created.Format(time.RFC3339)
	return map[string]any{
		"id": s.imageID, "name": "cirros-0.6.2-x86_64-disk", "status": "active", "visibility": "public",
		"protected": false, "os_hidden": false, "owner": s.owner, "size": 21430272,
		"virtual_size": 117440512, "min_ram": 0, "min_disk": 0, "disk_format": "qcow2", "container_format": "bare",
		"checksum": "c8fc807773e5354afe61636071771906", "os_hash_algo": "sha512",
		"os_hash_value": "1103b92ce8ad966e41235a4de260deb791ff571670c0342666c8582fbb9caefe6af07ebb11d34f44f8414b609b29c1bdf1d72ffa6faa39c88e8721d09847952b",
		"created_at":    created, "updated_at": created, "tags": []string{},
		"self": "/v2/images/" + s.imageID, "file": "/v2/images/" + s.imageID + "/file", "schema": "/v2/schemas/image",
	}
}

func (s *Service) listImages(w http.ResponseWriter, _ *http.Request) {
	osapi.WriteJSON(w, http.StatusOK, map[string]any{
		"images": []any{s.imageView()}, "schema": "/v2/schemas/images", "first": "/v2/images",
	})
}

func (s *Service) showImage(w http.ResponseWriter, r *http.Request) {
	if r.PathValue("id") != s.imageID {
		w.Header().Set("Content-Type", "text/html; charset=UTF-8")
		w.WriteHeader(http.StatusNotFound)
		_, _ = w.Write([]byte("<html>\n <head>\n  <title>404 Not Found</title>\n </head>\n <body>\n  <h1>404 Not Found</h1>\n  " +
			"No image found with ID " + r.PathValue("id") + "<br /><br />\n\n\n\n </body>\n</html>"))
		return
	}
	osapi.WriteJSON(w, http.StatusOK, s.imageView())
}
