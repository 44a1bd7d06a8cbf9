package volume

import (
	"context"
	"database/sql"
)

// Volume is what Nova reads of a volume.
type Volume struct {
	ID          string
	Size        sql.NullInt64 // GB
	Multiattach bool
}

// API is the volume service as Nova calls it (nova/volume/cinder.py's API). A refusal is an *osapi.Error with
// the status and message Cinder answered.
type API interface {
	// Get is GET /volumes/{id}.
	Get(ctx context.Context, volumeID string) (Volume, error)
	// AttachmentsSupported is is_microversion_supported(3.44): whether the service has the attachments API.
	// Without it Nova attaches through the old flow: reserve, initialize_connection, attach, and detaches through
	// begin_detaching, terminate_connection, detach.
	AttachmentsSupported() bool

	// AttachmentCreate reserves the volume for the instance (no connector yet) and returns the attachment id.
	AttachmentCreate(ctx context.Context, volumeID, instanceUUID string) (string, error)
	// AttachmentUpdate connects the attachment to the host of connector (os-brick's connector properties) and
	// returns the connection info the volume driver answers.
	AttachmentUpdate(ctx context.Context, attachmentID string, connector map[string]any) (map[string]any, error)
	// AttachmentComplete marks the volume attached (os-complete).
	AttachmentComplete(ctx context.Context, attachmentID string) error
	// AttachmentDelete detaches the attachment's volume; Nova calls it with its service token, which
	// attachment_deletion_allowed lets through, and an attachment already gone is no error.
	AttachmentDelete(ctx context.Context, attachmentID string) error
	// AttachmentIDs is GET /attachments?instance_id=: the ids of the instance's attachments.
	AttachmentIDs(ctx context.Context, instanceUUID string) ([]string, error)

	// Reserve is os-reserve: the volume is held for an attach.
	Reserve(ctx context.Context, volumeID string) error
	// Unreserve is os-unreserve: an attach that did not happen gives the volume back.
	Unreserve(ctx context.Context, volumeID string) error
	// InitializeConnection is os-initialize_connection: the connection info for connector's host.
	InitializeConnection(ctx context.Context, volumeID string, connector map[string]any) (map[string]any, error)
	// Attach is os-attach. instanceID is Nova's numeric instances.id, which the nova-volume table keeps.
	Attach(ctx context.Context, volumeID string, instanceID int64, mountpoint string) error
	// Detach is os-terminate_connection followed by os-detach.
	Detach(ctx context.Context, volumeID string) error

	// BeginDetaching is os-begin_detaching: the volume goes to detaching before Nova casts the detach.
	BeginDetaching(ctx context.Context, volumeID string) error
	// RollDetaching is os-roll_detaching: a detach that failed leaves the volume in-use again.
	RollDetaching(ctx context.Context, volumeID string) error
}
