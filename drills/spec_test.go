package drills

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/osdr/osdr/inject"
)

var kinds = inject.Kinds()

func TestValidDrillLoads(t *testing.T) {
	d, err := Load("testdata/valid.yaml", kinds)
	if err != nil {
		t.Fatal(err)
	}
	if d.Name != "weekly-compute-1" || d.Recovery.Timeout.Duration != 30*time.Minute || d.Verification.Deadline.Duration != 5*time.Minute ||
		len(d.Faults) != 2 || d.Faults[1].Kind != "guest-destroy" || !slices.Equal(d.Guards.AllowedRegions, []string{"RegionOne"}) ||
		d.Recovery.APIRate != 5 || d.Schedule != "0 3 * * 1" || d.Reports.MetricsTextfile != "/var/lib/node_exporter/textfile_collector/osdr.prom" {
		t.Errorf("drill = %+v", d)
	}
}

// testdata/valid.yaml, line by line, for the positions below:
//
//	 1 apiVersion: osdr.dev/v1
//	 2 kind: Drill
//	 3 name: weekly-compute-1
//	 4 description: …
//	 5 cloud:
//	 6   osCloud: staging
//	 7 guards:
//	 8   staging: true
//	 9   allowedEndpoints: ["https://keystone.staging.example.net:5000/v3"]
//	10   allowedRegions: [RegionOne]
//	11   maxHosts: 1
//	12   maxInstances: 5
//	13   maxVolumes: 10
//	14 targets:
//	15   hosts: [compute-1]
//	16 faults:
//	17   - kind: iscsi-session
//	18   - kind: guest-destroy
//	19 recovery:
//	20   guestReboot: fstab
//	21   concurrency: 4
//	22   apiRate: 5
//	23   timeout: 30m
//	24 verification:
//	25   labels: "attachments || states"
//	26   deadline: 5m
//	27 reports:
//	28   metricsTextfile: /var/lib/node_exporter/textfile_collector/osdr.prom
//	29 schedule: "0 3 * * 1"
//
// Each case edits the valid file and lists every problem it must report, as "drill.yaml:line:column: " and
// the start of the problem.
func TestInvalidDrillsSayWhereTheyAreWrong(t *testing.T) {
	valid, err := os.ReadFile("testdata/valid.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		edits []string // from, to, from, to, …
		want  []string
	}{
		{"not staging", []string{"staging: true", "staging: false"},
			[]string{"drill.yaml:8:12: guards.staging: must be true"}},
		{"no endpoints", []string{`allowedEndpoints: ["https://keystone.staging.example.net:5000/v3"]`, "allowedEndpoints: []"},
			[]string{"drill.yaml:9:3: guards.allowedEndpoints: list the Keystone URLs"}},
		{"relative endpoint", []string{"https://keystone.staging.example.net:5000/v3", "keystone/v3"},
			[]string{`drill.yaml:9:22: guards.allowedEndpoints[0]: "keystone/v3" is not an absolute http(s) URL`}},
		{"endpoint with a password", []string{"https://keystone", "https://admin:hunter2@keystone"},
			[]string{"drill.yaml:9:22: guards.allowedEndpoints[0]: the URL carries credentials"}},
		{"unbounded blast radius", []string{"maxVolumes: 10", "maxVolumes: 0"},
			[]string{"drill.yaml:13:15: guards.maxVolumes 0 is out of range: it must be between 1 and"}},
		{"negative concurrency", []string{"concurrency: 4", "concurrency: -3"},
			[]string{"drill.yaml:21:16: recovery.concurrency -3 is out of range: it must be between 1 and 65536"}},
		{"negative API rate", []string{"apiRate: 5", "apiRate: -1"},
			[]string{"drill.yaml:22:12: recovery.apiRate -1 is out of range"}},
		{"negative recovery timeout", []string{"timeout: 30m", "timeout: -5s"},
			[]string{"drill.yaml:23:12: recovery.timeout -5s is out of range: it must be between 1s and 24h0m0s"}},
		{"negative verification deadline", []string{"deadline: 5m", "deadline: -5m"},
			[]string{"drill.yaml:26:13: verification.deadline -5m0s is out of range"}},
		{"unknown fault", []string{"kind: guest-destroy", "kind: nova-volume-detach"},
			[]string{`drill.yaml:18:11: faults[1].kind: "nova-volume-detach" is not a fault osdr knows`}},
		{"no targets", []string{"  hosts: [compute-1]", "  hosts: []"},
			[]string{"drill.yaml:14:1: targets: select instances"}},
		{"no faults at all", []string{"  - kind: iscsi-session\n  - kind: guest-destroy\n", ""},
			[]string{"drill.yaml:16:1: faults: name at least one fault"}},
		{"bad guest reboot policy", []string{"guestReboot: fstab", "guestReboot: sometimes"},
			[]string{`drill.yaml:20:16: recovery.guestReboot: "sometimes"`}},
		{"bad duration, reported once", []string{"timeout: 30m", "timeout: half an hour"},
			[]string{`drill.yaml:23:12: recovery.timeout: duration "half an hour": want a Go duration`}},
		{"a duration given as a list", []string{"deadline: 5m", "deadline: [5m]"},
			[]string{"drill.yaml:26:13: verification.deadline: want a Go duration"}},
		{"a word where a number goes", []string{"maxHosts: 1", "maxHosts: many"},
			[]string{`drill.yaml:11:13: guards.maxHosts: want a whole number, not "many"`}},
		{"a fraction where a whole number goes", []string{"concurrency: 4", "concurrency: 2.5"},
			[]string{`drill.yaml:21:16: recovery.concurrency: want a whole number, not "2.5"`}},
		{"a word where true goes", []string{"staging: true", "staging: yes"},
			[]string{`drill.yaml:8:12: guards.staging: want true or false, not "yes"`}},
		{"a quoted number", []string{"maxInstances: 5", `maxInstances: "5"`},
			[]string{`drill.yaml:12:17: guards.maxInstances: want a whole number, not "5"`}},
		{"a list where a mapping goes", []string{"cloud:\n  osCloud: staging", "cloud: [staging]"},
			[]string{"drill.yaml:5:8: cloud: want a mapping of osCloud, inventory, not a list"}},
		{"a word where a list goes", []string{"hosts: [compute-1]", "hosts: compute-1"},
			[]string{"drill.yaml:14:1: targets: select instances", `drill.yaml:15:10: targets.hosts: want a list, not "compute-1"`}},
		{"a mapping where a word goes", []string{"kind: iscsi-session", "kind: {name: iscsi-session}"},
			[]string{"drill.yaml:17:11: faults[0].kind: want a string, not a mapping"}},
		{"unknown field (typo), and the field it lacks", []string{"maxHosts: 1", "maxHost: 1"},
			[]string{"drill.yaml:7:1: guards.maxHosts 0 is out of range", "drill.yaml:11:3: guards.maxHost: unknown field (guards has staging, allowedEndpoints"}},
		{"every unknown field", []string{"osCloud: staging", "os_cloud: staging", "concurrency: 4", "concurency: 4", "schedule:", "scheduel:"},
			[]string{"drill.yaml:6:3: cloud.os_cloud: unknown field", "drill.yaml:21:3: recovery.concurency: unknown field", "drill.yaml:29:1: scheduel: unknown field (the drill has apiVersion"}},
		{"a field given twice", []string{"maxInstances: 5", "maxInstances: 5\n  maxInstances: 50"},
			[]string{"drill.yaml:13:3: guards.maxInstances: given twice (first on line 12)"}},
		{"an unknown strategy, and one listed twice", []string{"guestReboot: fstab", "guestReboot: fstab\n  strategies: [guide, fastest, guide]"},
			[]string{`drill.yaml:21:23: recovery.strategies[1]: "fastest", want guide or minimal`, `drill.yaml:21:32: recovery.strategies[2]: "guide" is listed twice`}},
		{"wrong version", []string{"apiVersion: osdr.dev/v1", "apiVersion: v2"},
			[]string{`drill.yaml:1:13: apiVersion: "v2", want "osdr.dev/v1"`}},
		{"wrong kind and name", []string{"kind: Drill", "kind: Job", "name: weekly-compute-1", "name: Weekly_Compute"},
			[]string{`drill.yaml:2:7: kind: "Job"`, `drill.yaml:3:7: name: "Weekly_Compute" must be lowercase`}},
		{"bad label expression", []string{`"attachments || states"`, `"attachments && (states"`},
			[]string{`drill.yaml:25:11: verification.labels: "attachments && (states" is not a label expression: Mismatched '(' - could not find matching ')'. (at character 16)`}},
		{"label expression missing an operand", []string{`"attachments || states"`, `"attachments ||"`},
			[]string{`drill.yaml:25:11: verification.labels: "attachments ||" is not a label expression: Unexpected EOF.`}},
		{"a label no check has", []string{`"attachments || states"`, `"attachments || statse"`},
			[]string{`drill.yaml:25:11: verification.labels: "statse" is not a label; the checks' labels are attachments, states, reachability, integrity`}},
		{"a label expression that selects nothing", []string{`"attachments || states"`, `"attachments && states"`},
			[]string{`drill.yaml:25:11: verification.labels: "attachments && states" selects none of the checks`}},
		{"a cron schedule with four fields", []string{`"0 3 * * 1"`, `"0 3 * *"`},
			[]string{`drill.yaml:29:11: schedule: "0 3 * *" is not a cron schedule (minute hour day-of-month month day-of-week, or @daily, @weekly, …): expected exactly 5 fields`}},
		{"a cron schedule out of range", []string{`"0 3 * * 1"`, `"0 25 * * 1"`},
			[]string{`drill.yaml:29:11: schedule: "0 25 * * 1" is not a cron schedule`}},
		{"a cron schedule that never fires", []string{`"0 3 * * 1"`, `"0 3 30 2 *"`},
			[]string{`drill.yaml:29:11: schedule: "0 3 30 2 *" never fires`}},
		{"a cron schedule with a time zone", []string{`"0 3 * * 1"`, `"CRON_TZ=Europe/Paris 0 3 * * 1"`},
			[]string{"drill.yaml:29:11: schedule: \"CRON_TZ=Europe/Paris 0 3 * * 1\": leave the time zone out"}},
		{"a metrics file node_exporter never reads", []string{"textfile_collector/osdr.prom", "textfile_collector/osdr.txt"},
			[]string{"drill.yaml:28:20: reports.metricsTextfile: \"/var/lib/node_exporter/textfile_collector/osdr.txt\" must be an absolute path ending in .prom"}},
		{"a relative metrics file", []string{"/var/lib/node_exporter/textfile_collector/osdr.prom", "osdr.prom"},
			[]string{"drill.yaml:28:20: reports.metricsTextfile: \"osdr.prom\" must be an absolute path"}},
		{"a Pushgateway that is no URL", []string{"  metricsTextfile:", "  pushgateway: pushgateway:9091\n  metricsTextfile:"},
			[]string{`drill.yaml:28:16: reports.pushgateway: "pushgateway:9091" is not an absolute http(s) URL`}},
		{"problems everywhere, all of them, in file order", []string{"apiVersion: osdr.dev/v1", "apiVersion: v2", "maxHosts: 1", "maxHosts: 0", "kind: guest-destroy", "kind: pull-the-plug", "schedule:", "scheduel:"},
			[]string{"drill.yaml:1:13: apiVersion", "drill.yaml:11:13: guards.maxHosts 0", "drill.yaml:18:11: faults[1].kind", "drill.yaml:29:1: scheduel: unknown field"}},
		{"malformed YAML", []string{"kind: Drill", "kind: [Drill"},
			[]string{"drill.yaml:1: YAML: did not find expected ',' or ']'"}},
		{"a second document", []string{"schedule:", "---\nschedule:"},
			[]string{"drill.yaml:29:1: a drill file holds one YAML document"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			raw := string(valid)
			for i := 0; i+1 < len(tc.edits); i += 2 {
				edited := strings.Replace(raw, tc.edits[i], tc.edits[i+1], 1)
				if edited == raw {
					t.Fatalf("edit %d changes nothing: %q not found", i/2, tc.edits[i])
				}
				raw = edited
			}
			_, err := Parse("drill.yaml", []byte(raw), kinds)
			var verr *ValidationError
			if !errors.As(err, &verr) {
				t.Fatalf("err = %v, want a ValidationError", err)
			}
			lines := strings.Split(err.Error(), "\n")
			if len(lines) != len(tc.want) || len(verr.Problems) != len(tc.want) {
				t.Fatalf("%d problem(s), want %d:\n%v", len(verr.Problems), len(tc.want), err)
			}
			for i, want := range tc.want {
				if !strings.HasPrefix(lines[i], want) {
					t.Errorf("problem %d:\n  %s\nwant\n  %s…", i, lines[i], want)
				}
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Errorf("the error repeats a password from the file:\n%v", err)
			}
		})
	}
}

