package cloud

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/google/uuid"
)

// requireVolumeVersion is Cinder's api_version decorator: a method the request's microversion predates
// answers a bare 404, as if it did not exist.
func requireVolumeVersion(r *apiRequest, major, minor int) error {
	if !r.version.AtLeast(major, minor) {
		return notFound(msgResourceNotFound)
	}
	return nil
}

// attachmentView is the attachments ViewBuilder's summary, or with detail its detail.
func attachmentView(a attachmentRow, detail bool) map[string]any {
	d := map[string]any{
		"id": a.id, "status": nullString(a.attachStatus), "instance": nullString(a.instanceUUID), "volume_id": a.volumeID,
	}
	if !detail {
		return d
	}
	normalized := func(t sqlTime) any {
		if !t.Valid {
			return ""
		}
		return t.Time.Format(naiveTime)
	}
	var conn any
	if a.connectionInfo.Valid {
		// Stored by Cinder itself, so it is JSON; an unreadable value is shown as nothing, as a NULL is.
		_ = json.Unmarshal([]byte(a.connectionInfo.String), &conn)
	}
	d["attached_at"] = normalized(a.attachTime)
	d["detached_at"] = normalized(a.detachTime)
	d["attach_mode"] = nullString(a.attachMode)
	d["connection_info"] = conn
	return d
}

// attachmentSortKeys are the columns a listing may be sorted by.
var attachmentSortKeys = []string{"id", "volume_id", "instance_uuid", "attach_status", "attach_mode", "mountpoint",
	"attached_host", "attach_time", "detach_time", "created_at", "updated_at"}

// listedAttachments is AttachmentsController._items: the live attachments of the caller's project (of every
// project with all_tenants), filtered by volume_id, instance_id and attach_status, sorted and paginated. A
// filter on anything else (status included: the table has no such column) matches nothing, as in Cinder.
func (c *Cloud) listedAttachments(r *apiRequest) ([]attachmentRow, error) {
	if err := requireVolumeVersion(r, 3, 27); err != nil {
		return nil, err
	}
	q := r.URL.Query()
	where := []string{"a.deleted = 0"}
	var args []any
	if _, all := q["all_tenants"]; !all {
		where, args = append(where, "v.project_id = ?"), append(args, r.token.projectID)
	}
	sortKey, sortDir := orDefault(q.Get("sort_key"), "created_at"), strings.ToLower(orDefault(q.Get("sort_dir"), "desc"))
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
		return nil, badRequest("Invalid input received: Invalid sort key %s or direction %s", sortKey, sortDir)
	}
	limit, offset := volumeMaxLimit, 0
	for name, dst := range map[string]*int{"limit": &limit, "offset": &offset} {
		if raw := q.Get(name); raw != "" {
			n, err := strconv.Atoi(raw)
			if err != nil || n < 0 {
				return nil, badRequest("Invalid input received: %s param must be an integer", name)
			}
			*dst = n
		}
	}
	limit = min(limit, volumeMaxLimit)
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
	rows, err := c.cinder.QueryContext(r.Context(), "SELECT a."+strings.ReplaceAll(attachmentColumns, ", ", ", a.")+
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
			return nil, notFound("Marker %s could not be found.", marker)
		}
		out = out[at+1:]
	}
	out = out[min(offset, len(out)):]
	return out[:min(limit, len(out))], nil
}

func (c *Cloud) writeAttachmentList(w http.ResponseWriter, r *apiRequest, detail bool) error {
	list, err := c.listedAttachments(r)
	if err != nil {
		return err
	}
	views := []any{}
	for _, a := range list {
		views = append(views, attachmentView(a, detail))
	}
	writeJSON(w, http.StatusOK, map[string]any{"attachments": views})
	return nil
}

// listAttachments is GET /attachments (3.27).
func (c *Cloud) listAttachments(w http.ResponseWriter, r *apiRequest) error {
	return c.writeAttachmentList(w, r, false)
}

// listAttachmentsDetail is GET /attachments/detail (3.27).
func (c *Cloud) listAttachmentsDetail(w http.ResponseWriter, r *apiRequest) error {
	return c.writeAttachmentList(w, r, true)
}

// showAttachment is GET /attachments/{id} (3.27).
func (c *Cloud) showAttachment(w http.ResponseWriter, r *apiRequest) error {
	if err := requireVolumeVersion(r, 3, 27); err != nil {
		return err
	}
	a, err := getAttachment(r.Context(), c.cinder, r.PathValue("id"), false)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"attachment": attachmentView(a, true)})
	return nil
}

