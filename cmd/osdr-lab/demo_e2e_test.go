package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/osdr/osdr/drills"
	"github.com/osdr/osdr/drills/drillstest"
	"github.com/osdr/osdr/internal/run"
	"github.com/osdr/osdr/testenv"
)

// The README's first command: on a machine with neither Docker nor MySQL the demo runs on the embedded
// database; with a container engine but no image it falls back to it; given a MariaDB server it runs there.
// Every way it must pass the whole drill well under a minute, say which database it used, and leave the report
// it names. The first way goes through the operator binary (`osdr demo`), as a user who read osdr's help would.
func TestDemoRunsACompleteDrillOnEveryDatabase(t *testing.T) {
	cases := []struct {
		name   string
		binary string
		db     string
		env    func(t *testing.T) map[string]string
		says   []string // what the demo tells the user about its database
		quiet  []string // what it must not alarm them with
	}{
		{name: "embedded, through osdr", binary: "osdr", db: "embedded",
			says: []string{"on the embedded database (go-mysql-server in this process)"}},
		{name: "no image falls back to embedded", binary: "osdr-lab", db: "auto",
			env: func(*testing.T) map[string]string {
				return map[string]string{testenv.EnvMySQLImage: "osdr.invalid/no-such-mariadb:0", testenv.EnvMySQLDSN: ""}
			},
			says:  []string{"on the embedded database (go-mysql-server in this process: image osdr.invalid/no-such-mariadb:0 is not here and cannot be pulled)"},
			quiet: []string{"start MySQL container", "no such host", "lookup", "Error response"}},
		// The test's own MariaDB (a container testcontainers started, or OSDR_TEST_MYSQL_DSN's server), handed to
		// the lab the way a user hands theirs.
		{name: "MariaDB", binary: "osdr-lab", db: "auto",
			env: func(t *testing.T) map[string]string {
				return map[string]string{testenv.EnvMySQLDSN: testenv.SharedServer(t).AdminDSN()}
			},
			says: []string{"on MySQL from " + testenv.EnvMySQLDSN}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.env != nil {
				for k, v := range tc.env(t) {
					t.Setenv(k, v)
				}
			}
			stateDir := filepath.Join(t.TempDir(), "demo")
			start := time.Now()
			out, code := runBinary(t, tc.binary, "demo", "--db", tc.db, "--state-dir", stateDir)
			took := time.Since(start)
			if code != 0 || !strings.Contains(out, "Drill demo: PASSED") {
				t.Fatalf("demo: exit %d\n%s", code, out)
			}
			if took > time.Minute {
				t.Errorf("the demo took %s; it must finish well under a minute", took)
			}
			for _, line := range tc.says {
				if !strings.Contains(out, line) {
					t.Errorf("the demo did not say which database it used (%q):\n%s", line, out)
				}
			}
			for _, alarm := range tc.quiet {
				if strings.Contains(out, alarm) {
					t.Errorf("the demo alarms its user with %q:\n%s", alarm, out)
				}
			}
			m := regexp.MustCompile(`(?m)^Report: (\S+)$`).FindStringSubmatch(out)
			if m == nil {
				t.Fatalf("no report path printed:\n%s", out)
			}
			rn := run.Run{Dir: filepath.Dir(m[1])}
			if !strings.HasPrefix(rn.Dir, stateDir) {
				t.Errorf("report %s is outside the state directory %s", m[1], stateDir)
			}
			for _, f := range []string{rn.ReportHTML(), rn.ReportJSON(), rn.ReportJUnit(), rn.ReportMetrics()} {
				if _, err := os.Stat(f); err != nil {
					t.Errorf("the demo left no %s: %v", f, err)
				}
			}
			raw, err := os.ReadFile(rn.ReportJSON())
			if err != nil {
				t.Fatal(err)
			}
			var r drills.Report
			if err := json.Unmarshal(raw, &r); err != nil {
				t.Fatal(err)
			}
			if r.Outcome != drills.OutcomePassed || len(r.Instances) == 0 {
				t.Fatalf("report: outcome %s with %d instance(s)", r.Outcome, len(r.Instances))
			}
			for _, in := range r.Instances {
				if in.Outcome != "recovered" {
					t.Errorf("instance %s: %s", in.ID, in.Outcome)
				}
			}
			// The page the demo points at must show its timeline in a browser, with no server.
			for span, px := range drillstest.TimelinePixels(drillstest.Screenshot(t, m[1])) {
				t.Logf("%s bars: %d pixels", span, px)
				if px < 200 {
					t.Errorf("the demo's report shows %d pixels of %s bars; its timeline did not render", px, span)
				}
			}
		})
	}
}
