package nova

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strings"

	"github.com/google/uuid"

	"github.com/osdr/osdr/testenv/cloud/nova/novadb"
	"github.com/osdr/osdr/testenv/cloud/nova/volume"
	"github.com/osdr/osdr/testenv/cloud/osapi"
	"github.com/osdr/osdr/testenv/cloud/store"
)

// The vm_states the compute API attaches and detaches volumes in (attach_volume and detach_volume's
// check_instance_state), and those from which only microversion 2.20 on may.
var (
	allowVolumeChange = []string{"active", "paused", "stopped", "resized", "soft-delete", "shelved", "shelved_offloaded"}
	shelvedStates     = []string{"shelved", "shelved_offloaded"}
)

// devicePattern is the create schema's device pattern (block_device.match_device).
const devicePattern = `(^/dev/x{0,1}[a-z]{0,1}d{0,1})([a-z]+)[0-9]*$`

var deviceName = regexp.MustCompile(devicePattern)

// tagPattern is parameter_types.tag's pattern.
const tagPattern = `^[^,/]*$`

// novaBooleans is parameter_types.boolean's enum, in its order.
var novaBooleans = []any{true, "True", "TRUE", "true", "1", "ON", "On", "on", "YES", "Yes", "yes",
	false, "False", "FALSE", "false", "0", "OFF", "Off", "off", "NO", "No", "no"}

// attachRequest is a validated POST os-volume_attachments body.
type attachRequest struct {
	volumeID, device, tag string
	deleteOnTermination   bool
	multiattachSupported  bool // microversion 2.60 and later
}

// parseAttachRequest validates the body against the create schema of the microversion (tag from 2.49,
// delete_on_termination from 2.79), reporting the first error in the order jsonschema finds them.
func parseAttachRequest(body any, parseErr error, v osapi.Microversion) (attachRequest, error) {
	req := attachRequest{multiattachSupported: v.AtLeast(2, 60)}
	if parseErr != nil {
		return req, osapi.BadRequest(osapi.MsgMalformedBody)
	}
	top, ok := body.(osapi.Object)
	if !ok {
		return req, osapi.BadRequest("%s is not of type 'object'", osapi.PyRepr(body))
	}
	raw, present := top.Get("volumeAttachment")
	if present {
		if err := parseAttachment(raw, v, &req); err != nil {
			return req, err
		}
	} else {
		return req, osapi.BadRequest("'volumeAttachment' is a required property")
	}
	if msg := osapi.UnexpectedKeys(top, "volumeAttachment"); msg != "" {
		return req, osapi.BadRequest("%s", msg)
	}
	return req, nil
}

func parseAttachment(raw any, v osapi.Microversion, req *attachRequest) error {
	const field = "volumeAttachment"
	obj, ok := raw.(osapi.Object)
	if !ok {
		return osapi.InvalidInput(field, raw, osapi.PyRepr(raw)+" is not of type 'object'")
	}
	allowed := []string{"volumeId", "device"}
	if v.AtLeast(2, 49) {
		allowed = append(allowed, "tag")
	}
	if v.AtLeast(2, 79) {
		allowed = append(allowed, "delete_on_termination")
	}
	if val, present := obj.Get("volumeId"); present {
		s, ok := val.(string)
		if !ok {
			return osapi.InvalidInput("volumeId", val, osapi.PyRepr(val)+" is not of type 'string'")
		}
		if _, err := uuid.Parse(s); err != nil {
			return osapi.InvalidInput("volumeId", val, osapi.PyRepr(val)+" is not a 'uuid'")
		}
		req.volumeID = s
	}
	if val, present := obj.Get("device"); present && val != nil {
		s, ok := val.(string)
		if !ok {
			return osapi.InvalidInput("device", val, osapi.PyRepr(val)+" is not of type 'string', 'null'")
		}
		if !deviceName.MatchString(s) {
			return osapi.InvalidInput("device", val, osapi.PyRepr(val)+" does not match "+osapi.PyRepr(devicePattern))
		}
		req.device = s
	}
	if val, present := obj.Get("tag"); present && slices.Contains(allowed, "tag") {
		s, ok := val.(string)
		switch {
		case !ok:
			return osapi.InvalidInput("tag", val, osapi.PyRepr(val)+" is not of type 'string'")
		case s == "":
			return osapi.InvalidInput("tag", val, "'' is too short")
		case len([]rune(s)) > 60:
			return osapi.InvalidInput("tag", val, osapi.PyRepr(val)+" is too long")
		case strings.ContainsAny(s, ",/"):
			return osapi.InvalidInput("tag", val, osapi.PyRepr(val)+" does not match "+osapi.PyRepr(tagPattern))
		}
		req.tag = s
	}
	if val, present := obj.Get("delete_on_termination"); present && slices.Contains(allowed, "delete_on_termination") {
		b, err := novaBoolean("delete_on_termination", val)
		if err != nil {
			return err
		}
		req.deleteOnTermination = b
	}
	if _, present := obj.Get("volumeId"); !present {
		return osapi.InvalidInput(field, raw, "'volumeId' is a required property")
	}
	if msg := osapi.UnexpectedKeys(obj, allowed...); msg != "" {
		return osapi.InvalidInput(field, raw, msg)
	}
	return nil
}

