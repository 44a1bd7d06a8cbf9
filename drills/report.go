package drills

import (
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/osdr/osdr/internal/junit"
	"github.com/osdr/osdr/internal/run"
	"github.com/osdr/osdr/suites"
)

// Outcome of a drill as a whole.
type Outcome string

const (
	OutcomePassed      Outcome = "passed"      // broken, recovered and proven
	OutcomeFailed      Outcome = "failed"      // the recovery or the verification failed
	OutcomeAborted     Outcome = "aborted"     // refused by a guard or a failed preflight: nothing was broken
	OutcomeInterrupted Outcome = "interrupted" // stopped by a signal or a crash; what was broken was restored
)

// Phase names of a drill, in order; the per-instance timeline uses the recovery's own steps.
const (
	PhaseValidate  = "validate"
	PhaseGuards    = "guards"
	PhasePreflight = "preflight"
	PhaseSnapshot  = "snapshot"
	PhaseInject    = "inject"
	PhaseObserve   = "observe"
	PhaseRecover   = "recover"
	PhaseVerify    = "verify"
	PhaseRestore   = "restore"
)

// PhaseRecord is one phase of the drill with its timing and outcome.
type PhaseRecord struct {
	Name     string    `json:"name"`
	Started  time.Time `json:"started"`
	Finished time.Time `json:"finished"`
	OK       bool      `json:"ok"`
	Error    string    `json:"error,omitempty"`
}

// Span is one bar of an instance's timeline.
type Span struct {
	Name  string    `json:"name"` // fault, db-clean, reboot, reattach, guest-reboot, verified
	Start time.Time `json:"start"`
	End   time.Time `json:"end"`
}

// InstanceReport is one instance's line: its outcome, recovery time and timeline.
type InstanceReport struct {
	ID              string  `json:"id"`
	Name            string  `json:"name"`
	Host            string  `json:"host"`
	Outcome         string  `json:"outcome"`
	Error           string  `json:"error,omitempty"`
	RecoverySeconds float64 `json:"recovery_seconds"`
	// StepSeconds splits the recovery time by step.
	StepSeconds map[string]float64 `json:"step_seconds,omitempty"`
	Timeline    []Span             `json:"timeline"`
}

// SpecResult is one verification spec.
type SpecResult struct {
	Name    string  `json:"name"`
	Labels  string  `json:"labels,omitempty"`
	State   string  `json:"state"` // passed, failed, skipped
	Seconds float64 `json:"seconds"`
	Message string  `json:"message,omitempty"`
}

// Report is everything a drill run tells: written as JSON, JUnit XML, HTML and metrics.
type Report struct {
	Drill           string           `json:"drill"`
	RunID           string           `json:"run_id"`
	Cloud           string           `json:"cloud"`
	Started         time.Time        `json:"started"`
	Finished        time.Time        `json:"finished"`
	Outcome         Outcome          `json:"outcome"`
	Summary         string           `json:"summary"`
	Phases          []PhaseRecord    `json:"phases"`
	Instances       []InstanceReport `json:"instances"`
	Specs           []SpecResult     `json:"specs,omitempty"`
	RecoverySeconds float64          `json:"recovery_seconds"`
	Notes           []string         `json:"notes,omitempty"`
}

// Counts returns how many instances recovered and failed.
func (r *Report) Counts() (recovered, failed int) {
	for _, in := range r.Instances {
		switch in.Outcome {
		case "recovered":
			recovered++
		case "failed":
			failed++
		}
	}
	return recovered, failed
}

// WriteAll writes the JSON, JUnit and HTML reports into the run's directory.
func (r *Report) WriteAll(rn run.Run) error {
	sort.Slice(r.Instances, func(i, j int) bool { return r.Instances[i].ID < r.Instances[j].ID })
	raw, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return fmt.Errorf("encode report: %w", err)
	}
	if err := os.WriteFile(rn.ReportJSON(), append(raw, '\n'), 0o644); err != nil {
		return fmt.Errorf("write JSON report: %w", err)
	}
	if err := r.junit().WriteFile(rn.ReportJUnit()); err != nil {
		return err
	}
	f, err := os.Create(rn.ReportHTML())
	if err != nil {
		return fmt.Errorf("write HTML report: %w", err)
	}
	defer f.Close()
	if err := r.writeHTML(f); err != nil {
		return fmt.Errorf("write HTML report: %w", err)
	}
	return f.Close()
}

// junit renders three suites: the drill's phases, each instance's recovery, and the verification checks, so
// a CI system shows exactly which part failed.
func (r *Report) junit() *junit.Report {
	out := &junit.Report{Name: "osdr drill " + r.Drill, Time: junit.Seconds(r.Finished.Sub(r.Started))}
	phases := junit.Suite{Name: r.Drill + ": phases"}
	for _, p := range r.Phases {
		c := junit.Case{Name: p.Name, ClassName: "drill." + r.Drill, Time: junit.Seconds(p.Finished.Sub(p.Started))}
		if !p.OK {
			c.Failure = &junit.Message{Message: p.Error, Text: p.Error}
		}
		phases.Add(c)
	}
	instances := junit.Suite{Name: r.Drill + ": recovery"}
	for _, in := range r.Instances {
		c := junit.Case{Name: fmt.Sprintf("instance %s recovered", in.Name), ClassName: "recovery." + in.Host,
			Time: junit.Seconds(time.Duration(in.RecoverySeconds * float64(time.Second))), Properties: []junit.Property{{Name: "instance", Value: in.ID}}}
		switch in.Outcome {
		case "failed":
			c.Failure = &junit.Message{Message: in.Error, Text: in.Error}
		case "excluded":
			c.Skipped = &junit.Message{Message: in.Error}
		}
		instances.Add(c)
	}
	specs := junit.Suite{Name: r.Drill + ": verification"}
	for _, s := range r.Specs {
		c := junit.Case{Name: s.Name, ClassName: "verify." + s.Labels, Time: junit.Seconds(time.Duration(s.Seconds * float64(time.Second)))}
		switch s.State {
		case "failed":
			c.Failure = &junit.Message{Message: firstLine(s.Message), Text: s.Message}
		case "skipped":
			c.Skipped = &junit.Message{Message: s.Message}
		}
		specs.Add(c)
	}
	for _, s := range []junit.Suite{phases, instances, specs} {
		out.Add(s)
	}
	return out
}

// specResults are a verification's checks as the report lists them.
func specResults(r *suites.Report) []SpecResult {
	out := make([]SpecResult, 0, len(r.Results))
	for _, res := range r.Results {
		out = append(out, SpecResult{Name: res.Name, Labels: res.Family, State: string(res.State), Seconds: res.Seconds, Message: strings.Join(res.Causes, "\n")})
	}
	return out
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}
