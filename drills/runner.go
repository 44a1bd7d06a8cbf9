package drills

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/osdr/osdr/inject"
	"github.com/osdr/osdr/internal/cloud"
	"github.com/osdr/osdr/internal/durable"
	"github.com/osdr/osdr/internal/osapi"
	"github.com/osdr/osdr/internal/run"
	"github.com/osdr/osdr/recover"
	"github.com/osdr/osdr/suites"
)

// runState marks a drill run as running or finished; a run found "running" when the next drill of the same
// name starts (under the cloud lock) was interrupted, and is restored and recovered first.
type runState struct {
	Drill    string    `json:"drill"`
	Status   string    `json:"status"` // running, finished
	Started  time.Time `json:"started"`
	Finished time.Time `json:"finished,omitempty"`
	// Round and Strategy are the round under way of a drill that sets strategies side by side: where its
	// fault record and recovery are, and how it recovers.
	Round    string           `json:"round,omitempty"`
	Strategy recover.Strategy `json:"strategy,omitempty"`
}

// Runner runs one drill on one cloud.
type Runner struct {
	Drill *Drill
	Cloud *cloud.Cloud
	// Log receives one line per phase.
	Log io.Writer
	// Progress is told the recovery's plan and events.
	Progress recover.Progress
	// AfterJournalEntry is passed to the recovery: the crash points of the tests that kill a drill.
	AfterJournalEntry func(recover.Entry)
	// Cleanup bounds the restore-and-recover that runs after a failure or an interrupt, on a context of its own.
	Cleanup time.Duration
}

type drillRun struct {
	*Runner
	run run.Run
	// round is where the current round's fault record and recovery live: the run itself, or one of its
	// rounds when the drill sets strategies side by side; strategy is how the round recovers.
	round    run.Run
	strategy recover.Strategy
	report   *Report
	manifest *recover.Manifest
	targets  []string
	record   *inject.Record
	// recovered says the recovery finished with every instance recovered: nothing to clean up.
	recovered bool
	// summary and checks are the current round's recovery summary and last verification.
	summary *recover.Summary
	checks  *suites.Report
}

// strategyReport sets down how the current round went: what its recovery cost and what its verification
// found.
func (d *drillRun) strategyReport(err error) StrategyReport {
	r := StrategyReport{Strategy: string(d.strategy), Outcome: OutcomePassed}
	if err != nil {
		r.Outcome, r.Error = OutcomeFailed, err.Error()
	}
	for _, p := range d.report.Phases {
		if p.Name == PhaseRecover && p.Strategy == string(d.strategy) {
			r.RecoverySeconds = p.Finished.Sub(p.Started).Seconds()
		}
	}
	if s := d.summary; s != nil {
		r.Cost = s.Cost
		r.Classes = map[string]int{}
		for _, in := range s.Instances {
			if in.Class != "" {
				r.Classes[string(in.Class)]++
			}
			if in.FellBack != "" {
				r.FellBack++
			}
		}
	}
	if c := d.checks; c != nil {
		for _, res := range c.Results {
			switch res.State {
			case suites.StatePassed:
				r.ChecksPassed++
			case suites.StateFailed:
				r.ChecksFailed = append(r.ChecksFailed, res.Name)
			case suites.StateSkipped:
				r.ChecksSkipped = append(r.ChecksSkipped, res.Name+": "+strings.Join(res.Causes, "; "))
			}
		}
	}
	return r
}

func (r *Runner) logf(format string, args ...any) {
	if r.Log != nil {
		fmt.Fprintf(r.Log, format+"\n", args...)
	}
}

