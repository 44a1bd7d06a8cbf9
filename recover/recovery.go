package recover

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sort"
	"time"

	"github.com/osdr/osdr/internal/cloud"
	"github.com/osdr/osdr/internal/durable"
	"github.com/osdr/osdr/internal/osapi"
	"github.com/osdr/osdr/internal/run"
)

// Options are an operator's choices for one recovery.
type Options struct {
	Scope Scope
	// ManifestPath names a manifest taken earlier (a scheduled snapshot): the best evidence after a loss.
	ManifestPath string
	// FromDB takes the manifest from the databases alone, when the APIs do not answer.
	FromDB bool
	// Until stops after this step (StepDBClean, StepReboot or StepReattach); empty runs all five.
	Until         Step
	GuestReboot   GuestRebootPolicy
	SkipDownHosts bool
	// AcceptPartialIdentity goes on when the manifest does not record every part of the cloud's identity
	// (a manifest taken without the databases, or without Keystone), as long as nothing it records differs.
	AcceptPartialIdentity bool
	// Strategy is how to recover: StrategyGuide, or StrategyMinimal. Empty means the guide's for a new run
	// and the run's own for a resume; a resume given another is refused.
	Strategy Strategy
	Exec     ExecOptions
	// AfterJournalEntry, when set, runs after every durable journal append: the crash points of the tests
	// that kill a recovery and resume it. The operator binary never sets it.
	AfterJournalEntry func(Entry)
}

// Progress is told what a recovery does as it happens: the plan before the first change, then each event,
// one at a time. Neither may block for long.
type Progress interface {
	Planned(p *Plan, resumed bool)
	Event(e Event)
}

// Recovery runs the guide's procedure on one cloud: it owns the lifecycle (lock, manifest, preflight, plan,
// the five steps, summary) that an operator's `osdr recover` and a drill share.
type Recovery struct {
	cloud *cloud.Cloud
	opts  Options
}

// New prepares a recovery of the cloud; nothing is contacted yet.
func New(c *cloud.Cloud, opts Options) *Recovery { return &Recovery{cloud: c, opts: opts} }

// DryRun is everything before the first change: the manifest (step 1), preflight and the plan, which it
// returns. It changes nothing and writes nothing.
func (r *Recovery) DryRun(ctx context.Context) (*Plan, error) {
	api, dbs, err := r.open(ctx)
	if err != nil {
		return nil, err
	}
	plan, _, err := r.prepare(ctx, api, dbs, "dry-run", dbCleanOptions{count: true})
	return plan, err
}

// Planned says whether a run got as far as its plan: a run that did can be resumed.
func Planned(rn run.Run) bool {
	_, err := os.Stat(rn.Plan())
	return err == nil
}

// Start runs a new recovery in the run's directory: under the cloud's lock, it takes (or reads) the
// manifest, checks preflight, plans, and carries the plan out, telling p as it goes.
func (r *Recovery) Start(ctx context.Context, rn run.Run, p Progress) (*Summary, error) {
	if err := r.opts.Exec.check(); err != nil {
		return nil, err
	}
	if rn.Kind == run.KindRecovery {
		if err := rn.Begin(r.keystone()); err != nil {
			return nil, err
		}
	}
	summary, err := r.start(ctx, rn, p)
	return summary, r.end(rn, summary, err)
}

func (r *Recovery) start(ctx context.Context, rn run.Run, p Progress) (*Summary, error) {
	release, err := r.cloud.Lock(ctx)
	if err != nil {
		return nil, err
	}
	defer release(context.WithoutCancel(ctx))
	api, dbs, err := r.open(ctx)
	if err != nil {
		return nil, err
	}
	plan, m, err := r.prepare(ctx, api, dbs, rn.ID, dbCleanOptions{})
	if err != nil {
		return nil, fmt.Errorf("%w (nothing was changed; run directory %s)", err, rn.Dir)
	}
	if p != nil {
		p.Planned(plan, false)
	}
	return r.execute(ctx, rn, api, dbs, plan, m, p)
}

func (r *Recovery) keystone() string {
	authURL, _ := r.cloud.Endpoint()
	return authURL
}

