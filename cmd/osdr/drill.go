package main

import (
	"fmt"
	"strings"

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

func newDrillValidateCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "validate FILE",
		Short: "Check a drill file and name every problem in it",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			d, err := drills.Load(args[0], inject.Kinds())
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: drill %q is valid (%d fault(s), guards: staging, %d endpoint(s), at most %d host(s), %d instance(s), %d volume(s))\n",
				args[0], d.Name, len(d.Faults), len(d.Guards.AllowedEndpoints), d.Guards.MaxHosts, d.Guards.MaxInstances, d.Guards.MaxVolumes)
			return nil
		},
	}
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
	cmd := &cobra.Command{
		Use:   "plan FILE",
		Short: "Show what a drill would do on the cloud as it is now, changing nothing",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			d, c, err := drillCloud(cmd, contract, args[0])
			if err != nil {
				return err
			}
			defer c.Close()
			return (&drills.Runner{Drill: d, Cloud: c}).Plan(cmd.Context(), cmd.OutOrStdout())
		},
	}
	contract = settings.AddFlags(cmd.Flags())
	return cmd
}

func newDrillRunCommand() *cobra.Command {
	var contract *settings.Flags
	var output string
	cmd := &cobra.Command{
		Use:   "run FILE",
		Short: "Run a drill: guards, preflight, snapshot, inject, recover, verify, report",
		Long: `run executes the drill. On failure, timeout or interrupt (SIGINT/SIGTERM) it still restores the faults
and recovers the targets from the saved records, and the report says what happened. A run that was killed
outright is restored and reported by the next run of the same drill. Reports (report.json, junit.xml,
report.html, metrics.prom) are written in the run directory.
Exit status: 0 the drill passed; 1 it failed or was refused.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			d, c, err := drillCloud(cmd, contract, args[0])
			if err != nil {
				return err
			}
			defer c.Close()
			return runDrill(cmd, d, c, output)
		},
	}
	contract = settings.AddFlags(cmd.Flags())
	cmd.Flags().StringVarP(&output, "output", "o", "text", "recovery progress: text or json")
	return cmd
}

func runDrill(cmd *cobra.Command, d *drills.Drill, c *cloud.Cloud, output string) error {
	runs := c.Settings().Runs
	previous, err := runs.List(run.KindDrill)
	if err != nil {
		return err
	}
	rn, err := runs.New(run.KindDrill)
	if err != nil {
		return err
	}
	out := cmd.OutOrStdout()
	view := newProgress(out, output, false)
	runner := &drills.Runner{Drill: d, Cloud: c, Log: cmd.ErrOrStderr(), Progress: view, AfterJournalEntry: crashHook()}
	report, err := runner.Execute(cmd.Context(), rn, previous)
	view.Done()
	if report != nil {
		recovered, failed := report.Counts()
		fmt.Fprintf(out, "\nDrill %s: %s. %s\n", report.Drill, strings.ToUpper(string(report.Outcome)), report.Summary)
		fmt.Fprintf(out, "  instances recovered %d, failed %d; recovery time %.1fs\n", recovered, failed, report.RecoverySeconds)
		for _, n := range report.Notes {
			fmt.Fprintln(out, "  note:", n)
		}
		fmt.Fprintf(out, "Report: %s\n", rn.ReportHTML())
	}
	return err
}
