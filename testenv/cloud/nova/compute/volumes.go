package compute

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

// freeDevice picks the attached volume's device name. libvirt ignores the name asked for and takes the next
// free name on the instance's bus after its disks (vdX on virtio, sdX on scsi: prefix); the simulation takes
// the name asked for when no live mapping uses it (which is what a recovery reattaching at the recorded device
// gets from libvirt once the stale mappings are gone, the recorded device being the first free one) and the
// next free name otherwise.
func freeDevice(bdms []novadb.BDM, prefix, requested string) (string, error) {
	used := map[string]bool{}
	for _, b := range bdms {
		used[b.DeviceName.String] = true
	}
	if requested != "" && !used[requested] {
		return requested, nil
	}
	for letter := 'a'; letter <= 'z'; letter++ {
		if d := prefix + string(letter); !used[d] {
			return d, nil
		}
	}
	return "", &osapi.Error{Code: http.StatusForbidden, Message: "The maximum allowed number of disk devices (26) to attach to a single instance has been exceeded."}
}

// devicePrefix is the prefix of the instance's disk names: its root device's (/dev/vda: /dev/vd, /dev/sda:
// /dev/sd), as the libvirt driver names every disk of an instance on the bus of its image's hw_disk_bus.
func devicePrefix(i novadb.Instance) string {
	if p, ok := strings.CutSuffix(i.RootDeviceName.String, "a"); ok && (p == "/dev/sd" || p == "/dev/vd") {
		return p
	}
	return "/dev/vd"
}

// ReserveBlockDeviceName is the call to ComputeManager.reserve_block_device_name on the instance's compute
// host: under the instance's lock, refuse a volume the instance already maps, pick the device name (device is
// the one asked for, if any) and create the mapping (no attachment id, no connection info yet).
func (m *Manager) ReserveBlockDeviceName(ctx context.Context, i novadb.Instance, volumeID, device, tag string,
	deleteOnTermination bool) (novadb.BDM, error) {
	if m.isStopped(i.Host.String) {
		// Nobody consumes the host's queue: the call times out.
		if err := model.Sleep(ctx, m.latency.Scaled(rpcResponseTimeout)); err != nil {
			return novadb.BDM{}, err
		}
		return novadb.BDM{}, ErrMessagingTimeout
	}
	unlock := m.lock(i.UUID)
	defer unlock()
	bdms, err := novadb.LiveBDMs(ctx, m.db, i.UUID)
	if err != nil {
		return novadb.BDM{}, err
	}
	if slices.ContainsFunc(bdms[i.UUID], func(b novadb.BDM) bool { return b.VolumeID.String == volumeID }) {
		return novadb.BDM{}, osapi.BadRequest("Invalid volume: volume %s already attached", volumeID)
	}
	device, err = freeDevice(bdms[i.UUID], devicePrefix(i), device)
	if err != nil {
		return novadb.BDM{}, err
	}
	b := novadb.BDM{UUID: m.ids.UUID(), InstanceUUID: i.UUID, VolumeID: sql.NullString{String: volumeID, Valid: true},
		DeviceName: sql.NullString{String: device, Valid: true}, Tag: sql.NullString{String: tag, Valid: tag != ""},
		DeleteOnTermination: sql.NullBool{Bool: deleteOnTermination, Valid: true},
		DestinationType:     sql.NullString{String: "volume", Valid: true}}
	t := store.Now()
	res, err := m.db.ExecContext(ctx, `INSERT INTO block_device_mapping (created_at, updated_at, device_name,
		delete_on_termination, volume_id, instance_uuid, deleted, source_type, destination_type, boot_index, tag, uuid)
		VALUES (?, ?, ?, ?, ?, ?, 0, 'volume', 'volume', NULL, ?, ?)`,
		t, t, device, deleteOnTermination, volumeID, i.UUID, b.Tag, b.UUID)
	if err != nil {
		return novadb.BDM{}, fmt.Errorf("map volume %s to %s: %w", volumeID, i.UUID, err)
	}
	if b.ID, err = res.LastInsertId(); err != nil {
		return novadb.BDM{}, fmt.Errorf("map volume %s to %s: %w", volumeID, i.UUID, err)
	}
	return b, nil
}

