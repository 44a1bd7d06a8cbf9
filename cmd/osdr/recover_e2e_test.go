package main

import (
	"database/sql"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/osdr/osdr/recover"
	"github.com/osdr/osdr/testenv/cloud"
	"github.com/osdr/osdr/testenv/sim"
)

// rebootsPerInstance counts the reboots the compute service carried out, per server: the audit entries of
// nova-compute, not the API's 202s (a second request during a reboot is accepted but not carried out twice).
func rebootsPerInstance(entries []cloud.AuditEntry) map[string]int {
	n := map[string]int{}
	for _, e := range entries {
		if strings.HasPrefix(e.Caller, "nova-compute@") && strings.Contains(e.Operation, "reboot") && e.Error == "" {
			n[e.Target]++
		}
	}
	return n
}

func newestRun(t *testing.T) string {
	t.Helper()
	runs, err := os.ReadDir(os.Getenv("OSDR_RUNS_DIR"))
	if err != nil || len(runs) == 0 {
		t.Fatalf("no run directory: %v", err)
	}
	return runs[len(runs)-1].Name()
}

func TestRecoverAfterAPowerCutBringsEveryInstanceBack(t *testing.T) {
	for _, profile := range cloud.ProfileNames() {
		t.Run(profile, func(t *testing.T) {
			s := startSim(t, profile, sim.Shape{Hosts: 2, Instances: 4, VolumesPerInstance: 2, Seed: 21})
			powerCut(t, s, "compute-1", "compute-2")
			out, code := osdrProcess(t, "recover", "--all", "--reboot-timeout", "1m", "--attach-timeout", "1m", "--guest-timeout", "1m")
			if code != 0 {
				t.Fatalf("recover: exit %d\n%s", code, out)
			}
			// The summary's last line is the command that proves the result; it must work as printed.
			prove := regexp.MustCompile(`(?m)^Prove it: osdr (verify --manifest \S+ --run \S+)$`).FindStringSubmatch(out)
			if prove == nil {
				t.Fatalf("the summary does not say how to verify:\n%s", out)
			}
			if out, code := osdrProcess(t, append(strings.Fields(prove[1]), "--deadline", "20s")...); code != 0 {
				t.Fatalf("%s after the recovery: exit %d\n%s", prove[1], code, out)
			}
			for id, n := range rebootsPerInstance(s.Cloud.AuditLog()) {
				if n != 1 {
					t.Errorf("instance %s was rebooted %d times", id, n)
				}
			}
		})
	}
}

func TestOneInstanceAloneIsRecoveredAndTheOthersAreUntouched(t *testing.T) {
	s := startSim(t, "zed", sim.Shape{Hosts: 1, Instances: 3, VolumesPerInstance: 1, Seed: 22})
	powerCut(t, s)
	target := s.Topology.Instances[0]
	volBefore := rowDigests(t, s.CinderDSN, "volumes", "id")
	bdmBefore := rowDigests(t, s.NovaDSN, "block_device_mapping", "id")
	out, code := osdrProcess(t, "recover", "--instance", target.ID, "--reboot-timeout", "1m", "--attach-timeout", "1m", "--guest-timeout", "1m")
	if code != 0 {
		t.Fatalf("recover: exit %d\n%s", code, out)
	}
	run := newestRun(t)
	manifest := filepath.Join(os.Getenv("OSDR_RUNS_DIR"), run, recover.ManifestFile)
	if out, code := osdrProcess(t, "verify", "--manifest", manifest, "--instance", target.ID, "--run", run, "--deadline", "20s"); code != 0 {
		t.Fatalf("verify of the one instance: exit %d\n%s", code, out)
	}
	mine := map[string]bool{}
	for _, v := range target.Volumes {
		mine[v.ID] = true
	}
	for _, id := range changedRows(volBefore, rowDigests(t, s.CinderDSN, "volumes", "id")) {
		if !mine[id] {
			t.Errorf("volume %s of another instance changed", id)
		}
	}
	db, _ := sql.Open("mysql", s.NovaDSN)
	defer db.Close()
	for _, id := range changedRows(bdmBefore, rowDigests(t, s.NovaDSN, "block_device_mapping", "id")) {
		var instance string
		db.QueryRow("SELECT instance_uuid FROM block_device_mapping WHERE id = ?", id).Scan(&instance)
		if instance != target.ID {
			t.Errorf("BDM %s of instance %s changed", id, instance)
		}
	}
	for id := range rebootsPerInstance(s.Cloud.AuditLog()) {
		if id != target.ID {
			t.Errorf("instance %s, out of scope, was rebooted", id)
		}
	}
}

// Killed right after any journal entry and resumed, a recovery converges and never reboots an instance twice.
func TestAKilledRecoveryResumesFromEveryJournalPoint(t *testing.T) {
	shape := sim.Shape{Hosts: 1, Instances: 2, VolumesPerInstance: 1, Seed: 23}
	// A full run tells how many journal points there are.
	s := startSim(t, "2024.1", shape)
	powerCut(t, s)
	if out, code := osdrProcess(t, "recover", "--all", "--reboot-timeout", "1m", "--attach-timeout", "1m", "--guest-timeout", "1m"); code != 0 {
		t.Fatalf("recover: exit %d\n%s", code, out)
	}
	entries, err := recover.ReadJournalEntries(filepath.Join(os.Getenv("OSDR_RUNS_DIR"), newestRun(t)))
	if err != nil {
		t.Fatal(err)
	}
	for point := 1; point < len(entries); point++ {
		t.Run("after entry "+strconv.Itoa(point), func(t *testing.T) {
			s := startSim(t, "2024.1", shape)
			powerCut(t, s)
			t.Setenv(envCrashAfter, strconv.Itoa(point))
			out, code := osdrProcess(t, "recover", "--all", "--reboot-timeout", "1m", "--attach-timeout", "1m", "--guest-timeout", "1m")
			if code != 137 {
				t.Fatalf("the run was not killed at entry %d (exit %d)\n%s", point, code, out)
			}
			os.Unsetenv(envCrashAfter)
			run := newestRun(t)
			if out, code := osdrProcess(t, "recover", "--resume", run); code != 0 {
				t.Fatalf("resume: exit %d\n%s", code, out)
			}
			manifest := filepath.Join(os.Getenv("OSDR_RUNS_DIR"), run, recover.ManifestFile)
			if out, code := osdrProcess(t, "verify", "--manifest", manifest, "--run", run, "--deadline", "20s"); code != 0 {
				t.Fatalf("verify after the resume: exit %d\n%s", code, out)
			}
			for id, n := range rebootsPerInstance(s.Cloud.AuditLog()) {
				if n != 1 {
					t.Errorf("instance %s was rebooted %d times across the kill", id, n)
				}
			}
		})
	}
}
