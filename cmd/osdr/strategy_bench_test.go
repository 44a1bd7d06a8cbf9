package main

import (
	"bytes"
	"database/sql"
	"encoding/json"
	"os/exec"
	"strings"
	"testing"

	"github.com/osdr/osdr/internal/run"
	"github.com/osdr/osdr/recover"
	"github.com/osdr/osdr/testenv/cloud"
	"github.com/osdr/osdr/testenv/sim"
)

// BenchmarkMinimalBesideTheGuide recovers the same cloud twice from the snapshot taken before the loss, 1,000 instances x 2 volumes with 5% of the
// volumes stuck (spread over attaching, detaching, reserved and error_attaching), once with each strategy,
// each on its own copy built from the same seed and cut the same way, and sets them side by side: API
// requests and steps 3-5 of the minimal strategy over the guide's, the database rows it changed for
// instances it classified reboot-only, and how many verification results differ between the two.
func BenchmarkMinimalBesideTheGuide(b *testing.B) {
	n := benchInstances(b, 1000)
	stuck, err := cloud.ParseStuckShares("0.05")
	if err != nil {
		b.Fatal(err)
	}
	shape := sim.Shape{Hosts: max(1, n/10), Instances: n, VolumesPerInstance: 2, Seed: 47, Stuck: stuck}
	for b.Loop() {
		// Both recover from the snapshot taken before the loss, as the runbook does.
		guideSim, guideManifest := benchSimAfterSnapshot(b, shape, true)
		minimalSim, minimalManifest := benchSimAfterSnapshot(b, shape, true)
		before := dataRowDigests(b, minimalSim)
		guide := benchRecover(b, guideSim, "--api-rate", benchAPIRate, "--strategy", "guide", "--manifest", guideManifest)
		minimal := benchRecover(b, minimalSim, "--api-rate", benchAPIRate, "--strategy", "minimal", "--manifest", minimalManifest)
		rows := rowsChangedForRebootOnly(b, minimalSim, before, minimal)
		differences := verifyDifferences(b, benchVerify(b, guideSim, guide), benchVerify(b, minimalSim, minimal))

		b.ReportMetric(float64(minimal.Cost.APIRequests.Total())/float64(guide.Cost.APIRequests.Total()), "minimal_api_requests_over_guide")
		b.ReportMetric(minimal.Timing.WallSeconds/guide.Timing.WallSeconds, "minimal_wall_over_guide")
		b.ReportMetric(float64(rows), "minimal_rows_reboot_only")
		b.ReportMetric(float64(differences), "minimal_verify_differences")
		classes := map[string]int{}
		for _, in := range minimal.Instances {
			classes[in.Class]++
		}
		b.Logf("%d x 2, %d stuck volumes: guide %d requests, %d rows, %.1fs; minimal %d requests, %d rows, %.1fs, classes %v",
			n, len(minimalSim.Stuck), guide.Cost.APIRequests.Total(), guide.Cost.DBRowsChanged, guide.Timing.WallSeconds,
			minimal.Cost.APIRequests.Total(), minimal.Cost.DBRowsChanged, minimal.Timing.WallSeconds, classes)
		b.Logf("per instance, median and longest: guide %s; minimal %s", stepSpread(guide.Instances), stepSpread(minimal.Instances))
	}
}

// attachmentTables are the rows that record an instance's volumes, with the column naming the volume.
var attachmentTables = []struct{ db, table string }{
	{"cinder", "volumes"}, {"cinder", "volume_attachment"}, {"nova", "block_device_mapping"},
}

// dataRowDigests digests every row of the tables that record attachments, per table.
func dataRowDigests(b *testing.B, s *sim.Sim) map[string]map[string]string {
	out := map[string]map[string]string{}
	for _, t := range attachmentTables {
		out[t.table] = rowDigests(b, dsnOf(s, t.db), t.table, "id")
	}
	return out
}

