package suites_test

import (
	"context"
	"database/sql"
	"flag"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/osdr/osdr/internal/cloud"
	"github.com/osdr/osdr/internal/run"
	"github.com/osdr/osdr/internal/settings"
	"github.com/osdr/osdr/recover"
	"github.com/osdr/osdr/suites"
	"github.com/osdr/osdr/testenv"
	"github.com/osdr/osdr/testenv/sim"
)

// The verification as a Ginkgo suite: the same checks `osdr verify` runs, one spec each, labelled by family.
//
//	go test ./suites/ -run TestVerification -args -osdr.manifest FILE [-osdr.run RUN_ID] [-osdr.instance ID]
//	ginkgo --label-filter 'attachments && !integrity' ./suites -- -osdr.manifest FILE
//
// The cloud comes from the settings contract (clouds.yaml or OS_*, OSDR_*_DB_DSN, OSDR_INVENTORY, ...), the
// expected state from the manifest (-osdr.manifest or $OSDR_VERIFY_MANIFEST), the recovery's journal from its
// run (-osdr.run, in --runs-dir / $OSDR_RUNS_DIR). Without a manifest the suite starts a simulated cloud of its
// own, snapshots it with stamps and checks it healthy: it needs MySQL (testenv), and under CI it fails rather
// than skip when there is none.
var (
	manifestFlag = flag.String("osdr.manifest", os.Getenv("OSDR_VERIFY_MANIFEST"), "manifest with the expected state")
	runFlag      = flag.String("osdr.run", os.Getenv("OSDR_VERIFY_RUN"), "recovery run whose journal the checks read")
	instanceFlag = flag.String("osdr.instance", "", "check only this instance")
	pollFlag     = flag.Duration("osdr.poll", time.Second, "how long a failing check waits before it looks again")
	skipFlag     = flag.String("osdr.skip", "", "comma-separated families whose checks may be skipped when they cannot run")
)

func TestMain(m *testing.M) { os.Exit(testenv.Main(m)) }

// suiteChecks are the checks the spec tree is built from: Ginkgo builds it from package-level declarations
// when RunSpecs starts, so the target is resolved before.
var suiteChecks []suites.Check

var _ = Describe("osdr verification", func() {
	for _, c := range suiteChecks {
		It(c.Name, Label(c.Labels()...), func(ctx SpecContext) {
			res := c.Run(ctx, *pollFlag)
			switch {
			case res.State == suites.StateSkipped && slices.Contains(strings.Split(*skipFlag, ","), c.Family):
				Skip(strings.Join(res.Causes, "; "))
			case res.State == suites.StateSkipped:
				Fail("not checked: " + strings.Join(res.Causes, "; ") + " (leave the family out with -osdr.skip " + c.Family + ")")
			case res.State == suites.StateFailed:
				Fail(strings.Join(res.Causes, "\n"))
			}
		}, SpecTimeout(2*time.Minute))
	}
})

func TestVerification(t *testing.T) {
	target := verificationTarget(t)
	suite, err := suites.Prepare(context.Background(), target)
	if err != nil {
		t.Fatal(err)
	}
	suiteChecks = suite.Checks()
	RegisterFailHandler(Fail)
	suiteConfig, reporterConfig := GinkgoConfiguration()
	suiteConfig.FailOnEmpty = true
	RunSpecs(t, "osdr verification", suiteConfig, reporterConfig)
}

// verificationTarget is the cloud of the settings contract with the manifest given, or a simulated cloud.
func verificationTarget(t *testing.T) *suites.Target {
	t.Helper()
	if *manifestFlag == "" {
		return simulatedTarget(t)
	}
	s, err := (&settings.Flags{}).Resolve(os.Getenv)
	if err != nil {
		t.Fatal(err)
	}
	c := cloud.Open(s, cloud.Options{Warnings: os.Stderr})
	t.Cleanup(func() { c.Close() })
	m, err := recover.ReadManifest(*manifestFlag)
	if err != nil {
		t.Fatal(err)
	}
	target := &suites.Target{Manifest: m, Cloud: c, Instance: *instanceFlag}
	if *runFlag != "" {
		rn, err := s.Runs.Find(*runFlag)
		if err != nil {
			t.Fatal(err)
		}
		if target.Journal, err = recover.ReadJournal(rn); err != nil {
			t.Fatal(err)
		}
	}
	return target
}

// simulatedTarget starts a small simulated cloud and takes its manifest with stamps.
func simulatedTarget(t *testing.T) *suites.Target {
	t.Helper()
	c, _ := startSim(t, smallCloud)
	return &suites.Target{Manifest: stampedManifest(t, c), Cloud: c, Instance: *instanceFlag}
}

// smallCloud is the simulated cloud of the tests.
var smallCloud = sim.Shape{Hosts: 2, Instances: 3, VolumesPerInstance: 2, Seed: 11}

// stampedManifest snapshots the simulated cloud once its guests answer, and stamps their volumes, as a drill
// does before its fault.
func stampedManifest(t testing.TB, c *cloud.Cloud) *recover.Manifest {
	t.Helper()
	ctx := context.Background()
	m, err := recover.Snapshot(ctx, c, recover.Scope{All: true}, recover.SnapshotOptions{})
	if err != nil {
		t.Fatal(err)
	}
	booted, err := suites.Verify(ctx, &suites.Target{Manifest: m, Cloud: c}, suites.Options{LabelFilter: suites.LabelReachability, Deadline: time.Minute, Poll: 100 * time.Millisecond})
	if err != nil || !booted.Passed() {
		t.Fatalf("the simulated guests did not come up: %v %+v", err, booted)
	}
	if err := recover.WriteStamps(ctx, c, m); err != nil {
		t.Fatal(err)
	}
	return m
}

