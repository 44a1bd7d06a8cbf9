package compute

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/osdr/osdr/testenv/cloud/model"
	"github.com/osdr/osdr/testenv/cloud/nova/novadb"
	"github.com/osdr/osdr/testenv/virt"
)

func domainOf(i novadb.Instance) virt.Domain {
	return virt.Domain{Host: i.Host.String, Name: i.Name(), InstanceUUID: i.UUID}
}

// powerState is _get_power_state: what the driver reports, NOSTATE when it cannot tell.
func (m *Manager) powerState(ctx context.Context, i novadb.Instance) virt.PowerState {
	p, err := m.driver.PowerState(ctx, domainOf(i))
	if err != nil {
		m.logf("compute %s: power state of %s: %v", i.Host.String, i.UUID, err)
		return virt.NoState
	}
	return p
}

// connectionInfo is the part of a BDM's stored connection_info a hypervisor reconnects a volume from. A
// driver that exports a target over several portals answers target_iqns, target_portals and target_luns, and
// may leave the single keys out: os-brick's iSCSI connector then takes the lists.
type connectionInfo struct {
	DriverVolumeType string `json:"driver_volume_type"`
	Data             struct {
		TargetIQN     string            `json:"target_iqn"`
		TargetPortal  string            `json:"target_portal"`
		TargetLUN     json.RawMessage   `json:"target_lun"`
		TargetIQNs    []string          `json:"target_iqns"`
		TargetPortals []string          `json:"target_portals"`
		TargetLUNs    []json.RawMessage `json:"target_luns"`
	} `json:"data"`
}

// volumeConnections is block_device_info: each live volume BDM's stored connection info; with bootOnly, the
// boot volume's alone.
func (m *Manager) volumeConnections(ctx context.Context, uuid string, bootOnly bool) ([]virt.VolumeConnection, error) {
	bdms, err := novadb.LiveBDMs(ctx, m.db, uuid)
	if err != nil {
		return nil, err
	}
	return connectionsOf(bdms[uuid], bootOnly)
}

// connectionsOf is block_device_info from an instance's live mappings; with bootOnly, the boot volume's alone.
func connectionsOf(bdms []novadb.BDM, bootOnly bool) ([]virt.VolumeConnection, error) {
	var out []virt.VolumeConnection
	for _, b := range bdms {
		if !b.VolumeID.Valid || b.DestinationType.String != "volume" || !b.ConnectionInfo.Valid {
			continue
		}
		if bootOnly && (!b.BootIndex.Valid || b.BootIndex.Int64 != 0) {
			continue
		}
		vc, err := connectionOf(b)
		if err != nil {
			return nil, err
		}
		out = append(out, vc)
	}
	return out, nil
}

// connectionOf is what the hypervisor connects a BDM's volume from: its stored connection info.
func connectionOf(b novadb.BDM) (virt.VolumeConnection, error) {
	var ci connectionInfo
	if err := json.Unmarshal([]byte(b.ConnectionInfo.String), &ci); err != nil {
		return virt.VolumeConnection{}, fmt.Errorf("connection_info of BDM %d: %w", b.ID, err)
	}
	iqn, portal, rawLUN := ci.Data.TargetIQN, ci.Data.TargetPortal, ci.Data.TargetLUN
	if iqn == "" && len(ci.Data.TargetIQNs) > 0 && len(ci.Data.TargetPortals) > 0 && len(ci.Data.TargetLUNs) > 0 {
		iqn, portal, rawLUN = ci.Data.TargetIQNs[0], ci.Data.TargetPortals[0], ci.Data.TargetLUNs[0]
	}
	var lun int
	// target_lun is a number in Cinder's answers; a string one is taken as written.
	if err := json.Unmarshal(rawLUN, &lun); err != nil && len(rawLUN) > 0 {
		var s string
		if json.Unmarshal(rawLUN, &s) == nil {
			fmt.Sscan(s, &lun)
		}
	}
	return virt.VolumeConnection{
		VolumeID: b.VolumeID.String, Device: b.DeviceName.String, IQN: iqn, Portal: portal, LUN: lun,
	}, nil
}

