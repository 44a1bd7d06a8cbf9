package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/osdr/osdr/internal/iscsi"
	"github.com/osdr/osdr/internal/settings"
	"github.com/osdr/osdr/testenv/sim"
)

// badInput is one input osdr must refuse: the command line (and environment) that gives it, what the refusal
// must say, and what it must never repeat.
type badInput struct {
	family, class, name string
	args                []string
	env                 map[string]string
	want                []string // in the refusal (stderr), or in the output of an input that is accepted
	secret              string   // never in the output
	// accepted marks a hostile input that is valid (a tenant may give an instance any name): it is run with
	// --dry-run, and must be shown harmlessly.
	accepted bool
	// check looks, after the command, at what the input could have reached.
	check func(t *testing.T)
}

// cloudState is what a refused command must leave as it was: the mutating calls the simulated cloud saw and
// every row of the tables a recovery changes.
type cloudState struct {
	audit int
	rows  map[string]map[string]string
}

func stateOf(t *testing.T, s *sim.Sim) cloudState {
	t.Helper()
	return cloudState{audit: len(s.Cloud.AuditLog()), rows: map[string]map[string]string{
		"cinder.volumes":               rowDigests(t, s.CinderDSN, "volumes", "id"),
		"cinder.volume_attachment":     rowDigests(t, s.CinderDSN, "volume_attachment", "id"),
		"nova.instances":               rowDigests(t, s.NovaDSN, "instances", "uuid"),
		"nova.block_device_mapping":    rowDigests(t, s.NovaDSN, "block_device_mapping", "id"),
		"cinder.volume_admin_metadata": rowDigests(t, s.CinderDSN, "volume_admin_metadata", "id"),
	}}
}

// sealedManifest writes a manifest file whose checksum matches body, as if osdr had written it: what a
// hand-edited manifest looks like once its editor recomputed the sum.
func sealedManifest(t *testing.T, dir, name, body string) string {
	t.Helper()
	var compact bytes.Buffer
	if err := json.Compact(&compact, []byte(body)); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	sum := sha256.Sum256(compact.Bytes())
	return writeTestFile(t, dir, name, fmt.Sprintf(`{"manifest": %s, "sha256": "%s"}`, body, hex.EncodeToString(sum[:])))
}

func writeTestFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// journalLines writes JSON bodies as journal lines, each with its checksum, as the journal writes them.
func journalLines(bodies ...string) string {
	var b strings.Builder
	for _, body := range bodies {
		fmt.Fprintf(&b, "%08x %s\n", crc32.ChecksumIEEE([]byte(body)), body)
	}
	return b.String()
}

