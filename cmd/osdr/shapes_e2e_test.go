package main

import (
	"context"
	"testing"

	"github.com/osdr/osdr/testenv/sim"
)

// Clouds do not all look like the default sim: instances booted from an image or from a volume, disks on
// the virtio bus (vdX) or the SCSI bus (sdX), an action history from before the loss, and both pictures of a
// power loss (domains kept and shut off, or lost). Each recovers with one HARD reboot per instance, with
// either strategy, and verifies green.
func TestRecoveryAndVerifyPassOnEveryCloudShape(t *testing.T) {
	for _, tc := range []struct {
		name, profile, strategy string
		shape                   sim.Shape
		loseDomains             bool
	}{
		{"booted from images", "zed", "guide", sim.Shape{Boot: sim.BootImage}, false},
		{"disks on the SCSI bus", "2024.1", "guide", sim.Shape{DiskBus: sim.DiskBusSCSI}, false},
		{"mixed, with an action history, domains lost", "2026.1", "guide",
			sim.Shape{Boot: sim.BootMixed, DiskBus: sim.DiskBusMixed, ActionHistory: true}, true},
		{"mixed, with an action history, minimal strategy", "zed", "minimal",
			sim.Shape{Boot: sim.BootMixed, DiskBus: sim.DiskBusMixed, ActionHistory: true}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.shape.Hosts, tc.shape.Instances, tc.shape.VolumesPerInstance, tc.shape.Seed = 2, 4, 2, 35
			s := startSim(t, tc.profile, tc.shape)
			if err := s.PowerCut(context.Background(), nil, tc.loseDomains); err != nil {
				t.Fatal(err)
			}
			mark := len(s.Cloud.AuditLog())
			out, code := osdrProcess(t, "recover", "--all", "--strategy", tc.strategy,
				"--reboot-timeout", "1m", "--attach-timeout", "1m", "--guest-timeout", "1m")
			if code != 0 {
				t.Fatalf("recover: exit %d\n%s", code, out)
			}
			run := newestRun(t)
			if out, code := osdrProcess(t, "verify", "--manifest", runOf(run).Manifest(), "--run", run, "--deadline", "30s"); code != 0 {
				t.Fatalf("verify: exit %d\n%s", code, out)
			}
			expectOneRebootEach(t, s, mark)
		})
	}
}
