package cloud

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/osdr/osdr/testenv/cloud/model"
	"github.com/osdr/osdr/testenv/cloud/nova/novadb"
	"github.com/osdr/osdr/testenv/cloud/osapi"
	"github.com/osdr/osdr/testenv/cloud/store"
	"github.com/osdr/osdr/testenv/virt"
)

// ErrComputeStopped means the host's nova-compute is not running (StopCompute), so it cannot act.
var ErrComputeStopped = errors.New("nova-compute is not running on the host")

// nova.conf report_interval: how often a running service heartbeats.
const reportInterval = 10 * time.Second

// rpcResponseTimeout is oslo.messaging's rpc_response_timeout: how long Nova waits on a call to a compute host
// that does not answer, scaled like the operations.
const rpcResponseTimeout = 60 * time.Second

// powerSuspended is Nova's SUSPENDED power state, which virt does not name.
const powerSuspended = 7

// The task states each reboot kind passes through on the compute host (task_states.soft_reboot_states and
// hard_reboot_states are what the first save accepts).
var (
	softRebootTasks = []string{"rebooting", "reboot_pending", "reboot_started"}
	hardRebootTasks = []string{"rebooting_hard", "reboot_pending_hard", "reboot_started_hard"}
)

// computeManager is nova-compute on every compute host: it carries out the casts the API makes, one operation
// per instance at a time (utils.synchronized(instance.uuid)), and models the service being stopped: casts to a
// stopped host wait in its queue, as RPC messages wait for a consumer.
type computeManager struct {
	c *Cloud

	mu      sync.Mutex
	ctx     context.Context // the cloud's background context, set by Start
	locks   map[string]*sync.Mutex
	hosts   map[string]serviceState // hosts the simulation runs nova-compute on
	hostIPs map[string]string       // the address each host's connector reports
	queued  map[string][]func(context.Context)
	casts   sync.WaitGroup
	// closed: the cloud is shutting down; a cast from a request still in flight is lost, as an RPC cast to a
	// service that is going away is. It also keeps casts.Go from racing casts.Wait.
	closed bool
}

// serviceState is whether a host's nova-compute runs; hosts only the database knows of have neither state and
// do not heartbeat.
type serviceState int

const (
	serviceRunning serviceState = iota + 1
	serviceStopped
)

func newComputeManager(c *Cloud) *computeManager {
	return &computeManager{
		c: c, ctx: context.Background(), locks: map[string]*sync.Mutex{}, hosts: map[string]serviceState{},
		hostIPs: map[string]string{}, queued: map[string][]func(context.Context){},
	}
}

// lock takes the instance's lock and returns its release.
func (m *computeManager) lock(uuid string) func() {
	m.mu.Lock()
	l, ok := m.locks[uuid]
	if !ok {
		l = &sync.Mutex{}
		m.locks[uuid] = l
	}
	m.mu.Unlock()
	l.Lock()
	return l.Unlock
}

// cast hands an operation to the host's nova-compute: run now in its own goroutine, or queued while the
// service is stopped.
func (m *computeManager) cast(host string, op func(context.Context)) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return
	}
	if m.hosts[host] == serviceStopped {
		m.queued[host] = append(m.queued[host], op)
		return
	}
	ctx := m.ctx
	m.casts.Go(func() { op(ctx) })
}

func (m *computeManager) wait() { m.casts.Wait() }

// shutdown refuses casts from now on and waits for those in flight.
func (m *computeManager) shutdown() {
	m.mu.Lock()
	m.closed = true
	m.mu.Unlock()
	m.casts.Wait()
}

// addRunning starts nova-compute on a newly provisioned host at ip; a stopped one stays stopped.
func (m *computeManager) addRunning(host, ip string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.hosts[host] != serviceStopped {
		m.hosts[host] = serviceRunning
	}
	m.hostIPs[host] = ip
}

// hostIP is the address host's connector reports; a host Provision did not add is on loopback.
func (m *computeManager) hostIP(host string) string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return cmp.Or(m.hostIPs[host], "127.0.0.1")
}

func (m *computeManager) isStopped(host string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.hosts[host] == serviceStopped
}

