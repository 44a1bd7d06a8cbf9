package drills

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/osdr/osdr/inject"
	"github.com/osdr/osdr/internal/durable"
	"github.com/osdr/osdr/internal/iscsi"
	"github.com/osdr/osdr/internal/wait"
	"github.com/osdr/osdr/recover"
)

// Env is the cloud a drill runs against, opened by the caller from the settings contract.
type Env struct {
	AuthURL    string
	Region     string
	API        recover.API
	DBs        recover.Databases
	Hosts      inject.Hosts
	Guests     recover.Guests
	GuestLogin func(recover.Instance) recover.GuestLogin
	Verifier   Verifier
	// Emit receives the recovery's progress events.
	Emit func(recover.Event)
	// Log receives one line per phase.
	Log io.Writer
	// AfterJournalEntry is passed to the recovery: the crash points of the tests that kill a drill.
	AfterJournalEntry func(recover.Entry)
}

// Run is a drill's run directory.
type Run struct {
	ID  string
	Dir string
}

// StateFile marks a drill run as running or finished; a run found "running" when the next drill of the same
// name starts (under the cloud lock) was interrupted, and is restored and recovered first.
const StateFile = "drill.json"

type runState struct {
	Drill    string    `json:"drill"`
	Status   string    `json:"status"` // running, finished
	Started  time.Time `json:"started"`
	Finished time.Time `json:"finished,omitempty"`
}

// Runner runs one drill.
type Runner struct {
	Drill *Drill
	Env   Env
	// Cleanup bounds the restore-and-recover that runs after a failure or an interrupt, on a context of its own.
	Cleanup time.Duration
}

type drillRun struct {
	*Runner
	run      Run
	report   *Report
	manifest *recover.Manifest
	targets  []string
	record   *inject.Record
	// recovered says the recovery finished with every instance recovered: nothing to clean up.
	recovered bool
}

func (r *Runner) logf(format string, args ...any) {
	if r.Env.Log != nil {
		fmt.Fprintf(r.Env.Log, format+"\n", args...)
	}
}

// Execute runs the drill in run: guards, lock, preflight, snapshot with stamps, inject, observe, recover,
// verify, report. Whatever happens after the first fault, the faults are restored and the targets recovered
// from the saved records before Execute returns, and the report says what happened. previous lists earlier
// run directories of the runs directory, searched for an interrupted run of the same drill.
func (r *Runner) Execute(ctx context.Context, run Run, previous []Run) (*Report, error) {
	d := &drillRun{Runner: r, run: run, report: &Report{Drill: r.Drill.Name, RunID: run.ID, Cloud: r.Env.AuthURL, Started: time.Now().UTC()}}
	if err := writeState(run.Dir, runState{Drill: r.Drill.Name, Status: "running", Started: d.report.Started}); err != nil {
		return nil, err
	}
	err := d.execute(ctx, previous)
	if d.record != nil && !d.recovered {
		d.cleanup(ctx, err)
	}
	d.finish(err)
	if werr := d.writeReports(ctx); werr != nil {
		err = errors.Join(err, werr)
	}
	if serr := writeState(run.Dir, runState{Drill: r.Drill.Name, Status: "finished", Started: d.report.Started, Finished: d.report.Finished}); serr != nil {
		err = errors.Join(err, serr)
	}
	return d.report, err
}

func (d *drillRun) phase(name string, f func() error) error {
	rec := PhaseRecord{Name: name, Started: time.Now().UTC()}
	d.logf("drill %s: %s ...", d.Drill.Name, name)
	err := f()
	rec.Finished, rec.OK = time.Now().UTC(), err == nil
	if err != nil {
		rec.Error = err.Error()
		d.logf("drill %s: %s failed: %v", d.Drill.Name, name, err)
	}
	d.report.Phases = append(d.report.Phases, rec)
	return err
}

