package nova_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/instanceactions"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/servers"

	"github.com/osdr/osdr/testenv/cloud"
	"github.com/osdr/osdr/testenv/cloud/cloudtest"
	"github.com/osdr/osdr/testenv/virt"
)

// gatedDriver is a virt.Fake whose PowerOn, once armed, reports each call and waits for the test to release
// it; it also remembers how many power-ons ran at once per domain.
type gatedDriver struct {
	*virt.Fake
	entered chan virt.Domain
	release chan struct{}

	mu        sync.Mutex
	armed     bool
	active    map[string]int
	maxActive int
}

func newGatedDriver() *gatedDriver {
	return &gatedDriver{Fake: virt.NewFake(), entered: make(chan virt.Domain), release: make(chan struct{}),
		active: map[string]int{}}
}

func (d *gatedDriver) arm() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.armed = true
}

func (d *gatedDriver) PowerOn(ctx context.Context, dom virt.Domain, volumes []virt.VolumeConnection) error {
	d.mu.Lock()
	armed := d.armed
	d.active[dom.Name]++
	d.maxActive = max(d.maxActive, d.active[dom.Name])
	d.mu.Unlock()
	defer func() {
		d.mu.Lock()
		d.active[dom.Name]--
		d.mu.Unlock()
	}()
	if armed {
		select {
		case d.entered <- dom:
		case <-ctx.Done():
			return ctx.Err()
		}
		select {
		case <-d.release:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return d.Fake.PowerOn(ctx, dom, volumes)
}

// logTaskStates records every change of an instance's states with a trigger, so a test sees transitions too
// short-lived to catch through the API.
func logTaskStates(t *testing.T, f *cloudtest.Fixture) func(uuid string) []cloudtest.ServerState {
	cloudtest.ExecSQL(t, f.Nova, `CREATE TABLE state_log (id INT AUTO_INCREMENT PRIMARY KEY, uuid VARCHAR(36),
		vm_state VARCHAR(255), task_state VARCHAR(255), power_state INT)`)
	cloudtest.ExecSQL(t, f.Nova, `CREATE TRIGGER log_states AFTER UPDATE ON instances FOR EACH ROW
		IF NOT (NEW.vm_state <=> OLD.vm_state AND NEW.task_state <=> OLD.task_state AND NEW.power_state <=> OLD.power_state)
		THEN INSERT INTO state_log (uuid, vm_state, task_state, power_state)
			VALUES (NEW.uuid, NEW.vm_state, NEW.task_state, NEW.power_state);
		END IF`)
	return func(uuid string) []cloudtest.ServerState {
		rows, err := f.Nova.QueryContext(t.Context(), "SELECT vm_state, COALESCE(task_state, ''), power_state "+
			"FROM state_log WHERE uuid = ? ORDER BY id", uuid)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var out []cloudtest.ServerState
		for rows.Next() {
			var s cloudtest.ServerState
			if err := rows.Scan(&s.VM, &s.Task, &s.Power); err != nil {
				t.Fatal(err)
			}
			out = append(out, s)
		}
		return out
	}
}

// A HARD reboot passes through Nova's task states in order, carried out asynchronously: a client sees
// HARD_REBOOT (or SHUTOFF for a stopped server) while it runs, and ACTIVE with power state 1 after.
func TestHardRebootStateSequence(t *testing.T) {
	for _, tc := range []struct {
		name        string
		instance    int
		duringState string
		from        cloudtest.ServerState
	}{
		{"active", 0, "HARD_REBOOT", cloudtest.ServerState{VM: "active", Task: "", Power: 1}},
		{"stopped", 1, "SHUTOFF", cloudtest.ServerState{VM: "stopped", Task: "", Power: 4}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			driver := newGatedDriver()
			f := cloudtest.New(t, cloud.Config{Driver: driver})
			topo := f.Provision(t, cloudtest.StandardTopology())
			log := logTaskStates(t, f)
			inst := topo.Instances[tc.instance]
			driver.arm()
			if err := servers.Reboot(t.Context(), f.Compute(t, "2.1"), inst.ID,
				servers.RebootOpts{Type: servers.HardReboot}).ExtractErr(); err != nil {
				t.Fatal(err)
			}
			dom := <-driver.entered
			if dom.Host != inst.Host || dom.InstanceUUID != inst.ID {
				t.Errorf("powered on %+v, want %s on %s", dom, inst.ID, inst.Host)
			}
			during := f.ServerJSON(t, inst.ID, "2.1")
			if during["status"] != tc.duringState || during["OS-EXT-STS:task_state"] != "reboot_started_hard" {
				t.Errorf("during the reboot: status %v task %v, want %s reboot_started_hard",
					during["status"], during["OS-EXT-STS:task_state"], tc.duringState)
			}
			close(driver.release)
			f.Settle()
			after := f.ServerJSON(t, inst.ID, "2.1")
			if after["status"] != "ACTIVE" || after["OS-EXT-STS:power_state"] != float64(1) || after["OS-EXT-STS:task_state"] != nil {
				t.Errorf("after: status %v power %v task %v", after["status"], after["OS-EXT-STS:power_state"], after["OS-EXT-STS:task_state"])
			}
			from := tc.from
			want := []cloudtest.ServerState{
				{VM: from.VM, Task: "rebooting_hard", Power: from.Power},
				{VM: from.VM, Task: "reboot_pending_hard", Power: from.Power},
				{VM: from.VM, Task: "reboot_started_hard", Power: from.Power},
				{VM: "active", Task: "", Power: 1},
			}
			if got := log(inst.ID); fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("state sequence %v, want %v", got, want)
			}
			if disks := driver.Disks(dom); len(disks) != len(inst.Volumes) {
				t.Errorf("reconnected %v, want the instance's %d volumes", disks, len(inst.Volumes))
			}
		})
	}
}

