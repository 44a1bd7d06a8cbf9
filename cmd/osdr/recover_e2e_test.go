package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/osdr/osdr/recover"
	"github.com/osdr/osdr/testenv/cloud"
	"github.com/osdr/osdr/testenv/sim"
	"github.com/osdr/osdr/testenv/virt"
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
	manifest := runOf(run).Manifest()
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

// Killed right after any journal entry and resumed, a recovery converges and HARD-reboots every instance
// exactly once, on every release the simulation plays: the legacy volume service has other journal steps than
// the attachments API, and 2026.1 reserves the device after answering the attach.
func TestAKilledRecoveryResumesFromEveryJournalPoint(t *testing.T) {
	shape := sim.Shape{Hosts: 1, Instances: 2, VolumesPerInstance: 1, Seed: 23}
	recoverAll := []string{"recover", "--all", "--reboot-timeout", "1m", "--attach-timeout", "1m", "--guest-timeout", "1m"}
	for _, profile := range cloud.ProfileNames() {
		t.Run(profile, func(t *testing.T) {
			// A full run tells how many journal points there are.
			s := startSim(t, profile, shape)
			powerCut(t, s)
			if out, code := osdrProcess(t, recoverAll...); code != 0 {
				t.Fatalf("recover: exit %d\n%s", code, out)
			}
			entries, err := recover.ReadJournal(runOf(newestRun(t)))
			if err != nil {
				t.Fatal(err)
			}
			for point := 1; point < len(entries); point++ {
				t.Run("after entry "+strconv.Itoa(point), func(t *testing.T) {
					s := startSim(t, profile, shape)
					powerCut(t, s)
					t.Setenv(envCrashAfter, strconv.Itoa(point))
					out, code := osdrProcess(t, recoverAll...)
					if code != 137 {
						t.Fatalf("the run was not killed at entry %d (exit %d)\n%s", point, code, out)
					}
					os.Unsetenv(envCrashAfter)
					run := newestRun(t)
					if m, err := runOf(run).ReadMeta(); err != nil || m.Status != "running" {
						t.Errorf("the killed run is recorded as %+v (%v), want running: it is unfinished", m, err)
					}
					// Every other point resumes "latest": the newest unfinished recovery of this cloud.
					resume := run
					if point%2 == 0 {
						resume = latest
					}
					if out, code := osdrProcess(t, "recover", "--resume", resume, "--reboot-timeout", "1m", "--attach-timeout", "1m", "--guest-timeout", "1m"); code != 0 {
						t.Fatalf("resume %s: exit %d\n%s", resume, code, out)
					}
					if m, err := runOf(run).ReadMeta(); err != nil || m.Status != "succeeded" {
						t.Errorf("the resumed run is recorded as %+v (%v), want succeeded", m, err)
					}
					manifest := runOf(run).Manifest()
					if out, code := osdrProcess(t, "verify", "--manifest", manifest, "--run", run, "--deadline", "20s"); code != 0 {
						t.Fatalf("verify after the resume: exit %d\n%s", code, out)
					}
					expectOneRebootEach(t, s, 0)
				})
			}
		})
	}
}

