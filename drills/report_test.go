package drills

import (
	"context"
	"encoding/json"
	"encoding/xml"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/osdr/osdr/internal/junit/junittest"
	"github.com/osdr/osdr/internal/run"
	"github.com/osdr/osdr/suites"
)

var t0 = time.Date(2026, 11, 25, 3, 0, 0, 0, time.UTC)

func at(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }

const (
	web1, web2, db1, batch1 = "6774a0c9-a063-4cbd-aa55-298277b09aba", "b2f0c6de-1d1e-4a8c-9d55-0c1b8f4e2a17", "0f5e2c1a-7b3d-4e6f-8a9b-1c2d3e4f5a6b", "9a8b7c6d-5e4f-4a3b-2c1d-0e9f8a7b6c5d"
	volume1                 = "4c1f7d2e-3b5a-4e8c-9f0d-1a2b3c4d5e6f"
	secret                  = "s3cret-in-the-url"
)

// sampleReport is a drill whose recovery went through and whose verification failed: web-2 does not answer,
// db-1 ended SHUTOFF, batch-1 was left out. It lists its phases and instances in no particular order, as a
// report may.
func sampleReport() *Report {
	recovered := func(id, name string, reboot int) InstanceReport {
		return InstanceReport{ID: id, Name: name, Host: "compute-1", Outcome: "recovered", RecoverySeconds: float64(reboot + 5), FinalState: "ACTIVE",
			StepSeconds: map[string]float64{"reboot": float64(reboot), "reattach": 10},
			Timeline: []Span{{Name: "fault", Start: at(6), End: at(6)}, {Name: "db-clean", Start: at(13), End: at(15)},
				{Name: "reboot", Start: at(15), End: at(15 + reboot)}, {Name: "reattach", Start: at(15 + reboot), End: at(25 + reboot)}}}
	}
	db := recovered(db1, "db-1", 10)
	db.FinalState = "SHUTOFF"
	return &Report{
		Drill: "weekly-compute-1", RunID: "20261125T030000Z-drill-abc123", Cloud: "https://admin:" + secret + "@keystone.staging.example.net:5000/v3",
		Started: t0, Finished: at(100), Outcome: OutcomeFailed, Summary: "Failed: 1 check(s) failed (3 recovered, 0 failed).", RecoverySeconds: 40,
		Phases: []PhaseRecord{
			{Name: PhaseRecover, Started: at(12), Finished: at(70), OK: true},
			{Name: PhaseGuards, Started: at(0), Finished: at(1), OK: true},
			{Name: PhaseVerify, Started: at(70), Finished: at(85), OK: false, Error: "1 check(s) failed: web-2: no answer on 10.0.0.12:22"},
			{Name: PhaseSnapshot, Started: at(1), Finished: at(3), OK: true},
			{Name: PhasePreflight, Started: at(3), Finished: at(5), OK: true},
			{Name: PhaseInject, Started: at(5), Finished: at(10), OK: true},
			{Name: PhaseObserve, Started: at(10), Finished: at(12), OK: true},
		},
		Instances: []InstanceReport{
			recovered(web2, "web-2", 20), recovered(web1, "web-1", 15), db,
			{ID: batch1, Name: "batch-1", Host: "compute-1", Outcome: "excluded", Error: "excluded: its volumes are not iSCSI"},
		},
		Specs: []SpecResult{
			{Name: "instance web-1: volume at /dev/vdb attached in Cinder and Nova", Labels: "attachments", Instance: web1, Volume: volume1, State: "passed", Seconds: 1.5},
			{Name: "instance db-1: back in its state before the loss (stopped)", Labels: "states", Instance: db1, State: "passed", Seconds: 0.2},
			{Name: "instance web-1: ACTIVE, running, no task, no fault", Labels: "states", Instance: web1, State: "passed", Seconds: 0.3},
			{Name: "instance web-2: guest answers and sees its disks and mounts", Labels: "reachability", Instance: web2, State: "failed", Seconds: 15,
				Message: "web-2 (" + web2 + "): no answer on 10.0.0.12:22 <script>alert(1)</script>\nstill so when the verification's deadline ended"},
		},
	}
}

// failedRecoveryReport is a drill whose recovery failed: the faults were restored, no verification ran.
func failedRecoveryReport() *Report {
	r := sampleReport()
	r.Phases = append(r.Phases[:2:2], r.Phases[3:]...)
	r.Phases[0].OK, r.Phases[0].Error = false, "1 of 3 instance(s) did not recover"
	r.Phases = append(r.Phases, PhaseRecord{Name: PhaseRestore, Started: at(70), Finished: at(95), OK: true})
	r.Instances = r.Instances[:3]
	r.Instances[0].Outcome, r.Instances[0].Error = "failed", "guest never answered"
	for i := range r.Instances {
		r.Instances[i].FinalState = ""
	}
	r.Specs = nil
	return r
}

