package nova

import (
	"net/http"

	"github.com/osdr/osdr/testenv/cloud/osapi"
	"github.com/osdr/osdr/testenv/cloud/store"
)

// Handler serves Nova's compute API: the version documents without a token, everything under /v2.1/
// behind keystonemiddleware and microversion negotiation. Nova's router answers an unknown path, or a known
// one with a method it lacks, with a plain 404.
func (c *Service) Handler() http.Handler {
	svc := c.api
	mux := http.NewServeMux()
	// The version list's paste pipeline (oscomputeversions) has no compute_req_id; /v2.1's has.
	mux.HandleFunc("GET /{$}", c.versions)
	mux.Handle("GET /v2.1", svc.WithRequestID(c.version))
	mux.Handle("GET /v2.1/{$}", svc.WithRequestID(c.version))
	routes := map[string]osapi.Endpoint{
		"GET /v2.1/servers":                                        {Op: "list_servers", Serve: c.listServers},
		"GET /v2.1/servers/detail":                                 {Op: "list_servers", Serve: c.listServersDetail},
		"GET /v2.1/servers/{id}":                                   {Op: "show_server", Serve: c.showServer},
		"POST /v2.1/servers/{id}/action":                           {Serve: c.serverAction},
		"GET /v2.1/servers/{id}/os-volume_attachments":             {Op: "list_volume_attachments", Serve: c.listVolumeAttachments},
		"POST /v2.1/servers/{id}/os-volume_attachments":            {Op: "attach_volume", Serve: c.attachVolume},
		"GET /v2.1/servers/{id}/os-volume_attachments/{volume}":    {Op: "show_volume_attachment", Serve: c.showVolumeAttachment},
		"DELETE /v2.1/servers/{id}/os-volume_attachments/{volume}": {Op: "detach_volume", Serve: c.detachVolume},
		"GET /v2.1/servers/{id}/os-instance-actions":               {Op: "list_instance_actions", Serve: c.listInstanceActions},
		"GET /v2.1/servers/{id}/os-instance-actions/{request_id}":  {Op: "show_instance_action", Serve: c.showInstanceAction},
		"GET /v2.1/os-services":                                    {Op: "list_services", Serve: c.listServices},
		"GET /v2.1/flavors":                                        {Op: "list_flavors", Serve: c.listFlavors},
		"GET /v2.1/flavors/detail":                                 {Op: "list_flavors", Serve: c.listFlavorsDetail},
		"GET /v2.1/flavors/{id}":                                   {Op: "show_flavor", Serve: c.showFlavor},
	}
	for pattern, e := range routes {
		mux.Handle(pattern, svc.Route(e))
	}
	mux.Handle("/", svc.RouteNotFound())
	return mux
}

func (c *Service) versionDoc() map[string]any {
	return map[string]any{
		"id": "v2.1", "status": "CURRENT", "version": c.rel.MaxVersion.String(), "min_version": "2.1",
		"updated": "2013-07-23T11:33:21Z",
	}
}

// versions is GET /: both API versions, each linking to itself.
func (c *Service) versions(w http.ResponseWriter, r *http.Request) {
	base := osapi.BaseURL(r)
	v21 := c.versionDoc()
	v21["links"] = []any{osapi.Link("self", base+"/v2.1/")}
	osapi.WriteJSON(w, http.StatusOK, map[string]any{"versions": []any{
		map[string]any{
			"id": "v2.0", "status": "SUPPORTED", "version": "", "min_version": "", "updated": "2011-01-21T11:33:21Z",
			"links": []any{osapi.Link("self", base+"/v2/")},
		},
		v21,
	}})
}

// version is GET /v2.1: the current version with its media types.
func (c *Service) version(w http.ResponseWriter, r *http.Request) {
	base := osapi.BaseURL(r)
	v := c.versionDoc()
	v["links"] = []any{
		osapi.Link("self", base+"/v2.1/"),
		map[string]any{"rel": "describedby", "type": "text/html", "href": "http://docs.openstack.org/"},
	}
	v["media-types"] = []any{map[string]any{
		"base": "application/json", "type": "application/vnd.openstack.compute+json;version=2.1",
	}}
	osapi.WriteJSON(w, http.StatusOK, map[string]any{"version": v})
}

// listServices is GET /os-services (the compute API hides its own API services).
func (c *Service) listServices(w http.ResponseWriter, r *osapi.Request) error {
	services, err := listComputeServices(r.Context(), c.db)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	at := store.Now()
	out := []any{}
	for _, s := range services {
		if (q.Get("host") != "" && s.host.String != q.Get("host")) ||
			(q.Get("binary") != "" && s.binary.String != q.Get("binary")) {
			continue
		}
		state, status, zone := "down", "enabled", "internal"
		if s.isUp(at) {
			state = "up"
		}
		if s.disabled.Bool {
			status = "disabled"
		}
		if s.binary.String == "nova-compute" {
			zone = "nova"
		}
		d := map[string]any{
			"binary": s.binary.String, "host": s.host.String, "zone": zone, "status": status, "state": state,
			"updated_at": osapi.TimeOrNil(s.updatedAt, osapi.NaiveTime), "disabled_reason": osapi.NullString(s.disabledReason),
			"id": s.id,
		}
		if r.Version.AtLeast(2, 53) {
			d["id"] = s.uuid.String
		}
		if r.Version.AtLeast(2, 11) {
			d["forced_down"] = s.forcedDown.Bool
		}
		out = append(out, d)
	}
	osapi.WriteJSON(w, http.StatusOK, map[string]any{"services": out})
	return nil
}

// novaUnexpected is Nova's answer to an exception it did not expect: a 500 naming the exception's class.
func novaUnexpected(class string) *osapi.Error {
	return &osapi.Error{Code: http.StatusInternalServerError, Message: "Unexpected API Error. Please report this at " +
		"http://bugs.launchpad.net/nova/ and attach the Nova API log if possible.\n<class '" + class + "'>"}
}
