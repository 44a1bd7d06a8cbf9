package cloud_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/gophercloud/gophercloud/v2/openstack/blockstorage/v3/volumes"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/servers"

	"github.com/osdr/osdr/testenv/cloud"
	"github.com/osdr/osdr/testenv/cloud/cloudtest"
)

// Every mutating call is recorded with its caller, operation, target and answer, refusals included, and so is
// what nova-compute did to the guests.
func TestAuditLog(t *testing.T) {
	f := cloudtest.New(t, cloud.Config{})
	topo := f.Provision(t, cloudtest.StandardTopology())
	vm1, vm2 := topo.Instances[0], topo.Instances[1]
	c := f.Compute(t, "2.1")
	start := time.Now().UTC().Add(-time.Second)
	if err := servers.Reboot(t.Context(), c, vm1.ID, servers.RebootOpts{Type: servers.HardReboot}).ExtractErr(); err != nil {
		t.Fatal(err)
	}
	_ = servers.Reboot(t.Context(), c, vm2.ID, servers.RebootOpts{Type: servers.SoftReboot}).ExtractErr()
	cloudtest.Request(t, "POST", f.Cloud.Endpoints().Compute+"/servers/"+vm1.ID+"/action", "{", "X-Auth-Token", f.Token(t))
	if err := volumes.ResetStatus(t.Context(), f.Volume(t, "3.0"), vm1.Volumes[0].ID,
		volumes.ResetStatusOpts{Status: "available", AttachStatus: "detached"}).ExtractErr(); err != nil {
		t.Fatal(err)
	}
	f.Settle()
	var got []string
	for _, e := range f.Cloud.AuditLog() {
		if e.Time.Before(start) || e.Time.After(time.Now().UTC()) {
			t.Errorf("entry at %v", e.Time)
		}
		got = append(got, fmt.Sprintf("%s %s %s %q %s %d %q", e.Caller, e.Service, e.Operation, e.Detail, e.Target, e.Status, e.Error))
	}
	want := []string{
		fmt.Sprintf(`admin compute reboot "type=HARD" %s 202 ""`, vm1.ID),
		fmt.Sprintf(`nova-compute@compute-1 compute reboot "HARD" %s 0 ""`, vm1.ID),
		fmt.Sprintf(`admin compute reboot "type=SOFT" %s 409 ""`, vm2.ID),
		fmt.Sprintf(`admin compute action "" %s 400 ""`, vm1.ID),
		fmt.Sprintf(`admin volume os-reset_status "status=available attach_status=detached" %s 202 ""`, vm1.Volumes[0].ID),
	}
	// The compute side runs concurrently with the later API calls; only its order relative to its own cast is fixed.
	if len(got) != len(want) {
		t.Fatalf("audit log:\n%q\nwant\n%q", got, want)
	}
	for _, w := range want {
		found := false
		for _, g := range got {
			found = found || g == w
		}
		if !found {
			t.Errorf("missing %s in\n%q", w, got)
		}
	}
	if got[0] != want[0] {
		t.Errorf("first entry %s, want the accepted reboot", got[0])
	}
}
