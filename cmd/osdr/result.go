package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/osdr/osdr/drills"
	"github.com/osdr/osdr/internal/run"
	"github.com/osdr/osdr/recover"
)

// resultSchemaVersion is the version of the JSON every command ends with under -o json; README's
// "Machine-readable output" documents it. A field is only ever added within a version.
const resultSchemaVersion = 1

// Result is the last line a command prints on stdout with -o json: what happened, in one object a pipe can
// read. Before it, commands that take time print their events, one JSON object per line ("type": "event").
type Result struct {
	Type          string `json:"type"` // "result"
	SchemaVersion int    `json:"schema_version"`
	Command       string `json:"command"`
	// Status is succeeded, partial (some instances recovered, some did not) or failed.
	Status   string    `json:"status"`
	ExitCode int       `json:"exit_code"`
	Error    string    `json:"error,omitempty"`
	Started  time.Time `json:"started"`
	Finished time.Time `json:"finished"`
	RunID    string    `json:"run_id,omitempty"`
	RunDir   string    `json:"run_dir,omitempty"`
	// Instances, Phases and Checks are what the command did, per instance, phase and verification check.
	Instances []InstanceOutcome `json:"instances,omitempty"`
	Phases    []PhaseOutcome    `json:"phases,omitempty"`
	Checks    []CheckOutcome    `json:"checks,omitempty"`
	// The rest belongs to one command each.
	Manifest *ManifestOutcome `json:"manifest,omitempty"` // snapshot
	Plan     *recover.Plan    `json:"plan,omitempty"`     // recover --dry-run
	Timing   *recover.Timing  `json:"timing,omitempty"`   // recover: steps 3 to 5 beside their lower bound
	Cost     *recover.Cost    `json:"cost,omitempty"`     // recover: what the run changed and sent
	Actions  []ActionOutcome  `json:"actions,omitempty"`  // inject, inject restore, drill plan
	Drill    *DrillOutcome    `json:"drill,omitempty"`    // drill validate, plan, run
	Runs     []run.Meta       `json:"runs,omitempty"`     // runs list, show, prune
	Version  *VersionOutcome  `json:"version,omitempty"`  // version
}

// InstanceOutcome is how one instance fared.
type InstanceOutcome struct {
	ID      string             `json:"id"`
	Name    string             `json:"name,omitempty"`
	Host    string             `json:"host,omitempty"`
	Outcome string             `json:"outcome"` // recovered, failed, excluded
	Error   string             `json:"error,omitempty"`
	Seconds float64            `json:"seconds,omitempty"`
	Steps   map[string]float64 `json:"step_seconds,omitempty"`
	// Class is --strategy minimal's verdict (reboot-only, stuck, kept); FellBack why a reboot-only
	// instance's proof failed.
	Class    string `json:"class,omitempty"`
	FellBack string `json:"fell_back,omitempty"`
}

// PhaseOutcome is one phase of a drill or one step of a recovery, with when it started and ended.
type PhaseOutcome struct {
	Name     string    `json:"name"`
	Started  time.Time `json:"started"`
	Finished time.Time `json:"finished"`
	OK       bool      `json:"ok"`
	Error    string    `json:"error,omitempty"`
	// Strategy is the recovery strategy of the phase's round, in a drill that runs more than one.
	Strategy string `json:"strategy,omitempty"`
}

// CheckOutcome is one verification check: passed, failed or skipped, with its causes.
type CheckOutcome struct {
	Name     string   `json:"name"`
	Family   string   `json:"family"`
	Instance string   `json:"instance,omitempty"`
	Volume   string   `json:"volume,omitempty"`
	State    string   `json:"state"`
	Causes   []string `json:"causes,omitempty"`
	Seconds  float64  `json:"seconds"`
}

