package compute_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"

	"github.com/gophercloud/gophercloud/v2/openstack/blockstorage/v3/volumes"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/servers"

	"github.com/osdr/osdr/testenv/cloud"
	"github.com/osdr/osdr/testenv/cloud/cloudtest"
	"github.com/osdr/osdr/testenv/virt"
)

// scriptedDriver is a virt.Fake whose reported power state the test sets per domain, for the states the fake
// cannot reach by itself (crashed, paused); powering a domain off or on forgets the scripted state.
type scriptedDriver struct {
	*virt.Fake
	mu     sync.Mutex
	states map[string]virt.PowerState
}

func newScriptedDriver() *scriptedDriver {
	return &scriptedDriver{Fake: virt.NewFake(), states: map[string]virt.PowerState{}}
}

func (d *scriptedDriver) script(name string, p virt.PowerState) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.states[name] = p
}

func (d *scriptedDriver) forget(name string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.states, name)
}

func (d *scriptedDriver) PowerState(ctx context.Context, dom virt.Domain) (virt.PowerState, error) {
	d.mu.Lock()
	p, ok := d.states[dom.Name]
	d.mu.Unlock()
	if ok {
		return p, nil
	}
	return d.Fake.PowerState(ctx, dom)
}

func (d *scriptedDriver) PowerOff(ctx context.Context, dom virt.Domain) error {
	d.forget(dom.Name)
	return d.Fake.PowerOff(ctx, dom)
}

func (d *scriptedDriver) PowerOn(ctx context.Context, dom virt.Domain, v []virt.VolumeConnection) error {
	d.forget(dom.Name)
	return d.Fake.PowerOn(ctx, dom, v)
}

// _sync_power_states' rules: the hypervisor's power state is written to the database; an active instance
// found shut down or crashed is stopped; a stopped one found running is stopped again; NOSTATE and PAUSED on an
// active instance are only logged; instances with a task are skipped; other vm_states only get the power state.
func TestSyncPowerStates(t *testing.T) {
	driver := newScriptedDriver()
	f := cloudtest.New(t, cloud.Config{Driver: driver})
	topo := f.Provision(t, cloudtest.StandardTopology())
	id := topo.Instances[0].ID
	dom := virt.Domain{Host: "compute-1", Name: "instance-00000001", InstanceUUID: id}
	for _, tc := range []struct {
		name       string
		from       cloudtest.ServerState
		hypervisor virt.PowerState
		want       cloudtest.ServerState
	}{
		{"active found shut down is stopped", cloudtest.ServerState{VM: "active", Task: "", Power: 1}, virt.Shutdown, cloudtest.ServerState{VM: "stopped", Task: "", Power: 4}},
		{"active found crashed is stopped", cloudtest.ServerState{VM: "active", Task: "", Power: 1}, virt.Crashed, cloudtest.ServerState{VM: "stopped", Task: "", Power: 4}},
		{"active not found keeps running", cloudtest.ServerState{VM: "active", Task: "", Power: 1}, virt.NoState, cloudtest.ServerState{VM: "active", Task: "", Power: 0}},
		{"active found paused is ignored", cloudtest.ServerState{VM: "active", Task: "", Power: 1}, virt.Paused, cloudtest.ServerState{VM: "active", Task: "", Power: 3}},
		{"active and running is left alone", cloudtest.ServerState{VM: "active", Task: "", Power: 1}, virt.Running, cloudtest.ServerState{VM: "active", Task: "", Power: 1}},
		{"a pending task skips the instance", cloudtest.ServerState{VM: "active", Task: "rebooting_hard", Power: 1}, virt.Shutdown, cloudtest.ServerState{VM: "active", Task: "rebooting_hard", Power: 1}},
		{"stopped found running is stopped again", cloudtest.ServerState{VM: "stopped", Task: "", Power: 4}, virt.Running, cloudtest.ServerState{VM: "stopped", Task: "", Power: 4}},
		{"stopped not found", cloudtest.ServerState{VM: "stopped", Task: "", Power: 4}, virt.NoState, cloudtest.ServerState{VM: "stopped", Task: "", Power: 0}},
		{"error gets the power state only", cloudtest.ServerState{VM: "error", Task: "", Power: 1}, virt.Shutdown, cloudtest.ServerState{VM: "error", Task: "", Power: 4}},
		{"paused found shut down is stopped", cloudtest.ServerState{VM: "paused", Task: "", Power: 3}, virt.Shutdown, cloudtest.ServerState{VM: "stopped", Task: "", Power: 4}},
		{"suspended gets the power state only", cloudtest.ServerState{VM: "suspended", Task: "", Power: 7}, virt.Shutdown, cloudtest.ServerState{VM: "suspended", Task: "", Power: 4}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := driver.Fake.PowerOn(t.Context(), dom, nil); err != nil {
				t.Fatal(err)
			}
			driver.script(dom.Name, tc.hypervisor)
			var task any
			if tc.from.Task != "" {
				task = tc.from.Task
			}
			cloudtest.ExecSQL(t, f.Nova, "UPDATE instances SET vm_state = ?, task_state = ?, power_state = ? WHERE uuid = ?",
				tc.from.VM, task, tc.from.Power, id)
			if err := f.Cloud.SyncPowerStates(t.Context(), "compute-1"); err != nil {
				t.Fatal(err)
			}
			if got := f.State(t, id); got != tc.want {
				t.Errorf("after the sync: %+v, want %+v", got, tc.want)
			}
		})
	}
}

