package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/osdr/osdr/drills"
	"github.com/osdr/osdr/inject"
	"github.com/osdr/osdr/internal/cloud"
	"github.com/osdr/osdr/internal/run"
	"github.com/osdr/osdr/internal/settings"
)

func newDrillCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "drill",
		Short: "Run YAML disaster-recovery drills on a staging cloud",
		Long: `A drill breaks a staging cloud like a power cut, recovers it with the same engine a real recovery uses,
proves the result and reports how long each instance took to come back. Its guards refuse any cloud whose
Keystone endpoint is not allowed or that the file does not mark as staging, and any blast radius over its
limits. See examples/drills/ for documented drill files.`,
	}
	cmd.AddCommand(newDrillValidateCommand(), newDrillPlanCommand(), newDrillRunCommand())
	return cmd
}

// nextRunsShown is how many upcoming runs `drill validate` lists for a scheduled drill: enough to see the
// pattern (weekdays, the hour) without scrolling.
const nextRunsShown = 3

func newDrillValidateCommand() *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "validate FILE",
		Short: "Check a drill file and name every problem in it",
		Example: `  osdr drill validate examples/drills/weekly-compute-1.yaml
  osdr drill validate drill.yaml -o json | jq .error
  osdr drill validate drill.yaml -o json | jq -r '.drill.next_runs[]'`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			out, err := newOutput(cmd, "drill validate", output)
			if err != nil {
				return err
			}
			return out.finish(func() error {
				d, err := drills.Load(args[0], inject.Kinds())
				if err != nil {
					return err
				}
				out.res.Drill = &DrillOutcome{Name: d.Name, File: args[0]}
				fmt.Fprintf(out.text(), "%s: drill %q is valid (%d fault(s), guards: staging, %d endpoint(s), at most %d host(s), %d instance(s), %d volume(s))\n",
					args[0], d.Name, len(d.Faults), len(d.Guards.AllowedEndpoints), d.Guards.MaxHosts, d.Guards.MaxInstances, d.Guards.MaxVolumes)
				if d.Schedule == "" {
					return nil
				}
				// The scheduler reads the schedule in its host's local time, so that is the zone shown.
				next, err := drills.NextRuns(d.Schedule, time.Now(), nextRunsShown)
				if err != nil {
					return err
				}
				out.res.Drill.NextRuns = next
				for _, t := range next {
					fmt.Fprintf(out.text(), "  next run: %s\n", t.Format("Mon 2006-01-02 15:04 MST"))
				}
				return nil
			}())
		},
	}
	addOutputFlag(cmd, &output)
	return cmd
}

// drillCloud loads the drill and opens its cloud: the drill file's cloud fields fill the contract's flags
// when the command line does not give them. Nothing of the cloud is contacted before the drill's guards ran.
func drillCloud(cmd *cobra.Command, contract *settings.Flags, path string) (*drills.Drill, *cloud.Cloud, error) {
	d, err := drills.Load(path, inject.Kinds())
	if err != nil {
		return nil, nil, err
	}
	if contract.OSCloud == "" {
		contract.OSCloud = d.Cloud.OSCloud
	}
	if contract.Inventory == "" {
		contract.Inventory = d.Cloud.Inventory
	}
	c, err := openCloud(cmd, contract, cloud.Options{APIRate: d.Recovery.APIRate})
	if err != nil {
		return nil, nil, err
	}
	return d, c, nil
}

func newDrillPlanCommand() *cobra.Command {
	var contract *settings.Flags
	var output string
	cmd := &cobra.Command{
		Use:   "plan FILE",
		Short: "Show what a drill would do on the cloud as it is now, changing nothing",
		Example: `  osdr drill plan drill.yaml --os-cloud staging
  osdr drill plan drill.yaml -o json | jq -r '.actions[] | "\(.host): \(.command)"'`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			out, err := newOutput(cmd, "drill plan", output)
			if err != nil {
				return err
			}
			return out.finish(func() error {
				d, c, err := drillCloud(cmd, contract, args[0])
				if err != nil {
					return err
				}
				defer c.Close()
				out.res.Drill = &DrillOutcome{Name: d.Name, File: args[0]}
				plan, err := (&drills.Runner{Drill: d, Cloud: c}).Plan(cmd.Context())
				if err != nil {
					return err
				}
				out.actions("Would run", plan.Faults)
				if out.json() {
					return nil
				}
				return plan.WriteText(out.text())
			}())
		},
	}
	contract = settings.AddFlags(cmd.Flags())
	addOutputFlag(cmd, &output)
	return cmd
}

