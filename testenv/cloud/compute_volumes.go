package cloud

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"

	"github.com/osdr/osdr/testenv/cloud/model"
	"github.com/osdr/osdr/testenv/cloud/nova/novadb"
	"github.com/osdr/osdr/testenv/cloud/nova/volume"
	"github.com/osdr/osdr/testenv/cloud/osapi"
	"github.com/osdr/osdr/testenv/cloud/store"
	"github.com/osdr/osdr/testenv/virt"
)

// Attaching and detaching volumes as Nova does it: the API (from 2.101 the conductor) reserves a device name
// on the compute host and the volume at Cinder, then casts the attach; nova-compute connects the volume,
// hot-plugs it through the virt driver and completes the attachment. A detach starts at Cinder
// (begin_detaching), then nova-compute unplugs the disk and deletes the attachment.

// conduct runs work the API hands to nova-conductor: in the background, ending with the cloud.
func (m *computeManager) conduct(op func(context.Context)) {
	m.mu.Lock()
	ctx := m.ctx
	m.mu.Unlock()
	m.casts.Go(func() { op(ctx) })
}

// freeDevice picks the attached volume's device name. libvirt ignores the name asked for and takes the next
// free vdX after the instance's disks; the simulation takes the name asked for when no live mapping uses it
// (which is what a recovery reattaching at the recorded device gets from libvirt once the stale mappings are
// gone, the recorded device being the first free one) and the next free vdX otherwise.
func freeDevice(bdms []novadb.BDM, requested string) (string, error) {
	used := map[string]bool{}
	for _, b := range bdms {
		used[b.DeviceName.String] = true
	}
	if requested != "" && !used[requested] {
		return requested, nil
	}
	for letter := 'a'; letter <= 'z'; letter++ {
		if d := "/dev/vd" + string(letter); !used[d] {
			return d, nil
		}
	}
	return "", &osapi.Error{Code: http.StatusForbidden, Message: "The maximum allowed number of disk devices (26) to attach to a single instance has been exceeded."}
}

// reserveBlockDeviceName is ComputeManager.reserve_block_device_name, which the API calls on the instance's
// compute host: under the instance's lock, refuse a volume the instance already maps, pick the device name
// and create the mapping (no attachment id, no connection info yet).
func (m *computeManager) reserveBlockDeviceName(ctx context.Context, i novadb.Instance, req attachRequest) (novadb.BDM, error) {
	if m.isStopped(i.Host.String) {
		// Nobody consumes the host's queue: the call times out and Nova answers the exception it did not expect.
		if err := model.Sleep(ctx, m.c.latency.Scaled(rpcResponseTimeout)); err != nil {
			return novadb.BDM{}, err
		}
		return novadb.BDM{}, novaUnexpected("oslo_messaging.exceptions.MessagingTimeout")
	}
	unlock := m.lock(i.UUID)
	defer unlock()
	bdms, err := novadb.LiveBDMs(ctx, m.c.nova, i.UUID)
	if err != nil {
		return novadb.BDM{}, err
	}
	if slices.ContainsFunc(bdms[i.UUID], func(b novadb.BDM) bool { return b.VolumeID.String == req.volumeID }) {
		return novadb.BDM{}, osapi.BadRequest("Invalid volume: volume %s already attached", req.volumeID)
	}
	device, err := freeDevice(bdms[i.UUID], req.device)
	if err != nil {
		return novadb.BDM{}, err
	}
	b := novadb.BDM{UUID: m.c.ids.UUID(), InstanceUUID: i.UUID, VolumeID: sql.NullString{String: req.volumeID, Valid: true},
		DeviceName: sql.NullString{String: device, Valid: true}, Tag: sql.NullString{String: req.tag, Valid: req.tag != ""},
		DeleteOnTermination: sql.NullBool{Bool: req.deleteOnTermination, Valid: true},
		DestinationType:     sql.NullString{String: "volume", Valid: true}}
	t := store.Now()
	res, err := m.c.nova.ExecContext(ctx, `INSERT INTO block_device_mapping (created_at, updated_at, device_name,
		delete_on_termination, volume_id, instance_uuid, deleted, source_type, destination_type, boot_index, tag, uuid)
		VALUES (?, ?, ?, ?, ?, ?, 0, 'volume', 'volume', NULL, ?, ?)`,
		t, t, device, req.deleteOnTermination, req.volumeID, i.UUID, b.Tag, b.UUID)
	if err != nil {
		return novadb.BDM{}, fmt.Errorf("map volume %s to %s: %w", req.volumeID, i.UUID, err)
	}
	if b.ID, err = res.LastInsertId(); err != nil {
		return novadb.BDM{}, fmt.Errorf("map volume %s to %s: %w", req.volumeID, i.UUID, err)
	}
	return b, nil
}