// end records in the run how the recovery ended. A recovery stopped by its context (Ctrl-C) has not ended:
// it stays unfinished, to be resumed. A drill's run is the drill's to record.
func (r *Recovery) end(rn run.Run, s *Summary, err error) error {
	if rn.Kind != run.KindRecovery || (err != nil && errors.Is(err, context.Canceled)) {
		return err
	}
	status, instances, detail := run.StatusFailed, 0, ""
	switch {
	case err != nil:
		detail = err.Error()
	case s.Failed > 0:
		status, detail = run.StatusPartial, fmt.Sprintf("%d recovered, %d failed, %d left out", s.Recovered, s.Failed, s.Excluded)
	default:
		status, detail = run.StatusSucceeded, fmt.Sprintf("%d recovered, %d left out", s.Recovered, s.Excluded)
	}
	if s != nil {
		instances = s.Recovered + s.Failed
	}
	return errors.Join(err, rn.End(status, instances, detail))
}

// errNotResumable means the run holds no plan to continue: it stopped before anything was changed.
var errNotResumable = errors.New("nothing to resume")

// Resume continues a run after a crash or a kill, as it was planned: every step re-reads the real state and
// the journal before acting, so nothing done is done again and no instance is rebooted twice. A run taken on
// another cloud than the one configured now is refused before any call.
func (r *Recovery) Resume(ctx context.Context, rn run.Run, p Progress) (*Summary, error) {
	if err := r.opts.Exec.check(); err != nil {
		return nil, err
	}
	plan, m, err := loadRun(rn)
	if err != nil {
		return nil, err
	}
	if err := r.checkStrategy(rn, plan); err != nil {
		return nil, err
	}
	if _, err := r.checkIdentity(ctx, m.Cloud.Identity); err != nil {
		return nil, fmt.Errorf("resume run %s: nothing was done: %w", rn.ID, err)
	}
	summary, err := r.resume(ctx, rn, plan, m, p)
	return summary, r.end(rn, summary, err)
}

// errStrategyMismatch means a resume was asked to go on with another strategy than the run's: half a run
// by one strategy and half by another would clean and reattach what the first meant to leave alone.
var errStrategyMismatch = errors.New("another strategy than the run's")

// checkStrategy refuses to resume a run with another strategy than the one its plan and journal record.
func (r *Recovery) checkStrategy(rn run.Run, plan *Plan) error {
	planned := plan.strategy()
	if r.opts.Strategy != "" && r.opts.Strategy != planned {
		return fmt.Errorf("resume run %s: nothing was done: %w: it was planned with --strategy %s, not %s (leave --strategy out to go on with %s)",
			rn.ID, errStrategyMismatch, planned, r.opts.Strategy, planned)
	}
	entries, err := ReadJournal(rn)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		return fmt.Errorf("resume run %s: %w", rn.ID, err)
	}
	for _, e := range entries {
		if e.Step == StepSnapshot && e.Strategy != "" && e.Strategy != planned {
			return fmt.Errorf("resume run %s: nothing was done: %w: its journal records --strategy %s, its plan %s", rn.ID, errStrategyMismatch, e.Strategy, planned)
		}
	}
	return nil
}

func (r *Recovery) resume(ctx context.Context, rn run.Run, plan *Plan, m *Manifest, p Progress) (*Summary, error) {
	release, err := r.cloud.Lock(ctx)
	if err != nil {
		return nil, err
	}
	defer release(context.WithoutCancel(ctx))
	api, dbs, err := r.open(ctx)
	if err != nil {
		return nil, err
	}
	if p != nil {
		p.Planned(plan, true)
	}
	return r.execute(ctx, rn, api, dbs, plan, m, p)
}

func (r *Recovery) open(ctx context.Context) (*osapi.Client, cloud.Databases, error) {
	dbs, err := r.cloud.Databases(ctx)
	if err != nil {
		return nil, cloud.Databases{}, err
	}
	api, err := r.cloud.API(ctx)
	if err != nil {
		return nil, cloud.Databases{}, err
	}
	return api, dbs, nil
}

// checkIdentity sets the identity recorded with the evidence beside this cloud's, and refuses another
// cloud, or a partial identity unless the operator accepted one.
func (r *Recovery) checkIdentity(ctx context.Context, recorded cloud.Identity) (cloud.Comparison, error) {
	now, err := r.cloud.Identity(ctx)
	if err != nil {
		return nil, err
	}
	cmp := cloud.Compare(recorded, now)
	return cmp, cmp.Err(r.opts.AcceptPartialIdentity)
}