// Files that are not drills at all still get one clear problem each.
func TestFilesThatAreNoDrillAtAll(t *testing.T) {
	for _, tc := range []struct{ name, raw, want string }{
		{"empty", "", "drill.yaml: the file is empty: a drill starts with apiVersion: osdr.dev/v1"},
		{"a list", "- a\n- b\n", "drill.yaml:1:1: the drill: want a mapping of apiVersion, kind, name"},
		{"a word", "drill\n", `drill.yaml:1:1: the drill: want a mapping of apiVersion, kind, name`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("drill.yaml", []byte(tc.raw), kinds)
			var verr *ValidationError
			if !errors.As(err, &verr) || len(verr.Problems) != 1 || !strings.HasPrefix(err.Error(), tc.want) {
				t.Errorf("err = %v, want one problem: %s", err, tc.want)
			}
		})
	}
}

// YAML's anchors and aliases are YAML: a drill may use them, and problems inside them are still placed.
func TestAnchorsAndAliasesAreYAMLToo(t *testing.T) {
	valid, err := os.ReadFile("testdata/valid.yaml")
	if err != nil {
		t.Fatal(err)
	}
	raw := strings.Replace(string(valid), "  allowedRegions: [RegionOne]", "  allowedRegions: &regions [RegionOne]", 1)
	raw = strings.Replace(raw, "  hosts: [compute-1]", "  hosts: [compute-1]\n  tags: *regions", 1)
	d, err := Parse("drill.yaml", []byte(raw), kinds)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(d.Targets.Tags, []string{"RegionOne"}) {
		t.Errorf("tags %v", d.Targets.Tags)
	}
}

