package cloud

import (
	"net/http"

	"github.com/osdr/osdr/testenv/cloud/store"
)

// novaHandler serves Nova's compute API: the version documents without a token, everything under /v2.1/
// behind keystonemiddleware and microversion negotiation. Nova's router answers an unknown path, or a known
// one with a method it lacks, with a plain 404.
func (c *Cloud) novaHandler() http.Handler {
	svc := c.novaService()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", c.novaVersions)
	mux.HandleFunc("GET /v2.1", c.novaVersion)
	mux.HandleFunc("GET /v2.1/{$}", c.novaVersion)
	routes := map[string]endpoint{
		"GET /v2.1/servers":                                        {"list_servers", c.listServers},
		"GET /v2.1/servers/detail":                                 {"list_servers", c.listServersDetail},
		"GET /v2.1/servers/{id}":                                   {"show_server", c.showServer},
		"POST /v2.1/servers/{id}/action":                           {"", c.serverAction},
		"GET /v2.1/servers/{id}/os-volume_attachments":             {"list_volume_attachments", c.listVolumeAttachments},
		"POST /v2.1/servers/{id}/os-volume_attachments":            {"attach_volume", c.attachVolume},
		"GET /v2.1/servers/{id}/os-volume_attachments/{volume}":    {"show_volume_attachment", c.showVolumeAttachment},
		"DELETE /v2.1/servers/{id}/os-volume_attachments/{volume}": {"detach_volume", c.detachVolume},
		"GET /v2.1/servers/{id}/os-instance-actions":               {"list_instance_actions", c.listInstanceActions},
		"GET /v2.1/servers/{id}/os-instance-actions/{request_id}":  {"show_instance_action", c.showInstanceAction},
		"GET /v2.1/os-services":                                    {"list_services", c.listNovaServices},
		"GET /v2.1/flavors":                                        {"list_flavors", c.listFlavors},
		"GET /v2.1/flavors/detail":                                 {"list_flavors", c.listFlavorsDetail},
		"GET /v2.1/flavors/{id}":                                   {"show_flavor", c.showFlavor},
	}
	for pattern, e := range routes {
		mux.Handle(pattern, c.route(svc, e))
	}
	mux.Handle("/", c.routeNotFound(svc))
	return mux
}

func (c *Cloud) novaVersionDoc() map[string]any {
	return map[string]any{
		"id": "v2.1", "status": "CURRENT", "version": c.profile.ComputeMaxVersion.String(), "min_version": "2.1",
		"updated": "2013-07-23T11:33:21Z",
	}
}

// novaVersions is GET /: both API versions, each linking to itself.
func (c *Cloud) novaVersions(w http.ResponseWriter, r *http.Request) {
	base := baseURL(r)
	v21 := c.novaVersionDoc()
	v21["links"] = []any{link("self", base+"/v2.1/")}
	writeJSON(w, http.StatusOK, map[string]any{"versions": []any{
		map[string]any{
			"id": "v2.0", "status": "SUPPORTED", "version": "", "min_version": "", "updated": "2011-01-21T11:33:21Z",
			"links": []any{link("self", base+"/v2/")},
		},
		v21,
	}})
}

// novaVersion is GET /v2.1: the current version with its media types.
func (c *Cloud) novaVersion(w http.ResponseWriter, r *http.Request) {
	base := baseURL(r)
	v := c.novaVersionDoc()
	v["links"] = []any{
		link("self", base+"/v2.1/"),
		map[string]any{"rel": "describedby", "type": "text/html", "href": "http://docs.openstack.org/"},
	}
	v["media-types"] = []any{map[string]any{
		"base": "application/json", "type": "application/vnd.openstack.compute+json;version=2.1",
	}}
	writeJSON(w, http.StatusOK, map[string]any{"version": v})
}

// listNovaServices is GET /os-services (the compute API hides its own API services).
func (c *Cloud) listNovaServices(w http.ResponseWriter, r *apiRequest) error {
	services, err := listComputeServices(r.Context(), c.nova)
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
			"updated_at": timeOrNil(s.updatedAt, naiveTime), "disabled_reason": nullString(s.disabledReason),
			"id": s.id,
		}
		if r.version.AtLeast(2, 53) {
			d["id"] = s.uuid.String
		}
		if r.version.AtLeast(2, 11) {
			d["forced_down"] = s.forcedDown.Bool
		}
		out = append(out, d)
	}
	writeJSON(w, http.StatusOK, map[string]any{"services": out})
	return nil
}
