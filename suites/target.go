package suites

import (
	"errors"

	"github.com/osdr/osdr/internal/cloud"
	"github.com/osdr/osdr/recover"
)

// Target is the cloud the checks read and the evidence they check it against.
type Target struct {
	Manifest *recover.Manifest
	Cloud    *cloud.Cloud
	// Instance restricts every check to one instance: the guide's test mode.
	Instance string
	// Journal is the recovery run's journal, when there is one: an instance it rebooted must run, and a
	// guest it rebooted from inside must show a new boot id.
	Journal []recover.Entry
}

// Validate checks the target before any check runs, so bad input is an error, not a failing check.
func (t *Target) Validate() error {
	if t.Manifest == nil {
		return errors.New("no manifest")
	}
	if t.Cloud == nil {
		return errors.New("no cloud to check")
	}
	_, err := t.instances()
	return err
}

// scope is what the checks cover: the whole manifest, or the one instance of the guide's test mode.
func (t *Target) scope() recover.Scope {
	if t.Instance != "" {
		return recover.Scope{Instances: []string{t.Instance}}
	}
	return recover.Scope{All: true}
}

// instances are the manifest's instances in scope, sorted by id.
func (t *Target) instances() ([]recover.Instance, error) {
	ids, err := t.scope().Select(t.Manifest)
	if err != nil {
		return nil, err
	}
	out := make([]recover.Instance, 0, len(ids))
	for _, id := range ids {
		in, _ := t.Manifest.Instance(id)
		out = append(out, in)
	}
	return out, nil
}

// expectRunning says whether the instance should be running after a recovery: it was running before the
// loss, or the recovery rebooted it (a manifest taken after the loss shows instances the power-state sync
// stopped).
func (t *Target) expectRunning(in recover.Instance) bool {
	if in.VMState == "active" || in.VMState == "error" {
		return true
	}
	for _, e := range t.Journal {
		if e.Step == recover.StepReboot && e.Phase == recover.PhaseDone && e.Instance == in.ID {
			return true
		}
	}
	return false
}

// guestRebootedFrom returns the boot id a guest had before the run rebooted it from inside.
func (t *Target) guestRebootedFrom(instance string) (string, bool) {
	var before string
	done := false
	for _, e := range t.Journal {
		if e.Step != recover.StepGuestReboot || e.Instance != instance {
			continue
		}
		switch e.Phase {
		case recover.PhaseIntent:
			before = e.BootID
		case recover.PhaseDone:
			done = true
		}
	}
	return before, done && before != ""
}