func newDrillRunCommand() *cobra.Command {
	var contract *settings.Flags
	var output string
	cmd := &cobra.Command{
		Use:   "run FILE",
		Short: "Run a drill: guards, preflight, snapshot, inject, recover, verify, report",
		Example: `  osdr drill run examples/drills/one-instance.yaml --os-cloud staging
  osdr drill run drill.yaml -o json | jq -c 'select(.type == "result") | {status, drill: .drill.outcome}'`,
		Long: `run executes the drill. On failure, timeout or interrupt (SIGINT/SIGTERM) it still restores the faults
and recovers the targets from the saved records, and the report says what happened. A run that was killed
outright is restored and reported by the next run of the same drill. Reports (report.json, junit.xml,
report.html, metrics.prom) are written in the run directory.
Exit status: 0 the drill passed; 1 it failed or was refused.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			out, err := newOutput(cmd, "drill run", output)
			if err != nil {
				return err
			}
			return out.finish(func() error {
				d, c, err := drillCloud(cmd, contract, args[0])
				if err != nil {
					return err
				}
				defer c.Close()
				out.res.Drill = &DrillOutcome{Name: d.Name, File: args[0]}
				return runDrill(cmd, out, d, c)
			}())
		},
	}
	contract = settings.AddFlags(cmd.Flags())
	addOutputFlag(cmd, &output)
	return cmd
}

func runDrill(cmd *cobra.Command, out *output, d *drills.Drill, c *cloud.Cloud) error {
	runs := c.Settings().Runs
	previous, err := runs.List(run.KindDrill)
	if err != nil {
		return err
	}
	rn, err := runs.New(run.KindDrill)
	if err != nil {
		return err
	}
	out.run(rn)
	view := newProgress(cmd.OutOrStdout(), out.format, false)
	runner := &drills.Runner{Drill: d, Cloud: c, Log: cmd.ErrOrStderr(), Progress: view, AfterJournalEntry: crashHook()}
	report, err := runner.Execute(cmd.Context(), rn, previous)
	view.Done()
	if report == nil {
		return err
	}
	out.drillReport(report, rn)
	w := out.text()
	recovered, failed := report.Counts()
	fmt.Fprintf(w, "\nDrill %s: %s. %s\n", report.Drill, strings.ToUpper(string(report.Outcome)), report.Summary)
	fmt.Fprintf(w, "  instances recovered %d, failed %d; recovery time %.1fs\n", recovered, failed, report.RecoverySeconds)
	for _, n := range report.Notes {
		fmt.Fprintln(w, "  note:", n)
	}
	if len(report.Strategies) > 0 {
		fmt.Fprintf(w, "  %-8s %-7s %9s %12s %8s %12s %13s %s\n", "strategy", "result", "recovery", "API requests", "DB rows", "HARD reboots", "guest reboots", "checks")
		for _, st := range report.Strategies {
			fmt.Fprintf(w, "  %-8s %-7s %8.1fs %12d %8d %12d %13d %d passed, %d failed\n", st.Strategy, st.Outcome, st.RecoverySeconds,
				st.Cost.APIRequests.Total(), st.Cost.DBRowsChanged, st.Cost.HardReboots, st.Cost.GuestReboots, st.ChecksPassed, len(st.ChecksFailed))
		}
	}
	fmt.Fprintf(w, "Report: %s\n", rn.ReportHTML())
	return err
}

// drillReport puts a drill's report into the JSON result.
func (o *output) drillReport(r *drills.Report, rn run.Run) {
	o.res.Drill.Outcome, o.res.Drill.Summary = string(r.Outcome), r.Summary
	o.res.Drill.Reports = []string{rn.ReportJSON(), rn.ReportJUnit(), rn.ReportHTML(), rn.ReportMetrics()}
	o.res.Drill.Strategies = r.Strategies
	for _, p := range r.Phases {
		o.res.Phases = append(o.res.Phases, PhaseOutcome{Name: p.Name, Started: p.Started, Finished: p.Finished, OK: p.OK, Error: p.Error, Strategy: p.Strategy})
	}
	for _, in := range r.Instances {
		o.res.Instances = append(o.res.Instances, InstanceOutcome{ID: in.ID, Name: in.Name, Host: in.Host, Outcome: in.Outcome, Error: in.Error, Seconds: in.RecoverySeconds, Steps: in.StepSeconds})
	}
	for _, s := range r.Specs {
		o.res.Checks = append(o.res.Checks, CheckOutcome{Name: s.Name, Family: s.Labels, State: s.State, Causes: nonEmptyLines(s.Message), Seconds: s.Seconds})
	}
}

func nonEmptyLines(s string) []string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if l != "" {
			out = append(out, l)
		}
	}
	return out
}
