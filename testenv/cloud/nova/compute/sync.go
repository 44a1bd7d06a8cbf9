package compute

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/osdr/osdr/testenv/cloud/inventory"
	"github.com/osdr/osdr/testenv/cloud/nova/novadb"
	"github.com/osdr/osdr/testenv/cloud/osapi"
	"github.com/osdr/osdr/testenv/cloud/store"
	"github.com/osdr/osdr/testenv/virt"
)

func instancesOnHost(ctx context.Context, q store.Querier, host string) ([]string, error) {
	rows, err := q.QueryContext(ctx, "SELECT uuid FROM instances WHERE host = ? AND deleted = 0 ORDER BY id", host)
	if err != nil {
		return nil, fmt.Errorf("list instances on %s: %w", host, err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var uuid string
		if err := rows.Scan(&uuid); err != nil {
			return nil, fmt.Errorf("list instances on %s: %w", host, err)
		}
		out = append(out, uuid)
	}
	return out, rows.Err()
}

// SyncPowerStates runs Nova's _sync_power_states on host once and returns when it is done, including the stops
// it orders: for each instance with no task, the driver's power state is written to the database, an active
// instance found shut down or crashed is stopped (SHUTOFF, power state 4), a stopped one found running is
// stopped again, and one the hypervisor does not know (NOSTATE) is only logged. Like Nova's, it waits for an
// operation in progress on an instance before looking at it.
func (m *Manager) SyncPowerStates(ctx context.Context, host string) error {
	if m.isStopped(host) {
		return fmt.Errorf("sync power states on %s: %w", host, ErrStopped)
	}
	uuids, err := instancesOnHost(ctx, m.db, host)
	if err != nil {
		return err
	}
	for _, uuid := range uuids {
		if err := m.syncInstance(ctx, host, uuid); err != nil {
			return fmt.Errorf("sync power state of %s on %s: %w", uuid, host, err)
		}
	}
	return nil
}

// syncInstance is _query_driver_power_state_and_sync and _sync_instance_power_state for one instance.
func (m *Manager) syncInstance(ctx context.Context, host, uuid string) error {
	stop, force, err := m.syncDecision(ctx, host, uuid)
	if err != nil || !stop {
		return err
	}
	// The stop goes through the compute API as in Nova, and is carried out before the sync returns.
	if err := m.stopNow(ctx, uuid, force); err != nil {
		var ae *osapi.Error
		if errors.As(err, &ae) {
			m.logf("compute %s: stop ordered by the power-state sync refused: %v", host, err)
			return nil
		}
		return err
	}
	return nil
}

func (m *Manager) syncDecision(ctx context.Context, host, uuid string) (stop, force bool, err error) {
	unlock := m.lock(uuid)
	defer unlock()
	i, err := novadb.GetInstance(ctx, m.db, uuid, false)
	if err != nil {
		var ae *osapi.Error
		if errors.As(err, &ae) {
			return false, false, nil
		}
		return false, false, err
	}
	if i.TaskState.Valid {
		m.logf("compute %s: during sync_power_state %s has a pending task (%s); skip", host, uuid, i.TaskState.String)
		return false, false, nil
	}
	vmPower, perr := m.driver.PowerState(ctx, domainOf(i))
	if perr != nil {
		m.logf("compute %s: power state of %s: %v", host, uuid, perr)
		return false, false, nil
	}
	// Re-read to narrow the race with other operations, as Nova refreshes the instance.
	if i, err = novadb.GetInstance(ctx, m.db, uuid, false); err != nil {
		return false, false, nil
	}
	if i.Host.String != host || i.TaskState.Valid {
		return false, false, nil
	}
	if int64(vmPower) != i.PowerState.Int64 || !i.PowerState.Valid {
		m.logf("compute %s: during _sync_instance_power_state the DB power_state (%d) does not match the "+
			"vm_power_state from the hypervisor (%d) for %s; updating", host, i.PowerState.Int64, vmPower, uuid)
		if _, err := novadb.SaveInstance(ctx, m.db, uuid, nil, map[string]any{"power_state": int(vmPower)}); err != nil {
			return false, false, err
		}
	}
	switch i.VMState.String {
	case "active":
		switch vmPower {
		case virt.Shutdown, virt.Crashed, powerSuspended:
			m.logf("compute %s: instance %s shut down by itself; calling the stop API", host, uuid)
			return true, false, nil
		case virt.Paused:
			m.logf("compute %s: instance %s is paused unexpectedly; ignore", host, uuid)
		case virt.NoState:
			m.logf("compute %s: instance %s is unexpectedly not found; ignore", host, uuid)
		}
	case "stopped":
		if vmPower != virt.NoState && vmPower != virt.Shutdown && vmPower != virt.Crashed {
			m.logf("compute %s: instance %s is not stopped; calling the stop API", host, uuid)
			return true, true, nil
		}
	case "paused":
		if vmPower == virt.Shutdown || vmPower == virt.Crashed {
			m.logf("compute %s: paused instance %s shut down by itself; calling the stop API", host, uuid)
			return true, true, nil
		}
	}
	return false, false, nil
}

// stopNow is the compute API's stop or force_stop with the cast carried out in the caller's goroutine.
func (m *Manager) stopNow(ctx context.Context, uuid string, force bool) error {
	requestID, err := m.api.BeginStop(ctx, uuid, force)
	if err != nil {
		return err
	}
	m.stopInstance(ctx, uuid, requestID)
	return nil
}

// Restarted models nova-compute starting on host after it was stopped or the host rebooted: init_host
// walks the host's instances (finishing interrupted reboots, stops and starts, and with resumeGuests, Nova's
// resume_guests_state_on_host_boot, hard-rebooting every guest the database says was running but the
// hypervisor does not run), then the service heartbeats again, the casts that waited for it run, and the
// power-state sync runs once, as it does at service start.
func (m *Manager) Restarted(ctx context.Context, host string, resumeGuests bool) error {
	uuids, err := instancesOnHost(ctx, m.db, host)
	if err != nil {
		return err
	}
	for _, uuid := range uuids {
		if err := m.initInstance(ctx, host, uuid, resumeGuests); err != nil {
			return fmt.Errorf("init instance %s on %s: %w", uuid, host, err)
		}
	}
	m.mu.Lock()
	m.hosts[host] = serviceRunning
	queued := m.queued[host]
	delete(m.queued, host)
	m.mu.Unlock()
	t := store.Now()
	if _, err := m.db.ExecContext(ctx, `UPDATE services SET report_count = report_count + 1, last_seen_up = ?,
		updated_at = ? WHERE host = ? AND `+"`binary`"+` = 'nova-compute' AND deleted = 0`, t, t, host); err != nil {
		return fmt.Errorf("report nova-compute on %s up: %w", host, err)
	}
	for _, op := range queued {
		m.cast(host, op)
	}
	return m.SyncPowerStates(ctx, host)
}

// initFollowUp is what _init_instance hands on to an operation that takes the instance lock itself.
type initFollowUp int

const (
	initDone initFollowUp = iota
	initReboot
	initStop
	initStart
	initResume
)

// initInstance is ComputeManager._init_instance for the states the simulation produces.
func (m *Manager) initInstance(ctx context.Context, host, uuid string, resumeGuests bool) error {
	next, kind, err := m.initState(ctx, host, uuid, resumeGuests)
	if err != nil {
		return err
	}
	switch next {
	case initReboot:
		// init_host's retries run under the service's own context: no request, so no action to report on.
		m.rebootInstance(ctx, uuid, kind, "")
	case initStop:
		m.stopInstance(ctx, uuid, "")
	case initStart:
		m.startInstance(ctx, uuid, "")
	case initResume:
		m.resumeGuest(ctx, uuid)
	}
	return nil
}

func (m *Manager) initState(ctx context.Context, host, uuid string, resumeGuests bool) (initFollowUp, string, error) {
	unlock := m.lock(uuid)
	defer unlock()
	i, err := novadb.GetInstance(ctx, m.db, uuid, false)
	if err != nil {
		var ae *osapi.Error
		if errors.As(err, &ae) {
			return initDone, "", nil
		}
		return initDone, "", err
	}
	vm, task := i.VMState.String, i.TaskState.String
	set := func(values map[string]any) error {
		_, err := novadb.SaveInstance(ctx, m.db, uuid, nil, values)
		return err
	}
	switch {
	case i.Host.String != host, vm == "soft-delete", vm == "deleted",
		vm == "error" && task != "resize_migrating" && task != "deleting":
		return initDone, "", nil
	case vm == "building" || slices.Contains([]string{"scheduling", "block_device_mapping", "networking", "spawning"}, task),
		(vm == "active" || vm == "stopped") && slices.Contains([]string{"rebuilding", "rebuild_block_device_mapping", "rebuild_spawning"}, task):
		return initDone, "", set(map[string]any{"vm_state": "error", "task_state": nil})
	case task == "deleting":
		m.logf("compute %s: %s was being deleted; deletes are not simulated", host, uuid)
		return initDone, "", nil
	}
	if vm != "error" && slices.Contains([]string{"image_snapshot_pending", "image_pending_upload", "image_uploading",
		"image_snapshot", "resize_prep"}, task) {
		if err := set(map[string]any{"task_state": nil}); err != nil {
			return initDone, "", err
		}
		task = ""
	}
	power := m.powerState(ctx, i)
	if retry, kind := retryReboot(vm, task, power); retry {
		if slices.Contains(softRebootTasks, task) && kind == "HARD" {
			if err := set(map[string]any{"task_state": "reboot_pending_hard"}); err != nil {
				return initDone, "", err
			}
		}
		return initReboot, kind, nil
	}
	switch {
	case power == virt.Running && slices.Contains([]string{"reboot_started", "reboot_started_hard", "pausing", "unpausing"}, task):
		if err := set(map[string]any{"task_state": nil, "vm_state": "active"}); err != nil {
			return initDone, "", err
		}
	case power == virt.Paused && task == "unpausing":
		m.logf("compute %s: %s was unpausing; unpause is not simulated", host, uuid)
		return initDone, "", nil
	case task == "powering-off":
		return initStop, "", nil
	case task == "powering-on":
		return initStart, "", nil
	}
	expectRunning := i.PowerState.Int64 == int64(virt.Running) && power != virt.Running
	if expectRunning && resumeGuests {
		return initResume, "", nil
	}
	return initDone, "", nil
}

// retryReboot is ComputeManager._retry_reboot with compute_utils.get_reboot_type.
func retryReboot(vm, task string, power virt.PowerState) (bool, string) {
	kind := "HARD"
	if (task == "reboot_started" || task == "reboot_pending") && power == virt.Running {
		kind = "SOFT"
	}
	pendingSoft := task == "reboot_pending" && slices.Contains(novadb.AllowSoftReboot, vm)
	pendingHard := task == "reboot_pending_hard" && slices.Contains(novadb.AllowHardReboot, vm)
	startedNotRunning := (task == "reboot_started" || task == "reboot_started_hard") && power != virt.Running
	return pendingSoft || pendingHard || startedNotRunning, kind
}

// resumeGuest is _resume_guests_state: the driver's resume_state_on_host_boot (libvirt: a hard reboot from the
// stored block device info) with no task state and no database change, ERROR if it fails.
func (m *Manager) resumeGuest(ctx context.Context, uuid string) {
	m.operation(ctx, uuid, "", "resume_guest", func(i novadb.Instance) error {
		m.logf("compute %s: rebooting instance %s after nova-compute restart", i.Host.String, uuid)
		err := m.hardReboot(ctx, i)
		m.auditCompute(i.Host.String, "resume_guest", "resume_guests_state_on_host_boot", uuid, err)
		if err != nil {
			m.logf("compute %s: failed to resume instance %s: %v", i.Host.String, uuid, err)
			m.save(ctx, i, nil, map[string]any{"vm_state": "error"})
		}
		return err
	})
}

// Boot runs nova-compute on the topology's hosts and starts each of its instances' domains from the stored
// block device info (instanceIDs are their numeric ids, which name the domains); an instance left stopped is
// defined but shut off again.
func (m *Manager) Boot(ctx context.Context, t inventory.Topology, instanceIDs map[string]int64) error {
	for _, h := range t.Hosts {
		m.AddHost(h.Name, cmp.Or(h.IP, "127.0.0.1"))
	}
	// The mappings are read a chunk of instances at a time: one query per instance is a round trip each.
	for chunk := range slices.Chunk(t.Instances, bootChunk) {
		uuids := make([]string, len(chunk))
		for i, inst := range chunk {
			uuids[i] = inst.ID
		}
		bdms, err := novadb.LiveBDMs(ctx, m.db, uuids...)
		if err != nil {
			return err
		}
		for _, inst := range chunk {
			d := virt.Domain{Host: inst.Host, Name: fmt.Sprintf("instance-%08x", instanceIDs[inst.ID]), InstanceUUID: inst.ID}
			conns, err := connectionsOf(bdms[inst.ID], false)
			if err != nil {
				return err
			}
			if err := m.driver.PowerOn(ctx, d, conns); err != nil {
				return fmt.Errorf("power on %s on %s: %w", d.Name, d.Host, err)
			}
			if inst.State == inventory.StateStopped {
				if err := m.driver.PowerOff(ctx, d); err != nil {
					return fmt.Errorf("power off %s on %s: %w", d.Name, d.Host, err)
				}
			}
		}
	}
	return nil
}

// bootChunk is how many instances' mappings Boot reads at once.
const bootChunk = 500
