package inject

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sort"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/osdr/osdr/internal/durable"
	"github.com/osdr/osdr/internal/run"
	"github.com/osdr/osdr/internal/wait"
)

// Record is what a fault run did, saved before every action, so that restore (and a drill interrupted at
// any point) knows exactly what to put back.
type Record struct {
	RunID   string    `json:"run_id"`
	Created time.Time `json:"created"`
	Faults  []string  `json:"faults"`
	Limits  Limits    `json:"limits"`
	Actions []Action  `json:"actions"`

	mu   sync.Mutex
	path string
}

// NewRecord prepares the record of a run; nothing is written until Save.
func NewRecord(rn run.Run, faults []string, limits Limits, actions []Action) *Record {
	return &Record{RunID: rn.ID, Created: time.Now().UTC(), Faults: faults, Limits: limits, Actions: actions, path: rn.Faults()}
}

// Save writes the record durably.
func (r *Record) Save() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	raw, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return fmt.Errorf("encode fault record: %w", err)
	}
	if err := durable.WriteFile(r.path, append(raw, '\n'), 0o600); err != nil {
		return fmt.Errorf("save fault record: %w", err)
	}
	return nil
}

// LoadRecord reads the fault record of a run.
func LoadRecord(rn run.Run) (*Record, error) {
	raw, err := os.ReadFile(rn.Faults())
	if err != nil {
		return nil, fmt.Errorf("read fault record: %w", err)
	}
	r := &Record{path: rn.Faults()}
	if err := json.Unmarshal(raw, r); err != nil {
		return nil, fmt.Errorf("parse fault record %s: %w", rn.Faults(), err)
	}
	for i, a := range r.Actions {
		if _, err := Lookup(a.Fault); err != nil {
			return nil, fmt.Errorf("fault record action %d: %w", i, err)
		}
		if _, err := kindOf(a); err != nil {
			return nil, fmt.Errorf("fault record action %d: %w", i, err)
		}
	}
	return r, nil
}

func (r *Record) setState(i int, s ActionState, err error) error {
	r.mark(i, s, err)
	return r.Save()
}

// mark moves action i to state s now, without saving: callers save once for a batch of actions.
func (r *Record) mark(i int, s ActionState, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.Actions[i].State = s
	r.Actions[i].At = time.Now().UTC()
	r.Actions[i].Error = ""
	if err != nil {
		r.Actions[i].Error = err.Error()
	}
}

// PlanFaults resolves every fault on the selection and checks the blast radius before anything runs.
func PlanFaults(ctx context.Context, hosts Hosts, faults []Fault, sel Selection, limits Limits) ([]Action, error) {
	var actions []Action
	for _, f := range faults {
		a, err := f.Plan(ctx, hosts, sel)
		if err != nil {
			return nil, fmt.Errorf("plan %s: %w", f.Name(), err)
		}
		actions = append(actions, a...)
	}
	if len(actions) == 0 {
		return nil, errors.New("the faults resolve to nothing to do")
	}
	if err := limits.Check(actions); err != nil {
		return nil, err
	}
	return actions, nil
}

// hostsAtOnce bounds how many hosts a fault run works on at once, one SSH connection each: a rack's worth
// of hosts losing power side by side, without opening a connection per host of a whole region at once.
const hostsAtOnce = 64

// Inject carries out the record's planned actions: hosts side by side (at most hostsAtOnce), each host's
// actions in their planned order, back to back over its one SSH connection, as a power loss strikes every
// host at once. Every action is saved as intent (it may have run) before the first command is sent, and what
// each came to (done, failed, or planned again when it never started) is saved once the hosts are done: two
// writes of the record, however many actions. The first failure stops the run: no action starts after it
// on any host, and the error says which failed (the record says what was done, Restore undoes it).
func Inject(ctx context.Context, hosts Hosts, r *Record) error {
	for _, a := range r.Actions {
		if _, err := kindOf(a); err != nil {
			return err
		}
	}
	var order []string
	byHost := map[string][]int{}
	for i, a := range r.Actions {
		if a.State != StatePlanned {
			continue
		}
		if _, ok := byHost[a.Host]; !ok {
			order = append(order, a.Host)
		}
		byHost[a.Host] = append(byHost[a.Host], i)
		r.mark(i, StateIntent, nil)
	}
	if err := r.Save(); err != nil {
		return err
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(hostsAtOnce)
	for _, host := range order {
		g.Go(func() error { return r.injectHost(gctx, hosts, byHost[host]) })
	}
	return errors.Join(g.Wait(), r.Save())
}

// injectHost carries out one host's actions in order; it starts none once ctx ends (another host failed).
func (r *Record) injectHost(ctx context.Context, hosts Hosts, actions []int) error {
	var failure error
	for _, i := range actions {
		if failure != nil || ctx.Err() != nil {
			r.mark(i, StatePlanned, nil)
			continue
		}
		a := &r.Actions[i] // only this goroutine touches action i until the hosts are done
		k, _ := kindOf(*a)
		if err := k.act(ctx, hosts, a); err != nil {
			failure = fmt.Errorf("%s on %s: %w", a.Kind, a.Host, err)
			r.mark(i, StateFailed, err)
			continue
		}
		r.mark(i, StateDone, nil)
	}
	return failure
}

// Observe waits until the effect of every action that was carried out shows on its host (the sessions gone,
// the domains down), so a recovery never starts on a fault that has not happened yet.
func Observe(ctx context.Context, hosts Hosts, r *Record, timeout time.Duration) error {
	for _, a := range r.Actions {
		if a.State != StateDone {
			continue
		}
		k, err := kindOf(a)
		if err != nil {
			return err
		}
		what := fmt.Sprintf("%s of %s on %s took effect", a.Kind, a.Target(), a.Host)
		err = wait.Until(ctx, what, timeout, wait.Polling{First: 100 * time.Millisecond, Max: 2 * time.Second}, func(ctx context.Context) (bool, string, error) {
			ok, seen, err := k.took(ctx, hosts, a)
			if err != nil {
				return false, "", wait.Retry(err)
			}
			return ok, seen, nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// Restore undoes every action that may have run (intent, done or failed), storage first so guests find
// their disks: logins, then domain starts, each in reverse order. It goes on past a failure and returns all
// of them; restoring twice is harmless.
func Restore(ctx context.Context, hosts Hosts, r *Record) error {
	var order []int
	for i, a := range r.Actions {
		switch a.State {
		case StateIntent, StateDone, StateFailed, StateRestoreFailed:
			order = append(order, i)
		}
	}
	sort.SliceStable(order, func(x, y int) bool {
		sx, sy := actionKinds[r.Actions[order[x]].Kind].storage, actionKinds[r.Actions[order[y]].Kind].storage
		if sx != sy {
			return sx
		}
		return order[x] > order[y]
	})
	var errs []error
	for _, i := range order {
		a := &r.Actions[i]
		k, err := kindOf(*a)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		undoErr := k.undo(ctx, hosts, a)
		state := StateRestored
		if undoErr != nil {
			state = StateRestoreFailed
			errs = append(errs, fmt.Errorf("restore %s on %s: %w", a.Kind, a.Host, undoErr))
		}
		if err := r.setState(i, state, undoErr); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
