package main

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/osdr/osdr/internal/run"
	"github.com/osdr/osdr/testenv"
	"github.com/osdr/osdr/testenv/sim"
)

// osdrBinary is the CLI built once for the tests that need separate processes: Ginkgo runs one suite per
// process, so every `osdr verify` of a test is a child process, as it is in a drill. It is built with the
// crash points (envCrashAfter), which the operator's build leaves out.
var osdrBinary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "osdr-bin-")
	if err != nil {
		panic(err)
	}
	osdrBinary = filepath.Join(dir, "osdr")
	if out, err := exec.Command("go", "build", "-tags", "osdr_crashpoints", "-o", osdrBinary, ".").CombinedOutput(); err != nil {
		os.RemoveAll(dir)
		panic("build osdr: " + err.Error() + "\n" + string(out))
	}
	code := testenv.Main(m)
	os.RemoveAll(dir)
	os.Exit(code)
}

// osdrProcess runs the built CLI with the test's environment.
func osdrProcess(t *testing.T, args ...string) (string, int) {
	t.Helper()
	return osdrProcessWithin(t, 2*time.Minute, args...)
}

// osdrProcessWithin runs the built CLI, failing the test when it takes longer than limit.
func osdrProcessWithin(t *testing.T, limit time.Duration, args ...string) (string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	cmd := exec.CommandContext(ctx, osdrBinary, args...)
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("osdr %v did not finish in time:\n%s", args, out)
	}
	var exitErr *exec.ExitError
	switch {
	case err == nil:
		return string(out), 0
	case errors.As(err, &exitErr):
		return string(out), exitErr.ExitCode()
	}
	t.Fatalf("run osdr %v: %v", args, err)
	return "", 0
}

// runOf is a run of the test's runs directory, by id.
func runOf(id string) run.Run {
	return run.Run{ID: id, Dir: filepath.Join(os.Getenv("OSDR_RUNS_DIR"), id)}
}

// latestManifest is the manifest of the newest run.
func latestManifest(t *testing.T) string {
	t.Helper()
	runs, err := os.ReadDir(os.Getenv("OSDR_RUNS_DIR"))
	if err != nil || len(runs) == 0 {
		t.Fatalf("no run directory: %v", err)
	}
	return runOf(runs[len(runs)-1].Name()).Manifest()
}

// startSim starts a simulated cloud and points the settings contract at it through its osdr.env, as an
// operator would with `set -a; . osdr.env`.
func startSim(t *testing.T, profile string, shape sim.Shape) *sim.Sim {
	t.Helper()
	return startSimWith(t, sim.Options{Profile: profile, Shape: shape})
}

// startSimWith starts a simulated cloud of opts (its state directory, database server and log are the
// test's) and points the settings contract at it.
func startSimWith(t *testing.T, opts sim.Options) *sim.Sim {
	t.Helper()
	dir := t.TempDir()
	opts.StateDir, opts.Server, opts.Logf = dir, testenv.SharedServer(t), t.Logf
	s, err := sim.Start(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close(context.Background()) })
	out, err := exec.Command("bash", "-c", "set -a; . "+filepath.Join(dir, sim.FileEnv)+"; env -0").Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, kv := range strings.Split(string(out), "\x00") {
		if k, v, ok := strings.Cut(kv, "="); ok && (strings.HasPrefix(k, "OS_") || strings.HasPrefix(k, "OSDR_")) {
			t.Setenv(k, v)
		}
	}
	return s
}

// osdr runs the CLI in-process.
func osdr(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := newRootCommand()
	var out, errOut bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	cmd.SetArgs(args)
	err := cmd.ExecuteContext(context.Background())
	if err != nil {
		errOut.WriteString("osdr: " + err.Error() + "\n")
		return out.String(), errOut.String(), exitCode(err)
	}
	return out.String(), errOut.String(), 0
}