func (d *drillRun) execute(ctx context.Context, previous []Run) error {
	if err := d.phase(PhaseGuards, func() error { return d.Drill.Guards.CheckEndpoint(d.Env.AuthURL, d.Env.Region) }); err != nil {
		return err
	}
	lock, err := recover.AcquireLock(ctx, d.Env.DBs.Cinder, recover.LockName)
	if err != nil {
		d.phase(PhaseGuards, func() error { return err })
		return err
	}
	defer lock.Release(context.WithoutCancel(ctx))

	// Under the lock, a run of this drill still marked running was interrupted (killed, crashed): its faults
	// may still be in place. Put them back before breaking anything else.
	for _, prev := range previous {
		st, err := readState(prev.Dir)
		if err != nil || st.Drill != d.Drill.Name || st.Status != "running" {
			continue
		}
		if err := d.phase(PhaseRestore, func() error { return d.Runner.finishInterrupted(ctx, prev, st, d.run.ID) }); err != nil {
			return fmt.Errorf("an interrupted run %s could not be restored: %w", prev.ID, err)
		}
	}

	if err := d.phase(PhaseSnapshot, func() error { return d.snapshot(ctx) }); err != nil {
		return err
	}
	if err := d.phase(PhasePreflight, func() error { return d.preflight(ctx) }); err != nil {
		return err
	}
	if err := d.phase(PhaseInject, func() error { return d.inject(ctx) }); err != nil {
		return err
	}
	if err := d.phase(PhaseObserve, func() error { return d.observe(ctx) }); err != nil {
		return err
	}
	if err := d.phase(PhaseRecover, func() error { return d.recover(ctx) }); err != nil {
		return err
	}
	return d.phase(PhaseVerify, func() error { return d.verify(ctx, "recovered", d.run.ID, d.Drill.Verification.Labels) })
}

// snapshot takes the manifest of the targets and checks the blast radius.
func (d *drillRun) snapshot(ctx context.Context) error {
	m, err := recover.Snapshot(ctx, d.Env.API, d.Env.DBs, recover.Scope{All: true})
	if err != nil {
		return err
	}
	if d.targets, err = resolveTargets(m, d.Drill.Targets); err != nil {
		return err
	}
	hosts, instances, volumes := blastRadius(m, d.targets)
	if err := d.Drill.Guards.CheckBlastRadius(hosts, instances, volumes); err != nil {
		return err
	}
	m.Restrict(d.targets)
	m.RunID, m.TakenAt = d.run.ID, time.Now().UTC()
	m.Cloud.AuthURL, m.Cloud.Region = d.Env.AuthURL, d.Env.Region
	d.manifest = m
	_, err = recover.WriteManifest(d.run.Dir, m)
	return err
}

// preflight requires the steady state (the suites pass on the healthy targets) and then stamps the volumes.
func (d *drillRun) preflight(ctx context.Context) error {
	labels := "attachments || states"
	if d.Env.Guests != nil {
		labels = "attachments || states || reachability"
	}
	if err := d.verify(ctx, "steady-state", "", labels); err != nil {
		return fmt.Errorf("steady state does not hold, nothing was injected: %w", err)
	}
	if d.Env.Guests == nil {
		return nil
	}
	if err := recover.WriteStamps(ctx, d.Env.Guests, d.Env.GuestLogin, d.manifest); err != nil {
		return err
	}
	_, err := recover.WriteManifest(d.run.Dir, d.manifest)
	return err
}

func (d *drillRun) inject(ctx context.Context) error {
	var faults []inject.Fault
	for _, f := range d.Drill.Faults {
		fault, err := inject.Lookup(f.Kind)
		if err != nil {
			return err
		}
		faults = append(faults, fault)
	}
	g := d.Drill.Guards
	limits := inject.Limits{MaxHosts: g.MaxHosts, MaxInstances: g.MaxInstances, MaxSessions: g.MaxVolumes}
	actions, err := inject.PlanFaults(ctx, d.Env.Hosts, faults, selection(d.manifest, d.targets), limits)
	if err != nil {
		return err
	}
	var names []string
	for _, f := range faults {
		names = append(names, f.Name())
	}
	d.record = inject.NewRecord(d.run.Dir, d.run.ID, names, limits, actions)
	return inject.Inject(ctx, d.Env.Hosts, d.record)
}