// StopCompute stops nova-compute on host: it stops heartbeating (so after service_down_time the API reports
// the service down and its servers' host_status UNKNOWN) and casts to it wait until ComputeRestarted.
func (c *Cloud) StopCompute(host string) {
	c.compute.mu.Lock()
	defer c.compute.mu.Unlock()
	c.compute.hosts[host] = serviceStopped
}

// setContext gives the casts their context: they end with the cloud, not with the request that caused them.
func (m *computeManager) setContext(ctx context.Context) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.ctx = ctx
}

// run heartbeats the running services and, when configured, runs the periodic power-state sync, until ctx ends.
func (m *computeManager) run(ctx context.Context) {
	beat := time.NewTicker(reportInterval)
	defer beat.Stop()
	var syncTick <-chan time.Time
	if d := m.c.cfg.PowerSyncInterval; d > 0 {
		t := time.NewTicker(d)
		defer t.Stop()
		syncTick = t.C
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-beat.C:
			if err := m.heartbeat(ctx); err != nil && ctx.Err() == nil {
				m.c.logf("heartbeat: %v", err)
			}
		case <-syncTick:
			for _, host := range m.runningHosts() {
				if err := m.c.SyncPowerStates(ctx, host); err != nil && ctx.Err() == nil {
					m.c.logf("periodic power-state sync on %s: %v", host, err)
				}
			}
		}
	}
}

func (m *computeManager) runningHosts() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	var hosts []string
	for h, state := range m.hosts {
		if state == serviceRunning {
			hosts = append(hosts, h)
		}
	}
	slices.Sort(hosts)
	return hosts
}

// heartbeat is every running Nova service's report_state: report_count+1, which stamps last_seen_up and
// updated_at. Compute hosts beat only while their nova-compute runs; nova-volume, the legacy profile's volume
// service, is a Nova service.
func (m *computeManager) heartbeat(ctx context.Context) error {
	t := store.Now()
	hosts := m.runningHosts()
	query := "UPDATE services SET report_count = report_count + 1, last_seen_up = ?, updated_at = ? " +
		"WHERE deleted = 0 AND `binary` <> 'nova-compute'"
	args := []any{t, t}
	if len(hosts) > 0 {
		query = "UPDATE services SET report_count = report_count + 1, last_seen_up = ?, updated_at = ? " +
			"WHERE deleted = 0 AND (`binary` <> 'nova-compute' OR host IN (" + store.Placeholders(len(hosts)) + "))"
		args = append(args, store.Args(hosts)...)
	}
	if _, err := m.c.nova.ExecContext(ctx, query, args...); err != nil {
		return fmt.Errorf("nova services: %w", err)
	}
	return nil
}

func domainOf(i novadb.Instance) virt.Domain {
	return virt.Domain{Host: i.Host.String, Name: i.Name(), InstanceUUID: i.UUID}
}

// powerState is _get_power_state: what the driver reports, NOSTATE when it cannot tell.
func (m *computeManager) powerState(ctx context.Context, i novadb.Instance) virt.PowerState {
	p, err := m.c.driver.PowerState(ctx, domainOf(i))
	if err != nil {
		m.c.logf("compute %s: power state of %s: %v", i.Host.String, i.UUID, err)
		return virt.NoState
	}
	return p
}

// connectionInfo is the part of a BDM's stored connection_info a hypervisor reconnects a volume from.
type connectionInfo struct {
	DriverVolumeType string `json:"driver_volume_type"`
	Data             struct {
		TargetIQN    string          `json:"target_iqn"`
		TargetPortal string          `json:"target_portal"`
		TargetLUN    json.RawMessage `json:"target_lun"`
	} `json:"data"`
}

