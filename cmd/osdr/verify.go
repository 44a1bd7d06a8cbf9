package main

import (
	"errors"
	"fmt"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/osdr/osdr/internal/settings"
	"github.com/osdr/osdr/recover"
	"github.com/osdr/osdr/suites"
)

func newVerifyCommand() *cobra.Command {
	var contract *settings.Flags
	var manifestPath, instance, labelFilter, junit, jsonReport, runID string
	var deadline time.Duration
	var verbose bool
	cmd := &cobra.Command{
		Use:   "verify --manifest FILE",
		Short: "Prove a recovery: volumes reattached, instances running, guests reachable, data intact",
		Long: `verify runs the Ginkgo verification specs against the cloud, with the manifest as the expected state:
  attachments   each volume on the same instance at the same device, in-use in Cinder and Nova, no stale
                or duplicate attachment rows or BDMs
  states        each instance in the state it had before the loss (ACTIVE, running, no task, no fault)
  reachability  each guest answers over SSH, sees its disks and has its fstab mounts mounted
  integrity     the stamps written before the fault read back; guests the run rebooted have a new boot id
--instance restricts every spec to one instance (the guide's test mode); --run gives a recovery's journal.
Exit status 0 only when every selected spec passed.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			if manifestPath == "" {
				return errors.New("--manifest is required: the expected state comes from it")
			}
			m, err := recover.ReadManifest(manifestPath)
			if err != nil {
				return err
			}
			e, err := resolveEnv(cmd, contract)
			if err != nil {
				return err
			}
			defer e.close()
			if err := checkManifestCloud(e, m); err != nil {
				return err
			}
			api, err := e.cloud(ctx, 0)
			if err != nil {
				return err
			}
			target := &suites.Target{Manifest: m, Cloud: api, Instance: instance, Deadline: deadline}
			if dbs, ok, err := e.optionalDatabases(ctx); err != nil {
				return err
			} else if ok {
				target.DBs = &dbs
			}
			if _, err := e.ssh(); err == nil {
				target.Guests, target.Hosts = e.machines(), e.machines()
			} else {
				fmt.Fprintf(e.stderr, "osdr: no SSH (%v): reachability and integrity specs are skipped\n", err)
			}
			if runID != "" {
				run, err := e.settings.Runs.FindRun(runID)
				if err != nil {
					return err
				}
				if target.Journal, err = recover.ReadJournalEntries(run.Dir); err != nil {
					return err
				}
				if junit == "" {
					junit = filepath.Join(run.Dir, "verify-junit.xml")
				}
			}
			passed, err := suites.Run(target, suites.RunOptions{
				LabelFilter: labelFilter, JUnitReport: junit, JSONReport: jsonReport, Verbose: verbose,
				NoColor: !isTerminal(cmd.OutOrStdout()),
			})
			if err != nil {
				return err
			}
			if !passed {
				return &exitError{code: exitFailure, err: errors.New("verification failed")}
			}
			return nil
		},
	}
	fs := cmd.Flags()
	contract = settings.AddFlags(fs)
	fs.StringVar(&manifestPath, "manifest", "", "the manifest with the expected state")
	fs.StringVar(&instance, "instance", "", "check only this instance (the guide's test mode)")
	fs.StringVar(&labelFilter, "label-filter", "", "Ginkgo label expression over attachments, states, reachability, integrity")
	fs.StringVar(&junit, "junit", "", "write a JUnit XML report here")
	fs.StringVar(&jsonReport, "json-report", "", "write Ginkgo's JSON report here")
	fs.StringVar(&runID, "run", "", "the recovery run whose journal to check guest reboots against")
	fs.DurationVar(&deadline, "deadline", 30*time.Second, "how long each spec waits for the cloud to converge")
	fs.BoolVarP(&verbose, "verbose", "v", false, "report every spec, not only failures")
	return cmd
}

// checkManifestCloud refuses a manifest taken on another cloud.
func checkManifestCloud(e *env, m *recover.Manifest) error {
	if m.Cloud.AuthURL != "" && e.settings.Cloud.Configured() && m.Cloud.AuthURL != e.settings.Cloud.AuthURL() {
		return fmt.Errorf("%w: it was taken on %s, this is %s", recover.ErrForeignManifest, m.Cloud.AuthURL, e.settings.Cloud.AuthURL())
	}
	return nil
}