// Execute runs the drill in rn: guards, lock, snapshot, preflight with stamps, inject, observe, recover,
// verify, report. Whatever happens after the first fault, the faults are restored and the targets recovered
// from the saved records before Execute returns, and the report says what happened. previous lists earlier
// drill runs, searched for an interrupted run of the same drill.
func (r *Runner) Execute(ctx context.Context, rn run.Run, previous []run.Run) (*Report, error) {
	d := r.newRun(rn, time.Now().UTC())
	if err := rn.Begin(d.report.Cloud); err != nil {
		return nil, err
	}
	if err := writeState(rn, runState{Drill: r.Drill.Name, Status: "running", Started: d.report.Started}); err != nil {
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
	if serr := writeState(rn, runState{Drill: r.Drill.Name, Status: "finished", Started: d.report.Started, Finished: d.report.Finished}); serr != nil {
		err = errors.Join(err, serr)
	}
	if eerr := d.end(); eerr != nil {
		err = errors.Join(err, eerr)
	}
	return d.report, err
}

// end records in the run how the drill ended, for run history.
func (d *drillRun) end() error {
	status := run.StatusFailed
	if d.report.Outcome == OutcomePassed {
		status = run.StatusSucceeded
	}
	return d.run.End(status, len(d.report.Instances), string(d.report.Outcome)+": "+d.report.Summary)
}

func (r *Runner) newRun(rn run.Run, started time.Time) *drillRun {
	authURL, _ := r.Cloud.Endpoint()
	return &drillRun{Runner: r, run: rn, round: rn, strategy: recover.StrategyGuide,
		report: &Report{Drill: r.Drill.Name, RunID: rn.ID, Cloud: authURL, Started: started}}
}

func (d *drillRun) phase(name string, f func() error) error {
	rec := PhaseRecord{Name: name, Started: time.Now().UTC()}
	if d.round != d.run {
		rec.Strategy = string(d.strategy)
	}
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

// checkGuards refuses a cloud the drill may not touch, before anything of it is opened.
func (r *Runner) checkGuards() error {
	return r.Drill.Guards.CheckEndpoint(r.Cloud.Endpoint())
}

func (d *drillRun) execute(ctx context.Context, previous []run.Run) error {
	if err := d.phase(PhaseGuards, d.checkGuards); err != nil {
		return err
	}
	release, err := d.Cloud.Lock(ctx)
	if err != nil {
		d.phase(PhaseGuards, func() error { return err })
		return err
	}
	defer release(context.WithoutCancel(ctx))

	// Under the lock, a run of this drill still marked running was interrupted (killed, crashed): its faults
	// may still be in place. Put them back before breaking anything else.
	for _, prev := range previous {
		st, err := readState(prev)
		if err != nil || st.Drill != d.Drill.Name || st.Status != "running" {
			continue
		}
		if err := d.phase(PhaseRestore, func() error { return d.Runner.finishInterrupted(ctx, prev, st, d.run.ID) }); err != nil {
			return fmt.Errorf("an interrupted run %s could not be restored: %w", prev.ID, err)
		}
	}

	for _, step := range []struct {
		name string
		do   func(context.Context) error
	}{
		{PhaseSnapshot, d.snapshot},
		{PhasePreflight, d.preflight},
	} {
		if err := d.phase(step.name, func() error { return step.do(ctx) }); err != nil {
			return err
		}
	}
	strategies := d.Drill.strategies()
	for _, strategy := range strategies {
		if len(strategies) > 1 {
			// Each round keeps its own fault record and journal: the first round's reboots must not stop the
			// second's. The verification that ended the round before is the steady state this one starts from.
			round, err := d.run.Round(string(strategy))
			if err != nil {
				return err
			}
			d.round, d.record, d.recovered = round, nil, false
		}
		d.strategy, d.summary, d.checks = strategy, nil, nil
		if err := writeState(d.run, runState{Drill: d.Drill.Name, Status: "running", Started: d.report.Started, Round: d.roundName(), Strategy: strategy}); err != nil {
			return err
		}
		err := d.breakAndRecover(ctx)
		if len(strategies) > 1 {
			d.report.Strategies = append(d.report.Strategies, d.strategyReport(err))
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// roundName names the current round's directory; empty when the drill recovers once, in the run itself.
func (d *drillRun) roundName() string {
	if d.round == d.run {
		return ""
	}
	return string(d.strategy)
}

// breakAndRecover is one round: inject the faults, see them take, recover with the round's strategy, verify.
func (d *drillRun) breakAndRecover(ctx context.Context) error {
	for _, step := range []struct {
		name string
		do   func(context.Context) error
	}{
		{PhaseInject, d.inject},
		{PhaseObserve, func(ctx context.Context) error { return inject.Observe(ctx, d.Cloud, d.record, time.Minute) }},
		{PhaseRecover, d.recover},
		{PhaseVerify, func(ctx context.Context) error { return d.verify(ctx, "recovered", d.Drill.Verification.Labels) }},
	} {
		if err := d.phase(step.name, func() error { return step.do(ctx) }); err != nil {
			return err
		}
	}
	return nil
}

// snapshot takes the manifest of the targets and checks the blast radius.
func (d *drillRun) snapshot(ctx context.Context) error {
	m, err := recover.Snapshot(ctx, d.Cloud, d.Drill.Targets.Scope(), recover.SnapshotOptions{})
	if err != nil {
		return err
	}
	for _, in := range m.Instances {
		d.targets = append(d.targets, in.ID)
	}
	hosts, instances, volumes := blastRadius(m)
	if err := d.Drill.Guards.CheckBlastRadius(hosts, instances, volumes); err != nil {
		return err
	}
	d.manifest = m
	_, err = recover.WriteManifest(d.run, m)
	return err
}

// preflight requires the steady state (the checks pass on the healthy targets) and then stamps the volumes.
func (d *drillRun) preflight(ctx context.Context) error {
	labels := "attachments || states"
	machines := d.Cloud.SSHReady() == nil
	if machines {
		labels = "attachments || states || reachability"
	}
	if err := d.verify(ctx, "steady-state", labels); err != nil {
		return fmt.Errorf("steady state does not hold, nothing was injected: %w", err)
	}
	if !machines {
		return nil
	}
	if err := recover.WriteStamps(ctx, d.Cloud, d.manifest); err != nil {
		return err
	}
	_, err := recover.WriteManifest(d.run, d.manifest)
	return err
}

func (d *drillRun) inject(ctx context.Context) error {
	faults, err := d.Drill.faults()
	if err != nil {
		return err
	}
	limits := d.Drill.Guards.limits()
	actions, err := inject.PlanFaults(ctx, d.Cloud, faults, Selection(d.manifest, recover.Selection{Instances: d.targets}), limits)
	if err != nil {
		return err
	}
	var names []string
	for _, f := range faults {
		names = append(names, f.Name())
	}
	d.record = inject.NewRecord(d.round, names, limits, actions)
	return inject.Inject(ctx, d.Cloud, d.record)
}

func (d *drillRun) recovery() *recover.Recovery {
	rp := d.Drill.Recovery
	exec := recover.DefaultExecOptions
	if rp.Concurrency > 0 {
		exec.Concurrency = rp.Concurrency
	}
	if rp.Timeout.Duration > 0 {
		exec.RebootTimeout, exec.AttachTimeout, exec.GuestTimeout = rp.Timeout.Duration, rp.Timeout.Duration, rp.Timeout.Duration
	}
	return recover.New(d.Cloud, recover.Options{
		Scope: recover.Scope{Instances: d.targets}, ManifestPath: d.run.Manifest(), Strategy: d.strategy,
		GuestReboot: recover.GuestRebootPolicy(rp.GuestReboot), Exec: exec, AfterJournalEntry: d.AfterJournalEntry,
	})
}

// recover runs the same engine a real recovery uses, on the targets, in the drill's run directory.
func (d *drillRun) recover(ctx context.Context) error {
	summary, err := d.recovery().Start(ctx, d.round, d.Progress)
	if summary != nil {
		d.summary = summary
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

// verify runs the checks on the targets against the drill's manifest and the recovery's journal, and keeps
// a JUnit report of them in the run directory.
func (d *drillRun) verify(ctx context.Context, name, labels string) error {
	entries, err := recover.ReadJournal(d.round)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	res, err := suites.Verify(ctx, &suites.Target{Manifest: d.manifest, Cloud: d.Cloud, Journal: entries},
		suites.Options{LabelFilter: labels, Deadline: d.Drill.Verification.Deadline.Duration})
	if err != nil {
		return err
	}
	if name == "recovered" {
		d.report.Specs = specResults(res)
		d.recordFinalStates(ctx)
	}
	d.checks = res
	if err := res.JUnit("osdr drill " + d.Drill.Name + " " + name).WriteFile(d.round.Verification(name)); err != nil {
		return err
	}
	if !res.Passed() {
		var failed []string
		for _, s := range res.Results {
			if s.State == suites.StateFailed {
				failed = append(failed, strings.Join(s.Causes, "; "))
			}
		}
		return fmt.Errorf("%d check(s) failed: %s", len(failed), strings.Join(failed, "; "))
	}
	return nil
}

// recordFinalStates notes each instance's Nova status as the verification left it, so the report says
// "ended SHUTOFF" rather than only "a check failed". One list answers every instance; without it the
// report says why the states are missing.
func (d *drillRun) recordFinalStates(ctx context.Context) {
	servers, err := func() ([]osapi.Server, error) {
		api, err := d.Cloud.API(ctx)
		if err != nil {
			return nil, err
		}
		return api.ListServers(ctx, "")
	}()
	if err != nil {
		d.report.Notes = append(d.report.Notes, "final instance states unknown: "+err.Error())
		return
	}
	status := make(map[string]string, len(servers))
	for _, s := range servers {
		status[s.ID] = s.Status
	}
	for i := range d.report.Instances {
		in := &d.report.Instances[i]
		if st, ok := status[in.ID]; ok {
			in.FinalState = st
		} else {
			in.FinalState = "DELETED"
		}
	}
}

// DefaultCleanup bounds the restore-and-recover after a failure or an interrupt when Runner.Cleanup is not
// set: long enough to recover a few hundred instances at the default API rate, so a scheduler's stop timeout
// (systemd TimeoutStopSec, a pod's terminationGracePeriodSeconds) must exceed it.
const DefaultCleanup = 30 * time.Minute

// cleanup restores the faults and recovers the targets after a failure or an interrupt, on a context that
// outlives the cancelled one, and records what it did in the report.
func (d *drillRun) cleanup(ctx context.Context, cause error) {
	timeout := d.Cleanup
	if timeout <= 0 {
		timeout = DefaultCleanup
	}
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), timeout)
	defer cancel()
	why := "the drill failed"
	if ctx.Err() != nil {
		why = "the drill was interrupted"
	}
	d.report.Notes = append(d.report.Notes, fmt.Sprintf("%s (%v): restoring the faults and recovering the targets from the saved records", why, cause))
	err := d.phase(PhaseRestore, func() error {
		if err := inject.Restore(cctx, d.Cloud, d.record); err != nil {
			return fmt.Errorf("restore faults: %w", err)
		}
		return d.finishRecovery(cctx)
	})
	if err != nil {
		d.report.Notes = append(d.report.Notes, "cleanup did not finish: "+err.Error()+": the cloud may still be broken; see "+d.round.Dir)
	} else {
		d.report.Notes = append(d.report.Notes, "faults restored and targets recovered")
	}
}

// finishRecovery finishes the recovery this run started, or runs one if it never started.
func (d *drillRun) finishRecovery(ctx context.Context) error {
	rec := d.recovery()
	var summary *recover.Summary
	var err error
	if recover.Planned(d.round) {
		summary, err = rec.Resume(ctx, d.round, d.Progress)
	} else {
		summary, err = rec.Start(ctx, d.round, d.Progress)
	}
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
	entries, _ := recover.ReadJournal(d.run)
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
	if err := d.report.WriteAll(d.run); err != nil {
		return err
	}
	if err := d.report.WriteMetrics(d.run.ReportMetrics()); err != nil {
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

func writeState(rn run.Run, s runState) error {
	raw, err := json.Marshal(s)
	if err != nil {
		return err
	}
	return durable.WriteFile(rn.DrillState(), raw, 0o600)
}

func readState(rn run.Run) (runState, error) {
	var s runState
	raw, err := os.ReadFile(rn.DrillState())
	if err != nil {
		return s, err
	}
	return s, json.Unmarshal(raw, &s)
}

// finishInterrupted restores and recovers an interrupted run from its records, and writes the report it
// never wrote, saying it was interrupted.
func (r *Runner) finishInterrupted(ctx context.Context, prev run.Run, st runState, by string) error {
	d := r.newRun(prev, st.Started)
	m, err := recover.ReadManifest(prev.Manifest())
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	if m != nil {
		d.manifest = m
		for _, in := range m.Instances {
			d.targets = append(d.targets, in.ID)
		}
	}
	if st.Round != "" {
		if d.round, err = prev.Round(st.Round); err != nil {
			return err
		}
		d.strategy = st.Strategy
	}
	if rec, err := inject.LoadRecord(d.round); err == nil {
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
	if err := writeState(prev, runState{Drill: st.Drill, Status: "finished", Started: st.Started, Finished: time.Now().UTC()}); err != nil {
		return err
	}
	if err := d.end(); err != nil {
		return err
	}
	return cleanupErr
}