// A compute host that lost its guests and restarts: without resume_guests_state_on_host_boot the servers stay
// ACTIVE with power state 0; with it, nova-compute hard-reboots every guest that was running, once.
func TestComputeRestarted(t *testing.T) {
	for _, resume := range []bool{false, true} {
		t.Run(map[bool]string{false: "without resume", true: "with resume"}[resume], func(t *testing.T) {
			fake := virt.NewFake()
			f := cloudtest.New(t, cloud.Config{Driver: fake})
			topo := f.Provision(t, cloudtest.StandardTopology())
			fake.SetHostDown("compute-1", true)
			f.Cloud.StopCompute("compute-1")
			fake.SetHostDown("compute-1", false)
			if err := f.Cloud.ComputeRestarted(t.Context(), "compute-1", resume); err != nil {
				t.Fatal(err)
			}
			vm1, vm2 := topo.Instances[0], topo.Instances[1]
			wantVM1 := cloudtest.ServerState{VM: "active", Task: "", Power: 0}
			if resume {
				wantVM1 = cloudtest.ServerState{VM: "active", Task: "", Power: 1}
			}
			if got := f.State(t, vm1.ID); got != wantVM1 {
				t.Errorf("vm1: %+v, want %+v", got, wantVM1)
			}
			if got := f.State(t, vm2.ID); got != (cloudtest.ServerState{VM: "stopped", Task: "", Power: 0}) {
				t.Errorf("vm2 (stopped before the power loss): %+v, want stopped/None/0", got)
			}
			var resumed []string
			for _, e := range f.Cloud.AuditLog() {
				if e.Operation == "resume_guest" {
					resumed = append(resumed, e.Target)
				}
			}
			if want := []string{vm1.ID}; resume && !slices.Equal(resumed, want) || !resume && len(resumed) > 0 {
				t.Errorf("guests resumed %v (resume %v)", resumed, resume)
			}
		})
	}
}