// A running instance proves nothing by running: when nova-compute abandons the HARD reboot (here someone
// cleared the task state while the compute service was away), the engine reads Nova's instance action,
// fails the instance and does not go on to reattach volumes to a guest that never rebooted.
func TestAnAbandonedRebootFailsTheInstanceInsteadOfCountingAsDone(t *testing.T) {
	s := startSim(t, "2024.1", sim.Shape{Hosts: 1, Instances: 2, VolumesPerInstance: 1, Seed: 23})
	target := s.Topology.Instances[0]
	s.Cloud.StopCompute(target.Host)

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, osdrBinary, "recover", "--instance", target.ID, "--reboot-timeout", "30s",
		"--attach-timeout", "30s", "--guest-timeout", "30s")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	nova, err := sql.Open("mysql", s.NovaDSN)
	if err != nil {
		t.Fatal(err)
	}
	defer nova.Close()
	// Nova accepted the reboot (the task state is set before the 202); the cast waits for nova-compute.
	for {
		var task sql.NullString
		if err := nova.QueryRowContext(ctx, "SELECT task_state FROM instances WHERE uuid = ?", target.ID).Scan(&task); err != nil {
			t.Fatal(err)
		}
		if task.String == "rebooting_hard" {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("the reboot never reached Nova:\n%s", out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	if _, err := nova.ExecContext(ctx, "UPDATE instances SET task_state = NULL WHERE uuid = ?", target.ID); err != nil {
		t.Fatal(err)
	}
	if err := s.Cloud.ComputeRestarted(ctx, target.Host, false); err != nil {
		t.Fatal(err)
	}
	err = cmd.Wait()
	var exitErr *exec.ExitError
	if !errors.As(err, &exitErr) || exitErr.ExitCode() != exitPartial {
		t.Fatalf("recover: %v, want exit %d\n%s", err, exitPartial, out.String())
	}
	if !strings.Contains(out.String(), "nova-compute did not carry out the reboot") ||
		!strings.Contains(out.String(), "Unexpected task state") {
		t.Errorf("the failure does not say nova-compute abandoned the reboot:\n%s", out.String())
	}
	for _, e := range s.Cloud.AuditLog() {
		if e.Target == target.ID && e.Caller == "nova-compute@"+target.Host && e.Operation == "reboot" {
			t.Errorf("nova-compute rebooted the instance after all: %+v", e)
		}
	}
	journal, err := os.ReadFile(runOf(newestRun(t)).Journal())
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(journal), `"step":"reattach"`) {
		t.Errorf("volumes were reattached to an instance whose reboot failed:\n%s", journal)
	}
}

// When nova-compute cannot attach a volume (here the hypervisor already holds it at the device, as a host
// that kept a disk through the outage would), the volume never comes back; the engine reads compute's failed
// event and says why at once instead of waiting out the timeout.
func TestAFailedAttachIsReportedWithItsCauseBeforeTheTimeout(t *testing.T) {
	s := startSim(t, "2024.1", sim.Shape{Hosts: 1, Instances: 1, VolumesPerInstance: 1, Seed: 24})
	powerCut(t, s)
	target := s.Topology.Instances[0]
	if out, code := osdrProcess(t, "recover", "--instance", target.ID, "--until", "reboot", "--reboot-timeout", "1m"); code != 0 {
		t.Fatalf("recover --until reboot: exit %d\n%s", code, out)
	}
	run := newestRun(t)

	nova, err := sql.Open("mysql", s.NovaDSN)
	if err != nil {
		t.Fatal(err)
	}
	defer nova.Close()
	var data cloud.Volume
	for _, v := range target.Volumes {
		if !v.Boot {
			data = v
		}
	}
	var instanceID int64
	var connInfo string
	if err := nova.QueryRow("SELECT id FROM instances WHERE uuid = ?", target.ID).Scan(&instanceID); err != nil {
		t.Fatal(err)
	}
	if err := nova.QueryRow("SELECT connection_info FROM block_device_mapping WHERE volume_id = ? ORDER BY id DESC LIMIT 1",
		data.ID).Scan(&connInfo); err != nil {
		t.Fatal(err)
	}
	var ci struct {
		Data struct {
			IQN    string `json:"target_iqn"`
			Portal string `json:"target_portal"`
			LUN    int    `json:"target_lun"`
		} `json:"data"`
	}
	if err := json.Unmarshal([]byte(connInfo), &ci); err != nil {
		t.Fatal(err)
	}
	domain := virt.Domain{Host: target.Host, Name: fmt.Sprintf("instance-%08x", instanceID), InstanceUUID: target.ID}
	if err := s.Driver.AttachVolume(context.Background(), domain, virt.VolumeConnection{
		VolumeID: data.ID, Device: data.Device, IQN: ci.Data.IQN, Portal: ci.Data.Portal, LUN: ci.Data.LUN,
	}); err != nil {
		t.Fatal(err)
	}

	start := time.Now()
	out, code := osdrProcess(t, "recover", "--resume", run, "--attach-timeout", "2m", "--guest-timeout", "1m")
	if code != exitPartial {
		t.Fatalf("recover --resume: exit %d, want %d\n%s", code, exitPartial, out)
	}
	if took := time.Since(start); took > time.Minute {
		t.Errorf("the failed attach was reported after %s: the engine waited for the timeout", took.Round(time.Second))
	}
	if !strings.Contains(out, "nova-compute failed to attach the volume") || !strings.Contains(out, "already has volume "+data.ID) {
		t.Errorf("the failure does not give compute's reason:\n%s", out)
	}
}

// A run of one cloud resumed with the settings of another, whose instances have the same ids, must not touch
// the second cloud: it is refused before any call, naming both clouds, and nothing is done.
func TestResumingARunOfAnotherCloudIsRefusedBeforeAnyCall(t *testing.T) {
	shape := sim.Shape{Hosts: 1, Instances: 2, VolumesPerInstance: 1, Seed: 25}
	first := startSim(t, "zed", shape)
	powerCut(t, first)
	if out, errOut, code := osdr(t, "recover", "--all", "--until", "db"); code != 0 {
		t.Fatalf("recover --until db: exit %d\n%s%s", code, out, errOut)
	}
	runsDir, runID := os.Getenv("OSDR_RUNS_DIR"), newestRun(t)

	second := startSim(t, "zed", shape) // the same seed: the same instance and volume ids
	powerCut(t, second)
	auditBefore := len(second.Cloud.AuditLog())
	out, errOut, code := osdr(t, "recover", "--resume", runID, "--runs-dir", runsDir)
	if code != exitFailure {
		t.Fatalf("resume on another cloud: exit %d, want %d\n%s%s", code, exitFailure, out, errOut)
	}
	for _, want := range []string{"taken on another cloud", "nothing was done", first.Cloud.Endpoints().Identity, second.Cloud.Endpoints().Identity} {
		if !strings.Contains(errOut, want) {
			t.Errorf("the refusal does not say %q:\n%s", want, errOut)
		}
	}
	if after := second.Cloud.AuditLog(); len(after) != auditBefore {
		t.Errorf("the second cloud saw %d mutating call(s): %+v", len(after)-auditBefore, after[auditBefore:])
	}
}

// A follow-up run names the earlier osdr run that brought an instance back, instead of blaming
// resume_guests_state_on_host_boot for osdr's own work.
func TestAFollowUpRunCreditsTheEarlierRecovery(t *testing.T) {
	s := startSim(t, "zed", sim.Shape{Hosts: 1, Instances: 2, VolumesPerInstance: 1, Seed: 26})
	powerCut(t, s)
	if out, errOut, code := osdr(t, "recover", "--all", "--guest-reboot", "none"); code != 0 {
		t.Fatalf("recover: exit %d\n%s%s", code, out, errOut)
	}
	first := newestRun(t)
	out, errOut, code := osdr(t, "recover", "--all", "--dry-run")
	if code != 0 {
		t.Fatalf("dry run after the recovery: exit %d\n%s%s", code, out, errOut)
	}
	if n := strings.Count(out, "already running again: recovered by osdr run "+first); n != len(s.Topology.Instances) {
		t.Errorf("%d instance(s) credited to run %s, want %d:\n%s", n, first, len(s.Topology.Instances), out)
	}
	if strings.Contains(out, "resume_guests_state_on_host_boot") {
		t.Errorf("the plan blames resume_guests_state_on_host_boot for osdr's own reboots:\n%s", out)
	}
}
