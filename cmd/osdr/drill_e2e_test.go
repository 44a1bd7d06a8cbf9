package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/osdr/osdr/drills"
	"github.com/osdr/osdr/testenv/sim"
)

// writeDrill writes a drill for the simulated cloud; edit changes it before it is written.
func writeDrill(t *testing.T, s *sim.Sim, edit func(*drills.Drill)) string {
	t.Helper()
	d := drills.Drill{
		APIVersion: drills.APIVersion, Kind: "Drill", Name: "e2e",
		Guards:       drills.Guards{Staging: true, AllowedEndpoints: []string{s.Cloud.Endpoints().Identity}, MaxHosts: 1, MaxInstances: 10, MaxVolumes: 20},
		Targets:      drills.Targets{Hosts: []string{"compute-1"}},
		Faults:       []drills.FaultSpec{{Kind: "iscsi-session"}},
		Recovery:     drills.Recovery{Timeout: drills.Duration{Duration: 60e9}},
		Verification: drills.Verification{Deadline: drills.Duration{Duration: 20e9}},
	}
	if edit != nil {
		edit(&d)
	}
	raw, err := json.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "drill.yaml")
	if err := os.WriteFile(path, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func readReport(t *testing.T, run string) drills.Report {
	t.Helper()
	raw, err := os.ReadFile(runOf(run).ReportJSON())
	if err != nil {
		t.Fatal(err)
	}
	var r drills.Report
	if err := json.Unmarshal(raw, &r); err != nil {
		t.Fatal(err)
	}
	return r
}

func TestADrillBreaksRecoversVerifiesAndReports(t *testing.T) {
	s := startSim(t, "", sim.Shape{Hosts: 2, Instances: 4, VolumesPerInstance: 1, Seed: 31})
	out, code := osdrProcess(t, "drill", "run", writeDrill(t, s, nil))
	if code != 0 {
		t.Fatalf("drill: exit %d\n%s", code, out)
	}
	run := newestRun(t)
	rn := runOf(run)
	for _, f := range []string{rn.ReportJSON(), rn.ReportJUnit(), rn.ReportHTML(), rn.ReportMetrics()} {
		if _, err := os.Stat(f); err != nil {
			t.Errorf("no %s: %v", f, err)
		}
	}
	r := readReport(t, run)
	if r.Outcome != drills.OutcomePassed || len(r.Instances) != 2 || r.RecoverySeconds <= 0 {
		t.Errorf("report: outcome %s, %d instances, recovery %.1fs", r.Outcome, len(r.Instances), r.RecoverySeconds)
	}
	for _, in := range r.Instances {
		if in.FinalState != "ACTIVE" {
			t.Errorf("instance %s ended %q, want ACTIVE (the sim's guests were running)", in.ID, in.FinalState)
		}
		names := map[string]bool{}
		for _, sp := range in.Timeline {
			names[sp.Name] = true
		}
		for _, want := range []string{"fault", "db-clean", "reboot", "reattach", "verified"} {
			if !names[want] {
				t.Errorf("instance %s's timeline lacks %s: %+v", in.ID, want, in.Timeline)
			}
		}
	}
}

func TestGuardsRefuseBeforeAnyFault(t *testing.T) {
	s := startSim(t, "", sim.Shape{Hosts: 2, Instances: 4, VolumesPerInstance: 1, Seed: 32})
	for _, tc := range []struct {
		name string
		edit func(*drills.Drill)
		want string
	}{
		{"endpoint not allowed", func(d *drills.Drill) {
			d.Guards.AllowedEndpoints = []string{"https://keystone.prod.example.net:5000/v3"}
		}, "not in guards.allowedEndpoints"},
		{"not marked staging", func(d *drills.Drill) { d.Guards.Staging = false }, "guards.staging: must be true"},
		{"blast radius", func(d *drills.Drill) { d.Guards.MaxInstances = 1 }, "2 instances > maxInstances 1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			audit := len(s.Cloud.AuditLog())
			out, code := osdrProcess(t, "drill", "run", writeDrill(t, s, tc.edit))
			if code == 0 || !strings.Contains(out, tc.want) {
				t.Fatalf("exit %d, want a refusal mentioning %q:\n%s", code, tc.want, out)
			}
			if got := s.Cloud.AuditLog()[audit:]; len(got) != 0 {
				t.Errorf("the refused drill changed the cloud: %+v", got)
			}
		})
	}
}

func TestAFailedPreflightAbortsWithNothingInjected(t *testing.T) {
	s := startSim(t, "", sim.Shape{Hosts: 2, Instances: 4, VolumesPerInstance: 1, Seed: 33})
	powerCut(t, s, "compute-1") // the steady state does not hold
	audit := len(s.Cloud.AuditLog())
	out, code := osdrProcess(t, "drill", "run", writeDrill(t, s, nil))
	if code == 0 {
		t.Fatalf("the drill ran on a broken cloud:\n%s", out)
	}
	r := readReport(t, newestRun(t))
	if r.Outcome != drills.OutcomeAborted {
		t.Errorf("outcome %s, want aborted", r.Outcome)
	}
	if _, err := os.Stat(runOf(newestRun(t)).Faults()); err == nil {
		t.Errorf("a fault record exists: something was injected")
	}
	if got := s.Cloud.AuditLog()[audit:]; len(got) != 0 {
		t.Errorf("the aborted drill changed the cloud: %+v", got)
	}
}

func TestAKilledDrillIsRestoredAndReportedByTheNextRun(t *testing.T) {
	s := startSim(t, "", sim.Shape{Hosts: 2, Instances: 4, VolumesPerInstance: 1, Seed: 34})
	drill := writeDrill(t, s, nil)
	t.Setenv(envCrashAfter, "3") // killed in the middle of the recovery, after the DB clean
	out, code := osdrProcess(t, "drill", "run", drill)
	if code != 137 {
		t.Fatalf("the drill was not killed (exit %d)\n%s", code, out)
	}
	killed := newestRun(t)
	os.Unsetenv(envCrashAfter)
	out, code = osdrProcess(t, "drill", "run", drill)
	if code != 0 {
		t.Fatalf("the next drill: exit %d\n%s", code, out)
	}
	r := readReport(t, killed)
	if r.Outcome != drills.OutcomeInterrupted || !strings.Contains(strings.Join(r.Notes, " "), "restored") {
		t.Errorf("report of the killed run: %s %v", r.Outcome, r.Notes)
	}
	if next := readReport(t, newestRun(t)); next.Outcome != drills.OutcomePassed {
		t.Errorf("the next run: %s", next.Outcome)
	}
}
