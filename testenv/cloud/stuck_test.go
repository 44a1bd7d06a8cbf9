package cloud_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/osdr/osdr/testenv/cloud"
	"github.com/osdr/osdr/testenv/cloud/cloudtest"
)

// stuckRows is what a stuck state leaves of one volume's records.
type stuckRows struct {
	status, attachStatus string   // Cinder's volumes row
	attachments          []string // attach_status of Cinder's live attachments (modern schema)
	bdm                  bool     // Nova has a live mapping
	conn                 string   // the mapping's connection_info: "iqn" (target_iqn), "lists" (target_iqns only), "" (none)
}

// Each stuck state is left in the rows as the services leave it on every profile; the nova-volume era
// (legacy) has no reserved or error_attaching and refuses them before changing anything.
func TestSeedStuckLeavesTheRowsTheServicesLeave(t *testing.T) {
	modern := map[cloud.StuckState]stuckRows{
		cloud.StuckAttaching:        {"attaching", "attaching", []string{"attaching"}, true, ""},
		cloud.StuckDetaching:        {"detaching", "attached", []string{"attached"}, true, "iqn"},
		cloud.StuckReserved:         {"reserved", "detached", []string{"reserved"}, true, ""},
		cloud.StuckErrorAttaching:   {"error_attaching", "attaching", []string{"error_attaching"}, true, ""},
		cloud.StuckCinderOnly:       {"in-use", "attached", []string{"attached"}, false, ""},
		cloud.StuckNovaOnly:         {"available", "detached", nil, true, "iqn"},
		cloud.StuckNoConnectionInfo: {"in-use", "attached", []string{"attached"}, true, ""},
		cloud.StuckNoTargetIQN:      {"in-use", "attached", []string{"attached"}, true, "lists"},
	}
	legacy := map[cloud.StuckState]stuckRows{
		cloud.StuckAttaching:        {"attaching", "detached", nil, true, ""},
		cloud.StuckDetaching:        {"detaching", "attached", nil, true, "iqn"},
		cloud.StuckCinderOnly:       {"in-use", "attached", nil, false, ""},
		cloud.StuckNovaOnly:         {"available", "detached", nil, true, "iqn"},
		cloud.StuckNoConnectionInfo: {"in-use", "attached", nil, true, ""},
		cloud.StuckNoTargetIQN:      {"in-use", "attached", nil, true, "lists"},
	}
	for _, tc := range []struct {
		profile string
		want    map[cloud.StuckState]stuckRows
	}{{"legacy", legacy}, {"zed", modern}, {"2024.1", modern}, {"2026.1", modern}} {
		t.Run(tc.profile, func(t *testing.T) {
			f := cloudtest.New(t, cloud.Config{Profile: tc.profile, Seed: 7})
			topo := cloud.Topology{Hosts: []cloud.Host{{Name: "compute-1"}}}
			shares := cloud.StuckShares{}
			for st := range tc.want {
				shares[st] = 1 / float64(len(tc.want)+1) // one volume each, one left whole
			}
			for i := range len(tc.want) + 1 {
				topo.Instances = append(topo.Instances, cloud.Instance{Name: fmt.Sprint("vm", i), Host: "compute-1",
					Volumes: []cloud.Volume{{Name: fmt.Sprint("root", i), Boot: true}, {Name: fmt.Sprint("data", i)}}})
			}
			topo = f.Provision(t, topo)
			if tc.profile == "legacy" {
				if _, err := f.Cloud.SeedStuck(t.Context(), topo, cloud.StuckShares{cloud.StuckReserved: 0.1}); !errors.Is(err, cloud.ErrNoSuchState) {
					t.Errorf("reserved on the legacy profile: %v, want ErrNoSuchState", err)
				}
			}
			seeded, err := f.Cloud.SeedStuck(t.Context(), topo, shares)
			if err != nil {
				t.Fatal(err)
			}
			var states []cloud.StuckState
			for _, s := range seeded {
				states = append(states, s.State)
				if got := readStuckRows(t, f, s.Instance, s.Volume, tc.profile == "legacy"); !equalRows(got, tc.want[s.State]) {
					t.Errorf("%s: rows %+v, want %+v", s.State, got, tc.want[s.State])
				}
			}
			if len(seeded) != len(tc.want) || len(slices.Compact(slices.Clone(states))) != len(tc.want) {
				t.Errorf("seeded %v, want one volume in each of %d states", states, len(tc.want))
			}
			for _, inst := range topo.Instances {
				for _, v := range inst.Volumes {
					if v.Boot || slices.ContainsFunc(seeded, func(s cloud.StuckVolume) bool { return s.Volume == v.ID }) {
						continue
					}
					whole := stuckRows{"in-use", "attached", []string{"attached"}, true, "iqn"}
					if tc.profile == "legacy" {
						whole.attachments = nil
					}
					if got := readStuckRows(t, f, inst.ID, v.ID, tc.profile == "legacy"); !equalRows(got, whole) {
						t.Errorf("volume left whole: rows %+v", got)
					}
				}
			}
		})
	}
}

func equalRows(a, b stuckRows) bool {
	return a.status == b.status && a.attachStatus == b.attachStatus && slices.Equal(a.attachments, b.attachments) &&
		a.bdm == b.bdm && a.conn == b.conn
}

func readStuckRows(t *testing.T, f *cloudtest.Fixture, instance, volume string, legacy bool) stuckRows {
	t.Helper()
	var r stuckRows
	r.status, r.attachStatus = f.VolumeRow(t, volume)
	if !legacy {
		for _, a := range f.CinderAttachments(t, volume) {
			if !a.Deleted {
				r.attachments = append(r.attachments, a.Status)
			}
		}
	}
	live := cloudtest.Live(f.Mappings(t, instance, volume))
	if len(live) > 1 {
		t.Fatalf("volume %s: %d live mappings", volume, len(live))
	}
	if len(live) == 1 {
		r.bdm = true
		if live[0].HasConn {
			var ci struct {
				Data map[string]any `json:"data"`
			}
			if err := json.Unmarshal([]byte(live[0].ConnectionInfo), &ci); err != nil {
				t.Fatal(err)
			}
			switch {
			case ci.Data["target_iqn"] != nil:
				r.conn = "iqn"
			case ci.Data["target_iqns"] != nil:
				r.conn = "lists"
			}
		}
	}
	return r
}
