package compute

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/osdr/osdr/testenv/cloud/model"
	"github.com/osdr/osdr/testenv/cloud/nova/volume"
	"github.com/osdr/osdr/testenv/cloud/osapi"
	"github.com/osdr/osdr/testenv/cloud/store"
	"github.com/osdr/osdr/testenv/virt"
)

// ErrStopped means the host's nova-compute is not running (Stop), so it cannot act.
var ErrStopped = errors.New("nova-compute is not running on the host")

// ErrMessagingTimeout is oslo.messaging's MessagingTimeout: a call to a host whose nova-compute does not
// consume its queue got no answer within rpc_response_timeout.
var ErrMessagingTimeout = errors.New("oslo_messaging.exceptions.MessagingTimeout")

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

// API is the compute API as nova-compute calls it: the stops the power-state sync orders.
type API interface {
	// BeginStop is the compute API's stop, or with force its force_stop, up to the cast: the instance is
	// powering-off and its action recorded under the request id returned.
	BeginStop(ctx context.Context, uuid string, force bool) (requestID string, err error)
}

// Config is what nova-compute runs with.
type Config struct {
	DB      *sql.DB // Nova's
	Volumes volume.API
	Driver  virt.Driver
	API     API
	IDs     *store.IDs
	Latency *model.Latency
	Audit   *osapi.AuditLog
	// DeletesDanglingBDMsOnReboot: Nova 28 (2023.2) and later destroy, before every reboot, the block device
	// mappings whose Cinder attachment is gone, and delete the Cinder attachments Nova does not know.
	DeletesDanglingBDMsOnReboot bool
	// PowerSyncInterval, when set, runs _sync_power_states on every running host that often.
	PowerSyncInterval time.Duration
	// NoReconnectOnReboot: a HARD reboot (and a start) brings the domain back without connecting its data
	// volumes, as the Operations Guide assumes, where Nova's libvirt driver connects every one (hardReboot).
	NoReconnectOnReboot bool
	// Workers is how many casts one host carries out at once, as oslo.messaging's executor pool
	// (executor_thread_pool_size) bounds a real nova-compute; a cast waiting for an instance's lock holds its
	// worker, as a green thread does. Zero means no bound.
	Workers int
	Logf    func(format string, args ...any)
}

// Manager is nova-compute on every compute host: it carries out the casts the API makes, one operation
// per instance at a time (utils.synchronized(instance.uuid)), and models the service being stopped: casts to a
// stopped host wait in its queue, as RPC messages wait for a consumer.
type Manager struct {
	db                *sql.DB
	volumes           volume.API
	driver            virt.Driver
	api               API
	ids               *store.IDs
	latency           *model.Latency
	audit             *osapi.AuditLog
	deleteDangling    bool
	noReconnect       bool
	powerSyncInterval time.Duration
	workers           int
	logf              func(format string, args ...any)

	mu      sync.Mutex
	ctx     context.Context // the cloud's background context, set by SetContext
	locks   map[string]*sync.Mutex
	hosts   map[string]serviceState // hosts the simulation runs nova-compute on
	hostIPs map[string]string       // the address each host's connector reports
	queued  map[string][]func(context.Context)
	pools   map[string]chan struct{} // each host's busy workers
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

// New prepares nova-compute; no host runs it until AddHost.
func New(cfg Config) *Manager {
	return &Manager{
		db: cfg.DB, volumes: cfg.Volumes, driver: cfg.Driver, api: cfg.API, ids: cfg.IDs, latency: cfg.Latency,
		audit: cfg.Audit, deleteDangling: cfg.DeletesDanglingBDMsOnReboot, powerSyncInterval: cfg.PowerSyncInterval,
		noReconnect: cfg.NoReconnectOnReboot, workers: cfg.Workers, logf: cfg.Logf,
		ctx: context.Background(), locks: map[string]*sync.Mutex{}, hosts: map[string]serviceState{},
		hostIPs: map[string]string{}, queued: map[string][]func(context.Context){}, pools: map[string]chan struct{}{},
	}
}

// lock takes the instance's lock and returns its release.
func (m *Manager) lock(uuid string) func() {
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
func (m *Manager) cast(host string, op func(context.Context)) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return
	}
	if m.hosts[host] == serviceStopped {
		m.queued[host] = append(m.queued[host], op)
		return
	}
	ctx, pool := m.ctx, m.pool(host)
	m.casts.Go(func() {
		if pool != nil {
			select {
			case pool <- struct{}{}:
				defer func() { <-pool }()
			case <-ctx.Done():
				return
			}
		}
		op(ctx)
	})
}

