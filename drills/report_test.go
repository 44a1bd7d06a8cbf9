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
	"strings"
	"testing"
	"time"

	"github.com/osdr/osdr/internal/run"
)

func sampleReport() *Report {
	t0 := time.Date(2026, 11, 25, 3, 0, 0, 0, time.UTC)
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	return &Report{
		Drill: "weekly-compute-1", RunID: "20261125T030000Z-drill-abc123", Cloud: "http://127.0.0.1:5000/v3",
		Started: t0, Finished: at(100), Outcome: OutcomeFailed, Summary: "1 of 2 instances recovered", RecoverySeconds: 60,
		Phases: []PhaseRecord{
			{Name: PhaseInject, Started: at(5), Finished: at(10), OK: true},
			{Name: PhaseRecover, Started: at(10), Finished: at(70), OK: false, Error: "1 instance failed"},
		},
		Instances: []InstanceReport{
			{ID: "b-2", Name: "vm2", Host: "compute-1", Outcome: "failed", Error: "guest never answered <script>", RecoverySeconds: 60,
				StepSeconds: map[string]float64{"reboot": 20}, Timeline: []Span{{Name: "fault", Start: at(5), End: at(10)}, {Name: "reboot", Start: at(12), End: at(32)}}},
			{ID: "a-1", Name: "vm1", Host: "compute-1", Outcome: "recovered", RecoverySeconds: 40,
				StepSeconds: map[string]float64{"reboot": 15, "reattach": 10}, Timeline: []Span{{Name: "reboot", Start: at(12), End: at(27)}, {Name: "reattach", Start: at(27), End: at(37)}}},
		},
		Specs: []SpecResult{{Name: "volume v1 is back", Labels: "attachments", State: "passed"}, {Name: "guest answers", Labels: "reachability", State: "failed", Message: "unreachable\ndetails"}},
	}
}

func TestReportsAreWrittenAndReadable(t *testing.T) {
	dir := t.TempDir()
	r := sampleReport()
	if err := r.WriteAll(run.Run{Dir: dir}); err != nil {
		t.Fatal(err)
	}
	var back Report
	raw, _ := os.ReadFile(run.Run{Dir: dir}.ReportJSON())
	if err := json.Unmarshal(raw, &back); err != nil || back.Outcome != OutcomeFailed || back.Instances[0].ID != "a-1" {
		t.Errorf("JSON report: %v %+v", err, back)
	}

	var junit struct {
		Tests    int `xml:"tests,attr"`
		Failures int `xml:"failures,attr"`
	}
	raw, _ = os.ReadFile(run.Run{Dir: dir}.ReportJUnit())
	if err := xml.Unmarshal(raw, &junit); err != nil {
		t.Fatal(err)
	}
	if junit.Tests != 6 || junit.Failures != 3 {
		t.Errorf("JUnit: %d tests, %d failures; want 6 and 3 (recover phase, vm2, one spec)", junit.Tests, junit.Failures)
	}

	page, _ := os.ReadFile(run.Run{Dir: dir}.ReportHTML())
	html := string(page)
	for _, want := range []string{`class="span reboot" style="left:12.00%;width:20.00%"`, `class="span reattach"`, "badge failed", "&lt;script&gt;"} {
		if !strings.Contains(html, want) {
			t.Errorf("HTML report lacks %q", want)
		}
	}
	for _, banned := range []string{"<script", "http://", "https://"} {
		if strings.Contains(strings.ReplaceAll(html, r.Cloud, ""), banned) {
			t.Errorf("HTML report is not self-contained: has %q", banned)
		}
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
		`osdr_drill_recovery_seconds{drill="weekly-compute-1"} 60`,
		`osdr_drill_instances{drill="weekly-compute-1",outcome="recovered"} 1`,
		`osdr_drill_instances{drill="weekly-compute-1",outcome="failed"} 1`,
		`osdr_drill_step_max_seconds{drill="weekly-compute-1",step="reboot"} 20`,
		`osdr_drill_phase_seconds{drill="weekly-compute-1",phase="recover"} 60`,
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
	if method != http.MethodPut || !strings.Contains(pushed, "/metrics/job/osdr_drill/drill/weekly-compute-1") {
		t.Errorf("push: %s %q", method, pushed)
	}
}

// Phase durations read as a person reads them, not as Go prints a Duration.
func TestPhaseDurationsAreRoundedForReaders(t *testing.T) {
	start := time.Date(2026, 11, 25, 3, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		took time.Duration
		want string
	}{
		{9652 * time.Nanosecond, "<1ms"},
		{36123014 * time.Nanosecond, "36ms"},
		{1310623472 * time.Nanosecond, "1.311s"},
		{4*time.Minute + 3*time.Second, "4m3s"},
	} {
		if got := elapsed(start, start.Add(tc.took)); got != tc.want {
			t.Errorf("elapsed %s = %q, want %q", tc.took, got, tc.want)
		}
	}
}