// novaBoolean checks a value against parameter_types.boolean and reads it as strutils.bool_from_string.
func novaBoolean(field string, val any) (bool, error) {
	switch x := val.(type) {
	case bool:
		return x, nil
	case string:
		if !slices.Contains(novaBooleans, val) {
			parts := make([]string, len(novaBooleans))
			for i, b := range novaBooleans {
				parts[i] = osapi.PyRepr(b)
			}
			return false, osapi.InvalidInput(field, val, osapi.PyRepr(val)+" is not one of ["+strings.Join(parts, ", ")+"]")
		}
		b, _ := osapi.BoolParam(x)
		return b, nil
	}
	return false, osapi.InvalidInput(field, val, osapi.PyRepr(val)+" is not of type 'boolean', 'string'")
}

// volumeAttachmentView is _translate_attachment_detail_view at the request's microversion: tag from 2.70,
// delete_on_termination from 2.79, attachment_id and bdm_uuid instead of id from 2.89.
func volumeAttachmentView(b novadb.BDM, v osapi.Microversion) map[string]any {
	a := map[string]any{"volumeId": b.VolumeID.String, "serverId": b.InstanceUUID}
	if !v.AtLeast(2, 89) {
		a["id"] = b.VolumeID.String
	}
	if b.DeviceName.String != "" {
		a["device"] = b.DeviceName.String
	}
	if v.AtLeast(2, 70) {
		a["tag"] = osapi.NullString(b.Tag)
	}
	if v.AtLeast(2, 79) {
		a["delete_on_termination"] = b.DeleteOnTermination.Bool
	}
	if v.AtLeast(2, 89) {
		a["attachment_id"] = osapi.NullString(b.AttachmentID)
		a["bdm_uuid"] = b.UUID
	}
	return a
}

// listVolumeAttachments is GET /servers/{id}/os-volume_attachments: the instance's live volume mappings.
func (c *Service) listVolumeAttachments(w http.ResponseWriter, r *osapi.Request) error {
	i, err := novadb.GetInstance(r.Context(), c.db, r.PathValue("id"), false)
	if err != nil {
		return err
	}
	bdms, err := novadb.LiveBDMs(r.Context(), c.db, i.UUID)
	if err != nil {
		return err
	}
	out := []any{}
	for _, b := range bdms[i.UUID] {
		if b.VolumeID.Valid {
			out = append(out, volumeAttachmentView(b, r.Version))
		}
	}
	osapi.WriteJSON(w, http.StatusOK, map[string]any{"volumeAttachments": out})
	return nil
}

func notAttached(serverID, volumeID string) *osapi.Error {
	return osapi.NotFound("Instance %s is not attached to volume %s", serverID, volumeID)
}

// showVolumeAttachment is GET /servers/{id}/os-volume_attachments/{volume}.
func (c *Service) showVolumeAttachment(w http.ResponseWriter, r *osapi.Request) error {
	i, err := novadb.GetInstance(r.Context(), c.db, r.PathValue("id"), false)
	if err != nil {
		return err
	}
	b, found, err := novadb.VolumeBDM(r.Context(), c.db, i.UUID, r.PathValue("volume"))
	if err != nil {
		return err
	}
	if !found {
		return notAttached(r.PathValue("id"), r.PathValue("volume"))
	}
	osapi.WriteJSON(w, http.StatusOK, map[string]any{"volumeAttachment": volumeAttachmentView(b, r.Version)})
	return nil
}

