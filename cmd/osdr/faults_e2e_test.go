package main

import (
	"strings"
	"testing"
	"time"

	"github.com/osdr/osdr/testenv/cloud"
	"github.com/osdr/osdr/testenv/sim"
)

// recoverUnderFaults are the recovery's flags in these tests: timeouts long enough to ride out the faults'
// retries, short enough that a recovery that cannot converge fails the test instead of hanging it.
var recoverUnderFaults = []string{"recover", "--all", "--reboot-timeout", "1m", "--attach-timeout", "1m", "--guest-timeout", "1m"}

// setFaults switches the sim's fault injection to fc (the empty config: off).
func setFaults(t *testing.T, s *sim.Sim, fc cloud.FaultConfig) {
	t.Helper()
	if err := s.Cloud.SetFaults(fc); err != nil {
		t.Fatal(err)
	}
}

// requestsPerTarget counts, per server or volume id, the API requests osdr sent for operation op that Nova
// or Cinder processed: every one the audit log records except those a fault struck before the service saw
// them. For attach_volume the target is the volume, read from the detail.
func requestsPerTarget(entries []cloud.AuditEntry, op string) map[string]int {
	n := map[string]int{}
	for _, e := range entries {
		if e.Operation != op || strings.HasPrefix(e.Caller, "nova-compute@") || strings.HasPrefix(e.Fault, string(cloud.FaultBefore)) {
			continue
		}
		n[auditTarget(e)]++
	}
	return n
}

// attachesPerVolume counts the attaches nova-compute carried out, per volume.
func attachesPerVolume(entries []cloud.AuditEntry) map[string]int {
	n := map[string]int{}
	for _, e := range entries {
		if strings.HasPrefix(e.Caller, "nova-compute@") && e.Operation == "attach_volume" && e.Error == "" {
			n[auditTarget(e)]++
		}
	}
	return n
}

// auditTarget is the server an entry is about, or for an attach the volume (its detail "volume=ID ...").
func auditTarget(e cloud.AuditEntry) string {
	if e.Operation != "attach_volume" {
		return e.Target
	}
	for _, f := range strings.Fields(e.Detail) {
		if v, ok := strings.CutPrefix(f, "volume="); ok {
			return v
		}
	}
	return e.Target
}

// dataVolumes are the volumes the recovery reattaches: every one but the boot volumes.
func dataVolumes(s *sim.Sim) []string {
	var ids []string
	for _, inst := range s.Topology.Instances {
		for _, v := range inst.Volumes {
			if !v.Boot {
				ids = append(ids, v.ID)
			}
		}
	}
	return ids
}

// expectOneAttachEach checks that each data volume was asked for once and attached once since mark.
func expectOneAttachEach(t *testing.T, s *sim.Sim, mark int) {
	t.Helper()
	entries := s.Cloud.AuditLog()[mark:]
	asked, attached := requestsPerTarget(entries, "attach_volume"), attachesPerVolume(entries)
	for _, v := range dataVolumes(s) {
		if asked[v] != 1 || attached[v] != 1 {
			t.Errorf("volume %s: %d attach request(s) reached Nova, nova-compute attached it %d time(s); want 1 and 1", v, asked[v], attached[v])
		}
	}
}

// verifyGreen runs osdr verify on the newest run, with the faults off: it proves the recovery, not the
// verification's own tolerance of a failing API.
func verifyGreen(t *testing.T, s *sim.Sim) {
	t.Helper()
	setFaults(t, s, cloud.FaultConfig{})
	run := newestRun(t)
	if out, code := osdrProcess(t, "verify", "--manifest", runOf(run).Manifest(), "--run", run, "--deadline", "20s"); code != 0 {
		t.Fatalf("verify after the recovery: exit %d\n%s", code, out)
	}
}