func writeReports(t *testing.T, r *Report) run.Run {
	t.Helper()
	rn := run.Run{Dir: t.TempDir()}
	if err := r.WriteAll(rn); err != nil {
		t.Fatal(err)
	}
	return rn
}

func TestReportsAreWrittenAndReadable(t *testing.T) {
	rn := writeReports(t, sampleReport())
	var back Report
	raw, err := os.ReadFile(rn.ReportJSON())
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, &back); err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, in := range back.Instances {
		names = append(names, in.Name)
	}
	if want := []string{"batch-1", "db-1", "web-1", "web-2"}; !slices.Equal(names, want) {
		t.Errorf("instances %v, want them by name %v", names, want)
	}
	if back.Outcome != OutcomeFailed || back.Version.GoVersion != runtime.Version() || back.Version.Version == "" {
		t.Errorf("JSON report: outcome %s, version %+v", back.Outcome, back.Version)
	}
	if back.Cloud != "https://keystone.staging.example.net:5000/v3" {
		t.Errorf("cloud %q, want the Keystone URL without its credentials", back.Cloud)
	}
	if back.Specs[3].Instance != web2 {
		t.Errorf("a check lost its instance's id: %+v", back.Specs[3])
	}
	for _, f := range []string{rn.ReportJSON(), rn.ReportJUnit(), rn.ReportHTML()} {
		if raw, _ := os.ReadFile(f); strings.Contains(string(raw), secret) {
			t.Errorf("%s holds the password of the cloud's URL", filepath.Base(f))
		}
	}
}

// The verification has the last word on an instance it checked; without checks the recovery's outcome stands.
func TestTheVerdictComesFromTheVerification(t *testing.T) {
	r := sampleReport()
	for _, tc := range []struct {
		instance     int
		verdict, why string
	}{
		{0, VerdictFailed, `check "instance web-2: guest answers and sees its disks and mounts" failed: web-2 (` + web2 + `): no answer`},
		{1, VerdictRecovered, ""},
		{2, VerdictShutoff, "ended SHUTOFF"},
		{3, VerdictExcluded, "excluded: its volumes are not iSCSI"},
	} {
		in := r.Instances[tc.instance]
		verdict, why := r.Verdict(in)
		if verdict != tc.verdict || !strings.HasPrefix(why, tc.why) {
			t.Errorf("%s: verdict %q (%s), want %q (%s)", in.Name, verdict, why, tc.verdict, tc.why)
		}
	}
	for _, tc := range []struct {
		name       string
		finalState string
		specs      []SpecResult
		outcome    string
		want       string
	}{
		{"no checks: the recovery's outcome", "", nil, "failed", VerdictFailed},
		{"no checks, recovered", "", nil, "recovered", VerdictRecovered},
		{"checks pass but it ended in ERROR", "ERROR", []SpecResult{{Instance: "x", State: "passed"}}, "recovered", VerdictFailed},
		{"a check not run", "ACTIVE", []SpecResult{{Instance: "x", State: "skipped"}}, "recovered", VerdictFailed},
		{"checks of others only", "", []SpecResult{{Instance: "y", State: "failed"}}, "recovered", VerdictRecovered},
		{"checks pass, recovery said failed", "ACTIVE", []SpecResult{{Instance: "x", State: "passed"}}, "failed", VerdictRecovered},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := &Report{Specs: tc.specs}
			if got, _ := r.Verdict(InstanceReport{ID: "x", Outcome: tc.outcome, FinalState: tc.finalState}); got != tc.want {
				t.Errorf("verdict %q, want %q", got, tc.want)
			}
		})
	}
}

var uuidPattern = regexp.MustCompile(`[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`)

// junitDoc is what the tests read of a JUnit report.
type junitDoc struct {
	Tests    int `xml:"tests,attr"`
	Failures int `xml:"failures,attr"`
	Suites   []struct {
		Name       string `xml:"name,attr"`
		Properties []struct {
			Name  string `xml:"name,attr"`
			Value string `xml:"value,attr"`
		} `xml:"properties>property"`
		Cases []struct {
			Name    string  `xml:"name,attr"`
			Failure *string `xml:"failure"`
			Skipped *string `xml:"skipped"`
		} `xml:"testcase"`
	} `xml:"testsuite"`
}