func TestNextRunsListsWhenTheScheduleFires(t *testing.T) {
	from := time.Date(2026, 11, 25, 3, 0, 0, 0, time.UTC) // a Wednesday
	paris, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		t.Skipf("no time zone database: %v", err)
	}
	for _, tc := range []struct {
		schedule string
		from     time.Time
		n        int
		want     []string
	}{
		{"0 3 * * 1", from, 3, []string{"2026-11-30T03:00:00Z", "2026-12-07T03:00:00Z", "2026-12-14T03:00:00Z"}},
		{"@daily", from, 2, []string{"2026-11-26T00:00:00Z", "2026-11-27T00:00:00Z"}},
		{"*/20 3 * * *", from, 3, []string{"2026-11-25T03:20:00Z", "2026-11-25T03:40:00Z", "2026-11-26T03:00:00Z"}},
		{"@every 90m", from, 2, []string{"2026-11-25T04:30:00Z", "2026-11-25T06:00:00Z"}},
		{"0 3 * * 1", from.In(paris), 1, []string{"2026-11-30T03:00:00+01:00"}},
	} {
		got, err := NextRuns(tc.schedule, tc.from, tc.n)
		if err != nil {
			t.Errorf("NextRuns(%q): %v", tc.schedule, err)
			continue
		}
		var times []string
		for _, t := range got {
			times = append(times, t.Format(time.RFC3339))
		}
		if !slices.Equal(times, tc.want) {
			t.Errorf("NextRuns(%q, %s, %d) = %v, want %v", tc.schedule, tc.from, tc.n, times, tc.want)
		}
	}
	for _, tc := range []struct {
		schedule string
		n        int
		want     string
	}{
		{"0 3 * *", 1, "schedule: \"0 3 * *\" is not a cron schedule"},
		{"0 3 * * 1", 0, "runs 0 is out of range: it must be between 1 and 1000"},
		{"0 3 * * 1", 1001, "runs 1001 is out of range"},
	} {
		if _, err := NextRuns(tc.schedule, from, tc.n); err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("NextRuns(%q, %d) = %v, want %q", tc.schedule, tc.n, err, tc.want)
		}
	}
}

