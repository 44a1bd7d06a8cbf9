package cinder

import (
	"database/sql"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/osdr/osdr/testenv/cloud/osapi"
)

// The key Cinder stores for volumes encrypted with the fixed-key manager; it is never shown.
const fixedKeyID = "00000000-0000-0000-0000-000000000000"

// volumeStatus hides the internal managing states behind the ones the API has always shown.
func volumeStatus(s sql.NullString) any {
	switch s.String {
	case "managing":
		return "creating"
	case "error_managing":
		return "error"
	case "error_managing_deleting":
		return "deleting"
	}
	return osapi.NullString(s)
}

func (c *Service) volumeLinks(r *osapi.Request, id string) []any {
	base := osapi.BaseURL(r.Request)
	project := r.Token.ProjectID
	return []any{osapi.Link("self", base+"/v3/"+project+"/volumes/"+id), osapi.Link("bookmark", base+"/"+project+"/volumes/"+id)}
}

// volumeView is Cinder's v3 volumes ViewBuilder.detail plus the host, tenant and migration attribute
// extensions, for an admin caller.
func (c *Service) volumeView(r *osapi.Request, v volumeRow, attachments []attachment, adminMeta map[string]any) map[string]any {
	ver := r.Version
	typeName, typeKnown := c.types.name(v.volumeTypeID)
	var volumeType any = v.volumeTypeID
	if typeKnown {
		volumeType = typeName
	} else if ver.AtLeast(3, 63) || v.volumeTypeID == "" {
		volumeType = nil
	}
	bootable := "false"
	if v.bootable.Bool {
		bootable = "true"
	}
	attached := []any{}
	for _, a := range attachments {
		if a.attachStatus.String != "attached" {
			continue
		}
		attached = append(attached, map[string]any{
			"id": a.volumeID, "attachment_id": osapi.NullString(sql.NullString{String: a.id, Valid: a.id != ""}), "volume_id": a.volumeID,
			"server_id": osapi.NullString(a.instanceUUID), "host_name": osapi.NullString(a.attachedHost),
			"device": osapi.NullString(a.mountpoint), "attached_at": osapi.TimeOrNil(a.attachTime, osapi.NaiveTime),
		})
	}
	metadata := map[string]any{}
	for k, val := range adminMeta {
		metadata[k] = val
	}
	d := map[string]any{
		"id": v.id, "status": volumeStatus(v.status), "size": osapi.NullInt(v.size),
		"availability_zone": osapi.NullString(v.availabilityZone),
		"created_at":        osapi.TimeOrNil(v.createdAt, osapi.NaiveTime), "updated_at": osapi.TimeOrNil(v.updatedAt, osapi.NaiveTime),
		"name": osapi.NullString(v.displayName), "description": osapi.NullString(v.displayDescription),
		"volume_type": volumeType, "snapshot_id": osapi.NullString(v.snapshotID), "source_volid": osapi.NullString(v.sourceVolID),
		"metadata": metadata, "links": c.volumeLinks(r, v.id), "user_id": osapi.NullString(v.userID),
		"bootable": bootable, "encrypted": v.encryptionKeyID.Valid,
		"replication_status":  osapi.NullString(v.replicationStatus),
		"consistencygroup_id": osapi.NullString(v.consistencyGroupID), "multiattach": v.multiattach.Bool,
		"attachments": attached, "migration_status": osapi.NullString(v.migrationStatus),
		"os-vol-host-attr:host":          osapi.NullString(v.host),
		"os-vol-tenant-attr:tenant_id":   osapi.NullString(v.projectID),
		"os-vol-mig-status-attr:migstat": osapi.NullString(v.migrationStatus),
		"os-vol-mig-status-attr:name_id": osapi.NullString(v.nameID),
	}
	if ver.AtLeast(3, 13) {
		d["group_id"] = osapi.NullString(v.groupID)
	}
	if ver.AtLeast(3, 21) {
		d["provider_id"] = osapi.NullString(v.providerID)
	}
	if ver.AtLeast(3, 48) {
		var shared any = v.sharedTargets.Bool
		if !v.sharedTargets.Valid {
			shared = nil
			if !ver.AtLeast(3, 69) {
				// Before 3.69 a NULL shared_targets is reported as true.
				shared = true
			}
		}
		d["shared_targets"] = shared
		d["service_uuid"] = osapi.NullString(v.serviceUUID)
	}
	if ver.AtLeast(3, 61) {
		d["cluster_name"] = osapi.NullString(v.clusterName)
	}
	if ver.AtLeast(3, 63) {
		d["volume_type_id"] = v.volumeTypeID
	}
	if ver.AtLeast(3, 64) && v.encryptionKeyID.Valid && v.encryptionKeyID.String != fixedKeyID {
		d["encryption_key_id"] = v.encryptionKeyID.String
	}
	if ver.AtLeast(3, 65) {
		d["consumes_quota"] = !v.useQuota.Valid || v.useQuota.Bool
	}
	return d
}

func (c *Service) showVolume(w http.ResponseWriter, r *osapi.Request) error {
	v, err := getVolume(r.Context(), c.db, c.volumeColumns(), r.PathValue("id"), false)
	if err != nil {
		return err
	}
	views, err := c.volumeViews(r, []volumeRow{v})
	if err != nil {
		return err
	}
	osapi.WriteJSON(w, http.StatusOK, map[string]any{"volume": views[0]})
	return nil
}