// powerCut is the seed's power loss on the simulated hosts: sessions gone, domains shut off, nova-compute
// restarted and its power-state sync run.
func powerCut(t *testing.T, s *sim.Sim, hosts ...string) {
	t.Helper()
	if err := s.PowerCut(context.Background(), hosts, false); err != nil {
		t.Fatal(err)
	}
}

// checksums returns a digest of every row of the tables, so two calls differ exactly when a row changed.
func checksums(t *testing.T, dsn string, tables ...string) map[string]string {
	t.Helper()
	db, err := sql.Open("mysql", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	out := map[string]string{}
	for _, table := range tables {
		var name string
		var sum sql.NullInt64
		if err := db.QueryRow("CHECKSUM TABLE `"+table+"` EXTENDED").Scan(&name, &sum); err != nil {
			t.Fatal(err)
		}
		if !sum.Valid {
			t.Fatalf("CHECKSUM TABLE %s: no checksum", name)
		}
		out[table] = strconv.FormatInt(sum.Int64, 10)
	}
	return out
}

var cinderTables = []string{"volumes", "volume_attachment", "volume_admin_metadata", "workers"}

func TestDryRunPrintsThePlanAndChangesNothing(t *testing.T) {
	s := startSim(t, "zed", sim.Shape{Hosts: 2, Instances: 3, VolumesPerInstance: 2, Seed: 3})
	powerCut(t, s, "compute-1", "compute-2")
	cinderBefore := checksums(t, s.CinderDSN, cinderTables...)
	novaBefore := checksums(t, s.NovaDSN, "instances", "block_device_mapping")
	auditBefore := len(s.Cloud.AuditLog())

	out, errOut, code := osdr(t, "recover", "--all", "--dry-run", "--guest-reboot", "none")
	if code != 0 {
		t.Fatalf("exit %d\n%s%s", code, out, errOut)
	}
	inst := s.Topology.Instances[0]
	for _, want := range []string{
		"Cinder schema: modern",
		"UPDATE `volume_attachment` SET attach_status='detached'",
		"'" + inst.Volumes[1].ID + "'",
		"UPDATE `block_device_mapping` SET deleted=id",
		`POST /servers/` + inst.ID + `/action {"reboot": {"type": "HARD"}}`,
		`"volumeId": "` + inst.Volumes[1].ID + `", "device": "/dev/vdb"`,
		"boot volume of " + inst.ID,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("plan lacks %q:\n%s", want, out)
		}
	}
	if got := checksums(t, s.CinderDSN, cinderTables...); !mapsEqual(got, cinderBefore) {
		t.Errorf("Cinder changed by a dry run: %v -> %v", cinderBefore, got)
	}
	if got := checksums(t, s.NovaDSN, "instances", "block_device_mapping"); !mapsEqual(got, novaBefore) {
		t.Errorf("Nova changed by a dry run: %v -> %v", novaBefore, got)
	}
	for _, e := range s.Cloud.AuditLog()[auditBefore:] {
		t.Errorf("a dry run made a mutating call: %+v", e)
	}
	if _, err := os.Stat(os.Getenv("OSDR_RUNS_DIR")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a dry run created the runs directory")
	}
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	keys := make([]string, 0, len(a))
	for k := range a {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if a[k] != b[k] {
			return false
		}
	}
	return true
}

// rowDigests returns one digest per row, keyed by the row's primary key, so a test can tell exactly which
// rows changed.
func rowDigests(t testing.TB, dsn, table, key string) map[string]string {
	t.Helper()
	db, err := sql.Open("mysql", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query(`SELECT column_name FROM information_schema.columns WHERE table_schema = DATABASE() AND table_name = ? ORDER BY ordinal_position`, table)
	if err != nil {
		t.Fatal(err)
	}
	var cols []string
	for rows.Next() {
		var c string
		rows.Scan(&c)
		cols = append(cols, "COALESCE(`"+c+"`, '\\N')")
	}
	rows.Close()
	q := "SELECT `" + key + "`, MD5(CONCAT_WS('|', " + strings.Join(cols, ", ") + ")) FROM `" + table + "`"
	rows, err = db.Query(q)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var k, d string
		if err := rows.Scan(&k, &d); err != nil {
			t.Fatal(err)
		}
		out[k] = d
	}
	return out
}

