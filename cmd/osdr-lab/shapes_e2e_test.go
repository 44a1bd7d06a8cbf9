package main

import (
	"context"
	"strings"
	"testing"

	"github.com/osdr/osdr/internal/cloud"
	"github.com/osdr/osdr/internal/settings"
	"github.com/osdr/osdr/recover"
	"github.com/osdr/osdr/testenv"
	simcloud "github.com/osdr/osdr/testenv/cloud"
	"github.com/osdr/osdr/testenv/sim"
)

// Every stuck state the sim seeds, on every profile that has it, is one the minimal strategy's preflight
// classifies stuck, naming the volume, while the instances whose records the seeding left whole are
// reboot-only, on a cloud mixing image- and volume-booted instances on the virtio and scsi buses with an
// action history. sim.json lists what was seeded.
func TestSeededStuckStatesAreClassifiedStuck(t *testing.T) {
	all := []simcloud.StuckState{simcloud.StuckAttaching, simcloud.StuckDetaching, simcloud.StuckReserved,
		simcloud.StuckErrorAttaching, simcloud.StuckCinderOnly, simcloud.StuckNovaOnly, simcloud.StuckNoConnectionInfo,
		simcloud.StuckNoTargetIQN}
	for _, profile := range []string{"legacy", "zed", "2024.1", "2026.1"} {
		t.Run(profile, func(t *testing.T) {
			shares := simcloud.StuckShares{}
			instances := 10
			for _, st := range all {
				if profile == "legacy" && (st == simcloud.StuckReserved || st == simcloud.StuckErrorAttaching) {
					continue
				}
				shares[st] = 1 / float64(instances)
			}
			dir := t.TempDir()
			s, err := sim.Start(context.Background(), sim.Options{StateDir: dir, Profile: profile, Server: testenv.SharedServer(t),
				Shape: sim.Shape{Hosts: 2, Instances: instances, VolumesPerInstance: 1, Seed: 5, Boot: sim.BootMixed,
					DiskBus: sim.DiskBusMixed, ActionHistory: true, Stuck: shares}})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close(context.Background()) })
			if len(s.Stuck) != len(shares) {
				t.Fatalf("seeded %+v, want one volume in each of %d states", s.Stuck, len(shares))
			}
			desc, err := sim.ReadDescription(dir)
			if err != nil {
				t.Fatal(err)
			}
			if len(desc.Stuck) != len(s.Stuck) || desc.Stuck[0] != s.Stuck[0] {
				t.Errorf("sim.json lists %+v, want %+v", desc.Stuck, s.Stuck)
			}
			if err := s.PowerCut(context.Background(), nil, false); err != nil {
				t.Fatal(err)
			}
			env, err := s.Env()
			if err != nil {
				t.Fatal(err)
			}
			resolved, err := (&settings.Flags{}).Resolve(func(k string) string { return env[k] })
			if err != nil {
				t.Fatal(err)
			}
			plan, err := recover.New(cloud.Open(resolved, cloud.Options{}), recover.Options{
				Scope: recover.Scope{All: true}, Strategy: recover.StrategyMinimal,
			}).DryRun(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			stuckOn := map[string]simcloud.StuckVolume{}
			for _, v := range s.Stuck {
				stuckOn[v.Instance] = v
			}
			if len(plan.Instances) != instances {
				t.Errorf("the plan has %d instances, want %d", len(plan.Instances), instances)
			}
			for _, in := range plan.Instances {
				v, stuck := stuckOn[in.ID]
				if !stuck {
					if in.Class != recover.ClassRebootOnly {
						t.Errorf("instance %s, left whole: %s (%s), want reboot-only", in.Name, in.Class, in.ClassWhy)
					}
					continue
				}
				t.Run(string(v.State), func(t *testing.T) {
					if in.Class != recover.ClassStuck || !strings.Contains(in.ClassWhy, v.Volume) {
						t.Errorf("volume %s: %s (%s), want stuck naming the volume", v.Volume, in.Class, in.ClassWhy)
					}
				})
			}
		})
	}
}
