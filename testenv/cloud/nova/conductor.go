package nova

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"

	"github.com/osdr/osdr/testenv/cloud/nova/compute"
	"github.com/osdr/osdr/testenv/cloud/nova/novadb"
	"github.com/osdr/osdr/testenv/cloud/nova/volume"
	"github.com/osdr/osdr/testenv/cloud/osapi"
	"github.com/osdr/osdr/testenv/cloud/store"
)

// conductor is nova-conductor, which from microversion 2.101 carries out the attach the API accepted.
type conductor struct {
	mu   sync.Mutex
	ctx  context.Context // the cloud's background context, set by SetContext
	work sync.WaitGroup
}

// conduct runs work the API hands to nova-conductor: in the background, ending with the cloud.
func (d *conductor) conduct(op func(context.Context)) {
	d.mu.Lock()
	ctx := d.ctx
	d.mu.Unlock()
	d.work.Go(func() { op(ctx) })
}

func (d *conductor) setContext(ctx context.Context) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.ctx = ctx
}

// attachThroughCompute is the compute API's (from 2.101 the conductor's) _attach_volume for an instance on a
// host: the device name reserved, the volume reserved at Cinder (the mapping destroyed again if Cinder
// refuses), the attach cast to the host. It returns the device name.
func (c *Service) attachThroughCompute(ctx context.Context, i novadb.Instance, v volume.Volume, req attachRequest) (string, error) {
	b, err := c.rpc.ReserveBlockDeviceName(ctx, i, req.volumeID, req.device, req.tag, req.deleteOnTermination)
	if errors.Is(err, compute.ErrMessagingTimeout) {
		// Nova answers the exception it did not expect.
		return "", novaUnexpected("oslo_messaging.exceptions.MessagingTimeout")
	}
	if err != nil {
		return "", err
	}
	attachmentID, err := c.reserveForMapping(ctx, i, v, req)
	if err != nil {
		if derr := novadb.SoftDeleteBDM(ctx, c.db, b.ID); derr != nil {
			return "", errors.Join(err, derr)
		}
		return "", err
	}
	if attachmentID != "" {
		if _, err := c.db.ExecContext(ctx, "UPDATE block_device_mapping SET attachment_id = ?, updated_at = ? WHERE id = ?",
			attachmentID, store.Now(), b.ID); err != nil {
			return "", fmt.Errorf("record attachment %s: %w", attachmentID, err)
		}
	}
	requestID, err := recordActionStart(ctx, c.db, i.UUID, actionAttachVolume)
	if err != nil {
		return "", err
	}
	c.rpc.AttachVolume(i.Host.String, i.UUID, b.ID, requestID)
	return b.DeviceName.String, nil
}

// reserveForMapping is check_attach_and_reserve_volume: a multiattach volume needs microversion 2.60, then
// Cinder reserves the volume; its refusals reach the client as Nova's InvalidInput.
func (c *Service) reserveForMapping(ctx context.Context, i novadb.Instance, v volume.Volume, req attachRequest) (string, error) {
	if v.Multiattach && !req.multiattachSupported {
		return "", osapi.BadRequest("Multiattach volumes are only supported starting with compute API version 2.60.")
	}
	attachmentID, err := volume.Reserve(ctx, c.volumes, v.ID, i.UUID)
	var ae *osapi.Error
	if errors.As(err, &ae) && ae.Code == http.StatusBadRequest {
		return "", novaInvalidInput(ae)
	}
	return attachmentID, err
}