// hardReboot is the libvirt driver's _hard_reboot, which its power_on and resume_state_on_host_boot also run
// (Nova 26, Zed, through 33, 2026.1): destroy the domain if it exists, then build the guest again from
// block_device_info, the live BDMs: _get_guest_xml's storage config calls _connect_volume with each volume's
// stored connection_info, so os-brick logs each iSCSI session in again before the domain boots. With
// noReconnect the compute host does what the Operations Guide's procedure assumes instead: the domain comes
// back without connecting its data volumes, so the guest boots without them until they are attached again;
// the boot volume is still connected, since without it nothing boots and the guide leaves it alone.
func (m *Manager) hardReboot(ctx context.Context, i novadb.Instance) error {
	if err := m.driver.PowerOff(ctx, domainOf(i)); err != nil && !errors.Is(err, virt.ErrNoDomain) {
		return err
	}
	volumes, err := m.volumeConnections(ctx, i.UUID, m.noReconnect)
	if err != nil {
		return err
	}
	return m.driver.PowerOn(ctx, domainOf(i), volumes)
}

// operation runs op as nova-compute runs what an API request cast: under the instance's lock
// (utils.synchronized on its uuid), on the instance as stored, and reported as the event on the request's
// action (wrap_instance_event), which op's error finishes as Error. Work of nova-compute's own (no request)
// reports nothing; event then only names it in the log.
func (m *Manager) operation(ctx context.Context, uuid, requestID, event string, op func(novadb.Instance) error) {
	unlock := m.lock(uuid)
	defer unlock()
	i, err := novadb.GetInstance(ctx, m.db, uuid, false)
	if err != nil {
		m.logf("compute: %s on %s: %v", event, uuid, err)
		return
	}
	report := m.startEvent(ctx, uuid, requestID, event, i.Host.String)
	report.finish(ctx, op(i))
}

// rebootInstance is ComputeManager.reboot_instance; its compute_reboot_instance event, on the action of the
// request that cast it, ends in Error whenever the reboot was not carried out.
func (m *Manager) rebootInstance(ctx context.Context, uuid, kind, requestID string) {
	m.operation(ctx, uuid, requestID, "compute_reboot_instance", func(i novadb.Instance) error { return m.reboot(ctx, i, kind) })
}

func (m *Manager) reboot(ctx context.Context, i novadb.Instance, kind string) error {
	host, uuid := i.Host.String, i.UUID
	expected, pending, started := softRebootTasks, "reboot_pending", "reboot_started"
	if kind == "HARD" {
		expected, pending, started = hardRebootTasks, "reboot_pending_hard", "reboot_started_hard"
	}
	if m.deleteDangling {
		if err := m.deleteDanglingBDMs(ctx, i); err != nil {
			// Nova skips the check when it cannot reach Cinder.
			m.logf("compute %s: dangling BDMs of %s: %v", host, uuid, err)
		}
	}
	power := m.powerState(ctx, i)
	if err := m.save(ctx, i, expected, map[string]any{"task_state": pending, "power_state": int(power)}); err != nil {
		return err
	}
	if err := m.save(ctx, i, []string{pending}, map[string]any{"task_state": started}); err != nil {
		return err
	}
	if err := m.latency.Spend(ctx, model.OpReboot); err != nil {
		return err
	}
	var rebootErr error
	if kind == "HARD" {
		rebootErr = m.hardReboot(ctx, i)
	} else {
		rebootErr = m.softReboot(ctx, i)
	}
	m.auditCompute(host, "reboot", kind, uuid, rebootErr)
	vmState := "active"
	if i.VMState.String == "rescued" {
		vmState = "rescued"
	}
	if rebootErr != nil {
		m.recordFault(ctx, i, rebootErr)
		if m.powerState(ctx, i) != virt.Running {
			m.logf("compute %s: cannot reboot instance %s: %v", host, uuid, rebootErr)
			m.save(ctx, i, nil, map[string]any{"vm_state": "error", "task_state": nil})
			return rebootErr
		}
		m.logf("compute %s: reboot of %s failed but the instance is running", host, uuid)
	}
	m.save(ctx, i, nil, map[string]any{
		"power_state": int(m.powerState(ctx, i)), "vm_state": vmState, "task_state": nil,
	})
	return rebootErr
}

// softReboot is a guest reboot. A domain the hypervisor does not know cannot be soft-rebooted (InstanceNotFound
// in both the libvirt and the fake driver); a shut-off one is booted (libvirt falls back to a hard reboot).
func (m *Manager) softReboot(ctx context.Context, i novadb.Instance) error {
	if m.powerState(ctx, i) == virt.NoState {
		return fmt.Errorf("Instance %s could not be found.", i.UUID)
	}
	return m.hardReboot(ctx, i)
}