// volumeConnections is block_device_info: each live volume BDM's stored connection info.
func (m *computeManager) volumeConnections(ctx context.Context, uuid string) ([]virt.VolumeConnection, error) {
	bdms, err := novadb.LiveBDMs(ctx, m.c.nova, uuid)
	if err != nil {
		return nil, err
	}
	var out []virt.VolumeConnection
	for _, b := range bdms[uuid] {
		if !b.VolumeID.Valid || b.DestinationType.String != "volume" || !b.ConnectionInfo.Valid {
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
	var lun int
	// target_lun is a number in Cinder's answers; a string one is taken as written.
	if err := json.Unmarshal(ci.Data.TargetLUN, &lun); err != nil && len(ci.Data.TargetLUN) > 0 {
		var s string
		if json.Unmarshal(ci.Data.TargetLUN, &s) == nil {
			fmt.Sscan(s, &lun)
		}
	}
	return virt.VolumeConnection{
		VolumeID: b.VolumeID.String, Device: b.DeviceName.String,
		IQN: ci.Data.TargetIQN, Portal: ci.Data.TargetPortal, LUN: lun,
	}, nil
}

// hardReboot is the libvirt driver's _hard_reboot: destroy the domain if it exists, then reconnect every
// volume from its stored connection info and boot.
func (m *computeManager) hardReboot(ctx context.Context, i novadb.Instance) error {
	if err := m.c.driver.PowerOff(ctx, domainOf(i)); err != nil && !errors.Is(err, virt.ErrNoDomain) {
		return err
	}
	volumes, err := m.volumeConnections(ctx, i.UUID)
	if err != nil {
		return err
	}
	return m.c.driver.PowerOn(ctx, domainOf(i), volumes)
}

// operation runs op as nova-compute runs what an API request cast: under the instance's lock
// (utils.synchronized on its uuid), on the instance as stored, and reported as the event on the request's
// action (wrap_instance_event), which op's error finishes as Error. Work of nova-compute's own (no request)
// reports nothing; event then only names it in the log.
func (m *computeManager) operation(ctx context.Context, uuid, requestID, event string, op func(novadb.Instance) error) {
	unlock := m.lock(uuid)
	defer unlock()
	i, err := novadb.GetInstance(ctx, m.c.nova, uuid, false)
	if err != nil {
		m.c.logf("compute: %s on %s: %v", event, uuid, err)
		return
	}
	report := m.startEvent(ctx, uuid, requestID, event, i.Host.String)
	report.finish(ctx, op(i))
}

// rebootInstance is ComputeManager.reboot_instance; its compute_reboot_instance event, on the action of the
// request that cast it, ends in Error whenever the reboot was not carried out.
func (m *computeManager) rebootInstance(ctx context.Context, uuid, kind, requestID string) {
	m.operation(ctx, uuid, requestID, "compute_reboot_instance", func(i novadb.Instance) error { return m.reboot(ctx, i, kind) })
}

func (m *computeManager) reboot(ctx context.Context, i novadb.Instance, kind string) error {
	host, uuid := i.Host.String, i.UUID
	expected, pending, started := softRebootTasks, "reboot_pending", "reboot_started"
	if kind == "HARD" {
		expected, pending, started = hardRebootTasks, "reboot_pending_hard", "reboot_started_hard"
	}
	if m.c.profile.DeletesDanglingBDMsOnReboot {
		if err := m.deleteDanglingBDMs(ctx, i); err != nil {
			// Nova skips the check when it cannot reach Cinder.
			m.c.logf("compute %s: dangling BDMs of %s: %v", host, uuid, err)
		}
	}
	power := m.powerState(ctx, i)
	if err := m.save(ctx, i, expected, map[string]any{"task_state": pending, "power_state": int(power)}); err != nil {
		return err
	}
	if err := m.save(ctx, i, []string{pending}, map[string]any{"task_state": started}); err != nil {
		return err
	}
	if err := m.c.latency.Spend(ctx, model.OpReboot); err != nil {
		return err
	}
	var rebootErr error
	if kind == "HARD" {
		rebootErr = m.hardReboot(ctx, i)
	} else {
		rebootErr = m.softReboot(ctx, i)
	}
	m.c.auditCompute(host, "reboot", kind, uuid, rebootErr)
	vmState := "active"
	if i.VMState.String == "rescued" {
		vmState = "rescued"
	}
	if rebootErr != nil {
		m.recordFault(ctx, i, rebootErr)
		if m.powerState(ctx, i) != virt.Running {
			m.c.logf("compute %s: cannot reboot instance %s: %v", host, uuid, rebootErr)
			m.save(ctx, i, nil, map[string]any{"vm_state": "error", "task_state": nil})
			return rebootErr
		}
		m.c.logf("compute %s: reboot of %s failed but the instance is running", host, uuid)
	}
	m.save(ctx, i, nil, map[string]any{
		"power_state": int(m.powerState(ctx, i)), "vm_state": vmState, "task_state": nil,
	})
	return rebootErr
}

// softReboot is a guest reboot. A domain the hypervisor does not know cannot be soft-rebooted (InstanceNotFound
// in both the libvirt and the fake driver); a shut-off one is booted (libvirt falls back to a hard reboot).
func (m *computeManager) softReboot(ctx context.Context, i novadb.Instance) error {
	if m.powerState(ctx, i) == virt.NoState {
		return fmt.Errorf("Instance %s could not be found.", i.UUID)
	}
	return m.hardReboot(ctx, i)
}

// startInstance is ComputeManager.start_instance: the driver's power_on (libvirt's is a hard reboot).
func (m *computeManager) startInstance(ctx context.Context, uuid, requestID string) {
	m.operation(ctx, uuid, requestID, "compute_start_instance", func(i novadb.Instance) error {
		if err := m.c.latency.Spend(ctx, model.OpBoot); err != nil {
			return err
		}
		err := m.hardReboot(ctx, i)
		m.c.auditCompute(i.Host.String, "start", "", uuid, err)
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
func (m *computeManager) stopInstance(ctx context.Context, uuid, requestID string) {
	m.operation(ctx, uuid, requestID, "compute_stop_instance", func(i novadb.Instance) error {
		expected := []string{"powering-off"}
		switch m.powerState(ctx, i) {
		case virt.NoState, virt.Shutdown, virt.Crashed:
			expected = append(expected, "")
		}
		err := m.c.driver.PowerOff(ctx, domainOf(i))
		m.c.auditCompute(i.Host.String, "stop", "", uuid, err)
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
func (m *computeManager) failed(ctx context.Context, i novadb.Instance, err error) {
	m.c.logf("compute %s: %s: %v", i.Host.String, i.UUID, err)
	if !errors.Is(err, virt.ErrNoDomain) {
		m.recordFault(ctx, i, err)
	}
	m.save(ctx, i, nil, map[string]any{"task_state": nil})
}

func (m *computeManager) recordFault(ctx context.Context, i novadb.Instance, cause error) {
	if err := addFault(ctx, m.c.nova, i.UUID, i.Host.String, cause); err != nil {
		m.c.logf("compute %s: %v", i.Host.String, err)
	}
}

// save writes an instance; the error says why it did not. A task state that moved on
// (UnexpectedTaskStateError) ends the operation as in Nova: logged, recorded as a fault, the state left to
// whoever moved it.
func (m *computeManager) save(ctx context.Context, i novadb.Instance, expected []string, set map[string]any) error {
	ok, err := novadb.SaveInstance(ctx, m.c.nova, i.UUID, expected, set)
	if err != nil {
		m.c.logf("compute %s: %v", i.Host.String, err)
		return err
	}
	if !ok {
		cause := fmt.Errorf("Unexpected task state: expecting %v but the actual state differs", expected)
		m.c.logf("compute %s: %s: %v", i.Host.String, i.UUID, cause)
		m.recordFault(ctx, i, cause)
		return cause
	}
	return nil
}

// deleteDanglingBDMs is ComputeManager._delete_dangling_bdms (Nova 28 and later): a volume BDM whose Cinder
// attachment no longer exists is destroyed; Cinder attachments of the instance Nova does not know are deleted.
func (m *computeManager) deleteDanglingBDMs(ctx context.Context, i novadb.Instance) error {
	cinderAttachments, err := m.c.volumeAPI.AttachmentIDs(ctx, i.UUID)
	if err != nil {
		return err
	}
	bdms, err := novadb.LiveBDMs(ctx, m.c.nova, i.UUID)
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
		m.c.logf("compute %s: removing stale volume attachment %s from instance %s for volume %s",
			i.Host.String, b.AttachmentID.String, i.UUID, b.VolumeID.String)
		if err := novadb.SoftDeleteBDM(ctx, m.c.nova, b.ID); err != nil {
			return err
		}
	}
	for _, a := range cinderAttachments {
		if slices.Contains(known, a) {
			continue
		}
		if err := m.c.volumeAPI.AttachmentDelete(ctx, a); err != nil {
			return err
		}
	}
	return nil
}

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
func (c *Cloud) SyncPowerStates(ctx context.Context, host string) error {
	if c.compute.isStopped(host) {
		return fmt.Errorf("sync power states on %s: %w", host, ErrComputeStopped)
	}
	uuids, err := instancesOnHost(ctx, c.nova, host)
	if err != nil {
		return err
	}
	for _, uuid := range uuids {
		if err := c.compute.syncInstance(ctx, host, uuid); err != nil {
			return fmt.Errorf("sync power state of %s on %s: %w", uuid, host, err)
		}
	}
	return nil
}

// syncInstance is _query_driver_power_state_and_sync and _sync_instance_power_state for one instance.
func (m *computeManager) syncInstance(ctx context.Context, host, uuid string) error {
	stop, force, err := m.syncDecision(ctx, host, uuid)
	if err != nil || !stop {
		return err
	}
	// The stop goes through the compute API as in Nova, and is carried out before the sync returns.
	if err := m.c.requestStopNow(ctx, uuid, force); err != nil {
		var ae *osapi.Error
		if errors.As(err, &ae) {
			m.c.logf("compute %s: stop ordered by the power-state sync refused: %v", host, err)
			return nil
		}
		return err
	}
	return nil
}

func (m *computeManager) syncDecision(ctx context.Context, host, uuid string) (stop, force bool, err error) {
	unlock := m.lock(uuid)
	defer unlock()
	i, err := novadb.GetInstance(ctx, m.c.nova, uuid, false)
	if err != nil {
		var ae *osapi.Error
		if errors.As(err, &ae) {
			return false, false, nil
		}
		return false, false, err
	}
	if i.TaskState.Valid {
		m.c.logf("compute %s: during sync_power_state %s has a pending task (%s); skip", host, uuid, i.TaskState.String)
		return false, false, nil
	}
	vmPower, perr := m.c.driver.PowerState(ctx, domainOf(i))
	if perr != nil {
		m.c.logf("compute %s: power state of %s: %v", host, uuid, perr)
		return false, false, nil
	}
	// Re-read to narrow the race with other operations, as Nova refreshes the instance.
	if i, err = novadb.GetInstance(ctx, m.c.nova, uuid, false); err != nil {
		return false, false, nil
	}
	if i.Host.String != host || i.TaskState.Valid {
		return false, false, nil
	}
	if int64(vmPower) != i.PowerState.Int64 || !i.PowerState.Valid {
		m.c.logf("compute %s: during _sync_instance_power_state the DB power_state (%d) does not match the "+
			"vm_power_state from the hypervisor (%d) for %s; updating", host, i.PowerState.Int64, vmPower, uuid)
		if _, err := novadb.SaveInstance(ctx, m.c.nova, uuid, nil, map[string]any{"power_state": int(vmPower)}); err != nil {
			return false, false, err
		}
	}
	switch i.VMState.String {
	case "active":
		switch vmPower {
		case virt.Shutdown, virt.Crashed, powerSuspended:
			m.c.logf("compute %s: instance %s shut down by itself; calling the stop API", host, uuid)
			return true, false, nil
		case virt.Paused:
			m.c.logf("compute %s: instance %s is paused unexpectedly; ignore", host, uuid)
		case virt.NoState:
			m.c.logf("compute %s: instance %s is unexpectedly not found; ignore", host, uuid)
		}
	case "stopped":
		if vmPower != virt.NoState && vmPower != virt.Shutdown && vmPower != virt.Crashed {
			m.c.logf("compute %s: instance %s is not stopped; calling the stop API", host, uuid)
			return true, true, nil
		}
	case "paused":
		if vmPower == virt.Shutdown || vmPower == virt.Crashed {
			m.c.logf("compute %s: paused instance %s shut down by itself; calling the stop API", host, uuid)
			return true, true, nil
		}
	}
	return false, false, nil
}

// requestStopNow is the compute API's stop or force_stop with the cast carried out in the caller's goroutine.
func (c *Cloud) requestStopNow(ctx context.Context, uuid string, force bool) error {
	_, requestID, err := c.beginStop(ctx, uuid, force)
	if err != nil {
		return err
	}
	c.compute.stopInstance(ctx, uuid, requestID)
	return nil
}

// ComputeRestarted models nova-compute starting on host after it was stopped or the host rebooted: init_host
// walks the host's instances (finishing interrupted reboots, stops and starts, and with resumeGuests, Nova's
// resume_guests_state_on_host_boot, hard-rebooting every guest the database says was running but the
// hypervisor does not run), then the service heartbeats again, the casts that waited for it run, and the
// power-state sync runs once, as it does at service start.
func (c *Cloud) ComputeRestarted(ctx context.Context, host string, resumeGuests bool) error {
	uuids, err := instancesOnHost(ctx, c.nova, host)
	if err != nil {
		return err
	}
	for _, uuid := range uuids {
		if err := c.compute.initInstance(ctx, host, uuid, resumeGuests); err != nil {
			return fmt.Errorf("init instance %s on %s: %w", uuid, host, err)
		}
	}
	c.compute.mu.Lock()
	c.compute.hosts[host] = serviceRunning
	queued := c.compute.queued[host]
	delete(c.compute.queued, host)
	c.compute.mu.Unlock()
	t := store.Now()
	if _, err := c.nova.ExecContext(ctx, `UPDATE services SET report_count = report_count + 1, last_seen_up = ?,
		updated_at = ? WHERE host = ? AND `+"`binary`"+` = 'nova-compute' AND deleted = 0`, t, t, host); err != nil {
		return fmt.Errorf("report nova-compute on %s up: %w", host, err)
	}
	for _, op := range queued {
		c.compute.cast(host, op)
	}
	return c.SyncPowerStates(ctx, host)
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
func (m *computeManager) initInstance(ctx context.Context, host, uuid string, resumeGuests bool) error {
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

func (m *computeManager) initState(ctx context.Context, host, uuid string, resumeGuests bool) (initFollowUp, string, error) {
	unlock := m.lock(uuid)
	defer unlock()
	i, err := novadb.GetInstance(ctx, m.c.nova, uuid, false)
	if err != nil {
		var ae *osapi.Error
		if errors.As(err, &ae) {
			return initDone, "", nil
		}
		return initDone, "", err
	}
	vm, task := i.VMState.String, i.TaskState.String
	set := func(values map[string]any) error {
		_, err := novadb.SaveInstance(ctx, m.c.nova, uuid, nil, values)
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
		m.c.logf("compute %s: %s was being deleted; deletes are not simulated", host, uuid)
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
		m.c.logf("compute %s: %s was unpausing; unpause is not simulated", host, uuid)
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
func (m *computeManager) resumeGuest(ctx context.Context, uuid string) {
	m.operation(ctx, uuid, "", "resume_guest", func(i novadb.Instance) error {
		m.c.logf("compute %s: rebooting instance %s after nova-compute restart", i.Host.String, uuid)
		err := m.hardReboot(ctx, i)
		m.c.auditCompute(i.Host.String, "resume_guest", "resume_guests_state_on_host_boot", uuid, err)
		if err != nil {
			m.c.logf("compute %s: failed to resume instance %s: %v", i.Host.String, uuid, err)
			m.save(ctx, i, nil, map[string]any{"vm_state": "error"})
		}
		return err
	})
}

// auditCompute records what nova-compute did to a guest.
func (c *Cloud) auditCompute(host, operation, detail, target string, err error) {
	e := AuditEntry{Time: time.Now().UTC(), Caller: "nova-compute@" + host, Service: "compute",
		Operation: operation, Detail: detail, Target: target}
	if err != nil {
		e.Error = err.Error()
	}
	c.audit.Add(e)
}
