package drills

import (
	"encoding/json"
	"encoding/xml"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"time"
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

// Report file names in the run directory.
const (
	ReportJSON    = "report.json"
	ReportJUnit   = "junit.xml"
	ReportHTML    = "report.html"
	ReportMetrics = "metrics.prom"
)

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

// WriteAll writes the JSON, JUnit and HTML reports into dir.
func (r *Report) WriteAll(dir string) error {
	sort.Slice(r.Instances, func(i, j int) bool { return r.Instances[i].ID < r.Instances[j].ID })
	raw, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return fmt.Errorf("encode report: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, ReportJSON), append(raw, '\n'), 0o644); err != nil {
		return fmt.Errorf("write JSON report: %w", err)
	}
	junit, err := r.junit()
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, ReportJUnit), junit, 0o644); err != nil {
		return fmt.Errorf("write JUnit report: %w", err)
	}
	f, err := os.Create(filepath.Join(dir, ReportHTML))
	if err != nil {
		return fmt.Errorf("write HTML report: %w", err)
	}
	defer f.Close()
	if err := r.writeHTML(f); err != nil {
		return fmt.Errorf("write HTML report: %w", err)
	}
	return f.Close()
}

type junitSuites struct {
	XMLName  xml.Name     `xml:"testsuites"`
	Name     string       `xml:"name,attr"`
	Tests    int          `xml:"tests,attr"`
	Failures int          `xml:"failures,attr"`
	Skipped  int          `xml:"skipped,attr"`
	Time     float64      `xml:"time,attr"`
	Suites   []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name     string      `xml:"name,attr"`
	Tests    int         `xml:"tests,attr"`
	Failures int         `xml:"failures,attr"`
	Skipped  int         `xml:"skipped,attr"`
	Time     float64     `xml:"time,attr"`
	Cases    []junitCase `xml:"testcase"`
}

type junitCase struct {
	Name      string        `xml:"name,attr"`
	ClassName string        `xml:"classname,attr"`
	Time      float64       `xml:"time,attr"`
	Failure   *junitMessage `xml:"failure,omitempty"`
	Skipped   *junitMessage `xml:"skipped,omitempty"`
}

type junitMessage struct {
	Message string `xml:"message,attr"`
	Text    string `xml:",chardata"`
}

// junit renders three suites: the drill's phases, each instance's recovery, and the verification specs, so
// a CI system shows exactly which part failed.
func (r *Report) junit() ([]byte, error) {
	suites := junitSuites{Name: "osdr drill " + r.Drill, Time: r.Finished.Sub(r.Started).Seconds()}
	add := func(s *junitSuite, c junitCase) {
		s.Tests++
		s.Time += c.Time
		if c.Failure != nil {
			s.Failures++
		}
		if c.Skipped != nil {
			s.Skipped++
		}
		s.Cases = append(s.Cases, c)
	}
	phases := junitSuite{Name: r.Drill + ": phases"}
	for _, p := range r.Phases {
		c := junitCase{Name: p.Name, ClassName: "drill." + r.Drill, Time: p.Finished.Sub(p.Started).Seconds()}
		if !p.OK {
			c.Failure = &junitMessage{Message: p.Error, Text: p.Error}
		}
		add(&phases, c)
	}
	instances := junitSuite{Name: r.Drill + ": recovery"}
	for _, in := range r.Instances {
		c := junitCase{Name: fmt.Sprintf("instance %s (%s) recovered", in.ID, in.Name), ClassName: "recovery." + in.Host, Time: in.RecoverySeconds}
		switch in.Outcome {
		case "failed":
			c.Failure = &junitMessage{Message: in.Error, Text: in.Error}
		case "excluded":
			c.Skipped = &junitMessage{Message: in.Error}
		}
		add(&instances, c)
	}
	specs := junitSuite{Name: r.Drill + ": verification"}
	for _, s := range r.Specs {
		c := junitCase{Name: s.Name, ClassName: "verify." + s.Labels, Time: s.Seconds}
		switch s.State {
		case "failed":
			c.Failure = &junitMessage{Message: firstLine(s.Message), Text: s.Message}
		case "skipped":
			c.Skipped = &junitMessage{Message: s.Message}
		}
		add(&specs, c)
	}
	for _, s := range []junitSuite{phases, instances, specs} {
		suites.Tests += s.Tests
		suites.Failures += s.Failures
		suites.Skipped += s.Skipped
		suites.Suites = append(suites.Suites, s)
	}
	out, err := xml.MarshalIndent(suites, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encode JUnit report: %w", err)
	}
	return append([]byte(xml.Header), append(out, '\n')...), nil
}

func firstLine(s string) string {
	for i, r := range s {
		if r == '\n' {
			return s[:i]
		}
	}
	return s
}
