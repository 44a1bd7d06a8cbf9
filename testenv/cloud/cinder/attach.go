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
	"strings"

	"github.com/osdr/osdr/testenv/cloud/osapi"
	"github.com/osdr/osdr/testenv/cloud/store"
)

// Cinder's side of attaching and detaching: the calls Nova makes of the volume API. On the modern schema they
// are the attachments API (attachment_create, attachment_update, attachment_complete, attachment_delete) over
// volume_attachment rows; on the legacy release's nova-volume table they are the volume actions of Nova's old
// attach flow (os-reserve, os-initialize_connection, os-attach, os-begin_detaching, os-terminate_connection,
// os-detach), which keep the attachment on the volume row itself.

// msgDetachState is what begin_detaching answers for a volume that is not attached.
const msgDetachState = "Invalid volume: Unable to detach volume. Volume status must be 'in-use' and attach_status " +
	"must be 'attached' to detach."

// attachmentRow is a volume_attachment row with the columns the attachments API shows.
type attachmentRow struct {
	id, volumeID                         string
	instanceUUID, attachedHost           sql.NullString
	mountpoint, attachMode, attachStatus sql.NullString
	connectionInfo, connector            sql.NullString
	attachTime, detachTime, createdAt    sql.NullTime
}

const attachmentColumns = `id, volume_id, instance_uuid, attached_host, mountpoint, attach_mode, attach_status,
	connection_info, connector, attach_time, detach_time, created_at`

func scanAttachment(row interface{ Scan(...any) error }) (attachmentRow, error) {
	var a attachmentRow
	err := row.Scan(&a.id, &a.volumeID, &a.instanceUUID, &a.attachedHost, &a.mountpoint, &a.attachMode,
		&a.attachStatus, &a.connectionInfo, &a.connector, &a.attachTime, &a.detachTime, &a.createdAt)
	return a, err
}

func attachmentNotFound(id string) *osapi.Error {
	return osapi.NotFound("Volume attachment could not be found with filter: attachment_id = %s.", id)
}

func getAttachment(ctx context.Context, q store.Querier, id string, forUpdate bool) (attachmentRow, error) {
	query := "SELECT " + attachmentColumns + " FROM volume_attachment WHERE id = ? AND deleted = 0"
	if forUpdate {
		query += " FOR UPDATE"
	}
	a, err := scanAttachment(q.QueryRowContext(ctx, query, id))
	if errors.Is(err, sql.ErrNoRows) {
		return attachmentRow{}, attachmentNotFound(id)
	}
	if err != nil {
		return attachmentRow{}, fmt.Errorf("load attachment %s: %w", id, err)
	}
	return a, nil
}

// attachmentCreate is Cinder's attachment_create: _attachment_reserve claims the volume for the instance (status
// reserved, a reserved attachment), and with a connector attachment_update connects it at once. It returns the
// attachment as the API shows it: the reservation, with the connection info when connected.
func (c *Service) attachmentCreate(ctx context.Context, volumeID, instanceUUID string, connector map[string]any,
	mode string) (attachmentRow, error) {
	var a attachmentRow
	err := store.InTx(ctx, c.db, func(tx *sql.Tx) error {
		v, err := getVolume(ctx, tx, c.volumeColumns(), volumeID, true)
		if err != nil {
			return err
		}
		status := v.status.String
		if strings.Contains(status, "error") {
			return osapi.BadRequest("Invalid volume: Volume attachments can not be created if the volume is in an error "+
				"state. The Volume %s currently has a status of: %s ", v.id, status)
		}
		expected := []string{"available", "downloading"}
		if v.multiattach.Bool {
			expected = []string{"available", "in-use", "downloading"}
		}
		if slices.Contains(expected, status) {
			if _, err := tx.ExecContext(ctx, "UPDATE volumes SET status = 'reserved', updated_at = ? WHERE id = ?",
				store.Now(), v.id); err != nil {
				return fmt.Errorf("reserve volume %s: %w", v.id, err)
			}
		} else {
			// Attaching again to the instance that holds the volume is allowed (a migrating instance).
			same, err := liveAttachmentIDs(ctx, tx, "volume_id = ? AND instance_uuid = ?", v.id, instanceUUID)
			if err != nil {
				return err
			}
			if instanceUUID == "" || (status != "in-use" && status != "reserved") || len(same) == 0 {
				return osapi.BadRequest("Invalid volume: Volume %s status must be %s to reserve, but the current status is %s.",
					v.id, strings.Join(expected, " or "), status)
			}
		}
		a = attachmentRow{id: c.ids.UUID(), volumeID: v.id, instanceUUID: sql.NullString{String: instanceUUID, Valid: instanceUUID != ""},
			attachMode: sql.NullString{String: mode, Valid: true}, attachStatus: sql.NullString{String: "reserved", Valid: true},
			connectionInfo: sql.NullString{String: "{}", Valid: true}, createdAt: sql.NullTime{Time: store.Now(), Valid: true}}
		if _, err := tx.ExecContext(ctx, `INSERT INTO volume_attachment (created_at, deleted, id, volume_id, instance_uuid,
			attach_mode, attach_status, connection_info) VALUES (?, 0, ?, ?, ?, ?, 'reserved', '{}')`,
			a.createdAt.Time, a.id, v.id, a.instanceUUID, mode); err != nil {
			return fmt.Errorf("add an attachment to volume %s: %w", v.id, err)
		}
		return nil
	})
	if err != nil || connector == nil {
		return a, err
	}
	conn, err := c.attachmentUpdate(ctx, a.id, connector)
	if err != nil {
		var ae *osapi.Error
		if errors.As(err, &ae) {
			return a, err
		}
		return a, &osapi.Error{Code: http.StatusInternalServerError, Message: "Unable to create attachment for volume."}
	}
	a.connectionInfo = sql.NullString{String: conn, Valid: true}
	return a, nil
}

