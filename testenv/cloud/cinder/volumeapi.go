package cinder

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/osdr/osdr/testenv/cloud/nova/volume"
)

// The volume API Nova calls (package volume), over the same rows the HTTP API serves. Connection info reaches
// Nova as JSON does, decoded into generic values.
var _ volume.API = (*Service)(nil)

// Get is GET /volumes/{id} as Nova reads it.
func (c *Service) Get(ctx context.Context, volumeID string) (volume.Volume, error) {
	v, err := getVolume(ctx, c.db, c.volumeColumns(), volumeID, false)
	if err != nil {
		return volume.Volume{}, err
	}
	return volume.Volume{ID: v.id, Size: v.size, Multiattach: v.multiattach.Bool}, nil
}

// AttachmentsSupported: the nova-volume table predates the attachments API (the guide's volume service serves
// microversion 3.0 only).
func (c *Service) AttachmentsSupported() bool { return !c.rel.Legacy }

// AttachmentCreate is attachment_create as Nova calls it, at 3.44: before attachments took a mode, without a
// connector.
func (c *Service) AttachmentCreate(ctx context.Context, volumeID, instanceUUID string) (string, error) {
	a, err := c.attachmentCreate(ctx, volumeID, instanceUUID, nil, "null")
	return a.id, err
}

// AttachmentUpdate is attachment_update with the compute host's connector.
func (c *Service) AttachmentUpdate(ctx context.Context, attachmentID string, connector map[string]any) (map[string]any, error) {
	stored, err := c.attachmentUpdate(ctx, attachmentID, connector)
	if err != nil {
		return nil, err
	}
	return decodeConnection(stored)
}

// AttachmentIDs is GET /attachments?instance_id=, oldest first.
func (c *Service) AttachmentIDs(ctx context.Context, instanceUUID string) ([]string, error) {
	return liveAttachmentIDs(ctx, c.db, "instance_uuid = ?", instanceUUID)
}

// InitializeConnection is os-initialize_connection on the nova-volume table, which changes nothing: the
// volume driver's connection info, without an attachment.
func (c *Service) InitializeConnection(ctx context.Context, volumeID string, _ map[string]any) (map[string]any, error) {
	v, err := getVolume(ctx, c.db, c.volumeColumns(), volumeID, false)
	if err != nil {
		return nil, err
	}
	conn, err := json.Marshal(c.attachmentConnectionInfo(c.volumeTarget(v, "")))
	if err != nil {
		return nil, fmt.Errorf("connection info of volume %s: %w", volumeID, err)
	}
	return decodeConnection(string(conn))
}

func decodeConnection(raw string) (map[string]any, error) {
	var conn map[string]any
	if err := json.Unmarshal([]byte(raw), &conn); err != nil {
		return nil, fmt.Errorf("decode connection info: %w", err)
	}
	return conn, nil
}
