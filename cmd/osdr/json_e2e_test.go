package main

import (
	"bytes"
	"encoding/json"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/osdr/osdr/drills"
	"github.com/osdr/osdr/testenv/sim"
)

// jsonLines reads what a command printed on stdout with -o json: every line a JSON object, events first,
// exactly one result last.
func jsonLines(t *testing.T, args []string, stdout string) (events []map[string]any, result Result) {
	t.Helper()
	lines := strings.Split(strings.TrimRight(stdout, "\n"), "\n")
	for i, line := range lines {
		var obj map[string]any
		if err := json.Unmarshal([]byte(line), &obj); err != nil {
			t.Fatalf("osdr %v: stdout line %d is not JSON (%v): %q", args, i+1, err, line)
		}
		if i < len(lines)-1 {
			if obj["type"] != "event" {
				t.Errorf("osdr %v: line %d is not an event: %q", args, i+1, line)
			}
			events = append(events, obj)
		}
	}
	dec := json.NewDecoder(strings.NewReader(lines[len(lines)-1]))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&result); err != nil {
		t.Fatalf("osdr %v: the last line is not a result: %v\n%s", args, err, lines[len(lines)-1])
	}
	if result.Type != "result" || result.SchemaVersion != resultSchemaVersion || result.Started.IsZero() || result.Finished.IsZero() {
		t.Errorf("osdr %v: result %+v", args, result)
	}
	return events, result
}

// Every command's -o json carries JSON only on stdout, ending with one result object whose status and exit
// code are the command's; human text goes to stderr.
func TestEveryCommandsJSONIsJSONOnly(t *testing.T) {
	s := startSim(t, "zed", sim.Shape{Hosts: 1, Instances: 2, VolumesPerInstance: 1, Seed: 27})
	drill := writeDrill(t, s, nil)
	scheduled := writeDrill(t, s, func(d *drills.Drill) { d.Schedule = "0 3 * * 1" })
	for _, tc := range []struct {
		args   []string
		code   int
		status string
		check  func(*testing.T, []map[string]any, Result)
	}{
		{[]string{"snapshot", "--all"}, 0, "succeeded", func(t *testing.T, _ []map[string]any, r Result) {
			if r.Manifest == nil || r.Manifest.Instances != 2 || r.RunID == "" {
				t.Errorf("snapshot result: %+v", r)
			}
		}},
		{[]string{"drill", "validate", drill}, 0, "succeeded", func(t *testing.T, _ []map[string]any, r Result) {
			if r.Drill == nil || r.Drill.Name != "e2e" {
				t.Errorf("validate result: %+v", r)
			}
		}},
		{[]string{"drill", "validate", scheduled}, 0, "succeeded", func(t *testing.T, _ []map[string]any, r Result) {
			if r.Drill == nil || len(r.Drill.NextRuns) != nextRunsShown || !r.Drill.NextRuns[0].Before(r.Drill.NextRuns[1]) ||
				r.Drill.NextRuns[0].Weekday() != time.Monday || r.Drill.NextRuns[0].Hour() != 3 {
				t.Errorf("validate of a scheduled drill: %+v", r.Drill)
			}
		}},
		{[]string{"version"}, 0, "succeeded", func(t *testing.T, _ []map[string]any, r Result) {
			if r.Version == nil || r.Version.Version == "" || !strings.HasPrefix(r.Version.GoVersion, "go") {
				t.Errorf("version result: %+v", r.Version)
			}
		}},
		{[]string{"drill", "plan", drill}, 0, "succeeded", func(t *testing.T, _ []map[string]any, r Result) {
			if len(r.Actions) == 0 {
				t.Errorf("plan result has no fault actions: %+v", r)
			}
		}},
		{[]string{"recover", "--all", "--dry-run"}, 0, "succeeded", func(t *testing.T, _ []map[string]any, r Result) {
			if r.Plan == nil {
				t.Errorf("dry-run result has no plan")
			}
		}},
		{[]string{"drill", "run", drill}, 0, "succeeded", func(t *testing.T, events []map[string]any, r Result) {
			if len(events) == 0 || r.Drill == nil || r.Drill.Outcome != "passed" || len(r.Phases) < 6 || len(r.Instances) != 2 || len(r.Checks) == 0 {
				t.Errorf("drill run: %d events, result %+v", len(events), r)
			}
		}},
		{[]string{"runs", "list"}, 0, "succeeded", func(t *testing.T, _ []map[string]any, r Result) {
			if len(r.Runs) < 2 {
				t.Errorf("runs list: %+v", r.Runs)
			}
		}},
		{[]string{"runs", "show", "latest"}, 0, "succeeded", func(t *testing.T, _ []map[string]any, r Result) {
			if len(r.Runs) != 1 || r.Runs[0].Kind != "drill" || r.Runs[0].Status != "succeeded" {
				t.Errorf("runs show latest: %+v", r.Runs)
			}
		}},
		{[]string{"verify", "--manifest", "does-not-exist.json"}, exitFailure, "failed", func(t *testing.T, _ []map[string]any, r Result) {
			if !strings.Contains(r.Error, "does-not-exist.json") {
				t.Errorf("the error is not in the result: %+v", r)
			}
		}},
		{[]string{"recover", "undo-db", "not-a-run-id"}, exitFailure, "failed", nil},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			args := append(tc.args, "-o", "json")
			stdout, stderr, code := osdr(t, args...)
			if code != tc.code {
				t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tc.code, stdout, stderr)
			}
			events, result := jsonLines(t, args, stdout)
			if result.Status != tc.status || result.ExitCode != tc.code {
				t.Errorf("result says %s/%d, want %s/%d", result.Status, result.ExitCode, tc.status, tc.code)
			}
			if tc.check != nil {
				tc.check(t, events, result)
			}
		})
	}
}

// README documents the result object with examples; each parses as a Result and names only fields the
// commands print.
func TestTheDocumentedResultExamplesMatchTheResult(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	section := regexp.MustCompile("(?s)## Machine-readable output\n(.*?)\n## ").FindSubmatch(readme)
	if section == nil {
		t.Fatal("README has no section \"## Machine-readable output\"")
	}
	blocks := regexp.MustCompile("(?s)```json\n(.*?)```").FindAllSubmatch(section[1], -1)
	if len(blocks) < 2 {
		t.Fatalf("the section holds %d JSON examples, want at least an event and a result", len(blocks))
	}
	for i, b := range blocks {
		for _, line := range bytes.Split(bytes.TrimSpace(b[1]), []byte("\n")) {
			var kind struct {
				Type string `json:"type"`
			}
			if err := json.Unmarshal(line, &kind); err != nil {
				t.Fatalf("example %d: %v\n%s", i+1, err, line)
			}
			dec := json.NewDecoder(bytes.NewReader(line))
			dec.DisallowUnknownFields()
			switch kind.Type {
			case "result":
				var r Result
				if err := dec.Decode(&r); err != nil {
					t.Errorf("example %d: not a result: %v\n%s", i+1, err, line)
				}
			case "event":
				var e event
				if err := dec.Decode(&e); err != nil {
					t.Errorf("example %d: not an event: %v\n%s", i+1, err, line)
				}
			default:
				t.Errorf("example %d: type %q", i+1, kind.Type)
			}
		}
	}
}
