package recover

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/osdr/osdr/internal/durable"
)

// API is everything the recovery asks of Nova and Cinder; *osapi.Client is the real one.
type API interface {
	Cloud
	Inventory
}

// Options are an operator's choices for one recovery.
type Options struct {
	Scope Scope
	// ManifestPath names a manifest taken earlier (a scheduled snapshot): the best evidence after a loss.
	ManifestPath string
	// FromDB takes the manifest from the databases alone, when the APIs do not answer.
	FromDB        bool
	Until         Step // StepDBClean, StepReboot, StepReattach, or empty for all five steps
	GuestReboot   GuestRebootPolicy
	SkipDownHosts bool
	Exec          ExecOptions
	Cloud         CloudID
}

// Recovery runs the guide's procedure on one cloud.
type Recovery struct {
	API    API
	DBs    Databases
	Guests Guests
	// GuestLogin tells how each guest is reached, for the plan's SSH commands.
	GuestLogin func(Instance) GuestLogin
	Options    Options
	Emit       func(Event)
	// AfterJournalEntry, when set, runs after every durable journal append: the crash points of the tests
	// that kill a recovery and resume it.
	AfterJournalEntry func(Entry)
}

// PlanFile and SummaryFile are saved in the run directory.
const (
	PlanFile    = "plan.json"
	SummaryFile = "summary.json"
)

// ErrForeignManifest means the manifest was taken on another cloud.
var ErrForeignManifest = errors.New("manifest of another cloud")

// Prepare is everything before the first change: the manifest (step 1), preflight and the plan. It changes
// nothing, so --dry-run is Prepare and printing.
func (r *Recovery) Prepare(ctx context.Context, runID string) (*Plan, *Manifest, error) {
	m, preLoss, err := r.manifest(ctx)
	if err != nil {
		return nil, nil, err
	}
	m.RunID = runID
	inScope, err := r.Options.Scope.Select(m)
	if err != nil {
		return nil, nil, err
	}
	decisions, err := Preflight(ctx, r.API, m, inScope, PreflightOptions{
		SkipDownHosts: r.Options.SkipDownHosts, PreLossManifest: preLoss, Explicit: r.Options.Scope.Instances,
	})
	if err != nil {
		return nil, nil, err
	}
	var included []string
	for _, d := range decisions {
		if d.Include {
			included = append(included, d.Instance.ID)
		}
	}
	db := &DBPlan{}
	if len(included) > 0 {
		if db, err = PlanDBClean(ctx, r.DBs, m, included); err != nil {
			return nil, nil, err
		}
	}
	manifestName := r.Options.ManifestPath
	if manifestName == "" {
		manifestName = "(taken by this run)"
	}
	plan := BuildPlan(runID, manifestName, m, r.Options.Scope, decisions, db, r.Options.GuestReboot, r.GuestLogin)
	return plan, m, nil
}

// manifest reads the given manifest (checked against the cloud) or takes one now.
func (r *Recovery) manifest(ctx context.Context) (m *Manifest, preLoss bool, err error) {
	if r.Options.ManifestPath != "" {
		m, err := ReadManifest(r.Options.ManifestPath)
		if err != nil {
			return nil, false, err
		}
		if err := sameCloud(m.Cloud, r.Options.Cloud); err != nil {
			return nil, false, err
		}
		return m, true, nil
	}
	if r.Options.FromDB {
		m, err = SnapshotFromDB(ctx, r.DBs, Scope{All: true})
	} else {
		m, err = Snapshot(ctx, r.API, r.DBs, Scope{All: true})
	}
	if err != nil {
		return nil, false, fmt.Errorf("step 1, the manifest: %w", err)
	}
	schema := m.Cloud.CinderSchema
	m.Cloud = r.Options.Cloud
	m.Cloud.CinderSchema = schema
	m.TakenAt = time.Now().UTC()
	return m, false, nil
}