// observe waits until the fault shows on the hosts: the sessions gone, the domains shut off.
func (d *drillRun) observe(ctx context.Context) error {
	for _, a := range d.record.Actions {
		a := a
		what := fmt.Sprintf("%s on %s took effect", a.Kind, a.Host)
		err := wait.Until(ctx, what, time.Minute, wait.Polling{First: 100 * time.Millisecond, Max: 2 * time.Second}, func(ctx context.Context) (bool, string, error) {
			switch a.Kind {
			case "iscsi-logout":
				r, err := d.Env.Hosts.RunOnHost(ctx, a.Host, iscsi.ListSessions().String())
				if err != nil {
					return false, "", wait.Retry(err)
				}
				sessions, err := iscsi.SessionsFromResult(r.Stdout, r.Stderr, r.ExitCode)
				if err != nil {
					return false, "", err
				}
				for _, s := range sessions {
					if s.IQN == a.IQN {
						return false, "session of " + a.IQN + " still listed", nil
					}
				}
				return true, "", nil
			default:
				r, err := d.Env.Hosts.RunOnHost(ctx, a.Host, "virsh list --all")
				if err != nil {
					return false, "", wait.Retry(err)
				}
				domains, err := inject.ParseVirshList(r.Stdout)
				if err != nil {
					return false, "", err
				}
				for _, dom := range domains {
					if dom.Name == a.Domain {
						return dom.State != "running", "domain " + dom.State, nil
					}
				}
				return true, "", nil
			}
		})
		if err != nil {
			return err
		}
	}
	return nil
}

func (d *drillRun) recovery() *recover.Recovery {
	rp := d.Drill.Recovery
	policy := recover.GuestRebootPolicy(rp.GuestReboot)
	if policy == "" {
		policy = recover.GuestRebootFstab
	}
	exec := recover.DefaultExecOptions
	if rp.Concurrency > 0 {
		exec.Concurrency = rp.Concurrency
	}
	if rp.Timeout.Duration > 0 {
		exec.RebootTimeout, exec.AttachTimeout, exec.GuestTimeout = rp.Timeout.Duration, rp.Timeout.Duration, rp.Timeout.Duration
	}
	return &recover.Recovery{
		API: d.Env.API, DBs: d.Env.DBs, Guests: d.Env.Guests, GuestLogin: d.Env.GuestLogin, Emit: d.Env.Emit,
		AfterJournalEntry: d.Env.AfterJournalEntry,
		Options: recover.Options{
			Scope: recover.Scope{Instances: d.targets}, ManifestPath: filepath.Join(d.run.Dir, recover.ManifestFile),
			GuestReboot: policy, Exec: exec, Cloud: recover.CloudID{AuthURL: d.Env.AuthURL, Region: d.Env.Region},
		},
	}
}

// recover runs the same engine a real recovery uses, on the targets, in the drill's run directory.
func (d *drillRun) recover(ctx context.Context) error {
	rec := d.recovery()
	plan, m, err := rec.Prepare(ctx, d.run.ID)
	if err != nil {
		return err
	}
	summary, err := rec.Execute(ctx, d.run.Dir, plan, m)
	if summary != nil {
		d.addInstanceResults(summary)
	}
	if err != nil {
		return err
	}
	if !summary.Complete() {
		return fmt.Errorf("%d of %d instance(s) did not recover", summary.Failed, summary.Failed+summary.Recovered)
	}
	d.recovered = true
	return nil
}

func (d *drillRun) verify(ctx context.Context, name, runID, labels string) error {
	if d.Env.Verifier == nil {
		return errors.New("no verifier")
	}
	res, err := d.Env.Verifier.Verify(ctx, VerifyRequest{
		Manifest: filepath.Join(d.run.Dir, recover.ManifestFile), RunID: runID, Labels: labels,
		Deadline: d.Drill.Verification.Deadline.Duration, Name: name, Dir: d.run.Dir,
	})
	if name == "recovered" {
		d.report.Specs = res.Specs
	}
	if err != nil {
		return err
	}
	if !res.Passed {
		var failed []string
		for _, s := range res.Specs {
			if s.State == "failed" {
				failed = append(failed, s.Name)
			}
		}
		return fmt.Errorf("%d spec(s) failed: %s", len(failed), strings.Join(failed, "; "))
	}
	return nil
}