// When Nova carries out a reboot or an attach but the answer is lost (the connection dropped, the request
// held until the client gave up, or a 500 from a proxy after the change), osdr reads the state back, sees its
// request in Nova's instance actions or the volume attached, and does not send it again: one HARD reboot per
// instance, one attach per volume.
func TestALostAnswerToAChangeIsReadBackNotSentAgain(t *testing.T) {
	for _, tc := range []struct {
		name    string
		profile string
		op      string
		kind    cloud.FaultKind
	}{
		{"reboot answer dropped", "2024.1", "reboot", cloud.FaultDrop},
		{"reboot answer timed out", "2024.1", "reboot", cloud.FaultTimeout},
		{"reboot answered 500 after the change", "2024.1", "reboot", cloud.FaultServerError},
		{"attach answer dropped", "2024.1", "attach_volume", cloud.FaultDrop},
		{"attach answer dropped, legacy volume service", "legacy", "attach_volume", cloud.FaultDrop},
		// From 2.101 Nova answers the attach before it reserves the device: the read-back races the conductor.
		{"attach answer dropped, attach answered before the reservation", "2026.1", "attach_volume", cloud.FaultDrop},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := startSim(t, tc.profile, sim.Shape{Hosts: 1, Instances: 2, VolumesPerInstance: 1, Seed: 31})
			powerCut(t, s)
			mark := len(s.Cloud.AuditLog())
			setFaults(t, s, cloud.FaultConfig{Hang: time.Second, Rules: map[string]cloud.FaultRule{
				tc.op: {Rate: 1, Kinds: []cloud.FaultKind{tc.kind}, Phases: []cloud.FaultPhase{cloud.FaultAfter}},
			}})
			out, code := osdrProcess(t, recoverUnderFaults...)
			if code != 0 {
				t.Fatalf("recover: exit %d\n%s", code, out)
			}
			entries := s.Cloud.AuditLog()[mark:]
			struck := 0
			for _, e := range entries {
				if e.Operation == tc.op && e.Fault != "" {
					struck++
				}
			}
			if struck == 0 {
				t.Fatalf("no %s answer was lost: the test proves nothing", tc.op)
			}
			expectOneRebootEach(t, s, mark)
			for id, n := range requestsPerTarget(entries, "reboot") {
				if n != 1 {
					t.Errorf("instance %s: %d reboot requests reached Nova, want 1", id, n)
				}
			}
			expectOneAttachEach(t, s, mark)
			verifyGreen(t, s)
		})
	}
}

// The sim's --faults picture on every call of Nova and Cinder: 20% answered 500 or 503, 5% held until the
// client gives up, 5% dropped, each before or after the service processed it. A recovery under them still
// converges to one HARD reboot per instance and every volume attached: reads are retried, and every change
// whose answer was lost is read back instead of being sent again. A run that ends partial (exit 3) is resumed,
// as the README tells the operator; verify runs with the faults off.
func TestARecoveryUnderAPIFaultsConvergesWithOneRebootPerInstance(t *testing.T) {
	// Eight instances: sixteen changes, of which all escape a 30% fault rate once in 300 runs.
	s := startSim(t, "2024.1", sim.Shape{Hosts: 2, Instances: 8, VolumesPerInstance: 1, Seed: 32})
	powerCut(t, s)
	mark := len(s.Cloud.AuditLog())
	fiveXX, timeout, drop := []cloud.FaultKind{cloud.FaultServerError, cloud.FaultUnavailable}, cloud.FaultTimeout, cloud.FaultDrop
	setFaults(t, s, cloud.FaultConfig{Seed: 32, Hang: 500 * time.Millisecond, Rules: map[string]cloud.FaultRule{
		// Kinds are drawn uniformly: 4 of 6 are a 5xx (20%), 1 a timeout (5%), 1 a drop (5%).
		"*": {Rate: 0.30, Kinds: append(append(fiveXX, fiveXX...), timeout, drop)},
	}})
	start := time.Now()
	out, code := osdrProcess(t, recoverUnderFaults...)
	resumes := 0
	for ; code == exitPartial && resumes < 3; resumes++ {
		t.Logf("recover: exit %d, resuming\n%s", code, out)
		out, code = osdrProcess(t, "recover", "--resume", newestRun(t), "--reboot-timeout", "1m", "--attach-timeout", "1m", "--guest-timeout", "1m")
	}
	if code != 0 {
		t.Fatalf("recover: exit %d after %d resume(s)\n%s", code, resumes, out)
	}
	t.Logf("the recovery converged in %s with %d resume(s)", time.Since(start).Round(100*time.Millisecond), resumes)
	struck := map[string]int{}
	for _, e := range s.Cloud.AuditLog()[mark:] {
		if e.Fault != "" {
			struck[e.Operation+" "+e.Fault]++
		}
	}
	if len(struck) == 0 {
		t.Fatal("no fault struck a reboot or an attach: the test proves nothing")
	}
	t.Logf("faults struck on the changes: %v", struck)
	expectOneRebootEach(t, s, mark)
	expectOneAttachEach(t, s, mark)
	verifyGreen(t, s)
}
