package main

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/spf13/cobra"

	"github.com/osdr/osdr/drills"
	"github.com/osdr/osdr/inject"
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

// drillEnv loads the drill and opens its cloud: the drill file's cloud fields fill the contract's flags
// when the command line does not give them.
func drillEnv(cmd *cobra.Command, contract *settings.Flags, path string) (*drills.Drill, *env, drills.Env, error) {
	d, err := drills.Load(path, inject.Kinds())
	if err != nil {
		return nil, nil, drills.Env{}, err
	}
	if contract.OSCloud == "" {
		contract.OSCloud = d.Cloud.OSCloud
	}
	if contract.Inventory == "" {
		contract.Inventory = d.Cloud.Inventory
	}
	e, err := resolveEnv(cmd, contract)
	if err != nil {
		return nil, nil, drills.Env{}, err
	}
	ctx := cmd.Context()
	de := drills.Env{AuthURL: e.settings.Cloud.AuthURL(), Region: e.settings.Cloud.Region(), Log: cmd.ErrOrStderr()}
	// The guards come first: nothing of a cloud the drill may not touch is even opened.
	if err := d.Guards.CheckEndpoint(de.AuthURL, de.Region); err != nil {
		e.close()
		return nil, nil, drills.Env{}, err
	}
	if de.DBs, err = e.databases(ctx); err != nil {
		e.close()
		return nil, nil, drills.Env{}, err
	}
	if de.API, err = e.cloud(ctx, d.Recovery.APIRate); err != nil {
		e.close()
		return nil, nil, drills.Env{}, err
	}
	m := e.machines()
	de.Hosts, de.Guests, de.GuestLogin = m, m, m.guestLogin
	return d, e, de, nil
}

func newDrillPlanCommand() *cobra.Command {
	var contract *settings.Flags
	cmd := &cobra.Command{
		Use:   "plan FILE",
		Short: "Show what a drill would do on the cloud as it is now, changing nothing",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			d, e, de, err := drillEnv(cmd, contract, args[0])
			if err != nil {
				return err
			}
			defer e.close()
			return (&drills.Runner{Drill: d, Env: de}).Plan(cmd.Context(), cmd.OutOrStdout())
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
			d, e, de, err := drillEnv(cmd, contract, args[0])
			if err != nil {
				return err
			}
			defer e.close()
			return runDrill(cmd, contract, d, e, de, output)
		},
	}
	contract = settings.AddFlags(cmd.Flags())
	cmd.Flags().StringVarP(&output, "output", "o", "text", "recovery progress: text or json")
	return cmd
}

func runDrill(cmd *cobra.Command, contract *settings.Flags, d *drills.Drill, e *env, de drills.Env, output string) error {
	self, err := os.Executable()
	if err != nil {
		return fmt.Errorf("find the osdr binary for verification: %w", err)
	}
	de.Verifier = drills.ProcessVerifier{Binary: self, Args: contractArgs(contract, e.settings)}
	previous, err := previousRuns(e.settings.Runs, "drill")
	if err != nil {
		return err
	}
	run, err := e.settings.Runs.NewRun("drill")
	if err != nil {
		return err
	}
	out := cmd.OutOrStdout()
	view := newProgress(out, output, nil)
	de.Emit = view.Event
	de.AfterJournalEntry = crashHook()
	report, err := (&drills.Runner{Drill: d, Env: de}).Execute(cmd.Context(), drills.Run{ID: run.ID, Dir: run.Dir}, previous)
	view.Done()
	if report != nil {
		recovered, failed := report.Counts()
		fmt.Fprintf(out, "\nDrill %s: %s. %s\n", report.Drill, strings.ToUpper(string(report.Outcome)), report.Summary)
		fmt.Fprintf(out, "  instances recovered %d, failed %d; recovery time %.1fs\n", recovered, failed, report.RecoverySeconds)
		for _, n := range report.Notes {
			fmt.Fprintln(out, "  note:", n)
		}
		fmt.Fprintf(out, "Report: %s\n", filepath.Join(run.Dir, drills.ReportHTML))
	}
	return err
}

// contractArgs passes the resolved settings to a child osdr, as flags where the parent had flags; the
// environment is inherited.
func contractArgs(f *settings.Flags, s *settings.Settings) []string {
	var args []string
	add := func(name, value string) {
		if value != "" {
			args = append(args, "--"+name, value)
		}
	}
	add(settings.FlagOSCloud, f.OSCloud)
	add(settings.FlagCinderDBDSNFile, f.CinderDBDSNFile)
	add(settings.FlagNovaDBDSNFile, f.NovaDBDSNFile)
	add(settings.FlagInventory, f.Inventory)
	add(settings.FlagSSHKey, f.SSHKey)
	add(settings.FlagSSHUser, f.SSHUser)
	add(settings.FlagKnownHosts, f.KnownHosts)
	add(settings.FlagRunsDir, s.Runs.Dir)
	if f.InsecureIgnoreHostKeys {
		args = append(args, "--"+settings.FlagInsecureIgnoreHostKeys)
	}
	return args
}

// previousRuns lists earlier runs of a kind, newest first.
func previousRuns(runs settings.Runs, kind string) ([]drills.Run, error) {
	entries, err := os.ReadDir(runs.Dir)
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list runs: %w", err)
	}
	var out []drills.Run
	for _, ent := range entries {
		if !ent.IsDir() || !strings.Contains(ent.Name(), "-"+kind+"-") {
			continue
		}
		run, err := runs.FindRun(ent.Name())
		if err != nil || run.Kind != kind {
			continue
		}
		out = append(out, drills.Run{ID: run.ID, Dir: run.Dir})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID > out[j].ID })
	return out, nil
}