// attachVolume is POST /servers/{id}/os-volume_attachments. Before 2.101 the answer (200) waits for the device
// name and Cinder's reservation, so their refusals reach the client; from 2.101 it is 202 with no body as soon
// as the instance and volume pass the API's checks, and the rest happens afterwards.
func (c *Service) attachVolume(w http.ResponseWriter, r *osapi.Request) error {
	body, parseErr := osapi.DecodeBody(r.Request)
	req, verr := parseAttachRequest(body, parseErr, r.Version)
	detail := "volume=" + req.volumeID
	if req.device != "" {
		detail += " device=" + req.device
	}
	c.api.Audited(w, r, "attach_volume", detail, r.PathValue("id"), func(w http.ResponseWriter) {
		if verr != nil {
			c.api.WriteError(w, r.Request, verr)
			return
		}
		device, err := c.requestAttach(r, req)
		if err != nil {
			c.api.WriteError(w, r.Request, err)
			return
		}
		if r.Version.AtLeast(2, 101) {
			w.WriteHeader(http.StatusAccepted)
			return
		}
		a := map[string]any{"id": req.volumeID, "serverId": r.PathValue("id"), "volumeId": req.volumeID, "device": device}
		if device == "" {
			a["device"] = nil
		}
		if r.Version.AtLeast(2, 70) {
			a["tag"] = osapi.NullString(sql.NullString{String: req.tag, Valid: req.tag != ""})
		}
		if r.Version.AtLeast(2, 79) {
			a["delete_on_termination"] = req.deleteOnTermination
		}
		// Nova never gave create the 2.89 shape.
		osapi.WriteJSON(w, http.StatusOK, map[string]any{"volumeAttachment": a})
	})
	return nil
}

// requestAttach is the compute API's attach_volume; it returns the device name (none from 2.101).
func (c *Service) requestAttach(r *osapi.Request, req attachRequest) (string, error) {
	// nova-api finishes what it started when the client goes away.
	ctx := context.WithoutCancel(r.Context())
	serverID := r.PathValue("id")
	i, err := novadb.GetInstance(ctx, c.db, serverID, false)
	if err != nil {
		return "", err
	}
	if slices.Contains(shelvedStates, i.VMState.String) && !r.Version.AtLeast(2, 20) {
		return "", osapi.Conflict("Cannot 'attach_volume' instance %s while it is in vm_state %s", serverID, i.VMState.String)
	}
	if err := checkState(i, "attach_volume", allowVolumeChange, noTask); err != nil {
		return "", err
	}
	v, err := c.volumes.Get(ctx, req.volumeID)
	if err != nil {
		return "", err
	}
	if err := checkVolumeAlreadyAttached(ctx, c.db, i, v); err != nil {
		return "", err
	}
	if i.VMState.String == "shelved_offloaded" {
		return "", c.attachShelvedOffloaded(ctx, i, v, req)
	}
	if r.Version.AtLeast(2, 101) {
		c.conductor.conduct(func(ctx context.Context) {
			if _, err := c.attachThroughCompute(ctx, i, v, req); err != nil {
				c.logf("conductor: attach %s to %s: %v", v.ID, i.UUID, err)
			}
		})
		return "", nil
	}
	return c.attachThroughCompute(ctx, i, v, req)
}

// checkVolumeAlreadyAttached is _check_volume_already_attached (Nova 23, Wallaby, and later): any live mapping
// of a volume that is not multiattach refuses the attach, whichever instance it is on; a multiattach volume
// only may not be mapped to the instance twice.
func checkVolumeAlreadyAttached(ctx context.Context, q store.Querier, i novadb.Instance, v volume.Volume) error {
	bdms, err := novadb.QueryBDMs(ctx, q, "volume_id = ?", v.ID)
	if err != nil || len(bdms) == 0 {
		return err
	}
	if !v.Multiattach {
		uuids := make([]string, len(bdms))
		for n, b := range bdms {
			uuids[n] = b.InstanceUUID
		}
		return osapi.BadRequest("Invalid volume: volume %s is already attached to instances: %s", v.ID, strings.Join(uuids, " "))
	}
	if slices.ContainsFunc(bdms, func(b novadb.BDM) bool { return b.InstanceUUID == i.UUID }) {
		return osapi.BadRequest("Invalid volume: volume %s already attached", v.ID)
	}
	return nil
}

// attachShelvedOffloaded is _attach_volume_shelved_offloaded: with no host to plug into, the mapping is made
// without a device and the attachment completed without a connector; unshelving would connect it.
func (c *Service) attachShelvedOffloaded(ctx context.Context, i novadb.Instance, v volume.Volume, req attachRequest) error {
	if req.tag != "" {
		return osapi.BadRequest("Tagged volume attachment is not supported for shelved-offloaded instances.")
	}
	if v.Multiattach {
		return osapi.BadRequest("Attaching multiattach volumes is not supported for shelved-offloaded instances.")
	}
	t := store.Now()
	b := novadb.BDM{UUID: c.ids.UUID(), InstanceUUID: i.UUID, VolumeID: sql.NullString{String: v.ID, Valid: true}}
	res, err := c.db.ExecContext(ctx, `INSERT INTO block_device_mapping (created_at, updated_at, delete_on_termination,
		volume_id, instance_uuid, deleted, source_type, destination_type, boot_index, uuid) VALUES (?, ?, ?, ?, ?, 0,
		'volume', 'volume', NULL, ?)`, t, t, req.deleteOnTermination, v.ID, i.UUID, b.UUID)
	if err != nil {
		return fmt.Errorf("map volume %s to %s: %w", v.ID, i.UUID, err)
	}
	if b.ID, err = res.LastInsertId(); err != nil {
		return fmt.Errorf("map volume %s to %s: %w", v.ID, i.UUID, err)
	}
	attachmentID, err := c.reserveForMapping(ctx, i, v, req)
	if err == nil && attachmentID != "" {
		b.AttachmentID = sql.NullString{String: attachmentID, Valid: true}
		if _, err = c.db.ExecContext(ctx, "UPDATE block_device_mapping SET attachment_id = ? WHERE id = ?",
			attachmentID, b.ID); err != nil {
			err = fmt.Errorf("record attachment %s: %w", attachmentID, err)
		}
	}
	if err == nil {
		err = volume.Complete(ctx, c.volumes, b.AttachmentID.String, b.VolumeID.String, i.ID, b.DeviceName.String)
	}
	if err != nil {
		return errors.Join(err, novadb.SoftDeleteBDM(ctx, c.db, b.ID))
	}
	return nil
}

