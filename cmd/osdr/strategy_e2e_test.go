package main

import (
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/osdr/osdr/drills"
	"github.com/osdr/osdr/testenv/cloud"
	"github.com/osdr/osdr/testenv/sim"
)

// After a power cut that left every record whole, --strategy minimal brings every instance back with one
// HARD reboot and a proof each, and changes no database row.
func TestTheMinimalStrategyRebootsProvesAndChangesNoRow(t *testing.T) {
	for _, profile := range cloud.ProfileNames() {
		t.Run(profile, func(t *testing.T) {
			s := startSim(t, profile, sim.Shape{Hosts: 2, Instances: 4, VolumesPerInstance: 2, Seed: 31})
			powerCut(t, s, "compute-1", "compute-2")
			volumes := rowDigests(t, s.CinderDSN, "volumes", "id")
			bdms := rowDigests(t, s.NovaDSN, "block_device_mapping", "id")

			plan, code := osdrProcess(t, "recover", "--all", "--strategy", "minimal", "--dry-run")
			if code != 0 {
				t.Fatalf("dry-run: exit %d\n%s", code, plan)
			}
			if !strings.Contains(plan, "strategy minimal: 4 reboot-only, 0 stuck") || strings.Count(plan, "iscsiadm -m session -P 3") != 4 {
				t.Errorf("the plan does not show 4 reboot-only instances, each with its proof:\n%s", plan)
			}

			out, code := osdrProcess(t, "recover", "--all", "--strategy", "minimal", "--reboot-timeout", "1m", "--attach-timeout", "1m", "--guest-timeout", "1m")
			if code != 0 {
				t.Fatalf("recover: exit %d\n%s", code, out)
			}
			if !regexp.MustCompile(`Strategy minimal: 4 HARD reboot\(s\), 0 guest reboot\(s\), 0 database row\(s\) changed`).MatchString(out) {
				t.Errorf("the summary does not say what the run cost:\n%s", out)
			}
			if changed := changedRows(volumes, rowDigests(t, s.CinderDSN, "volumes", "id")); len(changed) > 0 {
				t.Errorf("Cinder volume rows changed: %v", changed)
			}
			if changed := changedRows(bdms, rowDigests(t, s.NovaDSN, "block_device_mapping", "id")); len(changed) > 0 {
				t.Errorf("Nova BDM rows changed: %v", changed)
			}
			run := newestRun(t)
			if out, code := osdrProcess(t, "verify", "--manifest", runOf(run).Manifest(), "--run", run, "--deadline", "20s"); code != 0 {
				t.Fatalf("verify after the minimal recovery: exit %d\n%s", code, out)
			}
			reboots := rebootsPerInstance(s.Cloud.AuditLog())
			for _, in := range s.Topology.Instances {
				if reboots[in.ID] != 1 {
					t.Errorf("instance %s was rebooted %d times, want once", in.ID, reboots[in.ID])
				}
			}
		})
	}
}

// On a cloud whose HARD reboot does not connect the volumes again (Nova as the guide knew it), the proof of
// every reboot-only instance fails and each falls back to the guide's steps for its volumes: the DB clean,
// the reattach and the guest reboot, without a second HARD reboot.
func TestAFailedProofFallsBackToTheGuidesStepsWithoutASecondReboot(t *testing.T) {
	s := startSimWith(t, sim.Options{Profile: "2024.1", NoReconnectOnReboot: true,
		Shape: sim.Shape{Hosts: 1, Instances: 3, VolumesPerInstance: 2, Seed: 33}})
	powerCut(t, s)
	stdout, stderr, code := runSplit(t, osdrBinary, "recover", "--all", "--strategy", "minimal", "-o", "json",
		"--reboot-timeout", "1m", "--attach-timeout", "1m", "--guest-timeout", "1m")
	if code != 0 {
		t.Fatalf("recover: exit %d\n%s", code, stderr)
	}
	_, result := jsonLines(t, []string{"recover"}, stdout)
	for _, in := range result.Instances {
		if in.Class != "reboot-only" || in.FellBack == "" || in.Outcome != "recovered" {
			t.Errorf("instance %s: class %q, fell back %q, %s", in.Name, in.Class, in.FellBack, in.Outcome)
		}
	}
	if result.Cost == nil || result.Cost.DBRowsChanged == 0 || result.Cost.HardReboots != 3 {
		t.Errorf("the fallback's cost: %+v", result.Cost)
	}
	run := newestRun(t)
	if out, code := osdrProcess(t, "verify", "--manifest", runOf(run).Manifest(), "--run", run, "--deadline", "20s"); code != 0 {
		t.Fatalf("verify after the fallback: exit %d\n%s", code, out)
	}
	expectOneRebootEach(t, s, 0)
}