// attachThroughCompute is the compute API's (from 2.101 the conductor's) _attach_volume for an instance on a
// host: the device name reserved, the volume reserved at Cinder (the mapping destroyed again if Cinder
// refuses), the attach cast to the host. It returns the device name.
func (c *Cloud) attachThroughCompute(ctx context.Context, i novadb.Instance, v volume.Volume, req attachRequest) (string, error) {
	b, err := c.compute.reserveBlockDeviceName(ctx, i, req)
	if err != nil {
		return "", err
	}
	attachmentID, err := c.reserveForMapping(ctx, i, v, req)
	if err != nil {
		if derr := novadb.SoftDeleteBDM(ctx, c.nova, b.ID); derr != nil {
			return "", errors.Join(err, derr)
		}
		return "", err
	}
	if attachmentID != "" {
		b.AttachmentID = sql.NullString{String: attachmentID, Valid: true}
		if _, err := c.nova.ExecContext(ctx, "UPDATE block_device_mapping SET attachment_id = ?, updated_at = ? WHERE id = ?",
			attachmentID, store.Now(), b.ID); err != nil {
			return "", fmt.Errorf("record attachment %s: %w", attachmentID, err)
		}
	}
	requestID, err := recordActionStart(ctx, c.nova, i.UUID, actionAttachVolume)
	if err != nil {
		return "", err
	}
	c.compute.cast(i.Host.String, func(ctx context.Context) { c.compute.attachVolume(ctx, i.UUID, b.ID, requestID) })
	return b.DeviceName.String, nil
}

// reserveForMapping is check_attach_and_reserve_volume: a multiattach volume needs microversion 2.60, then
// Cinder reserves the volume; its refusals reach the client as Nova's InvalidInput.
func (c *Cloud) reserveForMapping(ctx context.Context, i novadb.Instance, v volume.Volume, req attachRequest) (string, error) {
	if v.Multiattach && !req.multiattachSupported {
		return "", osapi.BadRequest("Multiattach volumes are only supported starting with compute API version 2.60.")
	}
	attachmentID, err := volume.Reserve(ctx, c.volumeAPI, v.ID, i.UUID)
	var ae *osapi.Error
	if errors.As(err, &ae) && ae.Code == http.StatusBadRequest {
		return "", novaInvalidInput(ae)
	}
	return attachmentID, err
}

// attachVolume is ComputeManager.attach_volume on the instance's host: under the instance's lock, connect the
// volume at Cinder, hot-plug it, record the connection info on the mapping and complete the attachment. A
// failure gives the volume back (attachment deleted or unreserved) and destroys the mapping.
func (m *computeManager) attachVolume(ctx context.Context, uuid string, bdmID int64, requestID string) {
	m.operation(ctx, uuid, requestID, "compute_attach_volume", func(i novadb.Instance) error {
		list, err := novadb.QueryBDMs(ctx, m.c.nova, "id = ?", bdmID)
		if err != nil || len(list) == 0 {
			m.c.logf("compute %s: attach to %s: mapping %d is gone (%v)", i.Host.String, uuid, bdmID, err)
			return cmp.Or(err, fmt.Errorf("BlockDeviceMapping %d not found", bdmID))
		}
		b := list[0]
		if err := m.c.latency.Spend(ctx, model.OpAttach); err != nil {
			return err
		}
		err = m.connectAndPlug(ctx, i, b)
		m.c.auditCompute(i.Host.String, "attach_volume", "volume="+b.VolumeID.String+" device="+b.DeviceName.String, uuid, err)
		if err == nil {
			return nil
		}
		m.c.logf("compute %s: failed to attach %s at %s to %s: %v", i.Host.String, b.VolumeID.String, b.DeviceName.String, uuid, err)
		m.recordFault(ctx, i, err)
		if rerr := volume.Release(ctx, m.c.volumeAPI, b.AttachmentID.String, b.VolumeID.String); rerr != nil {
			m.c.logf("compute %s: give back volume %s: %v", i.Host.String, b.VolumeID.String, rerr)
		}
		if derr := novadb.SoftDeleteBDM(ctx, m.c.nova, b.ID); derr != nil {
			m.c.logf("compute %s: %v", i.Host.String, derr)
		}
		return err
	})
}

