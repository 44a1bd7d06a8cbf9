package inject

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"

	"github.com/osdr/osdr/internal/durable"
)

// RecordFile is the fault record's name in a run directory.
const RecordFile = "inject.json"

// Record is what a fault run did, saved before every action, so that restore (and a drill interrupted at
// any point) knows exactly what to put back.
type Record struct {
	RunID   string    `json:"run_id"`
	Created time.Time `json:"created"`
	Faults  []string  `json:"faults"`
	Limits  Limits    `json:"limits"`
	Actions []Action  `json:"actions"`

	mu  sync.Mutex
	dir string
}

// NewRecord prepares the record of a run in dir; nothing is written until Save.
func NewRecord(dir, runID string, faults []string, limits Limits, actions []Action) *Record {
	return &Record{RunID: runID, Created: time.Now().UTC(), Faults: faults, Limits: limits, Actions: actions, dir: dir}
}

// Save writes the record durably.
func (r *Record) Save() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	raw, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return fmt.Errorf("encode fault record: %w", err)
	}
	if err := durable.WriteFile(filepath.Join(r.dir, RecordFile), append(raw, '\n'), 0o600); err != nil {
		return fmt.Errorf("save fault record: %w", err)
	}
	return nil
}

// LoadRecord reads the record of a run directory.
func LoadRecord(dir string) (*Record, error) {
	raw, err := os.ReadFile(filepath.Join(dir, RecordFile))
	if err != nil {
		return nil, fmt.Errorf("read fault record: %w", err)
	}
	r := &Record{dir: dir}
	if err := json.Unmarshal(raw, r); err != nil {
		return nil, fmt.Errorf("parse fault record %s: %w", filepath.Join(dir, RecordFile), err)
	}
	for i, a := range r.Actions {
		if _, err := Lookup(a.Fault); err != nil {
			return nil, fmt.Errorf("fault record action %d: %w", i, err)
		}
	}
	return r, nil
}

func (r *Record) setState(i int, s ActionState, err error) error {
	r.mu.Lock()
	r.Actions[i].State = s
	r.Actions[i].At = time.Now().UTC()
	r.Actions[i].Error = ""
	if err != nil {
		r.Actions[i].Error = err.Error()
	}
	r.mu.Unlock()
	return r.Save()
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

// Inject carries out the record's planned actions in order. Each action's intent is saved before its
// command is sent; the first failure stops the run (the record says what was done, Restore undoes it).
func Inject(ctx context.Context, hosts Hosts, r *Record) error {
	if err := r.Save(); err != nil {
		return err
	}
	for i := range r.Actions {
		a := &r.Actions[i]
		if a.State != StatePlanned {
			continue
		}
		f, err := Lookup(a.Fault)
		if err != nil {
			return err
		}
		if err := r.setState(i, StateIntent, nil); err != nil {
			return err
		}
		actErr := f.Act(ctx, hosts, a)
		state := StateDone
		if actErr != nil {
			state = StateFailed
		}
		if err := r.setState(i, state, actErr); err != nil {
			return errors.Join(actErr, err)
		}
		if actErr != nil {
			return fmt.Errorf("%s on %s: %w", a.Kind, a.Host, actErr)
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
		ax, ay := r.Actions[order[x]], r.Actions[order[y]]
		if (ax.Kind == kindLogout) != (ay.Kind == kindLogout) {
			return ax.Kind == kindLogout
		}
		return order[x] > order[y]
	})
	var errs []error
	for _, i := range order {
		a := &r.Actions[i]
		f, err := Lookup(a.Fault)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		undoErr := f.Undo(ctx, hosts, a)
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