// startInstance is ComputeManager.start_instance: the driver's power_on (libvirt's is a hard reboot).
func (m *Manager) startInstance(ctx context.Context, uuid, requestID string) {
	m.operation(ctx, uuid, requestID, "compute_start_instance", func(i novadb.Instance) error {
		if err := m.latency.Spend(ctx, model.OpBoot); err != nil {
			return err
		}
		err := m.hardReboot(ctx, i)
		m.auditCompute(i.Host.String, "start", "", uuid, err)
		if err != nil {
			m.failed(ctx, i, err)
			return err
		}
		return m.save(ctx, i, []string{"powering-on"}, map[string]any{
			"power_state": int(m.powerState(ctx, i)), "vm_state": "active", "task_state": nil,
		})
	})
}

// stopInstance is ComputeManager.stop_instance. A domain the hypervisor does not know fails to power off and the stop
// is reverted (the fake driver's InstanceNotFound), as a real Zed cloud did with its domains gone.
func (m *Manager) stopInstance(ctx context.Context, uuid, requestID string) {
	m.operation(ctx, uuid, requestID, "compute_stop_instance", func(i novadb.Instance) error {
		expected := []string{"powering-off"}
		switch m.powerState(ctx, i) {
		case virt.NoState, virt.Shutdown, virt.Crashed:
			expected = append(expected, "")
		}
		err := m.driver.PowerOff(ctx, domainOf(i))
		m.auditCompute(i.Host.String, "stop", "", uuid, err)
		if err != nil {
			m.failed(ctx, i, err)
			return err
		}
		return m.save(ctx, i, expected, map[string]any{
			"power_state": int(m.powerState(ctx, i)), "vm_state": "stopped", "task_state": nil,
		})
	})
}

// failed is what reverts_task_state and wrap_instance_fault do when an operation raises: the task state goes
// back to None and the fault is recorded, unless the instance was not found.
func (m *Manager) failed(ctx context.Context, i novadb.Instance, err error) {
	m.logf("compute %s: %s: %v", i.Host.String, i.UUID, err)
	if !errors.Is(err, virt.ErrNoDomain) {
		m.recordFault(ctx, i, err)
	}
	m.save(ctx, i, nil, map[string]any{"task_state": nil})
}

func (m *Manager) recordFault(ctx context.Context, i novadb.Instance, cause error) {
	if err := addFault(ctx, m.db, i.UUID, i.Host.String, cause); err != nil {
		m.logf("compute %s: %v", i.Host.String, err)
	}
}

// save writes an instance; the error says why it did not. A task state that moved on
// (UnexpectedTaskStateError) ends the operation as in Nova: logged, recorded as a fault, the state left to
// whoever moved it.
func (m *Manager) save(ctx context.Context, i novadb.Instance, expected []string, set map[string]any) error {
	ok, err := novadb.SaveInstance(ctx, m.db, i.UUID, expected, set)
	if err != nil {
		m.logf("compute %s: %v", i.Host.String, err)
		return err
	}
	if !ok {
		cause := fmt.Errorf("Unexpected task state: expecting %v but the actual state differs", expected)
		m.logf("compute %s: %s: %v", i.Host.String, i.UUID, cause)
		m.recordFault(ctx, i, cause)
		return cause
	}
	return nil
}

// deleteDanglingBDMs is ComputeManager._delete_dangling_bdms (Nova 28 and later): a volume BDM whose Cinder
// attachment no longer exists is destroyed; Cinder attachments of the instance Nova does not know are deleted.
func (m *Manager) deleteDanglingBDMs(ctx context.Context, i novadb.Instance) error {
	cinderAttachments, err := m.volumes.AttachmentIDs(ctx, i.UUID)
	if err != nil {
		return err
	}
	bdms, err := novadb.LiveBDMs(ctx, m.db, i.UUID)
	if err != nil {
		return err
	}
	var known []string
	for _, b := range bdms[i.UUID] {
		if !b.VolumeID.Valid || !b.AttachmentID.Valid {
			continue
		}
		if slices.Contains(cinderAttachments, b.AttachmentID.String) {
			known = append(known, b.AttachmentID.String)
			continue
		}
		m.logf("compute %s: removing stale volume attachment %s from instance %s for volume %s",
			i.Host.String, b.AttachmentID.String, i.UUID, b.VolumeID.String)
		if err := novadb.SoftDeleteBDM(ctx, m.db, b.ID); err != nil {
			return err
		}
	}
	for _, a := range cinderAttachments {
		if slices.Contains(known, a) {
			continue
		}
		if err := m.volumes.AttachmentDelete(ctx, a); err != nil {
			return err
		}
	}
	return nil
}
