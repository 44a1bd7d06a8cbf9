package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/osdr/osdr/internal/cloud"
	"github.com/osdr/osdr/internal/settings"
	"github.com/osdr/osdr/recover"
	"github.com/osdr/osdr/suites"
)

func newVerifyCommand() *cobra.Command {
	var contract *settings.Flags
	var manifestPath, instance, labelFilter, junitPath, jsonReport, runID string
	var deadline time.Duration
	var verbose, acceptPartial bool
	var skip []string
	var output string
	cmd := &cobra.Command{
		Use:   "verify --manifest FILE",
		Short: "Prove a recovery: volumes reattached, instances running, guests reachable, data intact",
		Example: `  osdr verify --manifest osdr-runs/RUN/manifest.json --run RUN
  osdr verify --manifest manifest.json --instance 6774a0c9-a063-4cbd-aa55-298277b09aba --junit verify.xml
  osdr verify --manifest manifest.json --label-filter 'attachments && !integrity' --skip reachability`,
		Long: `verify checks the cloud against the manifest, the expected state, in four families (labels):
  attachments   each volume on the same instance at the same device, in-use in Cinder and Nova, its iSCSI
                session logged in on the host, no stale or duplicate attachment rows or BDMs
  states        each instance in the state it had before the loss (ACTIVE, running, no task, no fault)
  reachability  each guest answers over SSH, sees its disks and has its fstab mounts mounted
  integrity     the stamps written before the fault read back; guests the run rebooted have a new boot id
Checks run side by side; each looks again until it passes or --deadline, one deadline for the whole
verification, ends it. Each guest's and each compute host's checks run back to back over its one SSH
connection, 32 machines at a time; the API and database checks read listings and counts in bulk. A failure
is printed as one line per cause.
--instance restricts every check to one instance (the guide's test mode); --run gives a recovery's journal.
The same checks run as a Ginkgo suite: go test ./suites/ -args -osdr.manifest FILE.
Exit status 0 only when no selected check failed.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			out, err := newOutput(cmd, "verify", output)
			if err != nil {
				return err
			}
			return out.finish(func() error {
				ctx := cmd.Context()
				if err := suites.DeadlineRange.Check("--deadline", deadline); err != nil {
					return err
				}
				if manifestPath == "" {
					return errors.New("--manifest is required: the expected state comes from it")
				}
				m, err := recover.ReadManifest(manifestPath)
				if err != nil {
					return err
				}
				c, err := openCloud(cmd, contract, cloud.Options{})
				if err != nil {
					return err
				}
				defer c.Close()
				now, err := c.Identity(ctx)
				if err != nil {
					return err
				}
				if err := cloud.Compare(m.Cloud.Identity, now).Err(acceptPartial); err != nil {
					return fmt.Errorf("manifest %s: %w", manifestPath, err)
				}
				target := &suites.Target{Manifest: m, Cloud: c, Instance: instance}
				if runID != "" {
					rn, err := c.Settings().Runs.Find(runID)
					if err != nil {
						return err
					}
					out.run(rn)
					if target.Journal, err = recover.ReadJournal(rn); err != nil {
						return err
					}
					if junitPath == "" {
						junitPath = rn.Verification("recovery")
					}
				}
				report, err := suites.Verify(ctx, target, suites.Options{LabelFilter: labelFilter, Deadline: deadline, Skip: skip})
				if err != nil {
					return err
				}
				out.res.Checks = checkOutcomes(report)
				writeVerification(out.text(), report, verbose)
				if junitPath != "" {
					if err := report.JUnit("osdr verify").WriteFile(junitPath); err != nil {
						return err
					}
				}
				if jsonReport != "" {
					raw, err := json.MarshalIndent(report, "", "  ")
					if err != nil {
						return err
					}
					if err := os.WriteFile(jsonReport, append(raw, '\n'), 0o644); err != nil {
						return fmt.Errorf("write JSON report: %w", err)
					}
				}
				if !report.Passed() {
					return &exitError{code: exitFailure, err: errors.New("verification failed")}
				}
				return nil
			}())
		},
	}
	fs := cmd.Flags()
	contract = settings.AddFlags(fs)
	fs.StringVar(&manifestPath, "manifest", "", "the manifest with the expected state")
	fs.StringVar(&instance, "instance", "", "check only this instance (the guide's test mode)")
	fs.StringVar(&labelFilter, "label-filter", "", "label expression over attachments, states, reachability, integrity (Ginkgo's syntax)")
	fs.StringVar(&junitPath, "junit", "", "write a JUnit XML report here")
	fs.StringVar(&jsonReport, "json-report", "", "write the checks and their outcomes as JSON here")
	fs.StringVar(&runID, "run", "", "the recovery run whose journal to check guest reboots against")
	fs.DurationVar(&deadline, "deadline", 2*time.Minute, "how long the whole verification may wait for the cloud to converge")
	fs.BoolVarP(&verbose, "verbose", "v", false, "list every check, not only failures")
	addOutputFlag(cmd, &output)
	fs.BoolVar(&acceptPartial, flagAcceptPartialIdentity, false, acceptPartialIdentityUsage)
	fs.StringSliceVar(&skip, "skip", nil, "families whose checks may be skipped when they cannot run (no SSH, no database): attachments, states, reachability, integrity; any other skipped check fails the verification")
	return cmd
}

// writeVerification prints failed and skipped checks with one line per cause (every check with -v) and a
// summary; a skipped check the operator did not accept with --skip counts against the verdict.
func writeVerification(w io.Writer, r *suites.Report, verbose bool) {
	for _, res := range r.Results {
		if res.State == suites.StatePassed && !verbose {
			continue
		}
		fmt.Fprintf(w, "%-7s %s: %s\n", strings.ToUpper(string(res.State)), res.Family, res.Name)
		for _, cause := range res.Causes {
			fmt.Fprintf(w, "        %s\n", cause)
		}
	}
	passed, failed, skipped := r.Counts()
	verdict := "PASSED"
	if !r.Passed() {
		verdict = "FAILED"
	}
	fmt.Fprintf(w, "Verification %s: %d passed, %d failed, %d skipped (%s)\n", verdict, passed, failed, skipped, r.Finished.Sub(r.Started).Round(time.Millisecond))
	if unaccepted := r.UnacceptedSkips(); len(unaccepted) > 0 {
		var families []string
		for _, res := range unaccepted {
			if !slices.Contains(families, res.Family) {
				families = append(families, res.Family)
			}
		}
		fmt.Fprintf(w, "%d check(s) could not run: give what they need, or leave their families out with --skip %s\n", len(unaccepted), strings.Join(families, ","))
	}
}

// checkOutcomes are a verification's checks as the JSON result lists them.
func checkOutcomes(r *suites.Report) []CheckOutcome {
	out := make([]CheckOutcome, 0, len(r.Results))
	for _, res := range r.Results {
		out = append(out, CheckOutcome{Name: res.Name, Family: res.Family, Instance: res.Instance, Volume: res.Volume, State: string(res.State), Causes: res.Causes, Seconds: res.Seconds})
	}
	return out
}
