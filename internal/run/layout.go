package run

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
)

// The files of a run directory. A recovery keeps manifest, plan, journal, backup and summary; an injection
// its fault record; a drill all of these plus its state and reports.
const (
	manifestFile  = "manifest.json"
	planFile      = "plan.json"
	journalFile   = "journal.jsonl"
	backupFile    = "db-backup.json"
	summaryFile   = "summary.json"
	faultsFile    = "inject.json"
	drillFile     = "drill.json"
	reportJSON    = "report.json"
	reportJUnit   = "junit.xml"
	reportHTML    = "report.html"
	reportMetrics = "metrics.prom"
)

// Manifest is the instance↔volume manifest (step 1), checksummed.
func (r Run) Manifest() string { return r.path(manifestFile) }

// Plan is the recovery plan as it was printed before anything changed.
func (r Run) Plan() string { return r.path(planFile) }

// Journal is the recovery's append-only, fsync'ed journal.
func (r Run) Journal() string { return r.path(journalFile) }

// Backup is where step 2 saves the rows it changes. A resumed run that cleans again keeps the first backup
// (the rows as they were before any clean) and numbers later ones by the journal entry that started them.
func (r Run) Backup() string { return r.path(backupFile) }

// LaterBackup is the backup of a clean restarted at journal entry seq.
func (r Run) LaterBackup(seq int) string { return r.path(fmt.Sprintf("db-backup-%d.json", seq)) }

// BackupName is the backup's file name, for messages that point an operator at it.
func BackupName() string { return backupFile }

// Summary is how a recovery ended, instance by instance.
func (r Run) Summary() string { return r.path(summaryFile) }

// Faults is the fault record of an injection: every action, saved before it was taken.
func (r Run) Faults() string { return r.path(faultsFile) }

// DrillState marks a drill run as running or finished.
func (r Run) DrillState() string { return r.path(drillFile) }

// ReportJSON, ReportJUnit, ReportHTML and ReportMetrics are a drill's reports.
func (r Run) ReportJSON() string    { return r.path(reportJSON) }
func (r Run) ReportJUnit() string   { return r.path(reportJUnit) }
func (r Run) ReportHTML() string    { return r.path(reportHTML) }
func (r Run) ReportMetrics() string { return r.path(reportMetrics) }

// Verification is the JUnit report of one verification in the run (steady-state, recovered, or the
// operator's own `osdr verify --run`).
func (r Run) Verification(name string) string { return r.path("verify-" + name + ".xml") }

func (r Run) path(name string) string { return filepath.Join(r.Dir, name) }

// roundsDir holds the rounds of a drill that recovers more than once.
const roundsDir = "rounds"

// roundName is what a round may be called: one path element, never "..".
var roundName = regexp.MustCompile(`^[a-z][a-z0-9-]*$`)

// Round is the directory of one round of a run that breaks and recovers the cloud more than once (a drill
// that sets two recovery strategies side by side): its own manifest copy, plan, journal, backup and fault
// record, so one round's journal never stops another's reboots. It belongs to the run: same id and kind.
func (r Run) Round(name string) (Run, error) {
	if !roundName.MatchString(name) {
		return Run{}, fmt.Errorf("round %q of run %s: want lowercase letters, digits and dashes", name, r.ID)
	}
	dir := filepath.Join(r.Dir, roundsDir, name)
	if err := os.MkdirAll(dir, dirMode); err != nil {
		return Run{}, fmt.Errorf("round %s of run %s: %w", name, r.ID, err)
	}
	return Run{ID: r.ID, Kind: r.Kind, Dir: dir}, nil
}
