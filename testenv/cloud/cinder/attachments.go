package cinder

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/google/uuid"

	"github.com/osdr/osdr/testenv/cloud/osapi"
)

// requireVolumeVersion is Cinder's api_version decorator: a method the request's microversion predates
// answers a bare 404, as if it did not exist.
func requireVolumeVersion(r *osapi.Request, major, minor int) error {
	if !r.Version.AtLeast(major, minor) {
		return osapi.NotFound(osapi.MsgResourceNotFound)
	}
	return nil
}

// attachmentView is the attachments ViewBuilder's summary, or with detail its detail.
func attachmentView(a attachmentRow, detail bool) map[string]any {
	d := map[string]any{
		"id": a.id, "status": osapi.NullString(a.attachStatus), "instance": osapi.NullString(a.instanceUUID), "volume_id": a.volumeID,
	}
	if !detail {
		return d
	}
	normalized := func(t sql.NullTime) any {
		if !t.Valid {
			return ""
		}
		return t.Time.Format(osapi.NaiveTime)
	}
	var conn any
	if a.connectionInfo.Valid {
		// Stored by Cinder itself, so it is JSON; an unreadable value is shown as nothing, as a NULL is.
		_ = json.Unmarshal([]byte(a.connectionInfo.String), &conn)
	}
	d["attached_at"] = normalized(a.attachTime)
	d["detached_at"] = normalized(a.detachTime)
	d["attach_mode"] = osapi.NullString(a.attachMode)
	d["connection_info"] = conn
	return d
}

// attachmentSortKeys are the columns a listing may be sorted by.
var attachmentSortKeys = []string{"id", "volume_id", "instance_uuid", "attach_status", "attach_mode", "mountpoint",
	"attached_host", "attach_time", "detach_time", "created_at", "updated_at"}

// listedAttachments is AttachmentsController._items: the live attachments of the caller's project (of every
// project with all_tenants), filtered by volume_id, instance_id and attach_status, sorted and paginated. A
// filter on anything else (status included: the table has no such column) matches nothing, as in Cinder.
func (c *Service) listedAttachments(r *osapi.Request) ([]attachmentRow, error) {
	if err := requireVolumeVersion(r, 3, 27); err != nil {
		return nil, err
	}
	q := r.URL.Query()
	where := []string{"a.deleted = 0"}
	var args []any
	if _, all := q["all_tenants"]; !all {
		where, args = append(where, "v.project_id = ?"), append(args, r.Token.ProjectID)
	}
	sortKey, sortDir := cmp.Or(q.Get("sort_key"), "created_at"), strings.ToLower(cmp.Or(q.Get("sort_dir"), "desc"))
	// sort=key:dir,... (3.0 on) wins over sort_key and sort_dir; the first key decides.
	if sort := q.Get("sort"); sort != "" {
		first, _, _ := strings.Cut(sort, ",")
		key, dir, found := strings.Cut(first, ":")
		sortKey, sortDir = key, "desc"
		if found {
			sortDir = strings.ToLower(dir)
		}
	}
	if !slices.Contains(attachmentSortKeys, sortKey) || (sortDir != "asc" && sortDir != "desc") {
		return nil, osapi.BadRequest("Invalid input received: Invalid sort key %s or direction %s", sortKey, sortDir)
	}
	limit, offset := c.maxLimit, 0
	for name, dst := range map[string]*int{"limit": &limit, "offset": &offset} {
		if raw := q.Get(name); raw != "" {
			n, err := strconv.Atoi(raw)
			if err != nil || n < 0 {
				return nil, osapi.BadRequest("Invalid input received: %s param must be an integer", name)
			}
			*dst = n
		}
	}
	limit = min(limit, c.maxLimit)
	for key, values := range q {
		switch key {
		case "all_tenants", "sort", "sort_key", "sort_dir", "limit", "offset", "marker":
		case "volume_id", "attach_status":
			where, args = append(where, "a."+key+" = ?"), append(args, values[0])
		case "instance_id":
			where, args = append(where, "a.instance_uuid = ?"), append(args, values[0])
		default:
			return nil, nil
		}
	}
	rows, err := c.db.QueryContext(r.Context(), "SELECT a."+strings.ReplaceAll(attachmentColumns, ", ", ", a.")+
		" FROM volume_attachment a JOIN volumes v ON v.id = a.volume_id WHERE "+strings.Join(where, " AND ")+
		" ORDER BY a."+sortKey+" "+sortDir+", a.id "+sortDir, args...)
	if err != nil {
		return nil, fmt.Errorf("list attachments: %w", err)
	}
	defer rows.Close()
	var out []attachmentRow
	for rows.Next() {
		a, err := scanAttachment(rows)
		if err != nil {
			return nil, fmt.Errorf("read an attachment: %w", err)
		}
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list attachments: %w", err)
	}
	if marker := q.Get("marker"); marker != "" {
		at := slices.IndexFunc(out, func(a attachmentRow) bool { return a.id == marker })
		if at < 0 {
			return nil, osapi.NotFound("Marker %s could not be found.", marker)
		}
		out = out[at+1:]
	}
	out = out[min(offset, len(out)):]
	return out[:min(limit, len(out))], nil
}

