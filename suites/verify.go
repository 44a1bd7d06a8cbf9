package suites

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"
	"golang.org/x/sync/semaphore"

	"github.com/osdr/osdr/internal/bounds"
	"github.com/osdr/osdr/internal/junit"
	"github.com/osdr/osdr/recover"
)

// State is how a check ended.
type State string

const (
	StatePassed  State = "passed"
	StateFailed  State = "failed"
	StateSkipped State = "skipped"
)

// Options choose what a verification checks and how long it may take.
type Options struct {
	// LabelFilter is a Ginkgo label expression over the families, e.g. "attachments && !integrity".
	LabelFilter string
	// Deadline bounds the whole verification (default 2 minutes): checks run side by side and each polls
	// until it passes or the deadline ends it.
	Deadline time.Duration
	// Concurrency is how many checks that read only the APIs and the databases run at once (default 16).
	Concurrency int
	// Connections is how many machines the verification talks to over SSH at once (default
	// DefaultConnections: 32, the fan-out pdsh and pssh default to). Each machine's checks run back to back
	// over its one connection and the machines take turns, so a verification of thousands of guests neither
	// floods the operator's machine and a jump host with key exchanges nor opens more sessions on one
	// connection than sshd's MaxSessions (10) allows.
	Connections int
	// Poll is how long a failing check waits before it looks again (default 1 s).
	Poll time.Duration
	// Skip names the families the operator chose not to check when they cannot run (no SSH for
	// reachability, no database for the row checks): their skipped checks are reported, not failed. A
	// skipped check of any other family fails the verification, so it is never green for checking less.
	Skip []string
}

// DefaultConnections is how many machines a verification talks to over SSH at once unless told otherwise.
const DefaultConnections = 32

// DeadlineRange is what a verification's deadline may be.
var DeadlineRange = bounds.Range[time.Duration]{Min: time.Second, Max: 24 * time.Hour}

const (
	defaultDeadline    = 2 * time.Minute
	defaultConcurrency = 16
	defaultPoll        = time.Second
)

// Result is one check's outcome. Causes say, one line each, what is wrong (or why it was skipped).
type Result struct {
	Name         string    `json:"name"`
	Family       string    `json:"family"`
	Instance     string    `json:"instance"`
	InstanceName string    `json:"instance_name,omitempty"`
	Volume       string    `json:"volume,omitempty"`
	State        State     `json:"state"`
	Causes       []string  `json:"causes,omitempty"`
	Started      time.Time `json:"started"`
	Seconds      float64   `json:"seconds"`
}

// Report is a whole verification.
type Report struct {
	Started  time.Time `json:"started"`
	Finished time.Time `json:"finished"`
	Results  []Result  `json:"results"`
	// Skippable are the families whose skipped checks the operator accepted.
	Skippable []string `json:"skippable,omitempty"`
}

// Counts returns how many checks passed, failed and were skipped.
func (r *Report) Counts() (passed, failed, skipped int) {
	for _, res := range r.Results {
		switch res.State {
		case StatePassed:
			passed++
		case StateFailed:
			failed++
		case StateSkipped:
			skipped++
		}
	}
	return passed, failed, skipped
}

// Passed says whether no check failed and every skipped check belongs to a family the operator chose to
// leave out.
func (r *Report) Passed() bool {
	_, failed, _ := r.Counts()
	return failed == 0 && len(r.UnacceptedSkips()) == 0
}

// UnacceptedSkips are the skipped checks of families the operator did not leave out: each means the
// verification checked less than it should have.
func (r *Report) UnacceptedSkips() []Result {
	var out []Result
	for _, res := range r.Results {
		if res.State == StateSkipped && !slices.Contains(r.Skippable, res.Family) {
			out = append(out, res)
		}
	}
	return out
}

// ParseFamilies checks a list of family names (the operator's --skip).
func ParseFamilies(names []string) error {
	for _, n := range names {
		if !slices.Contains(families, n) {
			return fmt.Errorf("unknown check family %q: want %s", n, strings.Join(families, ", "))
		}
	}
	return nil
}

var families = []string{LabelAttachments, LabelStates, LabelReachability, LabelIntegrity}

// Suite is the checks of a target, bound to what its cloud shows.
type Suite struct {
	checks []Check
}

// Prepare opens what the checks read (the APIs; the databases and the machines when configured) and lists
// the checks of the target.
func Prepare(ctx context.Context, t *Target) (*Suite, error) {
	if err := t.Validate(); err != nil {
		return nil, err
	}
	instances, err := t.instances()
	if err != nil {
		return nil, err
	}
	api, err := t.Cloud.API(ctx)
	if err != nil {
		return nil, err
	}
	v := &view{api: api}
	dbs, ok, err := t.Cloud.OptionalDatabases(ctx)
	switch {
	case err != nil:
		return nil, err
	case ok:
		v.dbs = &dbs
		if v.schema, err = recover.DetectCinderSchema(ctx, dbs.Cinder); err != nil {
			return nil, err
		}
	default:
		v.noDBs = "no database DSNs: give OSDR_CINDER_DB_DSN and OSDR_NOVA_DB_DSN to check for stale rows"
	}
	if err := t.Cloud.SSHReady(); err != nil {
		v.noMachine = fmt.Sprintf("no SSH (%v): give an inventory (OSDR_INVENTORY), key and known_hosts to check hosts and guests", err)
	} else {
		v.machines = t.Cloud
	}
	return &Suite{checks: checks(t, instances, v)}, nil
}