// While nova-compute is stopped the API still accepts actions, which wait like RPC casts in the queue; the
// servers keep their state, their host_status turns UNKNOWN once the service misses its heartbeats, and the
// queued reboot runs when the service comes back.
func TestCastsWaitForAStoppedComputeService(t *testing.T) {
	f := cloudtest.New(t, cloud.Config{})
	topo := f.Provision(t, cloudtest.StandardTopology())
	id := topo.Instances[0].ID
	f.Cloud.StopCompute("compute-1")
	cloudtest.ExecSQL(t, f.Nova, "UPDATE services SET last_seen_up = UTC_TIMESTAMP() - INTERVAL 5 MINUTE, "+
		"updated_at = UTC_TIMESTAMP() - INTERVAL 5 MINUTE WHERE host = 'compute-1'")
	if err := servers.Reboot(t.Context(), f.Compute(t, "2.1"), id, servers.RebootOpts{Type: servers.HardReboot}).ExtractErr(); err != nil {
		t.Fatal(err)
	}
	f.Settle()
	shown := f.ServerJSON(t, id, "2.16")
	if shown["status"] != "HARD_REBOOT" || shown["host_status"] != "UNKNOWN" {
		t.Errorf("while nova-compute is down: status %v host_status %v, want HARD_REBOOT UNKNOWN", shown["status"], shown["host_status"])
	}
	if err := f.Cloud.SyncPowerStates(t.Context(), "compute-1"); !errors.Is(err, cloud.ErrComputeStopped) {
		t.Errorf("a power-state sync on a stopped nova-compute: %v", err)
	}
	if err := f.Cloud.ComputeRestarted(t.Context(), "compute-1", false); err != nil {
		t.Fatal(err)
	}
	f.Settle()
	if got := f.State(t, id); got != (cloudtest.ServerState{VM: "active", Task: "", Power: 1}) {
		t.Errorf("after nova-compute came back: %+v", got)
	}
	if got := f.ServerJSON(t, id, "2.16")["host_status"]; got != "UP" {
		t.Errorf("host_status %v once the service heartbeats again", got)
	}
}

// Nova 28 (2024.1) destroys before a reboot the BDMs whose Cinder attachment is gone and deletes the Cinder
// attachments it does not know; Nova 26 (Zed) reconnects the stale mapping and leaves Cinder alone.
func TestDanglingBDMsOnReboot(t *testing.T) {
	for _, tc := range []struct {
		profile string
		cleans  bool
	}{{"zed", false}, {"2024.1", true}} {
		t.Run(tc.profile, func(t *testing.T) {
			fake := virt.NewFake()
			f := cloudtest.New(t, cloud.Config{Driver: fake, Profile: tc.profile})
			topo := f.Provision(t, cloudtest.StandardTopology())
			vm1, vm3 := topo.Instances[0], topo.Instances[2]
			vol := vm1.Volumes[0]
			if err := volumes.ResetStatus(t.Context(), f.Volume(t, "3.0"), vol.ID, volumes.ResetStatusOpts{
				Status: "available", AttachStatus: "detached"}).ExtractErr(); err != nil {
				t.Fatal(err)
			}
			// An attachment Cinder has for vm1 that Nova never recorded (vm3's volume is multiattach).
			cloudtest.ExecSQL(t, f.Cinder, `INSERT INTO volume_attachment (created_at, deleted, id, volume_id, instance_uuid,
				attached_host, mountpoint, attach_time, attach_mode, attach_status) VALUES (UTC_TIMESTAMP(), 0,
				'0b0b0b0b-0000-4000-8000-000000000001', ?, ?, 'compute-1', '/dev/vdc', UTC_TIMESTAMP(), 'rw', 'attached')`,
				vm3.Volumes[0].ID, vm1.ID)
			if err := servers.Reboot(t.Context(), f.Compute(t, "2.1"), vm1.ID,
				servers.RebootOpts{Type: servers.HardReboot}).ExtractErr(); err != nil {
				t.Fatal(err)
			}
			f.Settle()
			var deleted int64
			if err := f.Nova.QueryRowContext(t.Context(), "SELECT deleted FROM block_device_mapping WHERE volume_id = ?",
				vol.ID).Scan(&deleted); err != nil {
				t.Fatal(err)
			}
			if tc.cleans != (deleted != 0) {
				t.Errorf("BDM of the reset volume: deleted=%d", deleted)
			}
			attached := f.ServerJSON(t, vm1.ID, "2.1")["os-extended-volumes:volumes_attached"].([]any)
			if tc.cleans != (len(attached) == 0) {
				t.Errorf("volumes_attached after the reboot: %v", attached)
			}
			disks := fake.Disks(virt.Domain{Host: "compute-1", Name: "instance-00000001"})
			if _, reconnected := disks[vol.ID]; tc.cleans == reconnected {
				t.Errorf("reset volume reconnected: %v", reconnected)
			}
			var orphanDeleted bool
			if err := f.Cinder.QueryRowContext(t.Context(), "SELECT deleted FROM volume_attachment WHERE id = "+
				"'0b0b0b0b-0000-4000-8000-000000000001'").Scan(&orphanDeleted); err != nil {
				t.Fatal(err)
			}
			if orphanDeleted != tc.cleans {
				t.Errorf("attachment Nova did not know: deleted=%v", orphanDeleted)
			}
			var status string
			if err := f.Cinder.QueryRowContext(t.Context(), "SELECT status FROM volumes WHERE id = ?", vm3.Volumes[0].ID).Scan(&status); err != nil {
				t.Fatal(err)
			}
			if status != "in-use" {
				t.Errorf("vm3's volume is %s, want in-use: vm3's own attachment remains", status)
			}
		})
	}
}