// sameCloud refuses a manifest whose recorded cloud differs from this one in what both name.
func sameCloud(recorded, now CloudID) error {
	if recorded.AuthURL != "" && now.AuthURL != "" && recorded.AuthURL != now.AuthURL {
		return fmt.Errorf("%w: it was taken on %s, this is %s", ErrForeignManifest, recorded.AuthURL, now.AuthURL)
	}
	if recorded.Region != "" && now.Region != "" && recorded.Region != now.Region {
		return fmt.Errorf("%w: it was taken in region %s, this is %s", ErrForeignManifest, recorded.Region, now.Region)
	}
	if recorded.CinderDB != "" && now.CinderDB != "" && recorded.CinderDB != now.CinderDB {
		return fmt.Errorf("%w: its Cinder database is %s, this is %s", ErrForeignManifest, recorded.CinderDB, now.CinderDB)
	}
	return nil
}

// Summary is how a recovery ended, instance by instance.
type Summary struct {
	RunID     string           `json:"run_id"`
	Started   time.Time        `json:"started"`
	Finished  time.Time        `json:"finished"`
	Until     Step             `json:"until,omitempty"`
	Instances []InstanceResult `json:"instances"`
	Recovered int              `json:"recovered"`
	Failed    int              `json:"failed"`
	Excluded  int              `json:"excluded"`
}

// Complete says whether every instance in scope recovered.
func (s *Summary) Complete() bool { return s.Failed == 0 }

// Execute carries out a prepared plan in the run directory: the manifest is made durable first, then step 2
// in one transaction per database, then steps 3 to 5 per instance. A resumed run calls it again with the
// saved plan; every step re-reads real state and the journal before acting.
func (r *Recovery) Execute(ctx context.Context, runDir string, plan *Plan, m *Manifest) (*Summary, error) {
	started := time.Now().UTC()
	manifestPath := filepath.Join(runDir, ManifestFile)
	if _, err := os.Stat(manifestPath); errors.Is(err, os.ErrNotExist) {
		if _, err := WriteManifest(runDir, m); err != nil {
			return nil, fmt.Errorf("step 1: %w", err)
		}
	}
	if err := savePlan(runDir, plan); err != nil {
		return nil, err
	}
	journal, err := OpenJournal(runDir)
	if err != nil {
		return nil, err
	}
	defer journal.Close()
	journal.afterAppend = r.AfterJournalEntry
	x := &Executor{Cloud: r.API, Guests: r.Guests, Journal: journal, Options: r.Options.Exec, Emit: r.Emit}
	if last, ok := journal.Last(StepSnapshot, "", ""); !ok || last.Phase != PhaseDone {
		if err := x.record(StepSnapshot, PhaseDone, "", "", "manifest "+manifestPath); err != nil {
			return nil, err
		}
	}
	if last, ok := journal.Last(StepDBClean, "", ""); !ok || last.Phase != PhaseDone {
		if err := r.cleanDB(ctx, x, runDir, m, plan); err != nil {
			return nil, err
		}
	}
	summary := &Summary{RunID: plan.RunID, Started: started, Until: r.Options.Until}
	if r.Options.Until != StepDBClean {
		summary.Instances = x.Run(ctx, plan, m)
	}
	summary.Finished = time.Now().UTC()
	for _, res := range summary.Instances {
		switch res.Outcome {
		case OutcomeRecovered:
			summary.Recovered++
		case OutcomeFailed:
			summary.Failed++
		case OutcomeExcluded:
			summary.Excluded++
		}
	}
	raw, err := json.MarshalIndent(summary, "", "  ")
	if err != nil {
		return summary, fmt.Errorf("encode summary: %w", err)
	}
	if err := durable.WriteFile(filepath.Join(runDir, SummaryFile), append(raw, '\n'), 0o600); err != nil {
		return summary, fmt.Errorf("write summary: %w", err)
	}
	return summary, nil
}