// prepare takes or reads the manifest, runs preflight and builds the plan. It changes nothing.
func (r *Recovery) prepare(ctx context.Context, api *osapi.Client, dbs cloud.Databases, runID string, dbOpts dbCleanOptions) (*Plan, *Manifest, error) {
	m, preLoss, err := r.manifest(ctx, api, dbs)
	if err != nil {
		return nil, nil, err
	}
	identity, err := r.checkIdentity(ctx, m.Cloud.Identity)
	if err != nil {
		return nil, nil, fmt.Errorf("manifest %s: %w", cmp.Or(r.opts.ManifestPath, "taken now"), err)
	}
	inScope, err := r.opts.Scope.Select(m)
	if err != nil {
		return nil, nil, err
	}
	decisions, err := preflight(ctx, api, m, inScope, preflightOptions{
		SkipDownHosts: r.opts.SkipDownHosts, PreLossManifest: preLoss, Explicit: r.opts.Scope.Instances,
	})
	if err != nil {
		return nil, nil, err
	}
	r.creditEarlierRuns(decisions)
	strategy := cmp.Or(r.opts.Strategy, StrategyGuide)
	var classes map[string]classification
	if strategy == StrategyMinimal {
		if err := r.cloud.SSHReady(); err != nil {
			return nil, nil, fmt.Errorf("--strategy minimal proves every volume on its compute host over SSH: %w", err)
		}
		if classes, err = classify(ctx, dbs, m, decisions); err != nil {
			return nil, nil, fmt.Errorf("classify the instances: %w", err)
		}
		probePortals(ctx, r.cloud, m, classes)
	}
	var cleaned []string
	for _, d := range decisions {
		if d.Include && (classes == nil || classes[d.Instance.ID].Class == ClassStuck) {
			cleaned = append(cleaned, d.Instance.ID)
		}
	}
	db := &DBPlan{}
	if len(cleaned) > 0 {
		if db, err = planDBClean(ctx, dbs, m, cleaned, dbOpts); err != nil {
			return nil, nil, err
		}
	}
	manifestName := cmp.Or(r.opts.ManifestPath, "(taken by this run)")
	policy := r.opts.GuestReboot
	if policy == "" {
		policy = GuestRebootFstab
	}
	plan := buildPlan(runID, manifestName, m, r.opts.Scope, decisions, classes, db, policy, r.cloud.GuestLogin)
	plan.Strategy, plan.Identity = strategy, identity
	return plan, m, nil
}

// earlierRunsRead bounds how many earlier recoveries and drills are read to tell who brought an instance
// back: a follow-up run comes soon after the one it follows.
const earlierRunsRead = 10

// creditEarlierRuns says, of an instance left out because it runs again, that an earlier osdr run of this
// runs directory rebooted it, when one did: a follow-up run must not blame resume_guests_state_on_host_boot
// for osdr's own work.
func (r *Recovery) creditEarlierRuns(decisions []decision) {
	runningAgain := map[string]int{}
	for i, d := range decisions {
		if d.Reason == reasonRunningAgain {
			runningAgain[d.Instance.ID] = i
		}
	}
	if len(runningAgain) == 0 {
		return
	}
	var earlier []run.Run
	for _, kind := range []run.Kind{run.KindRecovery, run.KindDrill} {
		runs, err := r.cloud.Settings().Runs.List(kind)
		if err != nil {
			return // only a better label is lost
		}
		earlier = append(earlier, runs...)
	}
	sort.Slice(earlier, func(i, j int) bool { return earlier[i].ID > earlier[j].ID })
	for _, rn := range earlier[:min(len(earlier), earlierRunsRead)] {
		entries, err := ReadJournal(rn)
		if err != nil {
			continue
		}
		for _, e := range entries {
			i, ok := runningAgain[e.Instance]
			if ok && e.Step == StepReboot && e.Phase == PhaseDone {
				decisions[i].Reason = "already running again: recovered by osdr run " + rn.ID + " (name it with --instance to run the procedure on it again)"
				delete(runningAgain, e.Instance)
			}
		}
	}
}

