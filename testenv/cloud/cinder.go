package cloud

import (
	"net/http"
	"time"

	"github.com/osdr/osdr/testenv/cloud/osapi"
)

// cinderHandler serves Cinder's block-storage API: the version list at / without a token, everything under
// /v3/ behind keystonemiddleware and microversion negotiation. As in Nova, an unknown path or method is a
// plain 404.
func (c *Cloud) cinderHandler() http.Handler {
	svc := c.cinderAPI
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		osapi.WriteJSON(w, http.StatusMultipleChoices, c.cinderVersions(r))
	})
	versions := osapi.Endpoint{Op: "versions", Serve: func(w http.ResponseWriter, r *osapi.Request) error {
		osapi.WriteJSON(w, http.StatusOK, c.cinderVersions(r.Request))
		return nil
	}}
	routes := map[string]osapi.Endpoint{
		"GET /v3":                                    versions,
		"GET /v3/{$}":                                versions,
		"GET /v3/{project}/volumes":                  {Op: "list_volumes", Serve: c.listVolumeSummaries},
		"GET /v3/{project}/volumes/detail":           {Op: "list_volumes", Serve: c.listVolumesDetail},
		"GET /v3/{project}/volumes/{id}":             {Op: "show_volume", Serve: c.showVolume},
		"POST /v3/{project}/volumes/{id}/action":     {Serve: c.volumeAction},
		"GET /v3/{project}/os-services":              {Op: "list_services", Serve: c.listCinderServices},
		"GET /v3/{project}/attachments":              {Op: "list_attachments", Serve: c.listAttachments},
		"GET /v3/{project}/attachments/detail":       {Op: "list_attachments", Serve: c.listAttachmentsDetail},
		"GET /v3/{project}/attachments/{id}":         {Op: "show_attachment", Serve: c.showAttachment},
		"POST /v3/{project}/attachments":             {Op: "attachment_create", Serve: c.createAttachment},
		"PUT /v3/{project}/attachments/{id}":         {Op: "attachment_update", Serve: c.updateAttachment},
		"DELETE /v3/{project}/attachments/{id}":      {Op: "attachment_delete", Serve: c.deleteAttachmentAPI},
		"POST /v3/{project}/attachments/{id}/action": {Serve: c.attachmentAction},
	}
	for pattern, e := range routes {
		mux.Handle(pattern, svc.Route(e))
	}
	mux.Handle("/", svc.RouteNotFound())
	return mux
}

// cinderVersions is the versions document (only v3 since Cinder dropped v2).
func (c *Cloud) cinderVersions(r *http.Request) map[string]any {
	base := osapi.BaseURL(r)
	return map[string]any{"versions": []any{map[string]any{
		"id": "v3.0", "status": "CURRENT", "version": c.profile.VolumeMaxVersion.String(), "min_version": "3.0",
		"updated": c.profile.VolumeVersionUpdated,
		"links": []any{
			map[string]any{"href": "https://docs.openstack.org/", "rel": "describedby", "type": "text/html"},
			osapi.Link("self", base+"/v3/"),
		},
		"media-types": []any{map[string]any{
			"base": "application/json", "type": "application/vnd.openstack.volume+json;version=3",
		}},
	}}}
}

// listCinderServices is GET /os-services with the extended fields an admin sees.
func (c *Cloud) listCinderServices(w http.ResponseWriter, r *osapi.Request) error {
	q := r.URL.Query()
	db, query := c.cinder, volumeServicesQuery
	if c.profile.Legacy() {
		db, query = c.nova, legacyVolumeServicesQuery
	}
	services, err := listVolumeServices(r.Context(), db, query, q.Get("host"), q.Get("binary"))
	if err != nil {
		return err
	}
	at := time.Now().UTC()
	out := []any{}
	for _, s := range services {
		beat := s.updatedAt
		if !beat.Valid {
			beat = s.createdAt
		}
		updated := s.updatedAt
		delta := at.Sub(beat.Time)
		if s.modifiedAt.Valid && absDuration(delta) >= absDuration(at.Sub(s.modifiedAt.Time)) {
			updated = s.modifiedAt
		}
		state, status := "down", "enabled"
		if beat.Valid && absDuration(delta) <= serviceDownTime {
			state = "up"
		}
		if s.disabled.Bool {
			status = "disabled"
		}
		d := map[string]any{
			"binary": s.binary.String, "host": s.host.String, "zone": osapi.NullString(s.zone), "status": status,
			"state": state, "updated_at": osapi.TimeOrNil(updated, osapi.NaiveTime), "disabled_reason": osapi.NullString(s.disabledReason),
		}
		if r.Version.AtLeast(3, 7) {
			d["cluster"] = osapi.NullString(s.clusterName)
		}
		if s.binary.String == "cinder-volume" {
			d["replication_status"] = osapi.NullString(s.replicationStatus)
			d["active_backend_id"] = osapi.NullString(s.activeBackendID)
			d["frozen"] = s.frozen.Bool
			if r.Version.AtLeast(3, 49) {
				// The scheduler knows a backend's pools while its service reports.
				d["backend_state"] = nil
				if state == "up" {
					d["backend_state"] = "up"
				}
			}
		}
		out = append(out, d)
	}
	osapi.WriteJSON(w, http.StatusOK, map[string]any{"services": out})
	return nil
}

func absDuration(d time.Duration) time.Duration {
	if d < 0 {
		return -d
	}
	return d
}
func (c *Cloud) cinderService() osapi.Service {
	return osapi.Service{
		Pipeline:   c.pipeline,
		Name:       "volume",
		PathPrefix: "/v3/",
		Negotiate: func(h http.Header) (Microversion, *osapi.Error) {
			return osapi.VolumeVersion(h, c.profile.VolumeMaxVersion)
		},
		VersionHeader: func(w http.ResponseWriter, v Microversion) {
			w.Header().Set(osapi.HeaderAPIVersion, "volume "+v.String())
			w.Header().Add("Vary", osapi.HeaderAPIVersion)
		},
		InternalError: "The server has either erred or is incapable of performing the requested operation.",
	}
}