// Volumes a power loss left stuck make their instances stuck: those get the guide's steps for their own
// volumes, the others one reboot and a proof, and every instance is rebooted once. The listings hold two
// items a page, as a cloud past osapi_max_limit (1000) pages them: a proof looks at volumes no listing of
// changes shows, so it needs the first listing whole.
func TestStuckInstancesGetTheGuidesStepsAndTheRestOnlyAReboot(t *testing.T) {
	shares, err := cloud.ParseStuckShares("detaching=0.1,nova-only=0.1")
	if err != nil {
		t.Fatal(err)
	}
	s := startSimWith(t, sim.Options{Profile: "zed", Shape: sim.Shape{Hosts: 2, Instances: 6, VolumesPerInstance: 2, Seed: 34, Stuck: shares}, MaxLimit: 2})
	powerCut(t, s)
	stuck := map[string]bool{}
	for _, v := range s.Stuck {
		stuck[v.Instance] = true
	}
	if len(stuck) == 0 {
		t.Fatal("the sim left no volume stuck")
	}
	stdout, stderr, code := runSplit(t, osdrBinary, "recover", "--all", "--strategy", "minimal", "-o", "json",
		"--reboot-timeout", "1m", "--attach-timeout", "1m", "--guest-timeout", "1m")
	if code != 0 {
		t.Fatalf("recover: exit %d\n%s", code, stderr)
	}
	_, result := jsonLines(t, []string{"recover"}, stdout)
	for _, in := range result.Instances {
		want := "reboot-only"
		if stuck[in.ID] {
			want = "stuck"
		}
		if in.Class != want || in.Outcome != "recovered" {
			t.Errorf("instance %s: %s, %s; want %s, recovered", in.Name, in.Class, in.Outcome, want)
		}
	}
	run := newestRun(t)
	if out, code := osdrProcess(t, "verify", "--manifest", runOf(run).Manifest(), "--run", run, "--deadline", "20s"); code != 0 {
		t.Fatalf("verify: exit %d\n%s", code, out)
	}
	expectOneRebootEach(t, s, 0)
}

// A drill with two strategies breaks the targets twice the same way, recovers them once with each, verifies
// both, and sets them side by side: the minimal strategy changes no row and sends fewer requests.
func TestADrillSetsBothStrategiesSideBySide(t *testing.T) {
	s := startSim(t, "zed", sim.Shape{Hosts: 1, Instances: 3, VolumesPerInstance: 2, Seed: 32})
	drill := writeDrill(t, s, func(d *drills.Drill) { d.Recovery.Strategies = []string{"guide", "minimal"} })
	out, code := osdrProcess(t, "drill", "run", drill)
	if code != 0 {
		t.Fatalf("drill run: exit %d\n%s", code, out)
	}
	run := newestRun(t)
	r := readReport(t, run)
	if r.Outcome != drills.OutcomePassed || len(r.Strategies) != 2 {
		t.Fatalf("report: %s with %d strategies\n%s", r.Outcome, len(r.Strategies), out)
	}
	guide, minimal := r.Strategies[0], r.Strategies[1]
	for _, st := range r.Strategies {
		if st.Outcome != drills.OutcomePassed || len(st.ChecksFailed) > 0 || st.ChecksPassed == 0 || st.Cost.HardReboots != 3 {
			t.Errorf("strategy %s: %+v", st.Strategy, st)
		}
	}
	if guide.Strategy != "guide" || guide.Cost.DBRowsChanged == 0 {
		t.Errorf("the guide's round changed no row: %+v", guide)
	}
	if minimal.Strategy != "minimal" || minimal.Cost.DBRowsChanged != 0 || minimal.Classes["reboot-only"] != 3 {
		t.Errorf("the minimal round: %+v", minimal)
	}
	if minimal.Cost.APIRequests.Total() >= guide.Cost.APIRequests.Total() {
		t.Errorf("the minimal round sent %d requests, the guide's %d", minimal.Cost.APIRequests.Total(), guide.Cost.APIRequests.Total())
	}
	// The same checks pass after both, except that each guest the guide rebooted from inside has a check of
	// its own (a new boot id): a reboot-only instance boots with its volumes and needs none.
	if guide.ChecksPassed-guide.Cost.GuestReboots != minimal.ChecksPassed-minimal.Cost.GuestReboots {
		t.Errorf("the verifications differ: %d checks passed after the guide (%d guest reboots), %d after minimal (%d)",
			guide.ChecksPassed, guide.Cost.GuestReboots, minimal.ChecksPassed, minimal.Cost.GuestReboots)
	}
	for _, strategy := range []string{"guide", "minimal"} {
		round, err := runOf(run).Round(strategy)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(round.Journal()); err != nil {
			t.Errorf("round %s has no journal of its own: %v", strategy, err)
		}
	}
	for id, n := range rebootsPerInstance(s.Cloud.AuditLog()) {
		if n != 2 {
			t.Errorf("instance %s was rebooted %d times in two rounds, want once per round", id, n)
		}
	}
	html, err := os.ReadFile(runOf(run).ReportHTML())
	if err != nil || !strings.Contains(string(html), `id="strategies"`) {
		t.Errorf("the HTML report has no strategies table (%v)", err)
	}
}
