package cinder

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/osdr/osdr/testenv/cloud/model"
	"github.com/osdr/osdr/testenv/cloud/osapi"
	"github.com/osdr/osdr/testenv/cloud/store"
)

// Cinder's fields.VolumeStatus.ALL and VolumeMigrationStatus.ALL, as the reset-status schema checks them.
var (
	volumeStatuses = []string{"creating", "available", "deleting", "error", "error_deleting", "error_managing",
		"managing", "attaching", "in-use", "detaching", "maintenance", "restoring-backup", "error_restoring",
		"reserved", "awaiting-transfer", "backing-up", "error_backing-up", "error_extending", "downloading",
		"uploading", "retyping", "extending"}
	migrationStatuses = []string{"migrating", "error", "success", "completing", "none", "starting"}
)

// volumeAction is POST /volumes/{id}/action for the actions the simulation carries out.
func (c *Service) volumeAction(w http.ResponseWriter, r *osapi.Request) error {
	c.api.AuditedAction(w, r, http.StatusAccepted, func(action string, body osapi.Object) error {
		switch action {
		case "os-reset_status":
			return c.resetVolumeStatus(r.Context(), r.PathValue("id"), body.Values[action])
		case "os-force_detach":
			if !c.rel.Legacy {
				return c.forceDetach(r.Context(), r.PathValue("id"), body.Values[action])
			}
			fallthrough
		default:
			return osapi.BadRequest("There is no such action: %s. Verify the request body and Content-Type header and try again.", action)
		}
	})
	return nil
}

// resetRequest is a validated os-reset_status body, lower-cased as Cinder stores it.
type resetRequest struct {
	status, attachStatus, migrationStatus *string
}

// parseReset is Cinder's admin_actions.reset schema with its format checkers; keys are the properties the
// schema has (the nova-volume era's reset had no migration_status).
func parseReset(arg any, keys []string) (resetRequest, error) {
	const field = "os-reset_status"
	obj, ok := arg.(osapi.Object)
	if !ok {
		return resetRequest{}, osapi.InvalidInput(field, arg, osapi.PyRepr(arg)+" is not of type 'object'")
	}
	if !osapi.PyTruthy(obj.Values["status"]) && !osapi.PyTruthy(obj.Values["attach_status"]) && !osapi.PyTruthy(obj.Values["migration_status"]) {
		return resetRequest{}, osapi.InvalidInput(field, arg, osapi.PyRepr(arg)+" is not a 'validate_volume_reset_body'")
	}
	var req resetRequest
	props := []struct {
		key, format string
		valid       []string
		dst         **string
	}{
		{"status", "volume_status", volumeStatuses, &req.status},
		{"attach_status", "volume_attach_status", []string{"attached", "detached"}, &req.attachStatus},
		{"migration_status", "volume_migration_status", migrationStatuses, &req.migrationStatus},
	}
	for _, p := range props {
		if !slices.Contains(keys, p.key) {
			continue
		}
		raw, present := obj.Get(p.key)
		if !present || raw == nil {
			continue
		}
		s, ok := raw.(string)
		if !ok {
			return resetRequest{}, osapi.InvalidInput(p.key, raw, osapi.PyRepr(raw)+" is not of type 'string', 'null'")
		}
		if s != "" && !slices.Contains(p.valid, strings.ToLower(s)) {
			return resetRequest{}, osapi.InvalidInput(p.key, raw, fmt.Sprintf("%s is not a '%s'", osapi.PyRepr(s), p.format))
		}
		if s != "" {
			lower := strings.ToLower(s)
			*p.dst = &lower
		}
	}
	if msg := osapi.UnexpectedKeys(obj, keys...); msg != "" {
		return resetRequest{}, osapi.InvalidInput(field, arg, msg)
	}
	return req, nil
}