func dsnOf(s *sim.Sim, db string) string {
	if db == "nova" {
		return s.NovaDSN
	}
	return s.CinderDSN
}

// rowsChangedForRebootOnly counts the rows changed (or added) since before that belong to a volume of an
// instance the recovery classified reboot-only.
func rowsChangedForRebootOnly(b *testing.B, s *sim.Sim, before map[string]map[string]string, r recovery) int {
	rebootOnly := map[string]bool{}
	for _, in := range r.Instances {
		if in.Class == string(recover.ClassRebootOnly) {
			rebootOnly[in.ID] = true
		}
	}
	volumeOwned := map[string]bool{}
	for _, in := range s.Topology.Instances {
		for _, v := range in.Volumes {
			if rebootOnly[in.ID] {
				volumeOwned[v.ID] = true
			}
		}
	}
	changed := 0
	for _, t := range attachmentTables {
		volumeOf := map[string]string{}
		if t.table == "volumes" {
			for id := range before[t.table] {
				volumeOf[id] = id
			}
		} else {
			volumeOf = columnByID(b, dsnOf(s, t.db), t.table, "volume_id")
		}
		for _, id := range changedRows(before[t.table], rowDigests(b, dsnOf(s, t.db), t.table, "id")) {
			if volumeOwned[volumeOf[id]] {
				changed++
			}
		}
	}
	return changed
}

// columnByID reads one column of every row of a table, by the row's id.
func columnByID(b *testing.B, dsn, table, column string) map[string]string {
	db, err := sql.Open("mysql", dsn)
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query("SELECT id, COALESCE(`" + column + "`, '') FROM `" + table + "`")
	if err != nil {
		b.Fatal(err)
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var id, v string
		if err := rows.Scan(&id, &v); err != nil {
			b.Fatal(err)
		}
		out[id] = v
	}
	return out
}

// benchVerify runs `osdr verify` on a recovery's run and returns each check's state by name.
func benchVerify(b *testing.B, s *sim.Sim, r recovery) map[string]string {
	env, err := s.Env()
	if err != nil {
		b.Fatal(err)
	}
	cmd := exec.Command(osdrBinary, "verify", "--manifest", run.Run{ID: r.RunID, Dir: r.RunDir}.Manifest(), "--run", r.RunID, "-o", "json", "--deadline", "3m")
	cmd.Env = append(cmd.Environ(), envList(env)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, _ := cmd.Output() // a failed check exits 1; the result still says which
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	var res Result
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &res); err != nil || len(res.Checks) == 0 {
		b.Fatalf("verify of run %s: no checks (%v; %s)\n%s", r.RunID, err, res.Error, tail(stderr.Bytes()))
	}
	states := map[string]string{}
	for _, c := range res.Checks {
		states[c.Name] = c.State
	}
	return states
}

// verifyDifferences counts the checks whose outcome differs between two verifications of the same cloud. A
// check of a guest rebooted from inside exists only where a strategy rebooted it (the guide reboots a guest
// that booted without its volumes; a reboot-only instance booted with them) and is not a difference.
func verifyDifferences(b *testing.B, guide, minimal map[string]string) int {
	differences := 0
	for name, state := range guide {
		if other, ok := minimal[name]; ok && other == state || !ok && strings.Contains(name, "guest rebooted from inside") {
			continue
		}
		b.Logf("differs: %s: guide %s, minimal %s", name, state, orAbsent(minimal[name]))
		differences++
	}
	for name, state := range minimal {
		if _, ok := guide[name]; !ok && !strings.Contains(name, "guest rebooted from inside") {
			b.Logf("differs: %s: guide absent, minimal %s", name, state)
			differences++
		}
	}
	return differences
}

func orAbsent(s string) string {
	if s == "" {
		return "absent"
	}
	return s
}

func envList(env map[string]string) []string {
	var out []string
	for k, v := range env {
		out = append(out, k+"="+v)
	}
	return out
}
