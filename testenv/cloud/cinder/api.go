package cinder

import (
	"net/http"
	"time"

	"github.com/osdr/osdr/testenv/cloud/osapi"
)

// Handler serves Cinder's block-storage API: the version list at / without a token, everything under
// /v3/ behind keystonemiddleware and microversion negotiation. As in Nova, an unknown path or method is a
// plain 404.
func (c *Service) Handler() http.Handler {
	svc := c.api
	mux := http.NewServeMux()
	// The version list's paste pipeline (apiversions) starts with request_id, as every other does.
	mux.Handle("GET /{$}", svc.WithRequestID(func(w http.ResponseWriter, r *http.Request) {
		osapi.WriteJSON(w, http.StatusMultipleChoices, c.versions(r))
	}))
	v3 := osapi.Endpoint{Op: "versions", Serve: func(w http.ResponseWriter, r *osapi.Request) error {
		osapi.WriteJSON(w, http.StatusOK, c.versions(r.Request))
		return nil
	}}
	routes := map[string]osapi.Endpoint{
		"GET /v3":                                    v3,
		"GET /v3/{$}":                                v3,
		"GET /v3/{project}/volumes":                  {Op: "list_volumes", Serve: c.listVolumeSummaries},
		"GET /v3/{project}/volumes/detail":           {Op: "list_volumes", Serve: c.listVolumesDetail},
		"GET /v3/{project}/volumes/{id}":             {Op: "show_volume", Serve: c.showVolume},
		"POST /v3/{project}/volumes/{id}/action":     {Serve: c.volumeAction},
		"GET /v3/{project}/os-services":              {Op: "list_services", Serve: c.listServices},
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

// versions is the versions document (only v3 since Cinder dropped v2).
func (c *Service) versions(r *http.Request) map[string]any {
	base := osapi.BaseURL(r)
	return map[string]any{"versions": []any{map[string]any{
		"id": "v3.0", "status": "CURRENT", "version": c.rel.MaxVersion.String(), "min_version": "3.0",
		"updated": c.rel.VersionUpdated,
		"links": []any{
			map[string]any{"href": "https://docs.openstack.org/", "rel": "describedby", "type": "text/html"},
			osapi.Link("self", base+"/v3/"),
		},
		"media-types": []any{map[string]any{
			"base": "application/json", "type": "application/vnd.openstack.volume+json;version=3",
		}},
	}}}
}

// listServices is GET /os-services with the extended fields an admin sees.
func (c *Service) listServices(w http.ResponseWriter, r *osapi.Request) error {
	q := r.URL.Query()
	services, err := c.volumeServices(r.Context(), q.Get("host"), q.Get("binary"))
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

// cinder.conf service_down_time: a heartbeat older than this means down.
const serviceDownTime = 60 * time.Second

func absDuration(d time.Duration) time.Duration {
	if d < 0 {
		return -d
	}
	return d
}