func (c *Service) writeAttachmentList(w http.ResponseWriter, r *osapi.Request, detail bool) error {
	list, err := c.listedAttachments(r)
	if err != nil {
		return err
	}
	views := []any{}
	for _, a := range list {
		views = append(views, attachmentView(a, detail))
	}
	osapi.WriteJSON(w, http.StatusOK, map[string]any{"attachments": views})
	return nil
}

// listAttachments is GET /attachments (3.27).
func (c *Service) listAttachments(w http.ResponseWriter, r *osapi.Request) error {
	return c.writeAttachmentList(w, r, false)
}

// listAttachmentsDetail is GET /attachments/detail (3.27).
func (c *Service) listAttachmentsDetail(w http.ResponseWriter, r *osapi.Request) error {
	return c.writeAttachmentList(w, r, true)
}

// showAttachment is GET /attachments/{id} (3.27).
func (c *Service) showAttachment(w http.ResponseWriter, r *osapi.Request) error {
	if err := requireVolumeVersion(r, 3, 27); err != nil {
		return err
	}
	a, err := getAttachment(r.Context(), c.db, r.PathValue("id"), false)
	if err != nil {
		return err
	}
	osapi.WriteJSON(w, http.StatusOK, map[string]any{"attachment": attachmentView(a, true)})
	return nil
}

// attachmentBody checks the {"attachment": {...}} envelope both create and update take and returns its content.
func attachmentBody(body any, parseErr error, allowed ...string) (osapi.Object, error) {
	if parseErr != nil {
		return osapi.Object{}, osapi.BadRequest(osapi.MsgMalformedBody)
	}
	top, ok := body.(osapi.Object)
	if !ok {
		return osapi.Object{}, osapi.BadRequest("%s is not of type 'object'", osapi.PyRepr(body))
	}
	raw, present := top.Get("attachment")
	if !present {
		return osapi.Object{}, osapi.BadRequest("'attachment' is a required property")
	}
	if msg := osapi.UnexpectedKeys(top, "attachment"); msg != "" {
		return osapi.Object{}, osapi.BadRequest("%s", msg)
	}
	obj, ok := raw.(osapi.Object)
	if !ok {
		return osapi.Object{}, osapi.InvalidInput("attachment", raw, osapi.PyRepr(raw)+" is not of type 'object'")
	}
	if msg := osapi.UnexpectedKeys(obj, allowed...); msg != "" {
		return osapi.Object{}, osapi.InvalidInput("attachment", raw, msg)
	}
	return obj, nil
}

// uuidField checks a property against the schema's uuid format; absent and (where allowed) null give "".
func uuidField(obj osapi.Object, key string) (string, error) {
	raw, present := obj.Get(key)
	if !present {
		return "", nil
	}
	s, ok := raw.(string)
	if !ok {
		return "", osapi.InvalidInput(key, raw, osapi.PyRepr(raw)+" is not of type 'string'")
	}
	if _, err := uuid.Parse(s); err != nil {
		return "", osapi.InvalidInput(key, raw, osapi.PyRepr(raw)+" is not a 'uuid'")
	}
	return s, nil
}