// manifest reads the given manifest (checked against the cloud) or takes one now.
func (r *Recovery) manifest(ctx context.Context, api *osapi.Client, dbs cloud.Databases) (m *Manifest, preLoss bool, err error) {
	if r.opts.ManifestPath != "" {
		m, err := ReadManifest(r.opts.ManifestPath)
		if err != nil {
			return nil, false, err
		}
		return m, true, nil
	}
	if r.opts.FromDB {
		m, err = snapshotFromDB(ctx, dbs, Scope{All: true})
	} else {
		m, err = snapshotFromAPI(ctx, api, dbs, Scope{All: true})
	}
	if err != nil {
		return nil, false, fmt.Errorf("step 1, the manifest: %w", err)
	}
	if m.Cloud.Identity, err = r.cloud.Identity(ctx); err != nil {
		return nil, false, err
	}
	m.TakenAt = time.Now().UTC()
	return m, false, nil
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
	// Timing is steps 3 to 5 beside their physical limit.
	Timing *Timing `json:"timing,omitempty"`
	// Strategy is how the run recovered, and Cost what that changed and sent: what sets two strategies
	// side by side.
	Strategy Strategy `json:"strategy"`
	Cost     Cost     `json:"cost"`
}

// Cost is what a recovery changed in the cloud and asked of it. Rows and reboots count the whole run,
// across resumes (they are read from its journal); requests count what this process sent.
type Cost struct {
	APIRequests   osapi.Requests `json:"api_requests"`
	DBRowsChanged int64          `json:"db_rows_changed"`
	HardReboots   int            `json:"hard_reboots"`
	GuestReboots  int            `json:"guest_reboots"`
}

// Complete says whether every instance in scope recovered.
func (s *Summary) Complete() bool { return s.Failed == 0 }

// execute carries out a prepared plan in the run directory: the manifest is made durable first, then step 2
// in one transaction per database, then steps 3 to 5 per instance. A resumed run calls it again with the
// saved plan; every step re-reads real state and the journal before acting.
func (r *Recovery) execute(ctx context.Context, rn run.Run, api *osapi.Client, dbs cloud.Databases, plan *Plan, m *Manifest, p Progress) (*Summary, error) {
	started := time.Now().UTC()
	if _, err := os.Stat(rn.Manifest()); errors.Is(err, os.ErrNotExist) {
		if _, err := WriteManifest(rn, m); err != nil {
			return nil, fmt.Errorf("step 1: %w", err)
		}
	}
	if err := writeJSON(rn.Plan(), "plan", plan); err != nil {
		return nil, err
	}
	journal, err := openJournal(rn)
	if err != nil {
		return nil, err
	}
	defer journal.close()
	journal.afterAppend = r.opts.AfterJournalEntry
	x := &executor{cloud: api, guests: r.cloud, hosts: r.cloud, dbs: dbs, rn: rn, journal: journal, options: r.opts.Exec, until: r.opts.Until, apiRate: r.cloud.APIRate()}
	if p != nil {
		x.emit = p.Event
	}
	requestsBefore := api.Requests()
	if last, ok := journal.last(StepSnapshot, "", ""); !ok || last.Phase != PhaseDone {
		if err := x.recordEntry(Entry{Step: StepSnapshot, Phase: PhaseDone, Detail: "manifest " + rn.Manifest(), Strategy: plan.strategy()}); err != nil {
			return nil, err
		}
	}
	if last, ok := journal.last(StepDBClean, "", ""); !ok || last.Phase != PhaseDone {
		if err := x.cleanDB(ctx, m, plan.cleanedInstances(), plan.DB, ""); err != nil {
			return nil, err
		}
	}
	summary := &Summary{RunID: plan.RunID, Strategy: plan.strategy(), Started: started, Until: r.opts.Until}
	if r.opts.Until != StepDBClean {
		stepsStarted := time.Now()
		summary.Instances = x.recoverAll(ctx, plan, m)
		wall := time.Since(stepsStarted)
		t := x.timing(ctx, wall, summary.Instances, plan.minCalls())
		t.Steps12Seconds = stepsStarted.Sub(started).Seconds()
		summary.Timing = &t
	}
	summary.Finished = time.Now().UTC()
	summary.Cost = x.cost(api.Requests().Sub(requestsBefore))
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
	return summary, writeJSON(rn.Summary(), "summary", summary)
}