// Checks lists the suite's checks in family order.
func (s *Suite) Checks() []Check { return slices.Clone(s.checks) }

// Labels are the check's labels, for label filters.
func (c Check) Labels() []string { return []string{c.Family} }

// Run probes the cloud until the check passes, is skipped, or ctx ends; then it says what it saw last.
func (c Check) Run(ctx context.Context, poll time.Duration) Result {
	a := c.start()
	for !a.look(ctx, c.view) {
		if !sleep(ctx, pollOr(poll)) {
			break
		}
	}
	return a.result(ctx)
}

// attempt is one check's run: when it started and what it saw last.
type attempt struct {
	check   Check
	started time.Time
	last    outcome
	// took is how long the check took to settle, zero while it has not.
	took time.Duration
}

func (c Check) start() *attempt { return &attempt{check: c, started: time.Now()} }

// look probes the cloud once through v and says whether the check has settled: it passed, was skipped, or
// the deadline ended.
func (a *attempt) look(ctx context.Context, v *view) bool {
	o := a.check.probe(ctx, v)
	// A probe cut short by the deadline says only that; the attempt before it says what was wrong.
	if ctx.Err() == nil || a.last.state == "" {
		a.last = o
	}
	if a.last.state != StateFailed || ctx.Err() != nil {
		a.took = time.Since(a.started)
		return true
	}
	return false
}

// result is the check's outcome once it settled or the deadline ended it.
func (a *attempt) result(ctx context.Context) Result {
	c := a.check
	res := Result{Name: c.Name, Family: c.Family, Instance: c.Instance, InstanceName: c.InstanceName, Volume: c.Volume,
		Started: a.started.UTC(), State: a.last.state, Causes: a.last.causes, Seconds: a.took.Seconds()}
	if res.State == "" {
		res.State, res.Causes = StateFailed, []string{fmt.Sprintf("%s: not checked: the machine had no turn for an SSH connection before the deadline", whoOf(c))}
	}
	if res.State == StateFailed && ctx.Err() != nil {
		res.Causes = append(slices.Clone(res.Causes), "still so when the verification's deadline ended")
	}
	if a.took == 0 {
		res.Seconds = time.Since(a.started).Seconds()
	}
	return res
}

// whoOf names a check's instance in a cause, as who does.
func whoOf(c Check) string {
	return who(recover.Instance{ID: c.Instance, Name: c.InstanceName})
}

// sleep waits d; false when ctx ended first.
func sleep(ctx context.Context, d time.Duration) bool {
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-timer.C:
		return true
	}
}

func pollOr(poll time.Duration) time.Duration { return cmpOr(poll, defaultPoll) }

// ErrNoChecks means the label filter or the manifest leaves nothing to check: a verification that checks
// nothing must not pass.
var ErrNoChecks = errors.New("no check to run")

// Verify runs every selected check of the target side by side, within one deadline for the whole
// verification, and reports each check's own outcome. The checks look at the cloud in groups that share
// what they read: those that read only the APIs and the databases, Options.Concurrency at once, from one
// listing of the servers and of the volumes and bulk counts of the rows; those of one machine (a guest, or
// a compute host's iSCSI sessions) back to back over its one SSH connection, at most Options.Connections
// machines at a time, the machines with the most checks first. A group looks again at its failing checks
// after Options.Poll.
func Verify(ctx context.Context, t *Target, opts Options) (*Report, error) {
	filter, err := ParseLabels(opts.LabelFilter)
	if err != nil {
		return nil, fmt.Errorf("label filter: %w", err)
	}
	if err := ParseFamilies(opts.Skip); err != nil {
		return nil, err
	}
	suite, err := Prepare(ctx, t)
	if err != nil {
		return nil, err
	}
	var selected []Check
	for _, c := range suite.checks {
		if filter(c.Labels()) {
			selected = append(selected, c)
		}
	}
	if len(selected) == 0 {
		return nil, fmt.Errorf("%w: label filter %q selects none of %d checks", ErrNoChecks, opts.LabelFilter, len(suite.checks))
	}
	deadline := cmpOr(opts.Deadline, defaultDeadline)
	vctx, cancel := context.WithTimeout(ctx, deadline)
	defer cancel()
	report := &Report{Started: time.Now().UTC(), Results: make([]Result, len(selected)), Skippable: opts.Skip}
	api := &group{concurrency: cmpOr(opts.Concurrency, defaultConcurrency)}
	var machines []*group
	byMachine := map[string]*group{}
	for i, c := range selected {
		if c.machine == "" {
			api.checks = append(api.checks, i)
			continue
		}
		m := byMachine[c.machine]
		if m == nil {
			m = &group{concurrency: 1}
			byMachine[c.machine] = m
			machines = append(machines, m)
		}
		m.checks = append(m.checks, i)
	}
	// Longest first, so that no long machine starts last while the others are done.
	slices.SortStableFunc(machines, func(a, b *group) int { return len(b.checks) - len(a.checks) })
	poll := pollOr(opts.Poll)
	var wg sync.WaitGroup
	if len(api.checks) > 0 {
		wg.Go(func() { api.run(vctx, selected, report.Results, nil, poll) })
	}
	connections := semaphore.NewWeighted(int64(cmpOr(opts.Connections, DefaultConnections)))
	for _, m := range machines {
		// The first turns are taken here, in order, so the machines start in that order.
		held := connections.Acquire(vctx, 1) == nil
		wg.Go(func() { m.run(vctx, selected, report.Results, &turns{connections, held}, poll) })
	}
	wg.Wait()
	report.Finished = time.Now().UTC()
	if err := ctx.Err(); err != nil {
		return report, fmt.Errorf("verification interrupted: %w", err)
	}
	return report, nil
}