// attachmentBody checks the {"attachment": {...}} envelope both create and update take and returns its content.
func attachmentBody(body any, parseErr error, allowed ...string) (jsonObject, error) {
	if parseErr != nil {
		return jsonObject{}, badRequest(msgMalformedBody)
	}
	top, ok := body.(jsonObject)
	if !ok {
		return jsonObject{}, badRequest("%s is not of type 'object'", pyRepr(body))
	}
	raw, present := top.get("attachment")
	if !present {
		return jsonObject{}, badRequest("'attachment' is a required property")
	}
	if msg := unexpectedKeys(top, "attachment"); msg != "" {
		return jsonObject{}, badRequest("%s", msg)
	}
	obj, ok := raw.(jsonObject)
	if !ok {
		return jsonObject{}, invalidInput("attachment", raw, pyRepr(raw)+" is not of type 'object'")
	}
	if msg := unexpectedKeys(obj, allowed...); msg != "" {
		return jsonObject{}, invalidInput("attachment", raw, msg)
	}
	return obj, nil
}

// uuidField checks a property against the schema's uuid format; absent and (where allowed) null give "".
func uuidField(obj jsonObject, key string) (string, error) {
	raw, present := obj.get(key)
	if !present {
		return "", nil
	}
	s, ok := raw.(string)
	if !ok {
		return "", invalidInput(key, raw, pyRepr(raw)+" is not of type 'string'")
	}
	if _, err := uuid.Parse(s); err != nil {
		return "", invalidInput(key, raw, pyRepr(raw)+" is not a 'uuid'")
	}
	return s, nil
}

// connectorField reads a connector object into plain values for storing as JSON.
func connectorField(obj jsonObject, nullable bool) (map[string]any, error) {
	raw, present := obj.get("connector")
	if !present || (raw == nil && nullable) {
		return nil, nil
	}
	c, ok := raw.(jsonObject)
	if !ok {
		kinds := "'object'"
		if nullable {
			kinds = "'object', 'null'"
		}
		return nil, invalidInput("connector", raw, pyRepr(raw)+" is not of type "+kinds)
	}
	return plain(c).(map[string]any), nil
}