// gatedDriver is a virt.Fake whose PowerOn, once gated, waits for the test to open the gate, counting the
// power-ons in progress.
type gatedDriver struct {
	*virt.Fake
	mu               sync.Mutex
	gated            bool
	gate             chan struct{}
	started          chan struct{}
	running, busiest int
}

func (d *gatedDriver) PowerOn(ctx context.Context, dom virt.Domain, v []virt.VolumeConnection) error {
	d.mu.Lock()
	gated := d.gated
	if gated {
		d.running++
		d.busiest = max(d.busiest, d.running)
	}
	d.mu.Unlock()
	if gated {
		d.started <- struct{}{}
		<-d.gate
		d.mu.Lock()
		d.running--
		d.mu.Unlock()
	}
	return d.Fake.PowerOn(ctx, dom, v)
}

// A host's nova-compute carries out at most ComputeWorkers casts at once (executor_thread_pool_size); the rest
// wait for a worker and then run, so every reboot still happens.
func TestComputeWorkersBoundAHostsOperations(t *testing.T) {
	const workers, instances = 2, 6
	d := &gatedDriver{Fake: virt.NewFake(), gate: make(chan struct{}), started: make(chan struct{}, instances)}
	f := cloudtest.New(t, cloud.Config{Driver: d, ComputeWorkers: workers})
	topo := cloud.Topology{Hosts: []cloud.Host{{Name: "compute-1"}}}
	for range instances {
		topo.Instances = append(topo.Instances, cloud.Instance{Host: "compute-1"})
	}
	topo = f.Provision(t, topo)
	d.mu.Lock()
	d.gated = true
	d.mu.Unlock()
	c := f.Compute(t, "2.1")
	for _, inst := range topo.Instances {
		if err := servers.Reboot(t.Context(), c, inst.ID, servers.RebootOpts{Type: servers.HardReboot}).ExtractErr(); err != nil {
			t.Fatal(err)
		}
	}
	// Once the workers are all busy, let the power-ons through one by one: each frees a worker for a waiting
	// reboot.
	for range workers {
		<-d.started
	}
	for i := range instances {
		d.gate <- struct{}{}
		if i+workers < instances {
			<-d.started
		}
	}
	f.Settle()
	if d.busiest != workers {
		t.Errorf("%d power-ons at once on one host, want %d (its workers)", d.busiest, workers)
	}
	for _, inst := range topo.Instances {
		if got := f.State(t, inst.ID); got != (cloudtest.ServerState{VM: "active", Task: "", Power: 1}) {
			t.Errorf("%s after its reboot: %+v", inst.ID, got)
		}
	}
}