// attachmentUpdate is attachment_update: the backend exports the volume to the connector's host (the driver's
// connection info, kept flattened on the attachment) and the volume and attachment go to attaching. It returns
// the connection info as stored.
func (c *Service) attachmentUpdate(ctx context.Context, attachmentID string, connector map[string]any) (string, error) {
	var stored string
	err := store.InTx(ctx, c.db, func(tx *sql.Tx) error {
		a, err := getAttachment(ctx, tx, attachmentID, true)
		if err != nil {
			return err
		}
		v, err := getVolume(ctx, tx, c.volumeColumns(), a.volumeID, true)
		if err != nil {
			return err
		}
		if strings.Contains(v.status.String, "error") {
			return osapi.Conflict("Resource conflict: Volume attachments can not be updated if the volume is in an error "+
				"state. The Volume %s currently has a status of: %s ", v.id, v.status.String)
		}
		mode, _ := connector["mode"].(string)
		mode = cmp.Or(mode, "rw")
		if a.attachMode.String != "null" {
			mode = a.attachMode.String
		}
		connector["mode"] = mode
		mountpoint, _ := connector["mountpoint"].(string)
		host, _ := connector["host"].(string)
		conn, err := json.Marshal(c.attachmentConnectionInfo(c.volumeTarget(v, a.id)))
		if err != nil {
			return err
		}
		rawConnector, err := json.Marshal(connector)
		if err != nil {
			return err
		}
		stored = string(conn)
		t := store.Now()
		if _, err := tx.ExecContext(ctx, `UPDATE volume_attachment SET attach_status = 'attaching', connector = ?,
			mountpoint = ?, attached_host = ?, attach_time = ?, attach_mode = ?, connection_info = ?, updated_at = ?
			WHERE id = ?`, string(rawConnector), cmp.Or(mountpoint, "na"), host, t, mode, stored, t, a.id); err != nil {
			return fmt.Errorf("connect attachment %s: %w", a.id, err)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE volumes SET status = 'attaching', attach_status = 'attaching',
			updated_at = ? WHERE id = ?`, t, v.id); err != nil {
			return fmt.Errorf("connect volume %s: %w", v.id, err)
		}
		return nil
	})
	return stored, err
}

// AttachmentComplete is os-complete: the attachment is attached and the volume in-use.
func (c *Service) AttachmentComplete(ctx context.Context, attachmentID string) error {
	return store.InTx(ctx, c.db, func(tx *sql.Tx) error {
		a, err := getAttachment(ctx, tx, attachmentID, true)
		if err != nil {
			return err
		}
		t := store.Now()
		if _, err := tx.ExecContext(ctx, "UPDATE volume_attachment SET attach_status = 'attached', updated_at = ? WHERE id = ?",
			t, a.id); err != nil {
			return fmt.Errorf("complete attachment %s: %w", a.id, err)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE volumes SET status = 'in-use', attach_status = 'attached', updated_at = ?
			WHERE id = ?`, t, a.volumeID); err != nil {
			return fmt.Errorf("complete attachment %s: %w", a.id, err)
		}
		return nil
	})
}

// attachmentDeletionAllowed is Cinder's check against detaching under Nova's feet (bug #2004555, CVE-2023-2088,
// backported to Zed by the distributions): a caller other than Nova may not delete an attachment that is
// connected to an instance while Nova still maps the volume to that instance through this very attachment.
func (c *Service) attachmentDeletionAllowed(ctx context.Context, a attachmentRow) error {
	if a.instanceUUID.String == "" || a.connectionInfo.String == "" || a.connectionInfo.String == "{}" {
		return nil
	}
	held, err := c.nova.ServerUsesAttachment(ctx, a.instanceUUID.String, a.volumeID, a.id)
	if err != nil {
		return fmt.Errorf("ask Nova about attachment %s: %w", a.id, err)
	}
	if !held {
		return nil
	}
	return conflictNovaUsingAttachment(a.instanceUUID.String)
}