// changedRows lists the keys whose digest differs between two snapshots.
func changedRows(before, after map[string]string) []string {
	var changed []string
	for k, d := range before {
		if after[k] != d {
			changed = append(changed, k)
		}
	}
	for k := range after {
		if _, ok := before[k]; !ok {
			changed = append(changed, k)
		}
	}
	sort.Strings(changed)
	return changed
}

func TestUntilDBCleansOnlyTheInstanceAndUndoPutsEveryByteBack(t *testing.T) {
	for _, profile := range []string{"zed", "2024.1"} {
		t.Run(profile, func(t *testing.T) {
			s := startSim(t, profile, sim.Shape{Hosts: 2, Instances: 3, VolumesPerInstance: 2, Seed: 5})
			powerCut(t, s, "compute-1", "compute-2")
			target := s.Topology.Instances[1]
			volBefore := rowDigests(t, s.CinderDSN, "volumes", "id")
			attBefore := rowDigests(t, s.CinderDSN, "volume_attachment", "id")
			bdmBefore := rowDigests(t, s.NovaDSN, "block_device_mapping", "id")

			out, errOut, code := osdr(t, "recover", "--instance", target.ID, "--until", "db", "--guest-reboot", "none")
			if code != 0 {
				t.Fatalf("exit %d\n%s%s", code, out, errOut)
			}
			var dataVolumes []string
			for _, v := range target.Volumes {
				if !v.Boot {
					dataVolumes = append(dataVolumes, v.ID)
				}
			}
			sort.Strings(dataVolumes)
			if got := changedRows(volBefore, rowDigests(t, s.CinderDSN, "volumes", "id")); strings.Join(got, ",") != strings.Join(dataVolumes, ",") {
				t.Errorf("volumes rows changed: %v, want exactly the instance's data volumes %v", got, dataVolumes)
			}
			if got := changedRows(attBefore, rowDigests(t, s.CinderDSN, "volume_attachment", "id")); len(got) != len(dataVolumes) {
				t.Errorf("%d attachment rows changed, want %d", len(got), len(dataVolumes))
			}
			if got := changedRows(bdmBefore, rowDigests(t, s.NovaDSN, "block_device_mapping", "id")); len(got) != len(dataVolumes) {
				t.Errorf("%d BDM rows changed, want %d", len(got), len(dataVolumes))
			}
			db, _ := sql.Open("mysql", s.CinderDSN)
			defer db.Close()
			for _, id := range dataVolumes {
				var status, attach string
				db.QueryRow("SELECT status, attach_status FROM volumes WHERE id = ?", id).Scan(&status, &attach)
				if status != "available" || attach != "detached" {
					t.Errorf("volume %s is %s/%s after step 2", id, status, attach)
				}
			}

			runs, _ := os.ReadDir(os.Getenv("OSDR_RUNS_DIR"))
			if len(runs) != 1 {
				t.Fatalf("%d run directories", len(runs))
			}
			runID := runs[0].Name()
			rn := runOf(runID)
			for _, f := range []string{rn.Manifest(), rn.Backup(), rn.Journal(), rn.Plan()} {
				if _, err := os.Stat(f); err != nil {
					t.Errorf("run directory lacks %s", f)
				}
			}
			if out, errOut, code := osdr(t, "recover", "undo-db", runID); code != 0 {
				t.Fatalf("undo-db: exit %d\n%s%s", code, out, errOut)
			}
			if got := changedRows(volBefore, rowDigests(t, s.CinderDSN, "volumes", "id")); len(got) != 0 {
				t.Errorf("volumes differ after undo-db: %v", got)
			}
			if got := changedRows(attBefore, rowDigests(t, s.CinderDSN, "volume_attachment", "id")); len(got) != 0 {
				t.Errorf("attachments differ after undo-db: %v", got)
			}
			if got := changedRows(bdmBefore, rowDigests(t, s.NovaDSN, "block_device_mapping", "id")); len(got) != 0 {
				t.Errorf("BDMs differ after undo-db: %v", got)
			}
		})
	}
}

