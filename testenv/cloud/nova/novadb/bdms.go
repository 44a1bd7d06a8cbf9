package novadb

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/osdr/osdr/testenv/cloud/store"
)

// BDM is a live block_device_mapping row.
type BDM struct {
	ID                        int64
	UUID, InstanceUUID        string
	VolumeID, DeviceName, Tag sql.NullString
	AttachmentID              sql.NullString
	ConnectionInfo            sql.NullString
	DeleteOnTermination       sql.NullBool
	DestinationType           sql.NullString
	BootIndex                 sql.NullInt64
}

// QueryBDMs returns the live mappings matching cond, in creation order.
func QueryBDMs(ctx context.Context, q store.Querier, cond string, args ...any) ([]BDM, error) {
	rows, err := q.QueryContext(ctx, `SELECT id, COALESCE(uuid, ''), instance_uuid, volume_id, device_name, tag,
		attachment_id, connection_info, delete_on_termination, destination_type, boot_index
		FROM block_device_mapping WHERE deleted = 0 AND `+cond+` ORDER BY id`, args...)
	if err != nil {
		return nil, fmt.Errorf("list block device mappings: %w", err)
	}
	defer rows.Close()
	var out []BDM
	for rows.Next() {
		var b BDM
		if err := rows.Scan(&b.ID, &b.UUID, &b.InstanceUUID, &b.VolumeID, &b.DeviceName, &b.Tag, &b.AttachmentID,
			&b.ConnectionInfo, &b.DeleteOnTermination, &b.DestinationType, &b.BootIndex); err != nil {
			return nil, fmt.Errorf("read a block device mapping: %w", err)
		}
		out = append(out, b)
	}
	return out, rows.Err()
}

// LiveBDMs returns the instances' live mappings in creation order, keyed by instance uuid.
func LiveBDMs(ctx context.Context, q store.Querier, uuids ...string) (map[string][]BDM, error) {
	out := map[string][]BDM{}
	if len(uuids) == 0 {
		return out, nil
	}
	all, err := QueryBDMs(ctx, q, "instance_uuid IN ("+store.Placeholders(len(uuids))+")", store.Args(uuids)...)
	for _, b := range all {
		out[b.InstanceUUID] = append(out[b.InstanceUUID], b)
	}
	return out, err
}

// VolumeBDM is BlockDeviceMapping.get_by_volume_and_instance; found is false when there is none.
func VolumeBDM(ctx context.Context, q store.Querier, instanceUUID, volumeID string) (b BDM, found bool, err error) {
	list, err := QueryBDMs(ctx, q, "instance_uuid = ? AND volume_id = ?", instanceUUID, volumeID)
	if err != nil || len(list) == 0 {
		return BDM{}, false, err
	}
	return list[0], true, nil
}

// SoftDeleteBDM is BlockDeviceMapping.destroy: Nova soft-deletes by setting deleted to the row id.
func SoftDeleteBDM(ctx context.Context, q store.Querier, id int64) error {
	t := store.Now()
	if _, err := q.ExecContext(ctx, `UPDATE block_device_mapping SET deleted = id, deleted_at = ?, updated_at = ?
		WHERE id = ? AND deleted = 0`, t, t, id); err != nil {
		return fmt.Errorf("delete block device mapping %d: %w", id, err)
	}
	return nil
}
