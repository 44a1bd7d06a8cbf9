package drills

import (
	"cmp"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/osdr/osdr/internal/junit"
	"github.com/osdr/osdr/internal/run"
	"github.com/osdr/osdr/internal/version"
	"github.com/osdr/osdr/recover"
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
	// Strategy is the recovery strategy of the round the phase belongs to, in a drill that sets strategies
	// side by side.
	Strategy string `json:"strategy,omitempty"`
}

// StrategyReport is one round of a drill that sets recovery strategies side by side: the same fault, then
// this strategy's recovery and verification.
type StrategyReport struct {
	Strategy string  `json:"strategy"`
	Outcome  Outcome `json:"outcome"` // passed or failed
	Error    string  `json:"error,omitempty"`
	// RecoverySeconds is the round's recovery phase, start to end.
	RecoverySeconds float64      `json:"recovery_seconds"`
	Cost            recover.Cost `json:"cost"`
	// Classes counts the minimal strategy's verdicts (reboot-only, stuck, kept); FellBack the reboot-only
	// instances whose proof failed.
	Classes  map[string]int `json:"classes,omitempty"`
	FellBack int            `json:"fell_back,omitempty"`
	// ChecksPassed counts the verification's passed checks; ChecksFailed names the failed ones and
	// ChecksSkipped those that could not run, each with why.
	ChecksPassed  int      `json:"checks_passed"`
	ChecksFailed  []string `json:"checks_failed,omitempty"`
	ChecksSkipped []string `json:"checks_skipped,omitempty"`
}

// Span is one bar of an instance's timeline.
type Span struct {
	Name  string    `json:"name"` // fault, db-clean, reboot, reattach, guest-reboot, verified
	Start time.Time `json:"start"`
	End   time.Time `json:"end"`
}

// InstanceReport is one instance's line: its outcome, recovery time and timeline.
type InstanceReport struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	Host string `json:"host"`
	// Outcome and Error are the recovery's: recovered, failed or excluded. What the report finally says of the
	// instance is its Verdict, which weighs the verification too.
	Outcome         string  `json:"outcome"`
	Error           string  `json:"error,omitempty"`
	RecoverySeconds float64 `json:"recovery_seconds"`
	// StepSeconds splits the recovery time by step.
	StepSeconds map[string]float64 `json:"step_seconds,omitempty"`
	Timeline    []Span             `json:"timeline"`
	// FinalState is the instance's Nova status (ACTIVE, SHUTOFF, ERROR, …) when the drill's last verification
	// looked at it; empty when no verification ran.
	FinalState string `json:"final_state,omitempty"`
}