// ManifestOutcome describes the manifest a snapshot wrote.
type ManifestOutcome struct {
	Path        string   `json:"path"`
	Source      string   `json:"source"`
	Instances   int      `json:"instances"`
	Attachments int      `json:"attachments"`
	Stamps      int      `json:"stamps"`
	Warnings    []string `json:"warnings,omitempty"`
}

// ActionOutcome is one fault action on a host.
type ActionOutcome struct {
	Host     string `json:"host"`
	Command  string `json:"command"`
	Restore  string `json:"restore,omitempty"`
	Instance string `json:"instance,omitempty"`
	Volume   string `json:"volume,omitempty"`
	State    string `json:"state"`
	Error    string `json:"error,omitempty"`
}

// DrillOutcome describes a drill file and, after a run, its reports.
type DrillOutcome struct {
	Name     string      `json:"name"`
	File     string      `json:"file"`
	Outcome  string      `json:"outcome,omitempty"` // passed, failed, aborted, interrupted
	Summary  string      `json:"summary,omitempty"`
	Reports  []string    `json:"reports,omitempty"`
	NextRuns []time.Time `json:"next_runs,omitempty"`
	// Strategies sets the recovery strategies side by side, in a drill that runs more than one.
	Strategies []drills.StrategyReport `json:"strategies,omitempty"`
}

// VersionOutcome is what `osdr version` prints: the build of osdr that is running.
type VersionOutcome struct {
	Version   string `json:"version"`
	Commit    string `json:"commit,omitempty"`
	BuildDate string `json:"build_date,omitempty"`
	GoVersion string `json:"go_version"`
}

// output is how a command reports: human text on stdout, or -o json: JSON only on stdout (events as lines,
// then one Result), with the human text on stderr.
type output struct {
	cmd    *cobra.Command
	format string
	res    Result
}

// addOutputFlag registers -o on a command.
func addOutputFlag(cmd *cobra.Command, format *string) {
	cmd.Flags().StringVarP(format, "output", "o", "text", "text, or json: stdout carries JSON only (events as lines, then one result object)")
}

func newOutput(cmd *cobra.Command, command, format string) (*output, error) {
	if format != "text" && format != "json" {
		return nil, fmt.Errorf("--output %q: want text or json", format)
	}
	return &output{cmd: cmd, format: format, res: Result{Type: "result", SchemaVersion: resultSchemaVersion, Command: command, Started: time.Now().UTC()}}, nil
}

func (o *output) json() bool { return o.format == "json" }

// text is where human-readable lines go: stdout, or stderr when stdout carries JSON.
func (o *output) text() io.Writer {
	if o.json() {
		return o.cmd.ErrOrStderr()
	}
	return o.cmd.OutOrStdout()
}

// run records the run a command made or used.
func (o *output) run(rn run.Run) { o.res.RunID, o.res.RunDir = rn.ID, rn.Dir }

// finish fills in how the command ended and, with -o json, prints the Result; it returns err for the exit
// status.
func (o *output) finish(err error) error {
	o.res.Finished = time.Now().UTC()
	o.res.ExitCode, o.res.Status = 0, "succeeded"
	if err != nil {
		o.res.ExitCode, o.res.Error = exitCode(err), err.Error()
		o.res.Status = "failed"
		if o.res.ExitCode == exitPartial {
			o.res.Status = "partial"
		}
	}
	if o.json() {
		if werr := json.NewEncoder(o.cmd.OutOrStdout()).Encode(o.res); werr != nil {
			return errors.Join(err, fmt.Errorf("write the result: %w", werr))
		}
	}
	return err
}

// event is a progress event as a JSON line.
type event struct {
	Type string `json:"type"` // "event"
	recover.Event
}

// endRun records how a run a command made ended, and passes its error on.
func endRun(rn run.Run, err error, instances int) error {
	status, detail := run.StatusSucceeded, ""
	if err != nil {
		status, detail = run.StatusFailed, err.Error()
	}
	return errors.Join(err, rn.End(status, instances, detail))
}