// CI servers keep a test's history by its name: names say which instance, by name and place, never by id,
// and phases run in order. Jenkins' schema, the strictest, accepts the report.
func TestJUnitNamesAreStableAndJenkinsAcceptsTheReport(t *testing.T) {
	rn := writeReports(t, sampleReport())
	junittest.Validate(t, rn.ReportJUnit())
	raw, err := os.ReadFile(rn.ReportJUnit())
	if err != nil {
		t.Fatal(err)
	}
	var doc junitDoc
	if err := xml.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Tests != 15 || doc.Failures != 4 {
		t.Errorf("%d tests, %d failures; want 15 and 4 (verify, web-2, db-1 shut off, web-2's check)", doc.Tests, doc.Failures)
	}
	got := map[string][]string{}
	outcome := map[string]string{}
	properties := map[string]string{}
	for _, s := range doc.Suites {
		for _, c := range s.Cases {
			got[s.Name] = append(got[s.Name], c.Name)
			switch {
			case c.Failure != nil:
				outcome[c.Name] = "failed"
			case c.Skipped != nil:
				outcome[c.Name] = "skipped"
			}
			if uuidPattern.MatchString(c.Name) {
				t.Errorf("case %q carries an id in its name", c.Name)
			}
		}
		for _, p := range s.Properties {
			properties[p.Name] = p.Value
		}
	}
	want := map[string][]string{
		"weekly-compute-1: phases": {"phase guards", "phase snapshot", "phase preflight", "phase inject", "phase observe", "phase recover", "phase verify"},
		"weekly-compute-1: recovery": {"instance batch-1 (#1 of 4) recovered", "instance db-1 (#2 of 4) recovered",
			"instance web-1 (#3 of 4) recovered", "instance web-2 (#4 of 4) recovered"},
		"weekly-compute-1: verification": {
			"instance web-1: volume at /dev/vdb attached in Cinder and Nova", "instance db-1: back in its state before the loss (stopped)",
			"instance web-1: ACTIVE, running, no task, no fault", "instance web-2: guest answers and sees its disks and mounts"},
	}
	for suite, cases := range want {
		if !slices.Equal(got[suite], cases) {
			t.Errorf("suite %q has cases\n%q\nwant\n%q", suite, got[suite], cases)
		}
	}
	for name, want := range map[string]string{
		"phase verify": "failed", "instance batch-1 (#1 of 4) recovered": "skipped", "instance db-1 (#2 of 4) recovered": "failed",
		"instance web-1 (#3 of 4) recovered": "", "instance web-2 (#4 of 4) recovered": "failed",
	} {
		if outcome[name] != want {
			t.Errorf("case %q: %q, want %q", name, outcome[name], want)
		}
	}
	for name, id := range map[string]string{
		"instance web-2 (#4 of 4) recovered: instance":                             web2,
		"instance web-1: volume at /dev/vdb attached in Cinder and Nova: instance": web1,
		"instance web-1: volume at /dev/vdb attached in Cinder and Nova: volume":   volume1,
		"instance web-2: guest answers and sees its disks and mounts: instance":    web2,
		"instance batch-1 (#1 of 4) recovered: instance":                           batch1,
		"instance db-1: back in its state before the loss (stopped): instance":     db1,
		"instance web-1: ACTIVE, running, no task, no fault: instance":             web1,
		"instance db-1 (#2 of 4) recovered: instance":                              db1,
		"instance web-1 (#3 of 4) recovered: instance":                             web1,
	} {
		if properties[name] != id {
			t.Errorf("property %q = %q, want %q", name, properties[name], id)
		}
	}
}

// A verification's own report (osdr verify --junit, verify-*.xml of a drill) is valid for Jenkins too, with
// checks that passed, failed, were skipped on purpose and were not run.
func TestJenkinsAcceptsAVerificationReport(t *testing.T) {
	res := &suites.Report{Started: t0, Finished: at(30), Skippable: []string{suites.LabelIntegrity}, Results: []suites.Result{
		{Name: "instance web-1: volume at /dev/vdb attached in Cinder and Nova", Family: suites.LabelAttachments, Instance: web1, Volume: volume1, State: suites.StatePassed, Seconds: 1.25},
		{Name: "instance web-2: ACTIVE, running, no task, no fault", Family: suites.LabelStates, Instance: web2, State: suites.StateFailed, Causes: []string{"vm_state stopped, want active", "still so when the verification's deadline ended"}, Seconds: 30},
		{Name: "instance web-1: guest answers and sees its disks and mounts", Family: suites.LabelReachability, Instance: web1, State: suites.StateSkipped, Causes: []string{"no SSH"}},
		{Name: "instance web-1: stamp on the volume at /dev/vdb intact", Family: suites.LabelIntegrity, Instance: web1, Volume: volume1, State: suites.StateSkipped, Causes: []string{"no SSH"}},
	}}
	path := filepath.Join(t.TempDir(), "verify.xml")
	if err := res.JUnit("osdr verify").WriteFile(path); err != nil {
		t.Fatal(err)
	}
	junittest.Validate(t, path)

	specs := specResults(res)
	for i, want := range []string{"passed", "failed", "failed", "skipped"} {
		if specs[i].State != want || specs[i].Instance != res.Results[i].Instance || specs[i].Volume != res.Results[i].Volume {
			t.Errorf("check %d in the drill's report: %+v, want %s", i, specs[i], want)
		}
	}
	if specs[2].Message != "not checked: no SSH" {
		t.Errorf("a check that did not run reads %q", specs[2].Message)
	}
}