// connectorField reads a connector object into plain values for storing as JSON.
func connectorField(obj osapi.Object, nullable bool) (map[string]any, error) {
	raw, present := obj.Get("connector")
	if !present || (raw == nil && nullable) {
		return nil, nil
	}
	c, ok := raw.(osapi.Object)
	if !ok {
		kinds := "'object'"
		if nullable {
			kinds = "'object', 'null'"
		}
		return nil, osapi.InvalidInput("connector", raw, osapi.PyRepr(raw)+" is not of type "+kinds)
	}
	return plain(c).(map[string]any), nil
}

// plain turns decoded JSON (jsonObject, json.Number) back into ordinary values.
func plain(v any) any {
	switch x := v.(type) {
	case osapi.Object:
		m := make(map[string]any, len(x.Keys))
		for k, e := range x.Values {
			m[k] = plain(e)
		}
		return m
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = plain(e)
		}
		return out
	case json.Number:
		if n, err := x.Int64(); err == nil {
			return n
		}
		f, _ := x.Float64()
		return f
	}
	return v
}

// createAttachment is POST /attachments (3.27; mode from 3.54): reserve the volume for the instance, and
// connect it too when a connector is given. It answers 200.
func (c *Service) createAttachment(w http.ResponseWriter, r *osapi.Request) error {
	body, parseErr := osapi.DecodeBody(r.Request)
	obj, verr := attachmentBody(body, parseErr, c.attachmentCreateKeys(r)...)
	volumeID, _ := obj.Values["volume_uuid"].(string)
	c.api.Audited(w, r, "attachment_create", "", volumeID, func(w http.ResponseWriter) {
		a, err := c.doCreateAttachment(r, obj, verr)
		if err != nil {
			c.api.WriteError(w, r.Request, err)
			return
		}
		osapi.WriteJSON(w, http.StatusOK, map[string]any{"attachment": attachmentView(a, true)})
	})
	return nil
}

func (c *Service) attachmentCreateKeys(r *osapi.Request) []string {
	if r.Version.AtLeast(3, 54) {
		return []string{"instance_uuid", "connector", "volume_uuid", "mode"}
	}
	return []string{"instance_uuid", "connector", "volume_uuid"}
}

func (c *Service) doCreateAttachment(r *osapi.Request, obj osapi.Object, verr error) (attachmentRow, error) {
	if err := requireVolumeVersion(r, 3, 27); err != nil {
		return attachmentRow{}, err
	}
	if verr != nil {
		return attachmentRow{}, verr
	}
	if _, present := obj.Get("volume_uuid"); !present {
		return attachmentRow{}, osapi.InvalidInput("attachment", obj, "'volume_uuid' is a required property")
	}
	volumeID, err := uuidField(obj, "volume_uuid")
	if err != nil {
		return attachmentRow{}, err
	}
	instanceUUID, err := uuidField(obj, "instance_uuid")
	if err != nil {
		return attachmentRow{}, err
	}
	connector, err := connectorField(obj, true)
	if err != nil {
		return attachmentRow{}, err
	}
	mode := "null"
	if raw, present := obj.Get("mode"); present {
		if s, ok := raw.(string); !ok || (s != "rw" && s != "ro") {
			return attachmentRow{}, osapi.InvalidInput("mode", raw, osapi.PyRepr(raw)+" is not one of ['rw', 'ro']")
		}
		mode = raw.(string)
	}
	return c.attachmentCreate(r.Context(), volumeID, instanceUUID, connector, mode)
}

// updateAttachment is PUT /attachments/{id} (3.27): connect a reserved attachment to a host.
func (c *Service) updateAttachment(w http.ResponseWriter, r *osapi.Request) error {
	body, parseErr := osapi.DecodeBody(r.Request)
	c.api.Audited(w, r, "attachment_update", "", r.PathValue("id"), func(w http.ResponseWriter) {
		a, err := c.doUpdateAttachment(r, body, parseErr)
		if err != nil {
			c.api.WriteError(w, r.Request, err)
			return
		}
		osapi.WriteJSON(w, http.StatusOK, map[string]any{"attachment": attachmentView(a, true)})
	})
	return nil
}