// detachVolume is DELETE /servers/{id}/os-volume_attachments/{volume}: 202 once Cinder has the volume
// detaching and the detach is cast to the compute host.
func (c *Service) detachVolume(w http.ResponseWriter, r *osapi.Request) error {
	c.api.Audited(w, r, "detach_volume", "volume="+r.PathValue("volume"), r.PathValue("id"), func(w http.ResponseWriter) {
		if err := c.requestDetach(r); err != nil {
			c.api.WriteError(w, r.Request, err)
			return
		}
		w.WriteHeader(http.StatusAccepted)
	})
	return nil
}

// requestDetach is the volume attachments controller's delete with the compute API's detach_volume.
func (c *Service) requestDetach(r *osapi.Request) error {
	ctx := context.WithoutCancel(r.Context())
	serverID, volumeID := r.PathValue("id"), r.PathValue("volume")
	i, err := novadb.GetInstance(ctx, c.db, serverID, false)
	if err != nil {
		return err
	}
	if slices.Contains(shelvedStates, i.VMState.String) && !r.Version.AtLeast(2, 20) {
		return osapi.Conflict("Cannot 'detach_volume' instance %s while it is in vm_state %s", serverID, i.VMState.String)
	}
	if _, err := c.volumes.Get(ctx, volumeID); err != nil {
		return err
	}
	b, found, err := novadb.VolumeBDM(ctx, c.db, i.UUID, volumeID)
	if err != nil {
		return err
	}
	if !found {
		return notAttached(serverID, volumeID)
	}
	if b.BootIndex.Valid && b.BootIndex.Int64 == 0 {
		return osapi.BadRequest("Cannot detach a root device volume")
	}
	if err := checkState(i, "detach_volume", allowVolumeChange, noTask); err != nil {
		return err
	}
	if i.VMState.String == "shelved_offloaded" {
		// The old flow needs the volume detaching first; an attachment is simply deleted.
		if !c.volumes.AttachmentsSupported() {
			if err := c.novaBeginDetaching(ctx, volumeID); err != nil {
				return err
			}
		}
		if err := volume.Disconnect(ctx, c.volumes, b.AttachmentID.String, b.VolumeID.String); err != nil {
			return err
		}
		return novadb.SoftDeleteBDM(ctx, c.db, b.ID)
	}
	up, err := c.computeServiceUp(ctx, i.Host.String)
	if err != nil {
		return err
	}
	if !up {
		return osapi.Conflict("Service is unavailable at this time.")
	}
	if err := c.novaBeginDetaching(ctx, volumeID); err != nil {
		return err
	}
	requestID, err := recordActionStart(ctx, c.db, i.UUID, actionDetachVolume)
	if err != nil {
		return err
	}
	c.rpc.DetachVolume(i.Host.String, i.UUID, volumeID, requestID)
	return nil
}

// novaBeginDetaching is begin_detaching as the compute API reports its refusal: Cinder's 400 as InvalidInput,
// wrapped again in InvalidVolume.
func (c *Service) novaBeginDetaching(ctx context.Context, volumeID string) error {
	err := c.volumes.BeginDetaching(ctx, volumeID)
	var ae *osapi.Error
	if errors.As(err, &ae) && ae.Code == http.StatusBadRequest {
		return osapi.BadRequest("Invalid volume: %s", novaInvalidInput(ae).Message)
	}
	return err
}

// computeServiceUp is check_instance_host(check_is_up=True)'s question: is the host's nova-compute up?
func (c *Service) computeServiceUp(ctx context.Context, host string) (bool, error) {
	services, err := listComputeServices(ctx, c.db)
	if err != nil {
		return false, err
	}
	at := store.Now()
	for _, s := range services {
		if s.host.String == host && s.binary.String == "nova-compute" {
			return s.isUp(at), nil
		}
	}
	return false, nil
}