func TestVerifyPassesOnAHealthyCloudAndEveryFamilyFailsAfterAPowerCut(t *testing.T) {
	s := startSim(t, "", sim.Shape{Hosts: 2, Instances: 3, VolumesPerInstance: 1, Seed: 11})
	if out, code := osdrProcess(t, "snapshot", "--all", "--stamp"); code != 0 {
		t.Fatalf("snapshot: exit %d\n%s", code, out)
	}
	manifest := latestManifest(t)
	if out, code := osdrProcess(t, "verify", "--manifest", manifest, "--deadline", "5s"); code != 0 {
		t.Fatalf("verify on the healthy cloud: exit %d\n%s", code, out)
	}
	powerCut(t, s, "compute-1")
	victim := s.Topology.Instances[0] // on compute-1, with an fstab volume
	data := victim.Volumes[1]
	for _, family := range []string{"attachments", "states", "reachability", "integrity"} {
		t.Run(family, func(t *testing.T) {
			junit := filepath.Join(t.TempDir(), "junit.xml")
			out, code := osdrProcess(t, "verify", "--manifest", manifest, "--label-filter", family, "--deadline", "1s", "--junit", junit)
			if code == 0 {
				t.Fatalf("verify %s passed on a power-cut cloud:\n%s", family, out)
			}
			if !strings.Contains(out, victim.ID) {
				t.Errorf("the failure does not name instance %s:\n%s", victim.ID, out)
			}
			if (family == "attachments" || family == "integrity") && !strings.Contains(out, data.ID) {
				t.Errorf("the failure does not name volume %s:\n%s", data.ID, out)
			}
			if _, err := os.Stat(junit); err != nil {
				t.Errorf("no JUnit report: %v", err)
			}
		})
	}
}

// Without SSH the checks of hosts and guests cannot run: verify fails and says which and why, unless the
// operator leaves those families out on purpose, and even then it lists what it skipped.
func TestVerifyIsNeverGreenForCheckingLess(t *testing.T) {
	startSim(t, "", sim.Shape{Hosts: 1, Instances: 2, VolumesPerInstance: 1, Seed: 12})
	if out, code := osdrProcess(t, "snapshot", "--all"); code != 0 {
		t.Fatalf("snapshot: exit %d\n%s", code, out)
	}
	manifest := latestManifest(t)
	t.Setenv("OSDR_INVENTORY", "")
	t.Setenv("OSDR_SSH_KEY", "")
	t.Setenv("OSDR_KNOWN_HOSTS", "")
	t.Setenv("HOME", t.TempDir()) // no ~/.ssh/known_hosts either
	out, errOut, code := osdr(t, "verify", "--manifest", manifest, "--deadline", "10s")
	if code != exitFailure {
		t.Fatalf("verify without SSH: exit %d, want %d\n%s%s", code, exitFailure, out, errOut)
	}
	for _, want := range []string{"SKIPPED reachability", "SKIPPED attachments", "no SSH", "--skip attachments,reachability"} {
		if !strings.Contains(out, want) {
			t.Errorf("the output does not say %q:\n%s", want, out)
		}
	}
	out, errOut, code = osdr(t, "verify", "--manifest", manifest, "--deadline", "10s", "--skip", "attachments,reachability")
	if code != 0 {
		t.Fatalf("verify --skip attachments,reachability: exit %d\n%s%s", code, out, errOut)
	}
	if !strings.Contains(out, "SKIPPED reachability") || !strings.Contains(out, "Verification PASSED") {
		t.Errorf("an accepted skip must still be listed:\n%s", out)
	}
	if _, errOut, code := osdr(t, "verify", "--manifest", manifest, "--skip", "reachabilty"); code != exitFailure || !strings.Contains(errOut, `unknown check family "reachabilty"`) {
		t.Errorf("a misspelt family: exit %d\n%s", code, errOut)
	}
}