// group is checks that look at the cloud together, by their place in the verification: the checks of one
// machine, one after another over its one SSH connection, or the checks that read only the APIs and the
// databases, concurrency at once.
type group struct {
	checks      []int
	concurrency int
}

// turns are a machine's turns for one of the verification's SSH connections; held: the first is taken.
type turns struct {
	connections *semaphore.Weighted
	held        bool
}

func (t *turns) take(ctx context.Context) bool {
	if t.held {
		return true
	}
	t.held = t.connections.Acquire(ctx, 1) == nil
	return t.held
}

func (t *turns) give() {
	t.connections.Release(1)
	t.held = false
}

// bulkFrom is how many checks a look must cover to read the APIs and the databases in bulk: fewer read
// just their own (a listing of a big cloud's servers costs more than a few requests).
const bulkFrom = 50

// run looks at the group's checks again and again, sharing what each look reads, until all settled or the
// deadline ended; a machine's group holds a turn for a connection (t) only while it looks.
func (g *group) run(ctx context.Context, checks []Check, results []Result, t *turns, poll time.Duration) {
	pending := make([]*attempt, len(g.checks))
	for k, i := range g.checks {
		pending[k] = checks[i].start()
	}
	attempts := slices.Clone(pending)
	for len(pending) > 0 {
		if t != nil && !t.take(ctx) {
			break
		}
		v := checks[g.checks[0]].view.look(len(pending) >= bulkFrom)
		settled := make([]bool, len(pending))
		var looks errgroup.Group
		looks.SetLimit(g.concurrency)
		for k, a := range pending {
			looks.Go(func() error {
				settled[k] = a.look(ctx, v)
				return nil
			})
		}
		_ = looks.Wait()
		if t != nil {
			t.give()
		}
		var still []*attempt
		for k, a := range pending {
			if !settled[k] {
				still = append(still, a)
			}
		}
		if pending = still; len(pending) > 0 && !sleep(ctx, poll) {
			break
		}
	}
	for k, i := range g.checks {
		results[i] = attempts[k].result(ctx)
	}
}

func cmpOr[T int | time.Duration](v, def T) T {
	if v > 0 {
		return v
	}
	return def
}

// JUnit renders the report as one suite per family.
func (r *Report) JUnit(name string) *junit.Report {
	out := &junit.Report{Name: name, Time: junit.Seconds(r.Finished.Sub(r.Started))}
	for _, family := range families {
		suite := junit.Suite{Name: name + ": " + family, Timestamp: r.Started.Format(time.RFC3339)}
		for _, res := range r.Results {
			if res.Family == family {
				suite.Add(res.junitCase(slices.Contains(r.Skippable, res.Family)))
			}
		}
		if suite.Tests > 0 {
			out.Add(suite)
		}
	}
	return out
}

func (res Result) junitCase(accepted bool) junit.Case {
	c := junit.Case{Name: res.Name, ClassName: "verify." + res.Family, Time: junit.Seconds(time.Duration(res.Seconds * float64(time.Second))),
		Properties: []junit.Property{{Name: "instance", Value: res.Instance}}}
	if res.Volume != "" {
		c.Properties = append(c.Properties, junit.Property{Name: "volume", Value: res.Volume})
	}
	switch res.State {
	case StateFailed:
		c.Failure = &junit.Message{Message: firstOf(res.Causes), Text: strings.Join(res.Causes, "\n")}
	case StateSkipped:
		if !accepted {
			c.Failure = &junit.Message{Message: "not checked: " + firstOf(res.Causes), Text: strings.Join(res.Causes, "\n")}
			break
		}
		c.Skipped = &junit.Message{Message: firstOf(res.Causes)}
	}
	return c
}

func firstOf(lines []string) string {
	if len(lines) == 0 {
		return ""
	}
	return lines[0]
}