// pool is host's workers, nil when they are not bounded; the caller holds m.mu.
func (m *Manager) pool(host string) chan struct{} {
	if m.workers <= 0 {
		return nil
	}
	p, ok := m.pools[host]
	if !ok {
		p = make(chan struct{}, m.workers)
		m.pools[host] = p
	}
	return p
}

// Wait waits until every cast made so far to a running host has been carried out.
func (m *Manager) Wait() { m.casts.Wait() }

// Shutdown refuses casts from now on and waits for those in flight.
func (m *Manager) Shutdown() {
	m.mu.Lock()
	m.closed = true
	m.mu.Unlock()
	m.casts.Wait()
}

// AddHost starts nova-compute on a newly provisioned host at ip; a stopped one stays stopped.
func (m *Manager) AddHost(host, ip string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.hosts[host] != serviceStopped {
		m.hosts[host] = serviceRunning
	}
	m.hostIPs[host] = ip
}

// hostIP is the address host's connector reports; a host Provision did not add is on loopback.
func (m *Manager) hostIP(host string) string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return cmp.Or(m.hostIPs[host], "127.0.0.1")
}

func (m *Manager) isStopped(host string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.hosts[host] == serviceStopped
}

// Stop stops nova-compute on host: it stops heartbeating (so after service_down_time the API reports the
// service down and its servers' host_status UNKNOWN) and casts to it wait until Restarted.
func (m *Manager) Stop(host string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.hosts[host] = serviceStopped
}

// SetContext gives the casts their context: they end with the cloud, not with the request that caused them.
func (m *Manager) SetContext(ctx context.Context) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.ctx = ctx
}

// Run heartbeats the running services and, when configured, runs the periodic power-state sync, until ctx ends.
func (m *Manager) Run(ctx context.Context) {
	beat := time.NewTicker(reportInterval)
	defer beat.Stop()
	var syncTick <-chan time.Time
	if d := m.powerSyncInterval; d > 0 {
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
				m.logf("heartbeat: %v", err)
			}
		case <-syncTick:
			for _, host := range m.runningHosts() {
				if err := m.SyncPowerStates(ctx, host); err != nil && ctx.Err() == nil {
					m.logf("periodic power-state sync on %s: %v", host, err)
				}
			}
		}
	}
}

func (m *Manager) runningHosts() []string {
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
// updated_at. Compute hosts beat only while their nova-compute runs; nova-volume, the legacy release's volume
// service, is a Nova service.
func (m *Manager) heartbeat(ctx context.Context) error {
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
	if _, err := m.db.ExecContext(ctx, query, args...); err != nil {
		return fmt.Errorf("nova services: %w", err)
	}
	return nil
}

// The casts and calls the compute API makes (nova/compute/rpcapi.py).

// RebootInstance casts reboot_instance to host; kind is SOFT or HARD.
func (m *Manager) RebootInstance(host, uuid, kind, requestID string) {
	m.cast(host, func(ctx context.Context) { m.rebootInstance(ctx, uuid, kind, requestID) })
}

// StartInstance casts start_instance to host.
func (m *Manager) StartInstance(host, uuid, requestID string) {
	m.cast(host, func(ctx context.Context) { m.startInstance(ctx, uuid, requestID) })
}

// StopInstance casts stop_instance to host.
func (m *Manager) StopInstance(host, uuid, requestID string) {
	m.cast(host, func(ctx context.Context) { m.stopInstance(ctx, uuid, requestID) })
}

// AttachVolume casts attach_volume of the mapping bdmID to host.
func (m *Manager) AttachVolume(host, uuid string, bdmID int64, requestID string) {
	m.cast(host, func(ctx context.Context) { m.attachVolume(ctx, uuid, bdmID, requestID) })
}

// DetachVolume casts detach_volume to host.
func (m *Manager) DetachVolume(host, uuid, volumeID, requestID string) {
	m.cast(host, func(ctx context.Context) { m.detachVolume(ctx, uuid, volumeID, requestID) })
}
