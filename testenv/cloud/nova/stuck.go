package nova

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"

	"github.com/osdr/osdr/testenv/cloud/inventory"
	"github.com/osdr/osdr/testenv/cloud/nova/novadb"
	"github.com/osdr/osdr/testenv/cloud/nova/volume"
	"github.com/osdr/osdr/testenv/cloud/store"
)

// LeaveStuck leaves Nova's mapping of the volume to the instance as Nova 26 (Zed) to 33 (2026.1) leave it
// when the operation behind state was cut short: an attach stops before nova-compute saved the connection_info
// (the mapping holds the attachment reserved for it, attachmentID); a mapping of a volume Cinder alone keeps is
// destroyed as Nova destroys one; a driver's answer without target_iqn (info, the volume service's connection
// info) is stored as Nova stores any. Every other state leaves the mapping whole.
func (c *Service) LeaveStuck(ctx context.Context, state inventory.StuckState, instanceUUID, volumeID, attachmentID string,
	info map[string]any) error {
	b, found, err := novadb.VolumeBDM(ctx, c.db, instanceUUID, volumeID)
	if err != nil {
		return err
	}
	if !found {
		return fmt.Errorf("instance %s maps no volume %s", instanceUUID, volumeID)
	}
	t := store.Now()
	switch state {
	case inventory.StuckAttaching, inventory.StuckReserved, inventory.StuckErrorAttaching:
		_, err = c.db.ExecContext(ctx, `UPDATE block_device_mapping SET connection_info = NULL, attachment_id = ?,
			updated_at = ? WHERE id = ?`, sql.NullString{String: attachmentID, Valid: attachmentID != ""}, t, b.ID)
	case inventory.StuckNoConnectionInfo:
		_, err = c.db.ExecContext(ctx, "UPDATE block_device_mapping SET connection_info = NULL, updated_at = ? WHERE id = ?", t, b.ID)
	case inventory.StuckCinderOnly:
		err = novadb.SoftDeleteBDM(ctx, c.db, b.ID)
	case inventory.StuckNoTargetIQN:
		var v volume.Volume
		if v, err = c.volumes.Get(ctx, volumeID); err != nil {
			return err
		}
		var conn []byte
		if conn, err = json.Marshal(volume.BDMConnectionInfo(info, instanceUUID, volumeID, v.Multiattach)); err != nil {
			return err
		}
		_, err = c.db.ExecContext(ctx, "UPDATE block_device_mapping SET connection_info = ?, updated_at = ? WHERE id = ?", string(conn), t, b.ID)
	}
	if err != nil {
		return fmt.Errorf("leave the mapping of %s to %s %s: %w", volumeID, instanceUUID, state, err)
	}
	return nil
}