// cleanDB is step 2. The plan's statements select only rows not cleaned yet, so after a crash the step is
// planned again from the database as it is: a committed clean plans to nothing, an uncommitted one runs.
func (r *Recovery) cleanDB(ctx context.Context, x *Executor, runDir string, m *Manifest, plan *Plan) error {
	db := plan.DB
	if x.Journal.StepStarted(StepDBClean) {
		fresh, err := PlanDBClean(ctx, r.DBs, m, plan.IncludedInstances())
		if err != nil {
			return fmt.Errorf("step 2, re-plan after a restart: %w", err)
		}
		db = fresh
	}
	if err := x.record(StepDBClean, PhaseIntent, "", "", fmt.Sprintf("%d statement(s) on the %s schema", len(db.Statements), db.CinderSchema)); err != nil {
		return err
	}
	backupPath := filepath.Join(runDir, BackupFile)
	if x.Journal.StepStarted(StepDBClean) {
		if _, err := os.Stat(backupPath); err == nil {
			// Keep the first backup: it holds the rows as they were before any clean.
			backupPath = filepath.Join(runDir, fmt.Sprintf("db-backup-%d.json", len(x.Journal.Entries())))
		}
	}
	if _, err := ApplyDBClean(ctx, r.DBs, db, backupPath); err != nil {
		_ = x.record(StepDBClean, PhaseFailed, "", "", err.Error())
		return fmt.Errorf("step 2, clean the database: %w", err)
	}
	return x.record(StepDBClean, PhaseDone, "", "", "backup "+backupPath)
}

func savePlan(runDir string, p *Plan) error {
	raw, err := json.MarshalIndent(p, "", "  ")
	if err != nil {
		return fmt.Errorf("encode plan: %w", err)
	}
	if err := durable.WriteFile(filepath.Join(runDir, PlanFile), append(raw, '\n'), 0o600); err != nil {
		return fmt.Errorf("save plan: %w", err)
	}
	return nil
}

// LoadRun reads what a run saved, for --resume.
func LoadRun(runDir string) (*Plan, *Manifest, error) {
	m, err := ReadManifest(filepath.Join(runDir, ManifestFile))
	if err != nil {
		return nil, nil, err
	}
	raw, err := os.ReadFile(filepath.Join(runDir, PlanFile))
	if err != nil {
		return nil, nil, fmt.Errorf("read the saved plan: %w", err)
	}
	var p Plan
	if err := json.Unmarshal(raw, &p); err != nil {
		return nil, nil, fmt.Errorf("parse the saved plan: %w", err)
	}
	return &p, m, nil
}

// UndoDB puts back the rows step 2 changed in a run, refused once step 3 has started: by then instances
// were rebooted against the cleaned rows.
func UndoDB(ctx context.Context, dbs Databases, runDir string) error {
	journal, err := OpenJournal(runDir)
	if err != nil {
		return err
	}
	defer journal.Close()
	if journal.StepStarted(StepReboot) || journal.StepStarted(StepReattach) {
		return errors.New("refused: step 3 has started in this run; the saved rows no longer describe a state to return to")
	}
	if last, ok := journal.Last(StepDBClean, "", ""); !ok || last.Phase != PhaseDone {
		return errors.New("refused: this run did not complete step 2; there is nothing to undo")
	}
	backup, err := ReadBackup(filepath.Join(runDir, BackupFile))
	if err != nil {
		return err
	}
	if _, err := journal.Append(Entry{Step: StepDBClean, Phase: PhaseIntent, Detail: "undo from " + BackupFile}); err != nil {
		return err
	}
	if err := UndoDBClean(ctx, dbs, backup); err != nil {
		_, _ = journal.Append(Entry{Step: StepDBClean, Phase: PhaseFailed, Detail: "undo: " + err.Error()})
		return fmt.Errorf("undo step 2: %w", err)
	}
	_, err = journal.Append(Entry{Step: StepDBClean, Phase: PhaseUndone, Detail: "rows restored from " + BackupFile})
	return err
}