func TestMetricsTextfileAndPush(t *testing.T) {
	r := sampleReport()
	path := filepath.Join(t.TempDir(), "osdr.prom")
	if err := r.WriteMetrics(path); err != nil {
		t.Fatal(err)
	}
	text, _ := os.ReadFile(path)
	for _, want := range []string{
		`osdr_drill_success{drill="weekly-compute-1"} 0`,
		`osdr_drill_recovery_seconds{drill="weekly-compute-1"} 40`,
		`osdr_drill_instances{drill="weekly-compute-1",outcome="recovered"} 3`,
		`osdr_drill_instances{drill="weekly-compute-1",outcome="excluded"} 1`,
		`osdr_drill_step_max_seconds{drill="weekly-compute-1",step="reboot"} 20`,
		`osdr_drill_phase_seconds{drill="weekly-compute-1",phase="recover"} 58`,
		`osdr_drill_phase_started_timestamp_seconds{drill="weekly-compute-1",phase="recover"} 1.795575612e+09`,
		`osdr_build_info{commit="",drill="weekly-compute-1",go_version="` + runtime.Version() + `",version="devel"} 1`,
	} {
		if !strings.Contains(string(text), want) {
			t.Errorf("metrics lack %q:\n%s", want, text)
		}
	}

	var pushed, method string
	gw := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		pushed, method = req.URL.Path+"\n"+string(body), req.Method
		w.WriteHeader(http.StatusOK)
	}))
	defer gw.Close()
	if err := r.PushMetrics(context.Background(), gw.URL); err != nil {
		t.Fatal(err)
	}
	if method != http.MethodPut || !strings.Contains(pushed, "/metrics/job/osdr_drill/drill/weekly-compute-1") || !strings.Contains(pushed, "osdr_build_info") {
		t.Errorf("push: %s %q", method, pushed)
	}
}

// Phase durations read as a person reads them, not as Go prints a Duration.
func TestPhaseDurationsAreRoundedForReaders(t *testing.T) {
	for _, tc := range []struct {
		took time.Duration
		want string
	}{
		{9652 * time.Nanosecond, "<1ms"},
		{36123014 * time.Nanosecond, "36ms"},
		{1310623472 * time.Nanosecond, "1.311s"},
		{4*time.Minute + 3*time.Second, "4m3s"},
	} {
		if got := elapsed(t0, t0.Add(tc.took)); got != tc.want {
			t.Errorf("elapsed %s = %q, want %q", tc.took, got, tc.want)
		}
	}
}

// The time axis is marked at round clock times, few enough to read, whatever the drill's length.
func TestTheTimeAxisIsMarkedAtRoundClockTimes(t *testing.T) {
	for _, tc := range []struct {
		start time.Time
		took  time.Duration
		want  []string
	}{
		{t0, 100 * time.Second, []string{"03:00:00", "03:00:15", "03:00:30", "03:00:45", "03:01:00", "03:01:15", "03:01:30"}},
		{t0.Add(7 * time.Second), 5 * time.Second, []string{"03:00:07", "03:00:08", "03:00:09", "03:00:10", "03:00:11", "03:00:12"}},
		{t0.Add(50 * time.Second), 25 * time.Minute, []string{"03:05", "03:10", "03:15", "03:20", "03:25"}},
		{t0, 3 * time.Hour, []string{"03:00", "03:30", "04:00", "04:30", "05:00", "05:30", "06:00"}},
		{t0, 0, []string{"03:00:00", "03:00:01"}},
	} {
		axis := newTimeAxis(tc.start, tc.start.Add(tc.took))
		var got []string
		for _, tick := range axis.ticks() {
			got = append(got, tick.Label)
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("%s for %s: ticks %v, want %v", clock(tc.start), tc.took, got, tc.want)
		}
	}
}