func (c *Service) doUpdateAttachment(r *osapi.Request, body any, parseErr error) (attachmentRow, error) {
	if err := requireVolumeVersion(r, 3, 27); err != nil {
		return attachmentRow{}, err
	}
	obj, err := attachmentBody(body, parseErr, "connector")
	if err != nil {
		return attachmentRow{}, err
	}
	if _, present := obj.Get("connector"); !present {
		return attachmentRow{}, osapi.InvalidInput("attachment", obj, "'connector' is a required property")
	}
	connector, err := connectorField(obj, false)
	if err != nil {
		return attachmentRow{}, err
	}
	if len(connector) == 0 {
		return attachmentRow{}, osapi.InvalidInput("connector", obj.Values["connector"], "{} does not have enough properties")
	}
	// The answer is the attachment as loaded before the update, with the new connection info.
	a, err := getAttachment(r.Context(), c.db, r.PathValue("id"), false)
	if err != nil {
		return attachmentRow{}, err
	}
	conn, err := c.attachmentUpdate(r.Context(), a.id, connector)
	if err != nil {
		var ae *osapi.Error
		if errors.As(err, &ae) {
			return attachmentRow{}, err
		}
		return attachmentRow{}, &osapi.Error{Code: http.StatusInternalServerError, Message: "Unable to update the attachment."}
	}
	a.connectionInfo = sql.NullString{String: conn, Valid: true}
	return a, nil
}

// deleteAttachmentAPI is DELETE /attachments/{id} (3.27): refused with 409 while Nova uses the attachment,
// else the attachment is detached; the answer lists the volume's remaining attachments.
func (c *Service) deleteAttachmentAPI(w http.ResponseWriter, r *osapi.Request) error {
	c.api.Audited(w, r, "attachment_delete", "", r.PathValue("id"), func(w http.ResponseWriter) {
		remaining, err := c.doDeleteAttachment(r)
		if err != nil {
			c.api.WriteError(w, r.Request, err)
			return
		}
		views := []any{}
		for _, a := range remaining {
			views = append(views, attachmentView(a, false))
		}
		osapi.WriteJSON(w, http.StatusOK, map[string]any{"attachments": views})
	})
	return nil
}

func (c *Service) doDeleteAttachment(r *osapi.Request) ([]attachmentRow, error) {
	if err := requireVolumeVersion(r, 3, 27); err != nil {
		return nil, err
	}
	ctx := r.Context()
	a, err := getAttachment(ctx, c.db, r.PathValue("id"), false)
	if err != nil {
		return nil, err
	}
	if err := c.attachmentDeletionAllowed(ctx, a); err != nil {
		return nil, err
	}
	if err := c.AttachmentDelete(ctx, a.id); err != nil {
		return nil, err
	}
	return volumeAttachmentRows(ctx, c, a.volumeID)
}

// volumeAttachmentRows lists a volume's live attachments.
func volumeAttachmentRows(ctx context.Context, c *Service, volumeID string) ([]attachmentRow, error) {
	ids, err := liveAttachmentIDs(ctx, c.db, "volume_id = ?", volumeID)
	if err != nil {
		return nil, err
	}
	out := make([]attachmentRow, 0, len(ids))
	for _, id := range ids {
		a, err := getAttachment(ctx, c.db, id, false)
		if err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, nil
}

// attachmentAction is POST /attachments/{id}/action, whose one action is os-complete (3.44), answered 204.
func (c *Service) attachmentAction(w http.ResponseWriter, r *osapi.Request) error {
	c.api.AuditedAction(w, r, http.StatusNoContent, func(action string, _ osapi.Object) error {
		if action != "os-complete" {
			return osapi.BadRequest("There is no such action: %s. Verify the request body and Content-Type header and try again.", action)
		}
		if err := requireVolumeVersion(r, 3, 44); err != nil {
			return err
		}
		return c.AttachmentComplete(r.Context(), r.PathValue("id"))
	})
	return nil
}
