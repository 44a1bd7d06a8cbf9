package volume

import (
	"context"
	"fmt"
	"maps"
)

// Nova drives the attachments flow through API, or the old flow when the service has no attachments API;
// each function below is the one step in either flow. An attachment id is "" in the old flow.

// Reserve is check_attach_and_reserve_volume's reservation: attachment_create, or os-reserve. It returns the
// attachment id.
func Reserve(ctx context.Context, api API, volumeID, instanceUUID string) (string, error) {
	if !api.AttachmentsSupported() {
		return "", api.Reserve(ctx, volumeID)
	}
	return api.AttachmentCreate(ctx, volumeID, instanceUUID)
}

// Connect connects the volume to the host of connector: attachment_update, or os-initialize_connection. It
// returns the connection info the service answers.
func Connect(ctx context.Context, api API, attachmentID, volumeID string, connector map[string]any) (map[string]any, error) {
	if !api.AttachmentsSupported() {
		return api.InitializeConnection(ctx, volumeID, connector)
	}
	return api.AttachmentUpdate(ctx, attachmentID, connector)
}

// Complete marks the volume attached: attachment_complete, or os-attach (instanceID is Nova's numeric
// instances.id).
func Complete(ctx context.Context, api API, attachmentID, volumeID string, instanceID int64, mountpoint string) error {
	if !api.AttachmentsSupported() {
		return api.Attach(ctx, volumeID, instanceID, mountpoint)
	}
	return api.AttachmentComplete(ctx, attachmentID)
}

// Release gives back a reservation whose attach failed: attachment_delete, or os-unreserve.
func Release(ctx context.Context, api API, attachmentID, volumeID string) error {
	if !api.AttachmentsSupported() {
		return api.Unreserve(ctx, volumeID)
	}
	return api.AttachmentDelete(ctx, attachmentID)
}

// Disconnect is the volume service's half of a detach: attachment_delete, or os-terminate_connection and
// os-detach.
func Disconnect(ctx context.Context, api API, attachmentID, volumeID string) error {
	if !api.AttachmentsSupported() {
		return api.Detach(ctx, volumeID)
	}
	return api.AttachmentDelete(ctx, attachmentID)
}

// BDMConnectionInfo is what Nova keeps in block_device_mapping.connection_info of the connection info the
// service answered: turned back into the nested form (_translate_attachment_ref), with the serial, and for
// iSCSI the device path os-brick attaches at.
func BDMConnectionInfo(conn map[string]any, instanceUUID, volumeID string, multiattach bool) map[string]any {
	data := maps.Clone(conn)
	kind, _ := data["driver_volume_type"].(string)
	delete(data, "driver_volume_type")
	delete(data, "attachment_id")
	if kind == "iscsi" {
		portal, iqn, lun := data["target_portal"], data["target_iqn"], data["target_lun"]
		// A driver that names its target only in the lists: os-brick attaches at the first.
		if iqn == nil {
			portal, iqn, lun = first(data["target_portals"]), first(data["target_iqns"]), first(data["target_luns"])
		}
		data["device_path"] = fmt.Sprintf("/dev/disk/by-path/ip-%v-iscsi-%v-lun-%v", portal, iqn, lun)
	}
	return map[string]any{
		"driver_volume_type": kind, "data": data, "status": "reserved", "instance": instanceUUID, "attach_mode": "rw",
		"attached_at": "", "detached_at": "", "volume_id": volumeID, "serial": volumeID, "multiattach": multiattach,
	}
}

// first is a list's first element; nil when v is no list or is empty.
func first(v any) any {
	if l, ok := v.([]any); ok && len(l) > 0 {
		return l[0]
	}
	return nil
}