// Every action Nova refuses is refused with its status and exact body, and leaves the instance as it was.
func TestServerActionRefusals(t *testing.T) {
	f := cloudtest.New(t, cloud.Config{})
	topo := f.Provision(t, cloudtest.StandardTopology())
	c := f.Compute(t, "2.1")
	active, stopped := topo.Instances[0].ID, topo.Instances[1].ID
	reboot := func(kind servers.RebootMethod) func(string) error {
		return func(id string) error {
			return servers.Reboot(t.Context(), c, id, servers.RebootOpts{Type: kind}).ExtractErr()
		}
	}
	start := func(id string) error { return servers.Start(t.Context(), c, id).ExtractErr() }
	stop := func(id string) error { return servers.Stop(t.Context(), c, id).ExtractErr() }
	conflictBody := func(msg string) string {
		return fmt.Sprintf(`{"conflictingRequest": {"code": 409, "message": %q}}`, msg)
	}
	for _, tc := range []struct {
		name   string
		id     string
		setSQL string // applied to the instance, then undone
		call   func(string) error
		status int
		body   string
	}{
		{"soft reboot of a stopped server", stopped, "", reboot(servers.SoftReboot), 409,
			conflictBody("Cannot 'reboot' instance " + stopped + " while it is in vm_state stopped")},
		{"soft reboot over a hard one", active, "task_state = 'rebooting_hard'", reboot(servers.SoftReboot), 409,
			conflictBody("Cannot 'reboot' instance " + active + " while it is in task_state rebooting_hard")},
		{"hard reboot once the compute host started one", active, "task_state = 'reboot_started_hard'",
			reboot(servers.HardReboot), 409,
			conflictBody("Cannot 'reboot' instance " + active + " while it is in task_state reboot_started_hard")},
		{"hard reboot while stopping", active, "task_state = 'powering-off'", reboot(servers.HardReboot), 409,
			conflictBody("Cannot 'reboot' instance " + active + " while it is in task_state powering-off")},
		{"hard reboot of a building server", active, "vm_state = 'building'", reboot(servers.HardReboot), 409,
			conflictBody("Cannot 'reboot' instance " + active + " while it is in vm_state building")},
		{"hard reboot of a shelved server", active, "vm_state = 'shelved_offloaded'", reboot(servers.HardReboot), 409,
			conflictBody("Cannot 'reboot' instance " + active + " while it is in vm_state shelved_offloaded")},
		{"hard reboot of a server never launched", active, "launched_at = NULL", reboot(servers.HardReboot), 409,
			conflictBody("Cannot 'reboot' instance " + active + " while it is in launched_at None")},
		{"start of an active server", active, "", start, 409,
			conflictBody("Cannot 'start' instance " + active + " while it is in vm_state active")},
		{"start while starting", stopped, "task_state = 'powering-on'", start, 409,
			conflictBody("Cannot 'start' instance " + stopped + " while it is in task_state powering-on")},
		{"stop of a stopped server", stopped, "", stop, 409,
			conflictBody("Cannot 'stop' instance " + stopped + " while it is in vm_state stopped")},
		{"stop of a server not on a host", active, "host = NULL", stop, 409,
			conflictBody("Instance " + active + " is not ready")},
		{"reboot of a deleted server", active, "deleted = id", reboot(servers.HardReboot), 404,
			`{"itemNotFound": {"code": 404, "message": "Instance ` + active + ` could not be found."}}`},
		{"stop of an unknown server", "8e4d4b39-4dd0-4b5f-9c3e-6c7a1f1b8c00", "", stop, 404,
			`{"itemNotFound": {"code": 404, "message": "Instance 8e4d4b39-4dd0-4b5f-9c3e-6c7a1f1b8c00 could not be found."}}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.setSQL != "" {
				var saved struct {
					vm, host string
				}
				if err := f.Nova.QueryRowContext(t.Context(), "SELECT vm_state, host FROM instances WHERE uuid = ?",
					tc.id).Scan(&saved.vm, &saved.host); err != nil {
					t.Fatal(err)
				}
				cloudtest.ExecSQL(t, f.Nova, "UPDATE instances SET "+tc.setSQL+" WHERE uuid = ?", tc.id)
				defer cloudtest.ExecSQL(t, f.Nova, `UPDATE instances SET vm_state = ?, host = ?, task_state = NULL,
					launched_at = UTC_TIMESTAMP(), deleted = 0 WHERE uuid = ?`, saved.vm, saved.host, tc.id)
			}
			var before cloudtest.ServerState
			if tc.status == 409 {
				before = f.State(t, tc.id)
			}
			cloudtest.WantAPIError(t, tc.call(tc.id), tc.status, tc.body)
			f.Settle()
			if tc.status == 409 && f.State(t, tc.id) != before {
				t.Errorf("a refused action changed the instance: %+v, was %+v", f.State(t, tc.id), before)
			}
		})
	}
}

// Bodies Nova cannot take are refused the way its action dispatch and schema validation refuse them.
func TestServerActionBadBodies(t *testing.T) {
	f := cloudtest.New(t, cloud.Config{})
	topo := f.Provision(t, cloudtest.StandardTopology())
	url := f.Cloud.Endpoints().Compute + "/servers/" + topo.Instances[0].ID + "/action"
	token := f.Token(t)
	bad := func(msg string) string { return fmt.Sprintf(`{"badRequest": {"code": 400, "message": %q}}`, msg) }
	for _, tc := range []struct {
		name, body string
		status     int
		want       string
	}{
		{"not JSON", `{"reboot":`, 400, bad("Malformed request body")},
		{"no action", `{}`, 400, bad("Malformed request body")},
		{"two actions", `{"os-start": null, "os-stop": null}`, 400, bad("Malformed request body")},
		{"a list of one", `["reboot"]`, 404, `{"itemNotFound": {"code": 404, "message": "The resource could not be found."}}`},
		{"unknown action", `{"os-fly": null}`, 400, bad("There is no such action: os-fly")},
		{"unknown reboot type", `{"reboot": {"type": "WARM"}}`, 400,
			bad("Invalid input for field/attribute type. Value: WARM. 'WARM' is not one of ['HARD', 'Hard', 'hard', 'SOFT', 'Soft', 'soft']")},
		{"reboot type not a string", `{"reboot": {"type": 1}}`, 400,
			bad("Invalid input for field/attribute type. Value: 1. 1 is not of type 'string'")},
		{"reboot without a type", `{"reboot": {}}`, 400,
			bad("Invalid input for field/attribute reboot. Value: {}. 'type' is a required property")},
		{"reboot with more", `{"reboot": {"type": "HARD", "force": true}}`, 400,
			bad("Invalid input for field/attribute reboot. Value: {'type': 'HARD', 'force': True}. Additional properties are not allowed ('force' was unexpected)")},
		{"reboot not an object", `{"reboot": "HARD"}`, 400,
			bad("Invalid input for field/attribute reboot. Value: HARD. 'HARD' is not of type 'object'")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cloudtest.WantBody(t, cloudtest.Request(t, "POST", url, tc.body, "X-Auth-Token", token), tc.status, tc.want)
		})
	}
	if got := f.State(t, topo.Instances[0].ID); got != (cloudtest.ServerState{VM: "active", Task: "", Power: 1}) {
		t.Errorf("refused bodies changed the instance: %+v", got)
	}
}

// What a real Zed (Nova 26) cloud did once its hypervisor had lost the domains: the servers stay ACTIVE with power
// state 0; os-start is refused, os-stop is reverted, a SOFT reboot ends in ERROR, and a HARD reboot brings the server
// ACTIVE with power state 1, from NOSTATE and from ERROR alike, its volumes reconnected from the stored connection info
// and nothing else changed.
func TestRebootAfterTheHypervisorLostItsDomains(t *testing.T) {
	fake := virt.NewFake()
	f := cloudtest.New(t, cloud.Config{Driver: fake, Profile: "zed"})
	topo := f.Provision(t, cloudtest.StandardTopology())
	c := f.Compute(t, "2.1")
	fake.SetHostDown("compute-1", true)
	fake.SetHostDown("compute-1", false)
	if err := f.Cloud.SyncPowerStates(t.Context(), "compute-1"); err != nil {
		t.Fatal(err)
	}
	vm1 := topo.Instances[0]
	if got := f.State(t, vm1.ID); got != (cloudtest.ServerState{VM: "active", Task: "", Power: 0}) {
		t.Fatalf("after the sync: %+v, want active/None/0", got)
	}
	cloudtest.WantAPIError(t, servers.Start(t.Context(), c, vm1.ID).ExtractErr(), 409,
		`{"conflictingRequest": {"code": 409, "message": "Cannot 'start' instance `+vm1.ID+` while it is in vm_state active"}}`)

	if err := servers.Stop(t.Context(), c, vm1.ID).ExtractErr(); err != nil {
		t.Fatal(err)
	}
	f.Settle()
	if got := f.State(t, vm1.ID); got != (cloudtest.ServerState{VM: "active", Task: "", Power: 0}) {
		t.Errorf("after os-stop: %+v, want it reverted to active/None/0", got)
	}

	if err := servers.Reboot(t.Context(), c, vm1.ID, servers.RebootOpts{Type: servers.SoftReboot}).ExtractErr(); err != nil {
		t.Fatal(err)
	}
	f.Settle()
	if got := f.State(t, vm1.ID); got != (cloudtest.ServerState{VM: "error", Task: "", Power: 0}) {
		t.Errorf("after a SOFT reboot: %+v, want error/None/0", got)
	}
	shown := f.ServerJSON(t, vm1.ID, "2.1")
	fault, _ := shown["fault"].(map[string]any)
	if shown["status"] != "ERROR" || fault["code"] != float64(500) || !strings.Contains(fmt.Sprint(fault["message"]), "could not be found") {
		t.Errorf("an ERROR server shows status %v fault %v", shown["status"], shown["fault"])
	}

	for _, id := range []string{vm1.ID, topo.Instances[1].ID} {
		if err := servers.Reboot(t.Context(), c, id, servers.RebootOpts{Type: servers.HardReboot}).ExtractErr(); err != nil {
			t.Fatal(err)
		}
	}
	f.Settle()
	for _, inst := range topo.Instances[:2] {
		if got := f.State(t, inst.ID); got != (cloudtest.ServerState{VM: "active", Task: "", Power: 1}) {
			t.Errorf("%s after a HARD reboot: %+v, want active/None/1", inst.Name, got)
		}
		shown := f.ServerJSON(t, inst.ID, "2.1")
		if _, hasFault := shown["fault"]; hasFault {
			t.Errorf("%s: an ACTIVE server shows a fault", inst.Name)
		}
		disks := fake.Disks(virt.Domain{Host: inst.Host, Name: shown["OS-EXT-SRV-ATTR:instance_name"].(string)})
		for _, v := range inst.Volumes {
			d, ok := disks[v.ID]
			if !ok || d.Device != v.Device {
				t.Errorf("%s: volume %s reconnected as %+v", inst.Name, v.Name, d)
			}
			if v.Backend == cloud.BackendISCSI && (d.IQN != "iqn.2010-10.org.openstack:volume-"+v.ID || d.Portal != "127.0.0.1:3260" || d.LUN != 1) {
				t.Errorf("%s: iSCSI volume %s reconnected to %+v", inst.Name, v.Name, d)
			}
		}
	}
	var live int
	if err := f.Cinder.QueryRowContext(t.Context(), "SELECT COUNT(*) FROM volume_attachment WHERE deleted = 0 "+
		"AND attach_status = 'attached'").Scan(&live); err != nil {
		t.Fatal(err)
	}
	if live != 4 {
		t.Errorf("%d attached Cinder attachments, want the 4 provisioned ones unchanged", live)
	}
}

// A stopped server starts and an active one stops through the compute host.
func TestStartAndStop(t *testing.T) {
	fake := virt.NewFake()
	f := cloudtest.New(t, cloud.Config{Driver: fake})
	topo := f.Provision(t, cloudtest.StandardTopology())
	c := f.Compute(t, "2.1")
	vm1, vm2 := topo.Instances[0].ID, topo.Instances[1].ID
	if err := servers.Stop(t.Context(), c, vm1).ExtractErr(); err != nil {
		t.Fatal(err)
	}
	if err := servers.Start(t.Context(), c, vm2).ExtractErr(); err != nil {
		t.Fatal(err)
	}
	f.Settle()
	for id, want := range map[string]cloudtest.ServerState{vm1: {VM: "stopped", Task: "", Power: 4}, vm2: {VM: "active", Task: "", Power: 1}} {
		if got := f.State(t, id); got != want {
			t.Errorf("%s: %+v, want %+v", id, got, want)
		}
	}
	if got := f.ServerJSON(t, vm1, "2.1")["status"]; got != "SHUTOFF" {
		t.Errorf("stopped server status %v", got)
	}
}

// Nova accepts a second HARD reboot while the first is still rebooting_hard. When both casts reach the compute
// host together (here: queued while nova-compute was down), they serialize on the instance and the second
// finds the task state moved on, so the guest is rebooted once, and never by two power-ons at once.
func TestQueuedRebootsRebootOnce(t *testing.T) {
	driver := newGatedDriver()
	f := cloudtest.New(t, cloud.Config{Driver: driver})
	topo := f.Provision(t, cloudtest.StandardTopology())
	c := f.Compute(t, "2.1")
	id := topo.Instances[0].ID
	f.Cloud.StopCompute("compute-1")
	for range 2 {
		if err := servers.Reboot(t.Context(), c, id, servers.RebootOpts{Type: servers.HardReboot}).ExtractErr(); err != nil {
			t.Fatal(err)
		}
	}
	driver.arm()
	// The power-state sync at service start waits for the instance's lock, so the restart runs beside the loop
	// that lets the power-ons go.
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := f.Cloud.ComputeRestarted(t.Context(), "compute-1", false); err != nil {
			t.Error(err)
		}
		f.Settle()
	}()
	for settled := false; !settled; {
		select {
		case <-driver.entered:
			driver.release <- struct{}{}
		case <-done:
			settled = true
		}
	}
	if driver.maxActive > 1 {
		t.Errorf("%d power-ons of one guest ran at once", driver.maxActive)
	}
	var api, guest int
	for _, e := range f.Cloud.AuditLog() {
		switch {
		case e.Target != id || e.Operation != "reboot":
		case e.Caller == "admin" && e.Status == http.StatusAccepted:
			api++
		case e.Caller == "nova-compute@compute-1" && e.Error == "":
			guest++
		}
	}
	if api != 2 || guest != 1 {
		t.Errorf("%d accepted reboots rebooted the guest %d times, want 2 and 1", api, guest)
	}
	if got := f.State(t, id); got != (cloudtest.ServerState{VM: "active", Task: "", Power: 1}) {
		t.Errorf("after the reboots: %+v", got)
	}

	// Each accepted reboot is an action; the one compute abandoned (its task state was gone) reports Error,
	// which is how a client tells a reboot carried out from one merely accepted.
	pages, err := instanceactions.List(c, id, nil).AllPages(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	actions, err := instanceactions.ExtractInstanceActions(pages)
	if err != nil {
		t.Fatal(err)
	}
	results := map[string]string{}
	for _, a := range actions {
		if a.Action != "reboot" {
			t.Errorf("action %s, want only reboots", a.Action)
			continue
		}
		detail, err := instanceactions.Get(t.Context(), c, id, a.RequestID).Extract()
		if err != nil {
			t.Fatal(err)
		}
		if detail.Events == nil || len(*detail.Events) != 1 || (*detail.Events)[0].Event != "compute_reboot_instance" ||
			(*detail.Events)[0].FinishTime.IsZero() {
			t.Errorf("action %s: events %+v, want one finished compute_reboot_instance", a.RequestID, detail.Events)
			continue
		}
		results[(*detail.Events)[0].Result] = detail.Message
	}
	if len(actions) != 2 || results["Success"] != "" || results["Error"] != "Error" {
		t.Errorf("%d reboot actions with results and messages %v, want one Success and one Error (message Error)", len(actions), results)
	}
	if _, err := instanceactions.Get(t.Context(), c, id, "req-00000000-0000-0000-0000-000000000000").Extract(); !gophercloud.ResponseCodeIs(err, http.StatusNotFound) {
		t.Errorf("an unknown request id: %v, want 404", err)
	}
}

// A client that hangs up while nova-api handles its reboot (here: killed while the action row is written)
// does not stop nova-api halfway: the task state, the action and the cast happen together, and nova-compute
// reboots the guest. Half of it would leave the server in HARD_REBOOT for good, with an action no compute
// host ever reports on.
func TestARebootWhoseClientHangsUpIsCarriedOutWhole(t *testing.T) {
	f := cloudtest.New(t, cloud.Config{})
	topo := f.Provision(t, cloudtest.StandardTopology())
	id := topo.Instances[0].ID
	cloudtest.ExecSQL(t, f.Nova, `CREATE TRIGGER slow_actions BEFORE INSERT ON instance_actions FOR EACH ROW DO SLEEP(1)`)
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	if err := servers.Reboot(ctx, f.Compute(t, "2.1"), id, servers.RebootOpts{Type: servers.HardReboot}).ExtractErr(); err == nil {
		t.Fatal("the reboot was answered before the client hung up: the test proves nothing")
	}
	cloudtest.ExecSQL(t, f.Nova, `DROP TRIGGER slow_actions`)
	deadline := time.Now().Add(10 * time.Second)
	for f.State(t, id) != (cloudtest.ServerState{VM: "active", Task: "", Power: 1}) {
		if time.Now().After(deadline) {
			t.Fatalf("the server stays %+v after its client hung up", f.State(t, id))
		}
		time.Sleep(50 * time.Millisecond)
	}
	rebooted := 0
	for _, e := range f.Cloud.AuditLog() {
		if e.Target == id && e.Operation == "reboot" && e.Caller == "nova-compute@"+topo.Instances[0].Host && e.Error == "" {
			rebooted++
		}
	}
	if rebooted != 1 {
		t.Errorf("nova-compute rebooted the guest %d times, want 1", rebooted)
	}
}