// plain turns decoded JSON (jsonObject, json.Number) back into ordinary values.
func plain(v any) any {
	switch x := v.(type) {
	case jsonObject:
		m := make(map[string]any, len(x.keys))
		for k, e := range x.values {
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
func (c *Cloud) createAttachment(w http.ResponseWriter, r *apiRequest) error {
	body, parseErr := decodeBody(r.Request)
	obj, verr := attachmentBody(body, parseErr, c.attachmentCreateKeys(r)...)
	volumeID, _ := obj.values["volume_uuid"].(string)
	c.audited(w, r, "volume", "attachment_create", "", volumeID, func(w http.ResponseWriter) {
		a, err := c.doCreateAttachment(r, obj, verr)
		if err != nil {
			c.writeAPIError(c.cinderService(), w, r.Request, err)
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"attachment": attachmentView(a, true)})
	})
	return nil
}

func (c *Cloud) attachmentCreateKeys(r *apiRequest) []string {
	if r.version.AtLeast(3, 54) {
		return []string{"instance_uuid", "connector", "volume_uuid", "mode"}
	}
	return []string{"instance_uuid", "connector", "volume_uuid"}
}

func (c *Cloud) doCreateAttachment(r *apiRequest, obj jsonObject, verr error) (attachmentRow, error) {
	if err := requireVolumeVersion(r, 3, 27); err != nil {
		return attachmentRow{}, err
	}
	if verr != nil {
		return attachmentRow{}, verr
	}
	if _, present := obj.get("volume_uuid"); !present {
		return attachmentRow{}, invalidInput("attachment", obj, "'volume_uuid' is a required property")
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
	if raw, present := obj.get("mode"); present {
		if s, ok := raw.(string); !ok || (s != "rw" && s != "ro") {
			return attachmentRow{}, invalidInput("mode", raw, pyRepr(raw)+" is not one of ['rw', 'ro']")
		}
		mode = raw.(string)
	}
	return c.attachmentCreate(r.Context(), volumeID, instanceUUID, connector, mode)
}

// updateAttachment is PUT /attachments/{id} (3.27): connect a reserved attachment to a host.
func (c *Cloud) updateAttachment(w http.ResponseWriter, r *apiRequest) error {
	body, parseErr := decodeBody(r.Request)
	c.audited(w, r, "volume", "attachment_update", "", r.PathValue("id"), func(w http.ResponseWriter) {
		a, err := c.doUpdateAttachment(r, body, parseErr)
		if err != nil {
			c.writeAPIError(c.cinderService(), w, r.Request, err)
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"attachment": attachmentView(a, true)})
	})
	return nil
}

func (c *Cloud) doUpdateAttachment(r *apiRequest, body any, parseErr error) (attachmentRow, error) {
	if err := requireVolumeVersion(r, 3, 27); err != nil {
		return attachmentRow{}, err
	}
	obj, err := attachmentBody(body, parseErr, "connector")
	if err != nil {
		return attachmentRow{}, err
	}
	if _, present := obj.get("connector"); !present {
		return attachmentRow{}, invalidInput("attachment", obj, "'connector' is a required property")
	}
	connector, err := connectorField(obj, false)
	if err != nil {
		return attachmentRow{}, err
	}
	if len(connector) == 0 {
		return attachmentRow{}, invalidInput("connector", obj.values["connector"], "{} does not have enough properties")
	}
	// The answer is the attachment as loaded before the update, with the new connection info.
	a, err := getAttachment(r.Context(), c.cinder, r.PathValue("id"), false)
	if err != nil {
		return attachmentRow{}, err
	}
	conn, err := c.attachmentUpdate(r.Context(), a.id, connector)
	if err != nil {
		var ae *apiError
		if errors.As(err, &ae) {
			return attachmentRow{}, err
		}
		return attachmentRow{}, &apiError{http.StatusInternalServerError, "Unable to update the attachment."}
	}
	a.connectionInfo = sqlString{String: conn, Valid: true}
	return a, nil
}

// deleteAttachmentAPI is DELETE /attachments/{id} (3.27): refused with 409 while Nova uses the attachment,
// else the attachment is detached; the answer lists the volume's remaining attachments.
func (c *Cloud) deleteAttachmentAPI(w http.ResponseWriter, r *apiRequest) error {
	c.audited(w, r, "volume", "attachment_delete", "", r.PathValue("id"), func(w http.ResponseWriter) {
		remaining, err := c.doDeleteAttachment(r)
		if err != nil {
			c.writeAPIError(c.cinderService(), w, r.Request, err)
			return
		}
		views := []any{}
		for _, a := range remaining {
			views = append(views, attachmentView(a, false))
		}
		writeJSON(w, http.StatusOK, map[string]any{"attachments": views})
	})
	return nil
}

func (c *Cloud) doDeleteAttachment(r *apiRequest) ([]attachmentRow, error) {
	if err := requireVolumeVersion(r, 3, 27); err != nil {
		return nil, err
	}
	ctx := r.Context()
	a, err := getAttachment(ctx, c.cinder, r.PathValue("id"), false)
	if err != nil {
		return nil, err
	}
	if err := c.attachmentDeletionAllowed(ctx, a); err != nil {
		return nil, err
	}
	if err := c.deleteAttachment(ctx, a.id); err != nil {
		return nil, err
	}
	return volumeAttachmentRows(ctx, c, a.volumeID)
}

// volumeAttachmentRows lists a volume's live attachments.
func volumeAttachmentRows(ctx context.Context, c *Cloud, volumeID string) ([]attachmentRow, error) {
	ids, err := liveAttachmentIDs(ctx, c.cinder, "volume_id = ?", volumeID)
	if err != nil {
		return nil, err
	}
	out := make([]attachmentRow, 0, len(ids))
	for _, id := range ids {
		a, err := getAttachment(ctx, c.cinder, id, false)
		if err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, nil
}

// attachmentAction is POST /attachments/{id}/action, whose one action is os-complete (3.44), answered 204.
func (c *Cloud) attachmentAction(w http.ResponseWriter, r *apiRequest) error {
	c.auditedAction(c.cinderService(), w, r, http.StatusNoContent, func(action string, _ jsonObject) error {
		if action != "os-complete" {
			return badRequest("There is no such action: %s. Verify the request body and Content-Type header and try again.", action)
		}
		if err := requireVolumeVersion(r, 3, 44); err != nil {
			return err
		}
		return c.attachmentComplete(r.Context(), r.PathValue("id"))
	})
	return nil
}