func (c *Service) volumeViews(r *osapi.Request, volumes []volumeRow) ([]any, error) {
	ids := make([]string, len(volumes))
	for i, v := range volumes {
		ids[i] = v.id
	}
	attachments, err := c.volumeAttachments(r.Context(), ids)
	if err != nil {
		return nil, err
	}
	meta := map[string]map[string]any{}
	if !c.rel.Legacy {
		if meta, err = visibleAdminMetadata(r.Context(), c.db, ids); err != nil {
			return nil, err
		}
	}
	out := make([]any, len(volumes))
	for i, v := range volumes {
		out[i] = c.volumeView(r, v, attachments[v.id], meta[v.id])
	}
	return out, nil
}

func (c *Service) listVolumesDetail(w http.ResponseWriter, r *osapi.Request) error {
	volumes, links, err := c.filteredVolumes(r)
	if err != nil {
		return err
	}
	views, err := c.volumeViews(r, volumes)
	if err != nil {
		return err
	}
	osapi.WriteJSON(w, http.StatusOK, osapi.WithLinks(map[string]any{"volumes": views}, "volumes_links", links))
	return nil
}

func (c *Service) listVolumeSummaries(w http.ResponseWriter, r *osapi.Request) error {
	volumes, links, err := c.filteredVolumes(r)
	if err != nil {
		return err
	}
	out := make([]any, len(volumes))
	for i, v := range volumes {
		out[i] = map[string]any{"id": v.id, "name": osapi.NullString(v.displayName), "links": c.volumeLinks(r, v.id)}
	}
	osapi.WriteJSON(w, http.StatusOK, osapi.WithLinks(map[string]any{"volumes": out}, "volumes_links", links))
	return nil
}

// filteredVolumes applies all_tenants, project_id, name and status, then marker and limit; links is the page's
// collection links.
func (c *Service) filteredVolumes(r *osapi.Request) (volumes []volumeRow, links []any, err error) {
	q := r.URL.Query()
	f := volumeFilter{projectID: r.Token.ProjectID, name: q.Get("name"), status: q.Get("status")}
	if raw, present := q["all_tenants"]; present {
		all, ok := osapi.BoolParam(raw[0])
		if !ok {
			return nil, nil, osapi.BadRequest("Value '%s' for 'all_tenants' is not a boolean.", raw[0])
		}
		if all {
			f.projectID = q.Get("project_id")
		}
	}
	// From 3.31 (generalized filters) the controller leaves created_at and updated_at in the filters, so they
	// compare times from then on, although the API reference gives them 3.60; before 3.31 it drops them.
	if r.Version.AtLeast(3, 31) {
		for _, column := range []string{"created_at", "updated_at"} {
			if raw, present := q[column]; present {
				// webob hands the controller a repeated parameter's last value.
				tf, err := parseTimeFilter(column, raw[len(raw)-1])
				if err != nil {
					return nil, nil, err
				}
				f.times = append(f.times, tf)
			}
		}
	}
	volumes, err = listVolumes(r.Context(), c.db, c.volumeColumns(), f)
	if err != nil {
		return nil, nil, err
	}
	if marker := q.Get("marker"); marker != "" {
		at := slices.IndexFunc(volumes, func(v volumeRow) bool { return v.id == marker })
		if at < 0 {
			return nil, nil, osapi.NotFound("Marker %s could not be found.", marker)
		}
		volumes = volumes[at+1:]
	}
	limit := c.maxLimit
	if raw := q.Get("limit"); raw != "" {
		n, err := strconv.Atoi(raw)
		if err != nil || n < 0 {
			return nil, nil, osapi.BadRequest("Invalid input received: limit param must be an integer")
		}
		limit = min(n, c.maxLimit)
	}
	if len(volumes) > limit {
		volumes = volumes[:limit]
	}
	if len(volumes) > 0 {
		links = osapi.NextLinks(r, len(volumes), limit, volumes[len(volumes)-1].id)
	}
	return volumes, links, nil
}

// timeOperators are cinder.api.common's time comparison operators, as SQL.
var timeOperators = map[string]string{"gt": ">", "gte": ">=", "eq": "=", "neq": "!=", "lt": "<", "lte": "<="}

// parseTimeFilter is the volumes controller's _handle_time_comparison_filters: comma-separated OP:TIME units,
// the operator being everything before the first colon; a unit repeating an operator replaces the earlier one.
func parseTimeFilter(column, value string) (timeFilter, error) {
	byOp := map[string]time.Time{}
	var order []string
	for unit := range strings.SplitSeq(value, ",") {
		op, at, found := strings.Cut(unit, ":")
		if !found {
			at = op // Cinder takes the unit's last colon-separated part as its time
		}
		if _, ok := timeOperators[op]; !ok {
			return timeFilter{}, osapi.BadRequest("Invalid %s operator", op)
		}
		t, err := osapi.ParseISOTime(at)
		if err != nil {
			return timeFilter{}, osapi.BadRequest("Invalid %s value", at)
		}
		if _, seen := byOp[op]; !seen {
			order = append(order, op)
		}
		byOp[op] = t
	}
	tf := timeFilter{column: column}
	for _, op := range order {
		tf.comparisons = append(tf.comparisons, timeComparison{op: timeOperators[op], at: byOp[op]})
	}
	return tf, nil
}
