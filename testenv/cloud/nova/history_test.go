package nova_test

import (
	"slices"
	"testing"

	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/instanceactions"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/servers"

	"github.com/osdr/osdr/testenv/cloud"
	"github.com/osdr/osdr/testenv/cloud/cloudtest"
)

// A cloud provisioned with its action history answers os-instance-actions as one that booted each instance and
// attached its data volumes through the API would: create, then one attach_volume per data volume, each with
// its successful event; a reboot afterwards is one more action, newest first, so reboots are counted from the
// actions named reboot. Without the history an instance has no action at all.
func TestProvisionedActionHistory(t *testing.T) {
	for _, tc := range []struct {
		name    string
		history bool
		volumes []cloud.Volume
		want    []string // newest first, after one HARD reboot
	}{
		{"no history", false, []cloud.Volume{{Name: "data1"}}, []string{"reboot"}},
		{"image-booted with two data volumes", true, []cloud.Volume{{Name: "data1"}, {Name: "data2"}},
			[]string{"reboot", "attach_volume", "attach_volume", "create"}},
		{"volume-booted with one data volume", true, []cloud.Volume{{Name: "root", Boot: true}, {Name: "data1"}},
			[]string{"reboot", "attach_volume", "create"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := cloudtest.New(t, cloud.Config{})
			topo := f.Provision(t, cloud.Topology{
				Hosts:         []cloud.Host{{Name: "compute-1"}},
				Instances:     []cloud.Instance{{Name: "vm1", Host: "compute-1", Volumes: tc.volumes}},
				ActionHistory: tc.history,
			})
			id := topo.Instances[0].ID
			c := f.Compute(t, "2.62") // events show their host from 2.62
			if err := servers.Reboot(t.Context(), c, id, servers.RebootOpts{Type: servers.HardReboot}).ExtractErr(); err != nil {
				t.Fatal(err)
			}
			f.Settle()
			pages, err := instanceactions.List(c, id, nil).AllPages(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			actions, err := instanceactions.ExtractInstanceActions(pages)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, a := range actions {
				got = append(got, a.Action)
				detail, err := instanceactions.Get(t.Context(), c, id, a.RequestID).Extract()
				if err != nil {
					t.Fatal(err)
				}
				if detail.Events == nil || len(*detail.Events) != 1 || (*detail.Events)[0].Result != "Success" ||
					(*detail.Events)[0].Host == nil || *(*detail.Events)[0].Host != "compute-1" {
					t.Errorf("action %s: events %+v, want one successful event on compute-1", a.Action, detail.Events)
				}
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("actions %v, want %v", got, tc.want)
			}
		})
	}
}