// cleanup restores the faults and recovers the targets after a failure or an interrupt, on a context that
// outlives the cancelled one, and records what it did in the report.
func (d *drillRun) cleanup(ctx context.Context, cause error) {
	timeout := d.Cleanup
	if timeout <= 0 {
		timeout = 30 * time.Minute
	}
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), timeout)
	defer cancel()
	why := "the drill failed"
	if ctx.Err() != nil {
		why = "the drill was interrupted"
	}
	d.report.Notes = append(d.report.Notes, fmt.Sprintf("%s (%v): restoring the faults and recovering the targets from the saved records", why, cause))
	err := d.phase(PhaseRestore, func() error {
		if err := inject.Restore(cctx, d.Env.Hosts, d.record); err != nil {
			return fmt.Errorf("restore faults: %w", err)
		}
		return d.resumeRecovery(cctx)
	})
	if err != nil {
		d.report.Notes = append(d.report.Notes, "cleanup did not finish: "+err.Error()+": the cloud may still be broken; see "+d.run.Dir)
	} else {
		d.report.Notes = append(d.report.Notes, "faults restored and targets recovered")
	}
}

// resumeRecovery finishes the recovery this run started, or runs one if it never started.
func (d *drillRun) resumeRecovery(ctx context.Context) error {
	rec := d.recovery()
	plan, m, err := recover.LoadRun(d.run.Dir)
	if err != nil {
		if plan, m, err = rec.Prepare(ctx, d.run.ID); err != nil {
			return fmt.Errorf("plan the recovery: %w", err)
		}
	}
	summary, err := rec.Execute(ctx, d.run.Dir, plan, m)
	if summary != nil {
		d.addInstanceResults(summary)
	}
	if err != nil {
		return err
	}
	if !summary.Complete() {
		return fmt.Errorf("%d instance(s) did not recover", summary.Failed)
	}
	return nil
}

func (d *drillRun) addInstanceResults(s *recover.Summary) {
	byID := map[string]int{}
	for i, in := range d.report.Instances {
		byID[in.ID] = i
	}
	for _, res := range s.Instances {
		ir := InstanceReport{ID: res.ID, Name: res.Name, Host: res.Host, Outcome: string(res.Outcome), Error: res.Error,
			RecoverySeconds: res.TotalSeconds, StepSeconds: map[string]float64{}}
		for step, secs := range res.StepSeconds {
			ir.StepSeconds[string(step)] = secs
		}
		if i, ok := byID[res.ID]; ok {
			d.report.Instances[i] = ir
		} else {
			d.report.Instances = append(d.report.Instances, ir)
		}
	}
}

