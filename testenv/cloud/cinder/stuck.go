package cinder

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/osdr/osdr/testenv/cloud/inventory"
	"github.com/osdr/osdr/testenv/cloud/store"
)

// StuckVolume names an attached data volume whose records LeaveStuck rewrites.
type StuckVolume struct {
	VolumeID, InstanceUUID string
	// AttachmentID is the volume's attachment to the instance (empty on the legacy schema).
	AttachmentID string
	// Connector is the instance's host's, as Nova sends it with attachment_update.
	Connector map[string]any
}

// ErrNoSuchState means the release's volume service never leaves a volume in the state asked for.
var ErrNoSuchState = errors.New("the volume service of this release has no such state")

// LeaveStuck leaves Cinder's records of v as the volume service itself leaves them when the operation behind
// state was cut short, by running that operation's own steps (Cinder 21, Zed, through 2026.1 on the modern
// schema; nova-volume's on the legacy one) and stopping where the power loss stopped it. It returns the
// volume's attachment to the instance afterwards (a new one when the volume was being attached again), and
// the connection info the driver now answers when state changes it (else nil).
func (c *Service) LeaveStuck(ctx context.Context, state inventory.StuckState, v StuckVolume) (string, map[string]any, error) {
	switch state {
	case inventory.StuckDetaching:
		return v.AttachmentID, nil, c.BeginDetaching(ctx, v.VolumeID)
	case inventory.StuckNovaOnly:
		if c.rel.Legacy {
			return "", nil, c.Detach(ctx, v.VolumeID)
		}
		return "", nil, c.AttachmentDelete(ctx, v.AttachmentID)
	case inventory.StuckCinderOnly, inventory.StuckNoConnectionInfo:
		return v.AttachmentID, nil, nil
	case inventory.StuckNoTargetIQN:
		info, err := c.listTargetsOnly(ctx, v)
		return v.AttachmentID, info, err
	case inventory.StuckAttaching, inventory.StuckReserved, inventory.StuckErrorAttaching:
		if c.rel.Legacy {
			return "", nil, c.leaveLegacyAttaching(ctx, state, v)
		}
		id, err := c.attachAgain(ctx, state, v)
		return id, nil, err
	}
	return "", nil, fmt.Errorf("unknown stuck state %q", state)
}

// attachAgain is the volume given back and attached to the instance again up to state: attachment_create
// (reserved), attachment_update (attaching), or attachment_update failing in the volume manager, which marks
// the attachment error_attaching; the volume's own status error_attaching is what the volume manager's attach
// wrote before the attachments API (Cinder 7, Liberty) and what a volume upgraded in that state still shows.
func (c *Service) attachAgain(ctx context.Context, state inventory.StuckState, v StuckVolume) (string, error) {
	if err := c.AttachmentDelete(ctx, v.AttachmentID); err != nil {
		return "", err
	}
	a, err := c.attachmentCreate(ctx, v.VolumeID, v.InstanceUUID, nil, "null")
	if err != nil {
		return "", fmt.Errorf("reserve volume %s for %s: %w", v.VolumeID, v.InstanceUUID, err)
	}
	if state == inventory.StuckReserved {
		return a.id, nil
	}
	if _, err := c.attachmentUpdate(ctx, a.id, v.Connector); err != nil {
		return "", fmt.Errorf("connect volume %s for %s: %w", v.VolumeID, v.InstanceUUID, err)
	}
	if state == inventory.StuckErrorAttaching {
		t := store.Now()
		if _, err := c.db.ExecContext(ctx, "UPDATE volume_attachment SET attach_status = 'error_attaching', updated_at = ? WHERE id = ?",
			t, a.id); err != nil {
			return "", fmt.Errorf("fail attachment %s: %w", a.id, err)
		}
		if _, err := c.db.ExecContext(ctx, "UPDATE volumes SET status = 'error_attaching', updated_at = ? WHERE id = ?",
			t, v.VolumeID); err != nil {
			return "", fmt.Errorf("fail volume %s: %w", v.VolumeID, err)
		}
	}
	return a.id, nil
}

// leaveLegacyAttaching is nova-volume's attach cut short: the volume given back, then reserved (os-reserve:
// attaching). The nova-volume era had no reserved or error_attaching state.
func (c *Service) leaveLegacyAttaching(ctx context.Context, state inventory.StuckState, v StuckVolume) error {
	if state != inventory.StuckAttaching {
		return fmt.Errorf("%w: %s (nova-volume knows attaching, detaching, available and in-use)", ErrNoSuchState, state)
	}
	if err := c.Detach(ctx, v.VolumeID); err != nil {
		return err
	}
	return c.Reserve(ctx, v.VolumeID)
}

// listTargetsOnly rewrites the attachment's connection info as a driver that exports the target over several
// portals answers it: target_iqns, target_portals and target_luns, without target_iqn, target_portal and
// target_lun. It returns the connection info.
func (c *Service) listTargetsOnly(ctx context.Context, v StuckVolume) (map[string]any, error) {
	var raw string
	if c.rel.Legacy {
		// The nova-volume table keeps no connection info: the driver's answer is rebuilt.
		row, err := getVolume(ctx, c.db, c.volumeColumns(), v.VolumeID, false)
		if err != nil {
			return nil, err
		}
		info := c.attachmentConnectionInfo(c.volumeTarget(row, ""))
		return targetLists(info), nil
	}
	if err := c.db.QueryRowContext(ctx, "SELECT connection_info FROM volume_attachment WHERE id = ?", v.AttachmentID).Scan(&raw); err != nil {
		return nil, fmt.Errorf("read attachment %s: %w", v.AttachmentID, err)
	}
	var info map[string]any
	if err := json.Unmarshal([]byte(raw), &info); err != nil {
		return nil, fmt.Errorf("attachment %s: connection_info: %w", v.AttachmentID, err)
	}
	info = targetLists(info)
	out, err := json.Marshal(info)
	if err != nil {
		return nil, err
	}
	if _, err := c.db.ExecContext(ctx, "UPDATE volume_attachment SET connection_info = ?, updated_at = ? WHERE id = ?",
		string(out), store.Now(), v.AttachmentID); err != nil {
		return nil, fmt.Errorf("rewrite attachment %s: %w", v.AttachmentID, err)
	}
	return info, nil
}

// targetLists moves an iSCSI connection info's single target into one-element lists.
func targetLists(info map[string]any) map[string]any {
	for single, list := range map[string]string{"target_iqn": "target_iqns", "target_portal": "target_portals", "target_lun": "target_luns"} {
		if v, ok := info[single]; ok {
			info[list] = []any{v}
			delete(info, single)
		}
	}
	return info
}