// SpecResult is one verification check.
type SpecResult struct {
	Name   string `json:"name"`
	Labels string `json:"labels,omitempty"`
	// Instance and Volume are the ids of what the check looked at; the name never carries them.
	Instance string  `json:"instance,omitempty"`
	Volume   string  `json:"volume,omitempty"`
	State    string  `json:"state"` // passed, failed, skipped
	Seconds  float64 `json:"seconds"`
	Message  string  `json:"message,omitempty"`
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
	// Strategies sets the rounds side by side when the drill runs more than one recovery strategy.
	Strategies []StrategyReport `json:"strategies,omitempty"`
	// Version is the build of osdr that wrote the report; WriteAll fills it.
	Version version.Info `json:"version"`
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

// WriteAll writes the JSON, JUnit and HTML reports into the run's directory, stamped with the running
// osdr's version. Instances are listed by name, the order a reader looks them up in and the one that gives
// each its stable place in the drill.
func (r *Report) WriteAll(rn run.Run) error {
	r.Version = version.Get()
	// A Keystone URL may carry credentials (https://user:password@…): a report never does.
	r.Cloud = withoutCredentials(r.Cloud)
	slices.SortStableFunc(r.Instances, func(a, b InstanceReport) int {
		return cmp.Or(cmp.Compare(a.Name, b.Name), cmp.Compare(a.Host, b.Host), cmp.Compare(a.ID, b.ID))
	})
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

// withoutCredentials drops the user information of a URL; anything that does not parse as one is dropped
// whole, since it cannot be shown to hold none.
func withoutCredentials(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	u.User = nil
	return u.String()
}

// Verdicts of an instance: the recovery's outcomes, and shutoff for one the verification found powered off.
const (
	VerdictRecovered = "recovered"
	VerdictFailed    = "failed"
	VerdictExcluded  = "excluded"
	VerdictShutoff   = "shutoff"
)

// Verdict is what the report says of an instance in the end, and why when it is not "recovered". The
// verification has the last word when it checked the instance: a failed check, or an instance that ended
// anything but ACTIVE, is not recovered whatever the recovery thought. Without checks of the instance the
// recovery's outcome stands.
func (r *Report) Verdict(in InstanceReport) (verdict, why string) {
	checked := false
	for _, s := range r.Specs {
		if s.Instance != in.ID {
			continue
		}
		checked = true
		if s.State != string(suites.StatePassed) {
			return VerdictFailed, fmt.Sprintf("check %q %s: %s", s.Name, s.State, firstLine(s.Message))
		}
	}
	switch {
	case in.FinalState == "SHUTOFF":
		return VerdictShutoff, "ended SHUTOFF"
	case in.FinalState != "" && in.FinalState != "ACTIVE":
		return VerdictFailed, "ended " + in.FinalState
	case checked:
		return VerdictRecovered, ""
	}
	return in.Outcome, in.Error
}

// place names an instance by its name and its place among the drill's instances, which stay the same from
// run to run while its id changes whenever it is rebuilt.
func place(in InstanceReport, i, n int) string {
	return strings.TrimSpace(fmt.Sprintf("%s (#%d of %d)", in.Name, i+1, n))
}

// phasesInRunOrder are the phases as they ran, whatever order the report lists them in.
func (r *Report) phasesInRunOrder() []PhaseRecord {
	out := slices.Clone(r.Phases)
	slices.SortStableFunc(out, func(a, b PhaseRecord) int { return a.Started.Compare(b.Started) })
	return out
}

// junit renders three suites: the drill's phases, each instance's recovery, and the verification checks, so
// a CI system shows exactly which part failed. Case names are stable from run to run; ids go in properties.
func (r *Report) junit() *junit.Report {
	out := &junit.Report{Name: "osdr drill " + r.Drill, Time: junit.Seconds(r.Finished.Sub(r.Started))}
	stamp := r.Started.Format(time.RFC3339)
	phases := junit.Suite{Name: r.Drill + ": phases", Timestamp: stamp}
	ran := map[string]int{}
	for _, p := range r.phasesInRunOrder() {
		ran[p.Name]++
		name := "phase " + p.Name
		// A phase that runs again (the guards after a lock refused, a second restore) keeps its first name.
		if ran[p.Name] > 1 {
			name = fmt.Sprintf("%s (#%d)", name, ran[p.Name])
		}
		c := junit.Case{Name: name, ClassName: "drill." + r.Drill, Time: junit.Seconds(p.Finished.Sub(p.Started))}
		if !p.OK {
			c.Failure = &junit.Message{Message: firstLine(p.Error), Text: p.Error}
		}
		phases.Add(c)
	}
	instances := junit.Suite{Name: r.Drill + ": recovery", Timestamp: stamp}
	for i, in := range r.Instances {
		c := junit.Case{Name: "instance " + place(in, i, len(r.Instances)) + " recovered", ClassName: "recovery." + in.Host,
			Time: junit.Seconds(time.Duration(in.RecoverySeconds * float64(time.Second))), Properties: []junit.Property{{Name: "instance", Value: in.ID}}}
		switch verdict, why := r.Verdict(in); verdict {
		case VerdictRecovered:
		case VerdictExcluded:
			c.Skipped = &junit.Message{Message: why}
		default:
			c.Failure = &junit.Message{Message: firstLine(why), Text: why}
		}
		instances.Add(c)
	}
	specs := junit.Suite{Name: r.Drill + ": verification", Timestamp: stamp}
	for _, s := range r.Specs {
		c := junit.Case{Name: s.Name, ClassName: "verify." + s.Labels, Time: junit.Seconds(time.Duration(s.Seconds * float64(time.Second)))}
		if s.Instance != "" {
			c.Properties = append(c.Properties, junit.Property{Name: "instance", Value: s.Instance})
		}
		if s.Volume != "" {
			c.Properties = append(c.Properties, junit.Property{Name: "volume", Value: s.Volume})
		}
		switch s.State {
		case string(suites.StateFailed):
			c.Failure = &junit.Message{Message: firstLine(s.Message), Text: s.Message}
		case string(suites.StateSkipped):
			c.Skipped = &junit.Message{Message: s.Message}
		}
		specs.Add(c)
	}
	for _, s := range []junit.Suite{phases, instances, specs} {
		out.Add(s)
	}
	return out
}

// specResults are a verification's checks as the report lists them. A skipped check whose family the
// operator did not leave out failed the verification, so the report says it failed: it was not checked.
func specResults(r *suites.Report) []SpecResult {
	out := make([]SpecResult, 0, len(r.Results))
	for _, res := range r.Results {
		s := SpecResult{Name: res.Name, Labels: res.Family, Instance: res.Instance, Volume: res.Volume, State: string(res.State),
			Seconds: res.Seconds, Message: strings.Join(res.Causes, "\n")}
		if res.State == suites.StateSkipped && !slices.Contains(r.Skippable, res.Family) {
			s.State, s.Message = string(suites.StateFailed), "not checked: "+s.Message
		}
		out = append(out, s)
	}
	return out
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}
