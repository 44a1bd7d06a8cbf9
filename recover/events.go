package recover

import (
	"time"
)

// Event is one observable moment of a recovery, for the progress view and `-o json`.
type Event struct {
	Time     time.Time `json:"time"`
	Instance string    `json:"instance,omitempty"`
	Step     Step      `json:"step"`
	Phase    Phase     `json:"phase"`
	Volume   string    `json:"volume,omitempty"`
	Message  string    `json:"message,omitempty"`
}

// Outcome is how one instance's recovery ended.
type Outcome string

const (
	OutcomeRecovered Outcome = "recovered"
	OutcomeFailed    Outcome = "failed"
	OutcomeExcluded  Outcome = "excluded"
)

// InstanceResult is one instance's line of the summary: its outcome and how long each step took (its
// recovery time, split by step).
type InstanceResult struct {
	ID      string  `json:"id"`
	Name    string  `json:"name"`
	Host    string  `json:"host"`
	Outcome Outcome `json:"outcome"`
	Error   string  `json:"error,omitempty"`
	// Class is the minimal strategy's verdict on the instance, and FellBack why a reboot-only instance's
	// proof failed, so it got the guide's steps for its volumes after its reboot.
	Class        Class            `json:"class,omitempty"`
	FellBack     string           `json:"fell_back,omitempty"`
	Started      time.Time        `json:"started"`
	Finished     time.Time        `json:"finished"`
	TotalSeconds float64          `json:"total_seconds"`
	StepSeconds  map[Step]float64 `json:"step_seconds,omitempty"`
}

func (r *InstanceResult) addStep(step Step, d time.Duration) {
	if r.StepSeconds == nil {
		r.StepSeconds = map[Step]float64{}
	}
	r.StepSeconds[step] += d.Seconds()
}