// cleanDB is step 2 for the instances, or, with an instance named, the clean of that instance's volumes alone
// when its proof failed. The statements select only rows not cleaned yet, so after a crash the clean is
// planned again from the database as it is: a committed clean plans to nothing, an uncommitted one runs.
func (x *executor) cleanDB(ctx context.Context, m *Manifest, instances []string, db *DBPlan, instance string) error {
	restarted := x.journal.stepStarted(StepDBClean)
	if restarted || db == nil {
		fresh, err := planDBClean(ctx, x.dbs, m, instances, dbCleanOptions{})
		if err != nil {
			return fmt.Errorf("plan the database clean: %w", err)
		}
		db = fresh
	}
	what := "step 2"
	if instance != "" {
		what = "clean the databases of " + instance + "'s volumes"
	}
	if err := x.record(StepDBClean, PhaseIntent, instance, "", fmt.Sprintf("%d statement(s) on the %s schema", len(db.Statements), db.CinderSchema)); err != nil {
		return err
	}
	// One clean at a time: each is one transaction with a backup file of its own.
	x.dbMu.Lock()
	backupPath := x.rn.Backup()
	if _, err := os.Stat(backupPath); err == nil {
		// Keep the first backup: it holds the rows as they were before any clean.
		backupPath = x.rn.LaterBackup(x.journal.len())
	}
	rows, err := applyDBClean(ctx, x.dbs, db, backupPath)
	x.dbMu.Unlock()
	if err != nil {
		_ = x.record(StepDBClean, PhaseFailed, instance, "", err.Error())
		return fmt.Errorf("%s, clean the database: %w", what, err)
	}
	return x.recordEntry(Entry{Step: StepDBClean, Phase: PhaseDone, Instance: instance, Detail: "backup " + backupPath, Rows: rows})
}

func writeJSON(path, what string, v any) error {
	raw, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("encode %s: %w", what, err)
	}
	if err := durable.WriteFile(path, append(raw, '\n'), 0o600); err != nil {
		return fmt.Errorf("save %s: %w", what, err)
	}
	return nil
}

// loadRun reads what a run saved, for a resume.
func loadRun(rn run.Run) (*Plan, *Manifest, error) {
	if !Planned(rn) {
		return nil, nil, fmt.Errorf("%w: run %s has no saved plan (%s): it stopped before its plan was made, so nothing was changed; start a new recovery", errNotResumable, rn.ID, rn.Plan())
	}
	m, err := ReadManifest(rn.Manifest())
	if err != nil {
		return nil, nil, fmt.Errorf("resume run %s: %w", rn.ID, err)
	}
	// Without its journal a run cannot tell which instances it rebooted: going on would reboot them again.
	if _, err := os.Lstat(rn.Journal()); errors.Is(err, os.ErrNotExist) {
		return nil, nil, fmt.Errorf("%w: run %s has a plan but no journal (%s), so what it did is unknown; nothing was done now: check the instances with osdr verify before starting a new recovery", errNotResumable, rn.ID, rn.Journal())
	}
	raw, err := os.ReadFile(rn.Plan())
	if err != nil {
		return nil, nil, fmt.Errorf("read the saved plan: %w", err)
	}
	var p Plan
	if err := json.Unmarshal(raw, &p); err != nil {
		return nil, nil, fmt.Errorf("parse the saved plan %s: %w", rn.Plan(), err)
	}
	return &p, m, nil
}

// UndoDB puts back the rows step 2 changed in a run, under the cloud's lock; refused once step 3 has started:
// by then instances were rebooted against the cleaned rows.
func UndoDB(ctx context.Context, c *cloud.Cloud, rn run.Run) error {
	release, err := c.Lock(ctx)
	if err != nil {
		return err
	}
	defer release(context.WithoutCancel(ctx))
	dbs, err := c.Databases(ctx)
	if err != nil {
		return err
	}
	journal, err := openJournal(rn)
	if err != nil {
		return err
	}
	defer journal.close()
	if journal.stepStarted(StepReboot) || journal.stepStarted(StepReattach) {
		return errors.New("refused: step 3 has started in this run; the saved rows no longer describe a state to return to")
	}
	if last, ok := journal.last(StepDBClean, "", ""); !ok || last.Phase != PhaseDone {
		return errors.New("refused: this run did not complete step 2; there is nothing to undo")
	}
	backup, err := readBackup(rn.Backup())
	if err != nil {
		return err
	}
	if _, err := journal.append(Entry{Step: StepDBClean, Phase: PhaseIntent, Detail: "undo from " + run.BackupName()}); err != nil {
		return err
	}
	if err := undoDBClean(ctx, dbs, backup); err != nil {
		_, _ = journal.append(Entry{Step: StepDBClean, Phase: PhaseFailed, Detail: "undo: " + err.Error()})
		return fmt.Errorf("undo step 2: %w", err)
	}
	_, err = journal.append(Entry{Step: StepDBClean, Phase: PhaseUndone, Detail: "rows restored from " + run.BackupName()})
	return err
}