// attachVolume is ComputeManager.attach_volume on the instance's host: under the instance's lock, connect the
// volume at Cinder, hot-plug it, record the connection info on the mapping and complete the attachment. A
// failure gives the volume back (attachment deleted or unreserved) and destroys the mapping.
func (m *Manager) attachVolume(ctx context.Context, uuid string, bdmID int64, requestID string) {
	m.operation(ctx, uuid, requestID, "compute_attach_volume", func(i novadb.Instance) error {
		list, err := novadb.QueryBDMs(ctx, m.db, "id = ?", bdmID)
		if err != nil || len(list) == 0 {
			m.logf("compute %s: attach to %s: mapping %d is gone (%v)", i.Host.String, uuid, bdmID, err)
			return cmp.Or(err, fmt.Errorf("BlockDeviceMapping %d not found", bdmID))
		}
		b := list[0]
		if err := m.latency.Spend(ctx, model.OpAttach); err != nil {
			return err
		}
		err = m.connectAndPlug(ctx, i, b)
		m.auditCompute(i.Host.String, "attach_volume", "volume="+b.VolumeID.String+" device="+b.DeviceName.String, uuid, err)
		if err == nil {
			return nil
		}
		m.logf("compute %s: failed to attach %s at %s to %s: %v", i.Host.String, b.VolumeID.String, b.DeviceName.String, uuid, err)
		m.recordFault(ctx, i, err)
		if rerr := volume.Release(ctx, m.volumes, b.AttachmentID.String, b.VolumeID.String); rerr != nil {
			m.logf("compute %s: give back volume %s: %v", i.Host.String, b.VolumeID.String, rerr)
		}
		if derr := novadb.SoftDeleteBDM(ctx, m.db, b.ID); derr != nil {
			m.logf("compute %s: %v", i.Host.String, derr)
		}
		return err
	})
}

// connectAndPlug is DriverVolumeBlockDevice.attach: attachment_update with the host's connector, the driver's
// attach_volume, the connection info and size saved on the mapping, then attachment_complete.
func (m *Manager) connectAndPlug(ctx context.Context, i novadb.Instance, b novadb.BDM) error {
	v, err := m.volumes.Get(ctx, b.VolumeID.String)
	if err != nil {
		return err
	}
	host := i.Host.String
	info, err := volume.Connect(ctx, m.volumes, b.AttachmentID.String, b.VolumeID.String,
		Connector(host, m.hostIP(host), b.DeviceName.String))
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
	if err := m.driver.AttachVolume(ctx, domainOf(i), vc); err != nil {
		return err
	}
	if _, err := m.db.ExecContext(ctx, `UPDATE block_device_mapping SET connection_info = ?, volume_size = ?,
		updated_at = ? WHERE id = ?`, string(conn), v.Size, store.Now(), b.ID); err != nil {
		return fmt.Errorf("save mapping %d: %w", b.ID, err)
	}
	return volume.Complete(ctx, m.volumes, b.AttachmentID.String, b.VolumeID.String, i.ID, b.DeviceName.String)
}

// detachVolume is ComputeManager.detach_volume on the instance's host: under the instance's lock, unplug the
// disk (a domain the hypervisor lost is no obstacle, as with libvirt's InstanceNotFound), delete the
// attachment (or terminate the connection and os-detach) and destroy the mapping. A failed unplug rolls the
// volume back to in-use and keeps the mapping.
func (m *Manager) detachVolume(ctx context.Context, uuid, volumeID, requestID string) {
	m.operation(ctx, uuid, requestID, "compute_detach_volume", func(i novadb.Instance) error {
		host := i.Host.String
		b, found, err := novadb.VolumeBDM(ctx, m.db, uuid, volumeID)
		if err != nil || !found {
			m.logf("compute %s: detach %s from %s: no mapping (%v)", host, volumeID, uuid, err)
			return cmp.Or(err, fmt.Errorf("volume %s is not attached to %s", volumeID, uuid))
		}
		if err := m.latency.Spend(ctx, model.OpDetach); err != nil {
			return err
		}
		err = m.driver.DetachVolume(ctx, domainOf(i), volumeID)
		if errors.Is(err, virt.ErrNoDomain) {
			m.logf("compute %s: during detach_volume, instance %s disappeared", host, uuid)
			err = nil
		}
		if err == nil {
			err = volume.Disconnect(ctx, m.volumes, b.AttachmentID.String, b.VolumeID.String)
		}
		if err == nil {
			err = novadb.SoftDeleteBDM(ctx, m.db, b.ID)
		}
		m.auditCompute(host, "detach_volume", "volume="+volumeID+" device="+b.DeviceName.String, uuid, err)
		if err == nil {
			return nil
		}
		m.logf("compute %s: failed to detach %s from %s: %v", host, volumeID, uuid, err)
		m.recordFault(ctx, i, err)
		if rerr := m.volumes.RollDetaching(ctx, volumeID); rerr != nil {
			m.logf("compute %s: %v", host, rerr)
		}
		return err
	})
}

// Connector is os-brick's connector properties of a compute host, as Nova sends them with an attachment.
func Connector(host, ip, device string) map[string]any {
	return map[string]any{
		"platform": "x86_64", "os_type": "linux", "ip": ip, "host": host, "multipath": false,
		"initiator": "iqn.2004-10.com.ubuntu:01:" + novadb.SanitizeHostname(host), "do_local_attach": false,
		"mountpoint": device, "mode": "rw",
	}
}
