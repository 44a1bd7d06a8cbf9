package suites

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"

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
	// Concurrency is how many checks run at once (default 16).
	Concurrency int
	// Poll is how long a failing check waits before it looks again (default 1 s).
	Poll time.Duration
	// Skip names the families the operator chose not to check when they cannot run (no SSH for
	// reachability, no database for the row checks): their skipped checks are reported, not failed. A
	// skipped check of any other family fails the verification, so it is never green for checking less.
	Skip []string
}

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
	if poll <= 0 {
		poll = defaultPoll
	}
	res := Result{Name: c.Name, Family: c.Family, Instance: c.Instance, InstanceName: c.InstanceName, Volume: c.Volume, Started: time.Now().UTC()}
	var last outcome
	for {
		o := c.probe(ctx)
		// A probe cut short by the deadline says only that; the attempt before it says what was wrong.
		if ctx.Err() == nil || last.state == "" {
			last = o
		}
		if last.state != StateFailed || ctx.Err() != nil {
			break
		}
		timer := time.NewTimer(poll)
		select {
		case <-ctx.Done():
		case <-timer.C:
		}
		timer.Stop()
	}
	res.State, res.Causes = last.state, last.causes
	if res.State == StateFailed && ctx.Err() != nil {
		res.Causes = append(slices.Clone(res.Causes), "still so when the verification's deadline ended")
	}
	res.Seconds = time.Since(res.Started).Seconds()
	return res
}

// ErrNoChecks means the label filter or the manifest leaves nothing to check: a verification that checks
// nothing must not pass.
var ErrNoChecks = errors.New("no check to run")

// Verify runs every selected check of the target side by side, within one deadline for the whole
// verification, and reports each check's own outcome.
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
	var g errgroup.Group
	g.SetLimit(cmpOr(opts.Concurrency, defaultConcurrency))
	for i, c := range selected {
		g.Go(func() error {
			report.Results[i] = c.Run(vctx, opts.Poll)
			return nil
		})
	}
	_ = g.Wait()
	report.Finished = time.Now().UTC()
	if err := ctx.Err(); err != nil {
		return report, fmt.Errorf("verification interrupted: %w", err)
	}
	return report, nil
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