// connectAndPlug is DriverVolumeBlockDevice.attach: attachment_update with the host's connector, the driver's
// attach_volume, the connection info and size saved on the mapping, then attachment_complete.
func (m *computeManager) connectAndPlug(ctx context.Context, i novadb.Instance, b novadb.BDM) error {
	v, err := m.c.volumeAPI.Get(ctx, b.VolumeID.String)
	if err != nil {
		return err
	}
	host := i.Host.String
	info, err := volume.Connect(ctx, m.c.volumeAPI, b.AttachmentID.String, b.VolumeID.String,
		connector(host, m.hostIP(host), b.DeviceName.String))
	if err != nil {
		return err
	}
	conn, err := json.Marshal(volume.BDMConnectionInfo(info, i.UUID, v.ID, v.Multiattach))
	if err != nil {
		return err
	}
	b.ConnectionInfo = sql.NullString{String: string(conn), Valid: true}
	vc, err := connectionOf(b)
	if err != nil {
		return err
	}
	if err := m.c.driver.AttachVolume(ctx, domainOf(i), vc); err != nil {
		return err
	}
	if _, err := m.c.nova.ExecContext(ctx, `UPDATE block_device_mapping SET connection_info = ?, volume_size = ?,
		updated_at = ? WHERE id = ?`, string(conn), v.Size, store.Now(), b.ID); err != nil {
		return fmt.Errorf("save mapping %d: %w", b.ID, err)
	}
	return volume.Complete(ctx, m.c.volumeAPI, b.AttachmentID.String, b.VolumeID.String, i.ID, b.DeviceName.String)
}

// detachVolume is ComputeManager.detach_volume on the instance's host: under the instance's lock, unplug the
// disk (a domain the hypervisor lost is no obstacle, as with libvirt's InstanceNotFound), delete the
// attachment (or terminate the connection and os-detach) and destroy the mapping. A failed unplug rolls the
// volume back to in-use and keeps the mapping.
func (m *computeManager) detachVolume(ctx context.Context, uuid, volumeID, requestID string) {
	m.operation(ctx, uuid, requestID, "compute_detach_volume", func(i novadb.Instance) error {
		host := i.Host.String
		b, found, err := novadb.VolumeBDM(ctx, m.c.nova, uuid, volumeID)
		if err != nil || !found {
			m.c.logf("compute %s: detach %s from %s: no mapping (%v)", host, volumeID, uuid, err)
			return cmp.Or(err, fmt.Errorf("volume %s is not attached to %s", volumeID, uuid))
		}
		if err := m.c.latency.Spend(ctx, model.OpDetach); err != nil {
			return err
		}
		err = m.c.driver.DetachVolume(ctx, domainOf(i), volumeID)
		if errors.Is(err, virt.ErrNoDomain) {
			m.c.logf("compute %s: during detach_volume, instance %s disappeared", host, uuid)
			err = nil
		}
		if err == nil {
			err = volume.Disconnect(ctx, m.c.volumeAPI, b.AttachmentID.String, b.VolumeID.String)
		}
		if err == nil {
			err = novadb.SoftDeleteBDM(ctx, m.c.nova, b.ID)
		}
		m.c.auditCompute(host, "detach_volume", "volume="+volumeID+" device="+b.DeviceName.String, uuid, err)
		if err == nil {
			return nil
		}
		m.c.logf("compute %s: failed to detach %s from %s: %v", host, volumeID, uuid, err)
		m.recordFault(ctx, i, err)
		if rerr := m.c.volumeAPI.RollDetaching(ctx, volumeID); rerr != nil {
			m.c.logf("compute %s: %v", host, rerr)
		}
		return err
	})
}