// finish sets the outcome and the timelines from the records the run left.
func (d *drillRun) finish(err error) {
	r := d.report
	r.Finished = time.Now().UTC()
	injected := d.record != nil
	switch {
	case err == nil:
		r.Outcome = OutcomePassed
	case !injected:
		r.Outcome = OutcomeAborted
	default:
		r.Outcome = OutcomeFailed
	}
	entries, _ := recover.ReadJournalEntries(d.run.Dir)
	addTimelines(r, entries, d.record)
	recovered, failed := r.Counts()
	switch r.Outcome {
	case OutcomeAborted:
		r.Summary = "Aborted before any fault: " + errString(err)
	case OutcomePassed:
		r.Summary = fmt.Sprintf("Broke %d instance(s), recovered %d in %.1fs, verified.", len(d.targets), recovered, r.RecoverySeconds)
	default:
		r.Summary = fmt.Sprintf("Failed: %s (%d recovered, %d failed).", errString(err), recovered, failed)
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// addTimelines builds each instance's timeline from the fault record and the recovery journal.
func addTimelines(r *Report, entries []recover.Entry, record *inject.Record) {
	spans := map[string][]Span{}
	if record != nil {
		for _, a := range record.Actions {
			if a.Instance != "" && !a.At.IsZero() {
				spans[a.Instance] = append(spans[a.Instance], Span{Name: "fault", Start: a.At, End: a.At})
			}
		}
	}
	var dbStart, dbEnd time.Time
	open := map[string]time.Time{}
	var firstRecovery, lastRecovery time.Time
	for _, e := range entries {
		switch {
		case e.Step == recover.StepDBClean && e.Phase == recover.PhaseIntent:
			dbStart = e.Time
		case e.Step == recover.StepDBClean && e.Phase == recover.PhaseDone:
			dbEnd = e.Time
		case e.Instance != "":
			key := e.Instance + "/" + string(e.Step)
			if e.Phase == recover.PhaseIntent {
				if _, ok := open[key]; !ok {
					open[key] = e.Time
				}
				continue
			}
			start, ok := open[key]
			if !ok {
				start = e.Time
			}
			delete(open, key)
			spans[e.Instance] = append(spans[e.Instance], Span{Name: string(e.Step), Start: start, End: e.Time})
			if firstRecovery.IsZero() || start.Before(firstRecovery) {
				firstRecovery = start
			}
			if e.Time.After(lastRecovery) {
				lastRecovery = e.Time
			}
		}
	}
	if !dbStart.IsZero() {
		firstRecovery = dbStart
	}
	for i := range r.Instances {
		in := &r.Instances[i]
		if !dbStart.IsZero() && !dbEnd.IsZero() {
			in.Timeline = append(in.Timeline, Span{Name: "db-clean", Start: dbStart, End: dbEnd})
		}
		in.Timeline = append(in.Timeline, spans[in.ID]...)
	}
	for _, p := range r.Phases {
		if p.Name == PhaseVerify && p.OK {
			for i := range r.Instances {
				r.Instances[i].Timeline = append(r.Instances[i].Timeline, Span{Name: "verified", Start: p.Started, End: p.Finished})
			}
		}
	}
	if !firstRecovery.IsZero() && lastRecovery.After(firstRecovery) {
		r.RecoverySeconds = lastRecovery.Sub(firstRecovery).Seconds()
	}
}

func (d *drillRun) writeReports(ctx context.Context) error {
	if err := d.report.WriteAll(d.run.Dir); err != nil {
		return err
	}
	if err := d.report.WriteMetrics(filepath.Join(d.run.Dir, ReportMetrics)); err != nil {
		return err
	}
	if p := d.Drill.Reports.MetricsTextfile; p != "" {
		if err := d.report.WriteMetrics(p); err != nil {
			return err
		}
	}
	if u := d.Drill.Reports.Pushgateway; u != "" {
		if err := d.report.PushMetrics(context.WithoutCancel(ctx), u); err != nil {
			return err
		}
	}
	return nil
}

func writeState(dir string, s runState) error {
	raw, err := json.Marshal(s)
	if err != nil {
		return err
	}
	return durable.WriteFile(filepath.Join(dir, StateFile), raw, 0o600)
}

func readState(dir string) (runState, error) {
	var s runState
	raw, err := os.ReadFile(filepath.Join(dir, StateFile))
	if err != nil {
		return s, err
	}
	return s, json.Unmarshal(raw, &s)
}

// finishInterrupted restores and recovers an interrupted run from its records, verifies, and writes the
// report it never wrote, saying it was interrupted.
func (r *Runner) finishInterrupted(ctx context.Context, prev Run, st runState, by string) error {
	d := &drillRun{Runner: r, run: prev, report: &Report{Drill: r.Drill.Name, RunID: prev.ID, Cloud: r.Env.AuthURL, Started: st.Started}}
	m, err := recover.ReadManifest(filepath.Join(prev.Dir, recover.ManifestFile))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	if m != nil {
		d.manifest = m
		for _, in := range m.Instances {
			d.targets = append(d.targets, in.ID)
		}
	}
	if rec, err := inject.LoadRecord(prev.Dir); err == nil {
		d.record = rec
	} else if !errors.Is(err, os.ErrNotExist) {
		return err
	}
	var cleanupErr error
	if d.record != nil {
		d.cleanup(ctx, fmt.Errorf("osdr stopped during the drill; found by run %s", by))
		if last := d.report.Phases[len(d.report.Phases)-1]; !last.OK {
			cleanupErr = errors.New(last.Error)
		}
	} else {
		d.report.Notes = append(d.report.Notes, "osdr stopped during the drill before any fault; nothing to restore (found by run "+by+")")
	}
	d.finish(errors.New("interrupted"))
	d.report.Outcome = OutcomeInterrupted
	d.report.Summary = "Interrupted; " + strings.Join(d.report.Notes, "; ")
	if err := d.writeReports(ctx); err != nil {
		return err
	}
	if err := writeState(prev.Dir, runState{Drill: st.Drill, Status: "finished", Started: st.Started, Finished: time.Now().UTC()}); err != nil {
		return err
	}
	return cleanupErr
}