// TestBadInputsAreRefusedClearlyAndChangeNothing feeds osdr bad inputs of every family it reads from the
// operator or from disk (argv, drill files, manifests, journals, inventories) and of every class (missing,
// malformed, out of range, oversized, hostile), against one simulated cloud after a power cut. Each must be
// refused with a message that says what is wrong, repeat no secret, and leave the cloud as it was: no
// mutating call, no row changed. iscsiadm output and API bodies are tested at their parsers
// (TestBadISCSIOutputIsRefusedAtTheParser here, internal/osapi's TestBadAPIBodiesAreErrorsOfTheCall).
func TestBadInputsAreRefusedClearlyAndChangeNothing(t *testing.T) {
	s := startSim(t, "zed", sim.Shape{Hosts: 1, Instances: 2, VolumesPerInstance: 1, Seed: 41})
	inst := s.Topology.Instances[0]
	if out, errOut, code := osdr(t, "snapshot", "--all"); code != 0 {
		t.Fatalf("snapshot: exit %d\n%s%s", code, out, errOut)
	}
	goodManifest := latestManifest(t)
	powerCut(t, s)

	// A recovery killed right after its first journal entry: planned, its manifest durable, nothing changed.
	t.Setenv(envCrashAfter, "1")
	if out, code := osdrProcess(t, "recover", "--all", "--manifest", goodManifest); code != 137 {
		t.Fatalf("the recovery was not killed after its first entry (exit %d)\n%s", code, out)
	}
	os.Unsetenv(envCrashAfter)
	killed := runOf(newestRun(t))
	goodJournal, err := os.ReadFile(killed.Journal())
	if err != nil {
		t.Fatal(err)
	}
	runsDir := os.Getenv("OSDR_RUNS_DIR")
	// resumable is a copy of the killed run under a new id, with its journal replaced (or removed, for nil).
	var copies int
	resumable := func(journal []byte) string {
		copies++
		id := fmt.Sprintf("20261125T081500.%03dZ-recovery-badbad", copies)
		dir := filepath.Join(runsDir, id)
		if err := os.Mkdir(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		for _, name := range []string{filepath.Base(killed.Manifest()), filepath.Base(killed.Plan())} {
			raw, err := os.ReadFile(filepath.Join(killed.Dir, name))
			if err != nil {
				t.Fatal(err)
			}
			writeTestFile(t, dir, name, string(raw))
		}
		if journal != nil {
			writeTestFile(t, dir, filepath.Base(killed.Journal()), string(journal))
		}
		return id
	}

	dir := t.TempDir()
	manifestRaw, err := os.ReadFile(goodManifest)
	if err != nil {
		t.Fatal(err)
	}
	var envelope struct {
		Manifest json.RawMessage `json:"manifest"`
	}
	if err := json.Unmarshal(manifestRaw, &envelope); err != nil {
		t.Fatal(err)
	}
	var compact bytes.Buffer
	if err := json.Compact(&compact, envelope.Manifest); err != nil {
		t.Fatal(err)
	}
	body := compact.String()
	// edited is the manifest with one JSON value replaced, its checksum made to match.
	edited := func(name, old, replacement string) string {
		if !strings.Contains(body, old) {
			t.Fatalf("%s: the manifest has no %s", name, old)
		}
		return sealedManifest(t, dir, name, strings.Replace(body, old, replacement, 1))
	}
	// cloudless is the manifest with an identity of {}: it must match no cloud.
	var asMap map[string]json.RawMessage
	if err := json.Unmarshal([]byte(body), &asMap); err != nil {
		t.Fatal(err)
	}
	asMap["cloud"] = json.RawMessage(`{}`)
	cloudlessRaw, err := json.Marshal(asMap)
	if err != nil {
		t.Fatal(err)
	}
	cloudless := string(cloudlessRaw)
	// canary is what a journal that is a symbolic link points at: a file of the test's, never a system file.
	const canaryText = "not a journal\n"
	canary := writeTestFile(t, dir, "canary", canaryText)
	const dsnSecret = "Pa55-w0rd-in-argv"
	dsn := "root:" + dsnSecret + "@tcp(127.0.0.1:3306)/cinder"
	ansi := "\x1b[31mred\x1b[0m"
	goodDrill, err := os.ReadFile("../../drills/testdata/valid.yaml")
	if err != nil {
		t.Fatal(err)
	}
	drill := func(name, old, replacement string) string {
		if !strings.Contains(string(goodDrill), old) {
			t.Fatalf("%s: the drill has no %q", name, old)
		}
		return writeTestFile(t, dir, "drill-"+name+".yaml", strings.Replace(string(goodDrill), old, replacement, 1))
	}
	inventory := func(name, content string) string { return writeTestFile(t, dir, "inventory-"+name+".yaml", content) }
	big := strings.Repeat("x", 1<<20)

	cases := []badInput{
		// argv: the flags of every command.
		{family: "argv", class: "missing", name: "recover without a scope", args: []string{"recover"}, want: []string{"--instance", "--host", "--all"}},
		{family: "argv", class: "missing", name: "snapshot without a scope", args: []string{"snapshot"}, want: []string{"--all"}},
		{family: "argv", class: "missing", name: "a flag without its value", args: []string{"recover", "--all", "--manifest"}, want: []string{"flag needs an argument", "--manifest"}},
		{family: "argv", class: "missing", name: "undo-db without a run", args: []string{"recover", "undo-db"}, want: []string{"accepts 1 arg"}},
		{family: "argv", class: "missing", name: "verify without a manifest", args: []string{"verify"}, want: []string{"--manifest"}},
		{family: "argv", class: "missing", name: "a manifest that is not there", args: []string{"recover", "--all", "--manifest", filepath.Join(dir, "absent.json")}, want: []string{"manifest", "absent.json", "no such file"}},
		{family: "argv", class: "missing", name: "a run that is not there", args: []string{"recover", "--resume", "20261125T081500.000Z-recovery-000000"}, want: []string{"20261125T081500.000Z-recovery-000000"}},
		{family: "argv", class: "missing", name: "a DSN file that is not there", args: []string{"recover", "--all", "--dry-run", "--cinder-db-dsn-file", filepath.Join(dir, "absent.dsn")}, want: []string{"--cinder-db-dsn-file", "no such file"}},
		{family: "argv", class: "missing", name: "an inventory that is not there", args: []string{"recover", "--all", "--inventory", filepath.Join(dir, "absent.yaml")}, want: []string{"inventory", "no such file"}},
		{family: "argv", class: "missing", name: "no unfinished run to resume", args: []string{"recover", "--resume", "latest", "--runs-dir", t.TempDir()}, want: []string{"--resume latest", "no running run"}},
		{family: "argv", class: "malformed", name: "an unknown flag", args: []string{"recover", "--al"}, want: []string{"unknown flag: --al"}},
		{family: "argv", class: "malformed", name: "an argument recover does not take", args: []string{"recover", "--all", "compute-1"}, want: []string{"unknown command \"compute-1\""}},
		{family: "argv", class: "malformed", name: "a count that is no number", args: []string{"recover", "--all", "--concurrency", "many"}, want: []string{"--concurrency", "many"}},
		{family: "argv", class: "malformed", name: "a duration without a unit", args: []string{"recover", "--all", "--reboot-timeout", "5"}, want: []string{"--reboot-timeout", "missing unit"}},
		{family: "argv", class: "malformed", name: "an unknown step", args: []string{"recover", "--all", "--until", "everything"}, want: []string{"--until \"everything\"", "db, reboot or reattach"}},
		{family: "argv", class: "malformed", name: "an unknown guest reboot policy", args: []string{"recover", "--all", "--guest-reboot", "sometimes"}, want: []string{"sometimes", "fstab, all or none"}},
		{family: "argv", class: "malformed", name: "an unknown strategy", args: []string{"recover", "--all", "--strategy", "fast"}, want: []string{"fast", "guide or minimal"}},
		{family: "argv", class: "malformed", name: "an unknown output", args: []string{"recover", "--all", "--output", "yaml"}, want: []string{"yaml", "text or json"}},
		{family: "argv", class: "malformed", name: "a run id that is no run id", args: []string{"recover", "--resume", "yesterday"}, want: []string{"yesterday", "want <UTC time>-<kind>-<6 hex digits>"}},
		{family: "argv", class: "malformed", name: "a scope with --resume", args: []string{"recover", "--resume", "latest", "--all"}, want: []string{"--resume continues a run as it was planned"}},
		{family: "argv", class: "malformed", name: "a boolean that is none", args: []string{"recover", "--all", "--dry-run", "--insecure=perhaps"}, want: []string{"--insecure", "perhaps"}},
		{family: "argv", class: "malformed", name: "a boolean variable that is none", args: []string{"recover", "--all", "--dry-run"}, env: map[string]string{settings.EnvAllowInsecureDSNFile: "perhaps"}, want: []string{"$" + settings.EnvAllowInsecureDSNFile, "not a boolean"}},
		{family: "argv", class: "malformed", name: "a label filter that does not parse", args: []string{"verify", "--manifest", goodManifest, "--label-filter", "attachments &&"}, want: []string{"label"}},
		{family: "argv", class: "out of range", name: "no concurrency", args: []string{"recover", "--all", "--concurrency", "0"}, want: []string{"--concurrency 0 is out of range", "between 1 and"}},
		{family: "argv", class: "out of range", name: "a negative concurrency", args: []string{"recover", "--all", "--concurrency", "-3"}, want: []string{"--concurrency -3 is out of range"}},
		{family: "argv", class: "out of range", name: "a concurrency past the fleet", args: []string{"recover", "--all", "--per-host", "1000000"}, want: []string{"--per-host 1000000 is out of range"}},
		{family: "argv", class: "out of range", name: "no logins per backend", args: []string{"recover", "--all", "--per-backend", "0"}, want: []string{"--per-backend 0 is out of range"}},
		{family: "argv", class: "out of range", name: "a negative API rate", args: []string{"recover", "--all", "--api-rate", "-1"}, want: []string{"--api-rate -1 is out of range"}},
		{family: "argv", class: "out of range", name: "a negative timeout", args: []string{"recover", "--all", "--reboot-timeout", "-5s"}, want: []string{"--reboot-timeout -5s is out of range"}},
		{family: "argv", class: "out of range", name: "no attach timeout", args: []string{"recover", "--all", "--attach-timeout", "0s"}, want: []string{"--attach-timeout 0s is out of range"}},
		{family: "argv", class: "out of range", name: "a guest timeout of a year", args: []string{"recover", "--all", "--guest-timeout", "8760h"}, want: []string{"--guest-timeout 8760h0m0s is out of range"}},
		{family: "argv", class: "out of range", name: "a negative verify deadline", args: []string{"verify", "--manifest", goodManifest, "--deadline", "-1m"}, want: []string{"--deadline -1m0s is out of range"}},
		{family: "argv", class: "out of range", name: "a negative keep", args: []string{"runs", "prune", "--keep", "-1"}, want: []string{"--keep"}},
		{family: "argv", class: "out of range", name: "an injection past its blast radius", args: []string{"inject", "iscsi-session", "--host", "compute-1", "--max-hosts", "0"}, want: []string{"--max-hosts 0 is out of range"}},
		{family: "argv", class: "out of range", name: "a size limit of nothing", args: []string{"recover", "--all", "--dry-run"}, env: map[string]string{settings.EnvMaxManifestBytes: "0"}, want: []string{"$" + settings.EnvMaxManifestBytes, "not a positive number of bytes"}},
		{family: "argv", class: "oversized", name: "a count past int64", args: []string{"recover", "--all", "--concurrency", "99999999999999999999"}, want: []string{"--concurrency", "out of range"}},
		{family: "argv", class: "oversized", name: "a duration past int64", args: []string{"recover", "--all", "--reboot-timeout", "9999999999h"}, want: []string{"--reboot-timeout", "invalid duration"}},
		{family: "argv", class: "oversized", name: "an instance id of a megabyte", args: []string{"recover", "--dry-run", "--instance", big}, want: []string{"instance"}},
		{family: "argv", class: "oversized", name: "a manifest from /dev/zero", args: []string{"recover", "--all", "--manifest", "/dev/zero"}, env: map[string]string{settings.EnvMaxManifestBytes: "1024"}, want: []string{"/dev/zero", "over the limit of 1024 bytes", "$" + settings.EnvMaxManifestBytes}},
		{family: "argv", class: "oversized", name: "a manifest over its limit", args: []string{"recover", "--all", "--manifest", goodManifest}, env: map[string]string{settings.EnvMaxManifestBytes: "100"}, want: []string{goodManifest, "over the limit of 100 bytes", "$" + settings.EnvMaxManifestBytes}},
		{family: "argv", class: "hostile", name: "a DSN where a DSN file goes", args: []string{"recover", "--all", "--dry-run", "--cinder-db-dsn-file", dsn}, want: []string{"--cinder-db-dsn-file", "looks like a database DSN"}, secret: dsnSecret},
		{family: "argv", class: "hostile", name: "a DSN where the inventory goes", args: []string{"recover", "--all", "--dry-run", "--inventory", dsn}, want: []string{"--inventory"}, secret: dsnSecret},
		{family: "argv", class: "hostile", name: "a DSN where the Nova DSN file goes", args: []string{"recover", "--all", "--dry-run", "--nova-db-dsn-file", strings.Replace(dsn, "cinder", "nova", 1)}, want: []string{"--nova-db-dsn-file"}, secret: dsnSecret},
		{family: "argv", class: "hostile", name: "a DSN where the SSH key goes", args: []string{"recover", "--all", "--dry-run", "--ssh-key", dsn}, want: []string{"--ssh-key"}, secret: dsnSecret},
		{family: "argv", class: "hostile", name: "a DSN where the manifest goes", args: []string{"recover", "--all", "--manifest", dsn}, want: []string{"manifest"}, secret: dsnSecret},
		{family: "argv", class: "hostile", name: "a DSN where the runs directory goes", args: []string{"recover", "--all", "--runs-dir", dsn}, want: []string{"--runs-dir"}, secret: dsnSecret},
		{family: "argv", class: "hostile", name: "a password in the auth URL", args: []string{"recover", "--all", "--dry-run"}, env: map[string]string{settings.EnvOSAuthURL: "http://admin:" + dsnSecret + "@127.0.0.1:5000/v3", settings.EnvOSCloud: ""}, want: []string{"auth URL"}, secret: dsnSecret},
		{family: "argv", class: "hostile", name: "a run id that climbs out of the runs directory", args: []string{"recover", "--resume", "../../etc"}, want: []string{"want <UTC time>-<kind>-<6 hex digits>"}},
		{family: "argv", class: "hostile", name: "undo-db of a run that climbs out", args: []string{"recover", "undo-db", "../" + killed.ID}, want: []string{"want <UTC time>-<kind>-<6 hex digits>"}},
		{family: "argv", class: "hostile", name: "an instance id that is a path", args: []string{"recover", "--dry-run", "--instance", "../../etc/passwd"}, want: []string{"../../etc/passwd"}},
		{family: "argv", class: "hostile", name: "an instance id with escapes", args: []string{"recover", "--dry-run", "--instance", ansi}, want: []string{`\x1b[31mred`}},
		{family: "argv", class: "hostile", name: "a host with escapes", args: []string{"recover", "--dry-run", "--host", ansi}, want: []string{`\x1b[31mred`}},
		{family: "argv", class: "hostile", name: "a resume of a run with another kind", args: []string{"recover", "--resume", filepath.Base(filepath.Dir(goodManifest))}, want: []string{"snapshot"}},

		// drill files, through `osdr drill validate` and, against the cloud, `osdr drill run`.
		{family: "drill", class: "missing", name: "no drill file", args: []string{"drill", "validate", filepath.Join(dir, "absent.yaml")}, want: []string{"absent.yaml", "no such file"}},
		{family: "drill", class: "missing", name: "an empty drill", args: []string{"drill", "validate", writeTestFile(t, dir, "empty.yaml", "")}, want: []string{"the file is empty"}},
		{family: "drill", class: "missing", name: "no targets", args: []string{"drill", "validate", drill("no-targets", "targets:\n  hosts: [compute-1]\n", "")}, want: []string{"targets: select instances"}},
		{family: "drill", class: "missing", name: "no faults", args: []string{"drill", "validate", drill("no-faults", "faults:\n  - kind: iscsi-session\n  - kind: guest-destroy\n", "")}, want: []string{"faults: name at least one fault"}},
		{family: "drill", class: "missing", name: "no allowed endpoints", args: []string{"drill", "validate", drill("no-endpoints", "  allowedEndpoints: [\"https://keystone.staging.example.net:5000/v3\"]\n", "")}, want: []string{"guards.allowedEndpoints: list the Keystone URLs"}},
		{family: "drill", class: "malformed", name: "YAML that does not parse", args: []string{"drill", "validate", drill("bad-yaml", "kind: Drill", "kind: [Drill")}, want: []string{"YAML"}},
		{family: "drill", class: "malformed", name: "an unknown field", args: []string{"drill", "validate", drill("unknown-field", "maxHosts: 1", "maxHost: 1")}, want: []string{"guards.maxHost: unknown field"}},
		{family: "drill", class: "malformed", name: "a field given twice", args: []string{"drill", "validate", drill("twice", "kind: Drill\n", "kind: Drill\nkind: Drill\n")}, want: []string{"kind: given twice"}},
		{family: "drill", class: "malformed", name: "a number that is a word", args: []string{"drill", "validate", drill("word", "concurrency: 4", "concurrency: four")}, want: []string{"recovery.concurrency: want a whole number"}},
		{family: "drill", class: "malformed", name: "a duration without a unit", args: []string{"drill", "validate", drill("no-unit", "timeout: 30m", "timeout: 30")}, want: []string{"recovery.timeout", "want a Go duration"}},
		{family: "drill", class: "malformed", name: "an unknown fault", args: []string{"drill", "validate", drill("unknown-fault", "kind: guest-destroy", "kind: meteor")}, want: []string{"faults[1].kind: \"meteor\" is not a fault osdr knows"}},
		{family: "drill", class: "malformed", name: "a schedule that is no schedule", args: []string{"drill", "validate", drill("bad-schedule", `"0 3 * * 1"`, `"every monday"`)}, want: []string{"schedule:", "not a cron schedule"}},
		{family: "drill", class: "malformed", name: "two documents", args: []string{"drill", "validate", writeTestFile(t, dir, "two.yaml", string(goodDrill)+"---\n"+string(goodDrill))}, want: []string{"holds one YAML document"}},
		{family: "drill", class: "out of range", name: "no hosts allowed", args: []string{"drill", "validate", drill("max-hosts", "maxHosts: 1", "maxHosts: 0")}, want: []string{"guards.maxHosts 0 is out of range"}},
		{family: "drill", class: "out of range", name: "a negative deadline", args: []string{"drill", "validate", drill("deadline", "deadline: 5m", "deadline: -5m")}, want: []string{"verification.deadline -5m0s is out of range"}},
		{family: "drill", class: "out of range", name: "a negative API rate", args: []string{"drill", "validate", drill("api-rate", "apiRate: 5", "apiRate: -1")}, want: []string{"recovery.apiRate -1 is out of range"}},
		{family: "drill", class: "out of range", name: "a concurrency past the fleet", args: []string{"drill", "validate", drill("concurrency", "concurrency: 4", "concurrency: 100000")}, want: []string{"recovery.concurrency 100000 is out of range"}},
		{family: "drill", class: "out of range", name: "a timeout of a year", args: []string{"drill", "validate", drill("timeout", "timeout: 30m", "timeout: 8760h")}, want: []string{"recovery.timeout 8760h0m0s is out of range"}},
		{family: "drill", class: "out of range", name: "a schedule that never fires", args: []string{"drill", "validate", drill("never", `"0 3 * * 1"`, `"0 0 30 2 *"`)}, want: []string{"schedule:"}},
		{family: "drill", class: "oversized", name: "a drill over its limit", args: []string{"drill", "validate", drill("over-limit", "", "")}, env: map[string]string{settings.EnvMaxDrillFileBytes: "100"}, want: []string{"drill-over-limit.yaml", "over the limit of 100 bytes", "$" + settings.EnvMaxDrillFileBytes}},
		{family: "drill", class: "oversized", name: "a drill from /dev/zero", args: []string{"drill", "validate", "/dev/zero"}, env: map[string]string{settings.EnvMaxDrillFileBytes: "4096"}, want: []string{"/dev/zero", "over the limit of 4096 bytes"}},
		{family: "drill", class: "oversized", name: "a number past int64", args: []string{"drill", "validate", drill("huge", "maxInstances: 5", "maxInstances: 99999999999999999999")}, want: []string{"guards.maxInstances: want a whole number"}},
		{family: "drill", class: "oversized", name: "an alias bomb", args: []string{"drill", "validate", drill("bomb", "description: Power loss of one compute host's volumes, recovered by the guide's procedure.",
			"a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]\ne: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]\nf: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e]\ng: [*f, *f, *f, *f, *f, *f, *f, *f, *f]")}, want: []string{"unknown field"}},
		{family: "drill", class: "hostile", name: "not a staging cloud", args: []string{"drill", "validate", drill("production", "staging: true", "staging: false")}, want: []string{"guards.staging: must be true"}},
		{family: "drill", class: "hostile", name: "credentials in the pushgateway URL", args: []string{"drill", "validate", drill("push", "reports:\n", "reports:\n  pushgateway: https://ops:"+dsnSecret+"@push.example.net\n")}, want: []string{"reports.pushgateway: the URL carries credentials"}, secret: dsnSecret},
		{family: "drill", class: "hostile", name: "credentials in an allowed endpoint", args: []string{"drill", "validate", drill("endpoint", "https://keystone.staging", "https://admin:"+dsnSecret+"@keystone.staging")}, want: []string{"guards.allowedEndpoints[0]: the URL carries credentials"}, secret: dsnSecret},
		{family: "drill", class: "hostile", name: "a metrics file that climbs out", args: []string{"drill", "validate", drill("climb", "/var/lib/node_exporter/textfile_collector/osdr.prom", "../../etc/cron.d/osdr")}, want: []string{"reports.metricsTextfile", "must be an absolute path ending in .prom"}},
		{family: "drill", class: "hostile", name: "a name with escapes", args: []string{"drill", "validate", drill("escapes", "name: weekly-compute-1", "name: \"\\e[31mred\"")}, want: []string{`name: "\x1b[31mred" must be lowercase`}},
		{family: "drill", class: "hostile", name: "a name that is a path", args: []string{"drill", "validate", drill("path-name", "name: weekly-compute-1", "name: ../../etc")}, want: []string{`name: "../../etc" must be lowercase`}},
		{family: "drill", class: "hostile", name: "a time zone in the schedule", args: []string{"drill", "validate", drill("tz", `"0 3 * * 1"`, `"TZ=Europe/Berlin 0 3 * * 1"`)}, want: []string{"leave the time zone out"}},
		{family: "drill", class: "hostile", name: "a run against a cloud it does not allow", args: []string{"drill", "run", drill("not-allowed", "osCloud: staging", "osCloud: \"\"")}, want: []string{"allowedEndpoints"}},
		{family: "drill", class: "hostile", name: "a run past its blast radius", args: []string{"drill", "run", writeTestFile(t, dir, "drill-radius.yaml", strings.NewReplacer(
			"cloud:\n  osCloud: staging\n", "cloud: {}\n", "https://keystone.staging.example.net:5000/v3", s.Cloud.Endpoints().Identity, "  allowedRegions: [RegionOne]\n", "", "maxInstances: 5", "maxInstances: 1").Replace(string(goodDrill)))},
			want: []string{"2 instances > maxInstances 1"}},

		// manifests, through `osdr recover --manifest` against the cloud.
		{family: "manifest", class: "missing", name: "an empty manifest", args: []string{"recover", "--all", "--manifest", writeTestFile(t, dir, "empty.json", "")}, want: []string{"corrupt manifest", "empty.json is not a manifest file"}},
		{family: "manifest", class: "missing", name: "no checksum", args: []string{"recover", "--all", "--manifest", writeTestFile(t, dir, "no-sum.json", strings.Replace(string(manifestRaw), `"sha256"`, `"sha"`, 1))}, want: []string{"corrupt manifest", "checksum mismatch"}},
		{family: "manifest", class: "missing", name: "no instances", args: []string{"recover", "--all", "--manifest", edited("no-instances", `"instances":[`, `"instancez":[`)}, want: []string{"corrupt manifest", "instancez"}},
		{family: "manifest", class: "missing", name: "no cloud", args: []string{"recover", "--all", "--manifest", edited("no-cloud", `"cloud":{"auth_url"`, `"cloud":{},"was":{"auth_url"`)}, want: []string{"corrupt manifest", "was"}},
		{family: "manifest", class: "missing", name: "an empty cloud", args: []string{"recover", "--all", "--manifest", sealedManifest(t, dir, "empty-cloud", cloudless)}, want: []string{"identity"}},
		{family: "manifest", class: "malformed", name: "not JSON", args: []string{"recover", "--all", "--manifest", writeTestFile(t, dir, "text.json", "instance volume device\n")}, want: []string{"corrupt manifest", "not a manifest file"}},
		{family: "manifest", class: "malformed", name: "truncated", args: []string{"recover", "--all", "--manifest", writeTestFile(t, dir, "truncated.json", string(manifestRaw[:len(manifestRaw)/2]))}, want: []string{"corrupt manifest"}},
		{family: "manifest", class: "malformed", name: "a changed device", args: []string{"recover", "--all", "--manifest", writeTestFile(t, dir, "changed.json", strings.Replace(string(manifestRaw), "/dev/vdb", "/dev/vdx", 1))}, want: []string{"corrupt manifest", "checksum mismatch (the file was changed or truncated)"}},
		{family: "manifest", class: "malformed", name: "an unknown field", args: []string{"recover", "--all", "--manifest", edited("unknown", `"instances":[`, `"bogus":1,"instances":[`)}, want: []string{"corrupt manifest", "bogus"}},
		{family: "manifest", class: "malformed", name: "a string where a number goes", args: []string{"recover", "--all", "--manifest", edited("type", `"power_state":`, `"power_state":"on","x":`)}, want: []string{"corrupt manifest", "power_state"}},
		{family: "manifest", class: "out of range", name: "an unknown format", args: []string{"recover", "--all", "--manifest", edited("format", `"format":2`, `"format":99`)}, want: []string{"has format 99, this osdr reads 1 and 2"}},
		{family: "manifest", class: "out of range", name: "a cell that is not configured", args: []string{"recover", "--all", "--manifest", edited("cell", `"cell":0`, `"cell":7`)}, want: []string{"cell 7"}},
		{family: "manifest", class: "out of range", name: "a negative cell", args: []string{"recover", "--all", "--manifest", edited("negative-cell", `"cell":0`, `"cell":-1`)}, want: []string{"cell -1"}},
		{family: "manifest", class: "oversized", name: "a manifest over its limit", args: []string{"recover", "--all", "--manifest", goodManifest}, env: map[string]string{settings.EnvMaxManifestBytes: "512"}, want: []string{"over the limit of 512 bytes", "$" + settings.EnvMaxManifestBytes}},
		{family: "manifest", class: "oversized", name: "a number past int64", args: []string{"recover", "--all", "--manifest", edited("huge", `"power_state":`, `"power_state":99999999999999999999,"x":`)}, want: []string{"corrupt manifest", "power_state"}},
		{family: "manifest", class: "hostile", name: "a manifest of another cloud", args: []string{"recover", "--all", "--manifest", edited("other-cloud", s.Cloud.Endpoints().Identity, "http://127.0.0.1:1/v3")}, want: []string{"another cloud", "nothing was changed"}},
		{family: "manifest", class: "hostile", name: "an instance id that is a path", args: []string{"recover", "--all", "--manifest", edited("path-id", `"id":"`+inst.ID+`"`, `"id":"../../etc/passwd"`)}, want: []string{"../../etc/passwd"}},
		{family: "manifest", class: "hostile", name: "an instance name with escapes", args: []string{"recover", "--all", "--dry-run", "--manifest", edited("escapes", `"name":"`+inst.Name+`"`, `"name":"\u001b[2J\u001b[31mpwned"`)}, want: []string{`(\x1b[2J\x1b[31mpwned)`}, accepted: true},
		{family: "manifest", class: "hostile", name: "a manifest that is a directory", args: []string{"recover", "--all", "--manifest", dir}, want: []string{"read manifest " + dir, "is a directory"}},

		// journals, through `osdr recover --resume` of a run killed after its first entry.
		{family: "journal", class: "missing", name: "no journal", args: []string{"recover", "--resume", resumable(nil)}, want: []string{"has a plan but no journal", "nothing was done now", "osdr verify"}},
		{family: "journal", class: "missing", name: "no manifest", args: func() []string {
			id := resumable(goodJournal)
			os.Remove(filepath.Join(runsDir, id, filepath.Base(killed.Manifest())))
			return []string{"recover", "--resume", id}
		}(), want: []string{"manifest", "no such file"}},
		{family: "journal", class: "missing", name: "no plan", args: func() []string {
			id := resumable(goodJournal)
			os.Remove(filepath.Join(runsDir, id, filepath.Base(killed.Plan())))
			return []string{"recover", "--resume", id}
		}(), want: []string{"has no saved plan", "start a new recovery"}},
		{family: "journal", class: "malformed", name: "a damaged last line", args: []string{"recover", "--resume", resumable(append([]byte("x"), goodJournal[1:]...))}, want: []string{"corrupt journal: line 1 is damaged"}},
		{family: "journal", class: "malformed", name: "a line without its checksum", args: []string{"recover", "--resume", resumable(append(append([]byte{}, goodJournal[9:]...), goodJournal...))}, want: []string{"corrupt journal: line 1 is damaged"}},
		{family: "journal", class: "malformed", name: "text", args: []string{"recover", "--resume", resumable([]byte("rebooted everything\nall fine\n"))}, want: []string{"corrupt journal: line 1 is damaged"}},
		{family: "journal", class: "malformed", name: "a checksummed line that is not JSON", args: []string{"recover", "--resume", resumable([]byte(journalLines("not json", `{"seq":2}`)))}, want: []string{"corrupt journal: line 1 is damaged"}},
		{family: "journal", class: "out of range", name: "a sequence that skips", args: []string{"recover", "--resume", resumable(append(append([]byte{}, goodJournal...), journalLines(`{"seq":5,"step":"reboot","phase":"intent"}`, `{"seq":6}`)...))}, want: []string{"corrupt journal: line 2 has sequence 5, want 2"}},
		{family: "journal", class: "out of range", name: "a sequence that starts at zero", args: []string{"recover", "--resume", resumable([]byte(journalLines(`{"seq":0,"step":"snapshot","phase":"done"}`)))}, want: []string{"corrupt journal: line 1 has sequence 0, want 1"}},
		{family: "journal", class: "out of range", name: "a negative sequence", args: []string{"recover", "--resume", resumable([]byte(journalLines(`{"seq":-1,"step":"snapshot","phase":"done"}`)))}, want: []string{"sequence -1, want 1"}},
		{family: "journal", class: "oversized", name: "a journal over its limit", args: []string{"recover", "--resume", resumable(goodJournal)}, env: map[string]string{settings.EnvMaxJournalBytes: "16"}, want: []string{"journal", "over the limit of 16 bytes", "$" + settings.EnvMaxJournalBytes}},
		{family: "journal", class: "oversized", name: "a sequence past int64", args: []string{"recover", "--resume", resumable([]byte(journalLines(`{"seq":99999999999999999999}`, `{"seq":2}`)))}, want: []string{"corrupt journal: line 1 is damaged"}},
		{family: "journal", class: "hostile", name: "a journal of another strategy", args: []string{"recover", "--resume", resumable([]byte(journalLines(strings.Replace(string(goodJournal[9:len(goodJournal)-1]), `"strategy":"guide"`, `"strategy":"minimal"`, 1))))}, want: []string{"its journal records --strategy minimal, its plan guide"}},
		{family: "journal", class: "hostile", name: "a journal line with escapes", args: []string{"recover", "--resume", resumable([]byte(journalLines(`{"seq":1,"step":"\u001b[2Jsnapshot","phase":"done"}`, `{"seq":2}`)))}, want: []string{`corrupt journal: line 1 has step "\x1b[2Jsnapshot"`}},
		{family: "journal", class: "hostile", name: "a journal that is a symlink to another file", args: func() []string {
			id := resumable(nil)
			if err := os.Symlink(canary, filepath.Join(runsDir, id, filepath.Base(killed.Journal()))); err != nil {
				t.Fatal(err)
			}
			return []string{"recover", "--resume", id}
		}(), want: []string{"corrupt journal", "is a symbolic link", "nothing was read from or written to it"}, check: func(t *testing.T) {
			if raw, err := os.ReadFile(canary); err != nil || string(raw) != canaryText {
				t.Errorf("the file the journal's link points at holds %q (%v), want %q", raw, err, canaryText)
			}
		}},

		// inventories, through --inventory.
		{family: "inventory", class: "missing", name: "a jump host without an address", args: []string{"recover", "--all", "--dry-run", "--inventory", inventory("jump", "hosts:\n  compute-1: {jump: {user: ops}}\n")}, want: []string{"hosts.compute-1: jump: address is required"}},
		{family: "inventory", class: "malformed", name: "YAML that does not parse", args: []string{"recover", "--all", "--dry-run", "--inventory", inventory("bad-yaml", "hosts: [\n")}, want: []string{"inventory (--inventory="}},
		{family: "inventory", class: "malformed", name: "an unknown field", args: []string{"recover", "--all", "--dry-run", "--inventory", inventory("unknown", "hosts:\n  compute-1: {adress: 10.0.0.1}\n")}, want: []string{"hosts.compute-1", "adress"}},
		{family: "inventory", class: "malformed", name: "a host given twice", args: []string{"recover", "--all", "--dry-run", "--inventory", inventory("twice", "hosts:\n  compute-1: {address: 10.0.0.1}\n  compute-1: {address: 10.0.0.2}\n")}, want: []string{`key "compute-1" already set`}},
		{family: "inventory", class: "malformed", name: "a port that is a word", args: []string{"recover", "--all", "--dry-run", "--inventory", inventory("port-word", "hosts:\n  compute-1: {port: ssh}\n")}, want: []string{"hosts.compute-1", `field "port"`}},
		{family: "inventory", class: "malformed", name: "a list where the hosts go", args: []string{"recover", "--all", "--dry-run", "--inventory", inventory("list", "hosts: [compute-1]\n")}, want: []string{"top level (defaults, hosts, guests)"}},
		{family: "inventory", class: "out of range", name: "a port past 65535", args: []string{"recover", "--all", "--dry-run", "--inventory", inventory("port", "hosts:\n  compute-1: {port: 70000}\n")}, want: []string{"port 70000 is out of range 1-65535"}},
		{family: "inventory", class: "out of range", name: "a negative port", args: []string{"recover", "--all", "--dry-run", "--inventory", inventory("negative-port", "defaults: {port: -22}\n")}, want: []string{"defaults: port -22 is out of range"}},
		{family: "inventory", class: "out of range", name: "a jump through a jump", args: []string{"recover", "--all", "--dry-run", "--inventory", inventory("jump-jump", "hosts:\n  compute-1: {jump: {address: a, jump: {address: b}}}\n")}, want: []string{"a jump host is reached directly"}},
		{family: "inventory", class: "oversized", name: "an inventory over its limit", args: []string{"recover", "--all", "--dry-run", "--inventory", inventory("big", "hosts:\n  compute-1: {address: 10.0.0.1}\n")}, env: map[string]string{settings.EnvMaxInventoryBytes: "10"}, want: []string{"over the limit of 10 bytes", "$" + settings.EnvMaxInventoryBytes}},
		{family: "inventory", class: "oversized", name: "a port past int64", args: []string{"recover", "--all", "--dry-run", "--inventory", inventory("huge-port", "hosts:\n  compute-1: {port: 99999999999999999999}\n")}, want: []string{"hosts.compute-1", "port"}},
		{family: "inventory", class: "hostile", name: "a key path with ~", args: []string{"recover", "--all", "--dry-run", "--inventory", inventory("tilde", "defaults: {key: ~/.ssh/id_ed25519}\n")}, want: []string{"~ is not expanded"}},
		{family: "inventory", class: "hostile", name: "an inventory that is a directory", args: []string{"recover", "--all", "--dry-run", "--inventory", dir}, want: []string{"inventory (--inventory=" + dir + ")"}},
		{family: "inventory", class: "hostile", name: "an inventory holding a DSN", args: []string{"recover", "--all", "--dry-run", "--inventory", inventory("dsn", dsn+"\n")}, want: []string{"inventory"}, secret: dsnSecret},
	}
	if n := len(cases); n < 100 {
		t.Fatalf("%d cases, want at least 100", n)
	}
	for _, tc := range cases {
		t.Run(tc.family+"/"+tc.class+"/"+tc.name, func(t *testing.T) {
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			before := stateOf(t, s)
			out, errOut, code := osdr(t, tc.args...)
			shown := errOut
			switch {
			case tc.accepted && code != 0:
				t.Fatalf("refused (exit %d), want accepted\n%s%s", code, out, errOut)
			case tc.accepted:
				shown = out
			case code == 0:
				t.Fatalf("accepted (exit 0), want refused\n%s%s", out, errOut)
			}
			for _, want := range tc.want {
				if !strings.Contains(shown, want) {
					t.Errorf("the output does not say %q:\n%s", want, shown)
				}
			}
			if tc.secret != "" && strings.Contains(out+errOut, tc.secret) {
				t.Errorf("the output repeats the secret:\n%s%s", out, errOut)
			}
			if strings.Contains(out+errOut, "\x1b") {
				t.Errorf("the output carries a raw terminal escape: %q", out+errOut)
			}
			if tc.check != nil {
				tc.check(t)
			}
			after := stateOf(t, s)
			if after.audit != before.audit {
				t.Errorf("%d mutating call(s): %+v", after.audit-before.audit, s.Cloud.AuditLog()[before.audit:])
			}
			for table, rows := range before.rows {
				if changed := changedRows(rows, after.rows[table]); len(changed) > 0 {
					t.Errorf("%s rows changed: %v", table, changed)
				}
			}
		})
	}
}

// TestBadISCSIOutputIsRefusedAtTheParser: iscsiadm's output reaches osdr from the compute hosts over SSH;
// driven end to end it needs hosts that lie, so it is tested at its parsers, in the same classes.
func TestBadISCSIOutputIsRefusedAtTheParser(t *testing.T) {
	const iqn = "iqn.2010-10.org.openstack:volume-0b7a4f7e"
	for _, tc := range []struct {
		class, name, stdout string
		detail              bool
		want                string
	}{
		{"missing", "a session without its target", "tcp: [1] 10.0.0.1:3260,1\n", false, "nothing after the portal"},
		{"missing", "a detail without its portal", "Target: " + iqn + " (non-flash)\n\t\tSID: 1\n", true, "portal"},
		{"malformed", "a sid that is no number", "tcp: [x] 10.0.0.1:3260,1 " + iqn + " (non-flash)\n", false, `session id "x" is not a number`},
		{"malformed", "a portal that is no address", "tcp: [1] ten.0.0.1:3260,1 " + iqn + " (non-flash)\n", false, `"ten.0.0.1" is not an IP address`},
		{"malformed", "a target that is no IQN", "tcp: [1] 10.0.0.1:3260,1 volume-0b7a4f7e (non-flash)\n", false, "volume-0b7a4f7e"},
		{"out of range", "a port past 65535", "tcp: [1] 10.0.0.1:70000,1 " + iqn + " (non-flash)\n", false, "70000"},
		{"out of range", "a sid of zero", "tcp: [0] 10.0.0.1:3260,1 " + iqn + " (non-flash)\n", false, `session id "0" is not a number between 1 and`},
		{"oversized", "a sid past int64", "tcp: [99999999999999999999] 10.0.0.1:3260,1 " + iqn + " (non-flash)\n", false, `session id "99999999999999999999" is not a number between 1 and`},
		{"oversized", "a target name of a megabyte", "tcp: [1] 10.0.0.1:3260,1 iqn.2010-10.org.openstack:" + strings.Repeat("v", 1<<20) + " (non-flash)\n", false, "iqn"},
		{"hostile", "a target with escapes", "tcp: [1] 10.0.0.1:3260,1 iqn.2010-10.org.openstack:\x1b[2Jvolume (non-flash)\n", false, `\x1b[2J`},
		{"hostile", "a target that is a path", "tcp: [1] 10.0.0.1:3260,1 ../../etc/passwd (non-flash)\n", false, "../../etc/passwd"},
	} {
		t.Run(tc.class+"/"+tc.name, func(t *testing.T) {
			var err error
			if tc.detail {
				_, err = iscsi.ParseSessionDetail(tc.stdout)
			} else {
				_, err = iscsi.ParseSessions(tc.stdout)
			}
			if err == nil {
				t.Fatal("accepted, want refused")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("the refusal %q does not say %q", err, tc.want)
			}
			if strings.ContainsRune(err.Error(), 0x1b) || len(err.Error()) > 4096 {
				t.Errorf("the refusal repeats the raw output (%d bytes, escapes): %.200q", len(err.Error()), err)
			}
		})
	}
}