// startSim starts a simulated cloud on the test process's MySQL and opens it through the settings contract,
// as an operator's shell would after `. osdr.env`.
func startSim(t testing.TB, shape sim.Shape) (*cloud.Cloud, *sim.Sim) {
	t.Helper()
	s, err := sim.Start(context.Background(), sim.Options{StateDir: t.TempDir(), Shape: shape, Server: testenv.SharedServer(t), Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close(context.Background()) })
	return openSim(t, s), s
}

// openSim opens the simulated cloud as a new osdr process would: its own API client, databases and SSH
// connections.
func openSim(t testing.TB, s *sim.Sim) *cloud.Cloud {
	t.Helper()
	env, err := s.Env()
	if err != nil {
		t.Fatal(err)
	}
	resolved, err := (&settings.Flags{}).Resolve(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	c := cloud.Open(resolved, cloud.Options{})
	t.Cleanup(func() { c.Close() })
	return c
}

// After a power cut every family fails, and says why in one line per cause that names the instance.
func TestAPowerCutFailsEveryFamilyWithOneLinePerCause(t *testing.T) {
	c, s := startSim(t, smallCloud)
	ctx := context.Background()
	m := stampedManifest(t, c)
	if err := s.PowerCut(ctx, nil, false); err != nil {
		t.Fatal(err)
	}
	started := time.Now()
	report, err := suites.Verify(ctx, &suites.Target{Manifest: m, Cloud: c}, suites.Options{Deadline: 3 * time.Second, Poll: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	// One deadline for the whole verification, not one per check.
	if took := time.Since(started); took > 20*time.Second {
		t.Errorf("verification took %s with a 3 s deadline", took)
	}
	failedFamilies := map[string]bool{}
	for _, res := range report.Results {
		if res.State != suites.StateFailed {
			continue
		}
		failedFamilies[res.Family] = true
		if len(res.Causes) == 0 {
			t.Errorf("%s failed without a cause", res.Name)
		}
		for _, cause := range res.Causes {
			if strings.Contains(cause, "\n") || strings.Contains(cause, "{") {
				t.Errorf("%s: cause is not one plain line: %q", res.Name, cause)
			}
		}
		if !strings.Contains(res.Causes[0], res.InstanceName) {
			t.Errorf("%s: cause %q does not name instance %s", res.Name, res.Causes[0], res.InstanceName)
		}
	}
	for _, family := range []string{suites.LabelAttachments, suites.LabelStates, suites.LabelReachability, suites.LabelIntegrity} {
		if !failedFamilies[family] {
			t.Errorf("no %s check failed after the power cut", family)
		}
	}
	if report.Passed() {
		t.Error("the report says passed")
	}
	junitPath := run.Run{Dir: t.TempDir()}.Verification("power-cut")
	if err := report.JUnit("osdr verify").WriteFile(junitPath); err != nil {
		t.Fatal(err)
	}
}

// A verification of many instances reads the APIs and the databases in bulk (listings, grouped counts), and
// finds what each check finds reading only its own: after a power cut, and with one volume's Cinder
// attachment row gone.
func TestBulkReadsFindWhatEachCheckFinds(t *testing.T) {
	c, s := startSim(t, sim.Shape{Hosts: 2, Instances: 12, VolumesPerInstance: 2, Seed: 12})
	ctx := context.Background()
	m := stampedManifest(t, c)
	if err := s.PowerCut(ctx, nil, false); err != nil {
		t.Fatal(err)
	}
	gone := m.DataAttachments(m.Instances[0].ID)[0].VolumeID
	db, err := sql.Open("mysql", s.CinderDSN)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, `UPDATE volume_attachment SET deleted=1 WHERE volume_id=?`, gone); err != nil {
		t.Fatal(err)
	}
	target := &suites.Target{Manifest: m, Cloud: c}
	report, err := suites.Verify(ctx, target, suites.Options{LabelFilter: "attachments || states", Deadline: 2 * time.Second, Poll: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	suite, err := suites.Prepare(ctx, target)
	if err != nil {
		t.Fatal(err)
	}
	// Each check alone looks once: a failing one waits for the next look past the deadline.
	checks := suite.Checks()
	results := make([]suites.Result, len(checks))
	var wg sync.WaitGroup
	for i, check := range checks {
		wg.Go(func() {
			once, cancel := context.WithTimeout(ctx, 3*time.Second)
			defer cancel()
			results[i] = check.Run(once, time.Hour)
		})
	}
	wg.Wait()
	alone := map[string]suites.Result{}
	for _, res := range results {
		alone[res.Name] = res
	}
	failedRows := 0
	for _, bulk := range report.Results {
		if strings.HasSuffix(bulk.Name, "has its iSCSI session on the host") {
			continue // read over SSH, not in bulk
		}
		own := alone[bulk.Name]
		if bulk.State != own.State || !slices.Equal(bulk.Causes, own.Causes) {
			t.Errorf("%s: in bulk %s %q, alone %s %q", bulk.Name, bulk.State, bulk.Causes, own.State, own.Causes)
		}
		if bulk.Volume == gone && strings.HasSuffix(bulk.Name, "has one live row in Cinder and Nova") && bulk.State == suites.StateFailed {
			failedRows++
		}
	}
	if failedRows != 1 {
		t.Errorf("the row check of volume %s failed %d times, want once", gone, failedRows)
	}
}
