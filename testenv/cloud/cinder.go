package cloud

import (
	"net/http"
	"time"
)

// cinderHandler serves Cinder's block-storage API: the version list at / without a token, everything under
// /v3/ behind keystonemiddleware and microversion negotiation. As in Nova, an unknown path or method is a
// plain 404.
func (c *Cloud) cinderHandler() http.Handler {
	svc := c.cinderService()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusMultipleChoices, c.cinderVersions(r))
	})
	versions := endpoint{"versions", func(w http.ResponseWriter, r *apiRequest) error {
		writeJSON(w, http.StatusOK, c.cinderVersions(r.Request))
		return nil
	}}
	routes := map[string]endpoint{
		"GET /v3":                                    versions,
		"GET /v3/{$}":                                versions,
		"GET /v3/{project}/volumes":                  {"list_volumes", c.listVolumeSummaries},
		"GET /v3/{project}/volumes/detail":           {"list_volumes", c.listVolumesDetail},
		"GET /v3/{project}/volumes/{id}":             {"show_volume", c.showVolume},
		"POST /v3/{project}/volumes/{id}/action":     {"", c.volumeAction},
		"GET /v3/{project}/os-services":              {"list_services", c.listCinderServices},
		"GET /v3/{project}/attachments":              {"list_attachments", c.listAttachments},
		"GET /v3/{project}/attachments/detail":       {"list_attachments", c.listAttachmentsDetail},
		"GET /v3/{project}/attachments/{id}":         {"show_attachment", c.showAttachment},
		"POST /v3/{project}/attachments":             {"attachment_create", c.createAttachment},
		"PUT /v3/{project}/attachments/{id}":         {"attachment_update", c.updateAttachment},
		"DELETE /v3/{project}/attachments/{id}":      {"attachment_delete", c.deleteAttachmentAPI},
		"POST /v3/{project}/attachments/{id}/action": {"", c.attachmentAction},
	}
	for pattern, e := range routes {
		mux.Handle(pattern, c.route(svc, e))
	}
	mux.Handle("/", c.routeNotFound(svc))
	return mux
}

// cinderVersions is the versions document (only v3 since Cinder dropped v2).
func (c *Cloud) cinderVersions(r *http.Request) map[string]any {
	base := baseURL(r)
	return map[string]any{"versions": []any{map[string]any{
		"id": "v3.0", "status": "CURRENT", "version": c.profile.VolumeMaxVersion.String(), "min_version": "3.0",
		"updated": c.profile.VolumeVersionUpdated,
		"links": []any{
			map[string]any{"href": "https://docs.openstack.org/", "rel": "describedby", "type": "text/html"},
			link("self", base+"/v3/"),
		},
		"media-types": []any{map[string]any{
			"base": "application/json", "type": "application/vnd.openstack.volume+json;version=3",
		}},
	}}}
}

// listCinderServices is GET /os-services with the extended fields an admin sees.
func (c *Cloud) listCinderServices(w http.ResponseWriter, r *apiRequest) error {
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
			"binary": s.binary.String, "host": s.host.String, "zone": nullString(s.zone), "status": status,
			"state": state, "updated_at": timeOrNil(updated, naiveTime), "disabled_reason": nullString(s.disabledReason),
		}
		if r.version.AtLeast(3, 7) {
			d["cluster"] = nullString(s.clusterName)
		}
		if s.binary.String == "cinder-volume" {
			d["replication_status"] = nullString(s.replicationStatus)
			d["active_backend_id"] = nullString(s.activeBackendID)
			d["frozen"] = s.frozen.Bool
			if r.version.AtLeast(3, 49) {
				// The scheduler knows a backend's pools while its service reports.
				d["backend_state"] = nil
				if state == "up" {
					d["backend_state"] = "up"
				}
			}
		}
		out = append(out, d)
	}
	writeJSON(w, http.StatusOK, map[string]any{"services": out})
	return nil
}

func absDuration(d time.Duration) time.Duration {
	if d < 0 {
		return -d
	}
	return d
}