func TestGuardsRefuseAnythingButTheAllowedStagingCloud(t *testing.T) {
	g := Guards{Staging: true, AllowedEndpoints: []string{"https://Keystone.staging.example.net:5000/v3/"}, AllowedRegions: []string{"RegionOne"}, MaxHosts: 1, MaxInstances: 2, MaxVolumes: 3}
	for _, tc := range []struct {
		url, region string
		ok          bool
	}{
		{"https://keystone.staging.example.net:5000/v3", "RegionOne", true},
		{"https://keystone.prod.example.net:5000/v3", "RegionOne", false},
		{"https://keystone.staging.example.net:5000/v3", "RegionTwo", false},
	} {
		err := g.CheckEndpoint(tc.url, tc.region)
		if (err == nil) != tc.ok || (err != nil && !errors.Is(err, ErrGuard)) {
			t.Errorf("CheckEndpoint(%s, %s) = %v, want ok=%v", tc.url, tc.region, err, tc.ok)
		}
	}
	notStaging := g
	notStaging.Staging = false
	if err := notStaging.CheckEndpoint("https://keystone.staging.example.net:5000/v3", "RegionOne"); !errors.Is(err, ErrGuard) {
		t.Errorf("a drill not marked staging ran: %v", err)
	}
	if err := g.CheckBlastRadius(1, 2, 3); err != nil {
		t.Errorf("within limits: %v", err)
	}
	if err := g.CheckBlastRadius(2, 3, 3); !errors.Is(err, ErrGuard) || !strings.Contains(err.Error(), "2 hosts > maxHosts 1") || !strings.Contains(err.Error(), "3 instances > maxInstances 2") {
		t.Errorf("over the limits: %v", err)
	}
}

// The examples shipped for users must stay valid drills.
func TestExampleDrillsAreValid(t *testing.T) {
	paths, err := filepath.Glob("../examples/drills/*.yaml")
	if err != nil || len(paths) == 0 {
		t.Fatalf("no example drills found: %v", err)
	}
	for _, p := range paths {
		if _, err := Load(p, kinds); err != nil {
			t.Errorf("%s: %v", p, err)
		}
	}
}