// resetVolumeStatus is VolumeAdminController._reset_status: set the requested states, remove the volume's
// cleanup worker, and on attach_status detached soft-delete every live attachment (recomputing the volume's
// status from what remains) and the attached_mode admin metadata. No backend and no Nova mapping is touched.
func (c *Service) resetVolumeStatus(ctx context.Context, id string, arg any) error {
	keys := []string{"status", "attach_status", "migration_status"}
	if c.rel.Legacy {
		keys = keys[:2]
	}
	req, err := parseReset(arg, keys)
	if err != nil {
		return err
	}
	if err := c.latency.Spend(ctx, model.OpReset); err != nil {
		return err
	}
	if c.rel.Legacy {
		return c.resetLegacyVolumeStatus(ctx, id, req)
	}
	return store.InTx(ctx, c.db, func(tx *sql.Tx) error {
		if _, err := getVolume(ctx, tx, volumeColumns, id, true); err != nil {
			return err
		}
		if req.status != nil {
			// Cinder means to refuse ('deleting', 'error_deleting', 'detaching'), but a missing comma
			// concatenates the last two, so only deleting is refused.
			if *req.status == "deleting" {
				return osapi.BadRequest("Cannot reset-state to %s", *req.status)
			}
			if *req.status == "in-use" {
				live, err := liveAttachmentIDs(ctx, tx, "volume_id = ? AND attach_status <> 'detached'", id)
				if err != nil {
					return err
				}
				if len(live) == 0 {
					return osapi.BadRequest("Cannot reset-state to in-use because volume does not have any attachments.")
				}
			}
		}
		set := []string{"updated_at = ?"}
		args := []any{store.Now()}
		if req.status != nil {
			set, args = append(set, "status = ?"), append(args, *req.status)
		}
		if req.attachStatus != nil {
			set, args = append(set, "attach_status = ?"), append(args, *req.attachStatus)
		}
		if req.migrationStatus != nil {
			var ms any = *req.migrationStatus
			if *req.migrationStatus == "none" {
				ms = nil
			}
			set, args = append(set, "migration_status = ?"), append(args, ms)
		}
		if _, err := tx.ExecContext(ctx, "UPDATE volumes SET "+strings.Join(set, ", ")+" WHERE id = ? AND deleted = 0",
			append(args, id)...); err != nil {
			return fmt.Errorf("update volume %s: %w", id, err)
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM workers WHERE deleted = 0 AND resource_type <> 'SENTINEL'
			AND resource_type = ? AND resource_id = ?`, c.rel.ResetStatusWorkerType, id); err != nil {
			return fmt.Errorf("remove the cleanup worker of volume %s: %w", id, err)
		}
		if req.attachStatus == nil || *req.attachStatus != "detached" {
			return nil
		}
		live, err := liveAttachmentIDs(ctx, tx, "volume_id = ? AND attach_status <> 'detached'", id)
		if err != nil {
			return err
		}
		for _, a := range live {
			if err := volumeDetached(ctx, tx, id, a); err != nil {
				return err
			}
		}
		return deleteAttachedMode(ctx, tx, id)
	})
}

// resetLegacyVolumeStatus is the reset of the nova-volume era: the requested columns and nothing else, so the
// row keeps its instance_id and mountpoint (the attachment stops showing once attach_status is detached).
func (c *Service) resetLegacyVolumeStatus(ctx context.Context, id string, req resetRequest) error {
	return store.InTx(ctx, c.db, func(tx *sql.Tx) error {
		if _, err := getVolume(ctx, tx, legacyVolumeColumns, id, true); err != nil {
			return err
		}
		if req.status != nil && *req.status == "deleting" {
			return osapi.BadRequest("Cannot reset-state to %s", *req.status)
		}
		set, args := []string{"updated_at = ?"}, []any{store.Now()}
		if req.status != nil {
			set, args = append(set, "status = ?"), append(args, *req.status)
		}
		if req.attachStatus != nil {
			set, args = append(set, "attach_status = ?"), append(args, *req.attachStatus)
		}
		if _, err := tx.ExecContext(ctx, "UPDATE volumes SET "+strings.Join(set, ", ")+" WHERE id = ? AND deleted = 0",
			append(args, id)...); err != nil {
			return fmt.Errorf("update volume %s: %w", id, err)
		}
		return nil
	})
}

// volumeDetached is the DB API's volume_detached: soft-delete the attachment, then derive the volume's status
// and attach_status from the attachments left (ignoring error_* ones), keeping updated_at.
func volumeDetached(ctx context.Context, tx *sql.Tx, volumeID, attachmentID string) error {
	v, err := getVolume(ctx, tx, volumeColumns, volumeID, true)
	if err != nil {
		return err
	}
	t := store.Now()
	if _, err := tx.ExecContext(ctx, `UPDATE volume_attachment SET deleted = 1, deleted_at = ?, updated_at = ?,
		attach_status = 'detached', detach_time = ? WHERE id = ? AND deleted = 0`, t, t, t, attachmentID); err != nil {
		return fmt.Errorf("delete attachment %s: %w", attachmentID, err)
	}
	attachStatus := "detached"
	err = tx.QueryRowContext(ctx, `SELECT attach_status FROM volume_attachment WHERE deleted = 0 AND volume_id = ?
		AND attach_status NOT LIKE 'error\_%' ORDER BY attach_status LIMIT 1`, volumeID).Scan(&attachStatus)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("read the remaining attachments of volume %s: %w", volumeID, err)
	}
	status := map[string]string{"attached": "in-use", "detached": "available"}[attachStatus]
	if status == "" {
		status = attachStatus
	}
	query, args := "UPDATE volumes SET attach_status = ?", []any{attachStatus}
	// A migration or upload in progress keeps its status until that flow ends.
	migration := v.migrationStatus.String
	if attachStatus != "detached" || (migration == "" && v.status.String != "uploading") ||
		migration == "success" || migration == "error" {
		query, args = query+", status = ?", append(args, status)
	}
	if _, err := tx.ExecContext(ctx, query+" WHERE id = ?", append(args, volumeID)...); err != nil {
		return fmt.Errorf("update volume %s after detaching: %w", volumeID, err)
	}
	return nil
}

// deleteAttachedMode is volume_admin_metadata_delete(..., 'attached_mode'): a soft delete keeping updated_at.
func deleteAttachedMode(ctx context.Context, tx *sql.Tx, volumeID string) error {
	if _, err := tx.ExecContext(ctx, "UPDATE volume_admin_metadata SET deleted = 1, deleted_at = ? "+
		"WHERE volume_id = ? AND `key` = 'attached_mode' AND deleted = 0", store.Now(), volumeID); err != nil {
		return fmt.Errorf("delete the attached_mode of volume %s: %w", volumeID, err)
	}
	return nil
}

// AttachmentDelete is Cinder's attachment_delete as Nova calls it: finish_detach on the attachment's volume.
func (c *Service) AttachmentDelete(ctx context.Context, attachmentID string) error {
	return store.InTx(ctx, c.db, func(tx *sql.Tx) error {
		var volumeID string
		err := tx.QueryRowContext(ctx, "SELECT volume_id FROM volume_attachment WHERE id = ? AND deleted = 0",
			attachmentID).Scan(&volumeID)
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("load attachment %s: %w", attachmentID, err)
		}
		if err := volumeDetached(ctx, tx, volumeID, attachmentID); err != nil {
			return err
		}
		return deleteAttachedMode(ctx, tx, volumeID)
	})
}

// forceDetach is os-force_detach: terminate the volume's connection, then detach the attachment named (or the
// volume's only one). Each step first asks attachment_deletion_allowed, so a caller other than Nova is refused
// with 409 while Nova still uses the attachment, and also when it names no attachment on a volume with several,
// or one that does not exist.
func (c *Service) forceDetach(ctx context.Context, volumeID string, arg any) error {
	const field = "os-force_detach"
	obj, ok := arg.(osapi.Object)
	if !ok {
		return osapi.InvalidInput(field, arg, osapi.PyRepr(arg)+" is not of type 'object'")
	}
	var attachmentID string
	if raw, present := obj.Get("attachment_id"); present && raw != nil {
		if attachmentID, ok = raw.(string); !ok {
			return osapi.InvalidInput("attachment_id", raw, osapi.PyRepr(raw)+" is not of type 'string', 'null'")
		}
	}
	if raw, present := obj.Get("connector"); present && raw != nil {
		switch raw.(type) {
		case string, osapi.Object:
		default:
			return osapi.InvalidInput("connector", raw, osapi.PyRepr(raw)+" is not of type 'string', 'object', 'null'")
		}
	}
	if msg := osapi.UnexpectedKeys(obj, "connector", "attachment_id"); msg != "" {
		return osapi.InvalidInput(field, arg, msg)
	}
	if _, err := getVolume(ctx, c.db, volumeColumns, volumeID, false); err != nil {
		return err
	}
	live, err := liveAttachmentIDs(ctx, c.db, "volume_id = ?", volumeID)
	if err != nil {
		return err
	}
	// terminate_connection's check looks at the volume's only attachment.
	if len(live) > 1 {
		return conflictNovaUsingAttachment("")
	}
	if len(live) == 1 {
		if err := c.checkAttachmentDeletion(ctx, live[0]); err != nil {
			return err
		}
	}
	// detach's check looks at the attachment named.
	if attachmentID != "" {
		a, err := getAttachment(ctx, c.db, attachmentID, false)
		var ae *osapi.Error
		if errors.As(err, &ae) {
			return conflictNovaUsingAttachment("")
		}
		if err != nil {
			return err
		}
		if a.volumeID != volumeID {
			return osapi.BadRequest("Invalid input received: Mismatched volume and attachment")
		}
		return c.AttachmentDelete(ctx, a.id)
	}
	if len(live) == 1 {
		return c.AttachmentDelete(ctx, live[0])
	}
	// No attachment at all: the volume is made available.
	if _, err := c.db.ExecContext(ctx, "UPDATE volumes SET status = 'available', attach_status = 'detached', "+
		"updated_at = ? WHERE id = ?", store.Now(), volumeID); err != nil {
		return fmt.Errorf("detach volume %s: %w", volumeID, err)
	}
	return nil
}

// checkAttachmentDeletion runs attachmentDeletionAllowed on the attachment with that id.
func (c *Service) checkAttachmentDeletion(ctx context.Context, id string) error {
	a, err := getAttachment(ctx, c.db, id, false)
	if err != nil {
		return err
	}
	return c.attachmentDeletionAllowed(ctx, a)
}