func conflictNovaUsingAttachment(instanceUUID string) *osapi.Error {
	return osapi.Conflict("Detach volume from instance %s using the Compute API", instanceUUID)
}

// BeginDetaching is os-begin_detaching: only an attached, in-use volume (not migrating) may start detaching.
func (c *Service) BeginDetaching(ctx context.Context, volumeID string) error {
	query := `UPDATE volumes SET status = 'detaching', updated_at = ? WHERE id = ? AND deleted = 0 AND status = 'in-use'
		AND attach_status = 'attached'`
	if !c.rel.Legacy {
		query += " AND (migration_status IS NULL OR migration_status IN ('deleting', 'error', 'success'))"
	}
	res, err := c.db.ExecContext(ctx, query, store.Now(), volumeID)
	if err != nil {
		return fmt.Errorf("begin detaching volume %s: %w", volumeID, err)
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		if err != nil {
			return fmt.Errorf("begin detaching volume %s: %w", volumeID, err)
		}
		return osapi.BadRequest(msgDetachState)
	}
	return nil
}

// RollDetaching is os-roll_detaching: a detach that failed leaves the volume in-use again.
func (c *Service) RollDetaching(ctx context.Context, volumeID string) error {
	if _, err := c.db.ExecContext(ctx, "UPDATE volumes SET status = 'in-use', updated_at = ? WHERE id = ? AND status = 'detaching'",
		store.Now(), volumeID); err != nil {
		return fmt.Errorf("roll back detaching volume %s: %w", volumeID, err)
	}
	return nil
}

// Reserve is os-reserve on the nova-volume table: available becomes attaching.
func (c *Service) Reserve(ctx context.Context, volumeID string) error {
	return store.InTx(ctx, c.db, func(tx *sql.Tx) error {
		v, err := getVolume(ctx, tx, c.volumeColumns(), volumeID, true)
		if err != nil {
			return err
		}
		if v.status.String != "available" {
			return osapi.BadRequest("Invalid volume: Volume status must be available to reserve, but the status is %s.", v.status.String)
		}
		if _, err := tx.ExecContext(ctx, "UPDATE volumes SET status = 'attaching', updated_at = ? WHERE id = ?", store.Now(), v.id); err != nil {
			return fmt.Errorf("reserve volume %s: %w", v.id, err)
		}
		return nil
	})
}

// Unreserve is os-unreserve: an attach that did not happen leaves the volume available.
func (c *Service) Unreserve(ctx context.Context, volumeID string) error {
	if _, err := c.db.ExecContext(ctx, "UPDATE volumes SET status = 'available', updated_at = ? WHERE id = ? AND status = 'attaching'",
		store.Now(), volumeID); err != nil {
		return fmt.Errorf("unreserve volume %s: %w", volumeID, err)
	}
	return nil
}

// Attach is os-attach on the nova-volume table: the attachment is the row's instance_id (Nova's
// numeric instances.id, as when the table lived in Nova's database), mountpoint and attach_time.
func (c *Service) Attach(ctx context.Context, volumeID string, instanceID int64, mountpoint string) error {
	t := store.Now()
	if _, err := c.db.ExecContext(ctx, `UPDATE volumes SET status = 'in-use', attach_status = 'attached',
		instance_id = ?, mountpoint = ?, attach_time = ?, updated_at = ? WHERE id = ?`,
		instanceID, mountpoint, t.Format(legacyAttachTime), t, volumeID); err != nil {
		return fmt.Errorf("attach volume %s: %w", volumeID, err)
	}
	return nil
}

// Detach is os-detach on the nova-volume table: the row forgets its instance.
func (c *Service) Detach(ctx context.Context, volumeID string) error {
	if _, err := c.db.ExecContext(ctx, `UPDATE volumes SET status = 'available', attach_status = 'detached',
		instance_id = NULL, mountpoint = NULL, attach_time = NULL, updated_at = ? WHERE id = ?`, store.Now(), volumeID); err != nil {
		return fmt.Errorf("detach volume %s: %w", volumeID, err)
	}
	return nil
}

// legacyAttachTime is how nova-volume's string attach_time column kept a datetime (Python's str()).
const legacyAttachTime = "2006-01-02 15:04:05.000000"

// liveAttachmentIDs lists the ids of Cinder's live volume_attachment rows matching cond.
func liveAttachmentIDs(ctx context.Context, q store.Querier, cond string, args ...any) ([]string, error) {
	rows, err := q.QueryContext(ctx, "SELECT id FROM volume_attachment WHERE deleted = 0 AND "+cond+" ORDER BY attach_time, id", args...)
	if err != nil {
		return nil, fmt.Errorf("list volume attachments: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("list volume attachments: %w", err)
		}
		out = append(out, id)
	}
	return out, rows.Err()
}
