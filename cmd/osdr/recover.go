package main

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/osdr/osdr/internal/cloud"
	"github.com/osdr/osdr/internal/run"
	"github.com/osdr/osdr/internal/settings"
	"github.com/osdr/osdr/recover"
)

// The override of the identity check, on every command that acts on evidence taken earlier.
const (
	flagAcceptPartialIdentity  = "accept-partial-identity"
	acceptPartialIdentityUsage = "go on when the manifest does not record every part of the cloud's identity (Keystone, each database), as long as nothing it records differs"
)

// defaultAPIRate is what a recovering control plane takes without noticing: a Nova or Cinder API with a few
// workers answers hundreds of requests per second, and a thousand-instance recovery needs about five calls
// per instance plus one listing per tick, so 50 per second finishes its calls in under two minutes.
const defaultAPIRate = 50

// Exit codes scripts and schedulers can branch on.
const (
	exitFailure = 1 // nothing was recovered: bad input, preflight refused, step 2 failed
	exitPartial = 3 // some instances in scope recovered, some did not
)

type recoverFlags struct {
	instances, hosts []string
	all              bool
	manifest         string
	fromDB           bool
	dryRun           bool
	until            string
	guestReboot      string
	strategy         string
	skipDownHosts    bool
	acceptPartial    bool
	output           string
	resume           string
	concurrency      int
	perHost          int
	perBackend       int
	apiRate          float64
	rebootTimeout    time.Duration
	attachTimeout    time.Duration
	guestTimeout     time.Duration
}

func newRecoverCommand() *cobra.Command {
	var f recoverFlags
	var contract *settings.Flags
	cmd := &cobra.Command{
		Use:   "recover (--instance ID... | --host H... | --all)",
		Short: "Recover instances after a power loss with the Operations Guide's procedure",
		Example: `  osdr recover --all --manifest latest --dry-run        # read the plan first
  osdr recover --instance 6774a0c9-a063-4cbd-aa55-298277b09aba --manifest latest   # the guide's test mode
  osdr recover --all --manifest latest --concurrency 32
  osdr recover --resume latest                          # after osdr itself was killed
  osdr recover --all --manifest latest --strategy minimal --dry-run   # which instances need only a reboot`,
		Long: `recover runs the Operations Guide's disaster-recovery procedure, in its order and nothing between:
  1. the instance-to-volume manifest (taken now, or --manifest from a scheduled snapshot), made durable;
  2. the stalled database state cleaned, translated to the Cinder schema found, scoped to the manifest's
     volumes, in one transaction per database with the rows backed up first;
  3. each instance HARD rebooted exactly once (never a second time, also across --resume);
  4. each volume reattached at its recorded device, per instance in device order;
  5. guests rebooted from inside over SSH where /etc/fstab depends on a volume (--guest-reboot).
Start with --dry-run: it prints every SQL statement, API call and SSH command and changes nothing.
Test mode (the guide's): --instance ID runs the whole sequence for one instance and its volumes only.

--strategy minimal touches only what is broken. Nova's libvirt driver connects every volume again from its
block device mapping on a HARD reboot, and a power loss leaves those records whole. Each instance is
classified first: reboot-only when every volume's records are whole and agree (Cinder in-use with one live
attachment, one live Nova mapping whose connection_info names the iSCSI target, portal and LUN) and each
target portal answers from the compute host; stuck otherwise. Reboot-only instances get one HARD reboot and a
proof (Nova and Cinder agree; on the host the session is logged in and the disk present), with no database
change. Stuck instances, and any whose proof fails, get steps 2 to 5 for their own volumes; still one HARD
reboot per instance. It needs SSH to the compute hosts (the inventory).

Exit status: 0 every instance in scope recovered; 3 some did not (partial recovery); 1 nothing was done.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runRecover(cmd, contract, f) },
	}
	fs := cmd.Flags()
	contract = settings.AddFlags(fs)
	fs.StringSliceVar(&f.instances, "instance", nil, "recover this instance (repeatable): the guide's test mode")
	fs.StringSliceVar(&f.hosts, "host", nil, "recover the instances of this compute host (repeatable)")
	fs.BoolVar(&f.all, "all", false, "recover every instance of the cloud")
	fs.StringVar(&f.manifest, "manifest", "", "use this manifest (taken before the loss) instead of taking one now; latest: the newest snapshot of this cloud")
	fs.BoolVar(&f.fromDB, "from-db", false, "take the manifest from the databases alone (the APIs do not answer)")
	fs.BoolVar(&f.dryRun, "dry-run", false, "print the plan (SQL, API calls, SSH commands) and change nothing")
	fs.StringVar(&f.until, "until", "", "stop after this step: db, reboot or reattach")
	fs.StringVar(&f.guestReboot, "guest-reboot", string(recover.GuestRebootFstab), "which guests step 5 reboots from inside: fstab, all or none")
	fs.StringVar(&f.strategy, "strategy", "", "guide (the default): the guide's steps for every instance; minimal: one HARD reboot and a proof for instances whose volume records are whole, the guide's steps for the others (a resume goes on with its run's strategy)")
	fs.BoolVar(&f.skipDownHosts, "skip-down-hosts", false, "leave out instances whose nova-compute is down instead of stopping")
	fs.BoolVar(&f.acceptPartial, flagAcceptPartialIdentity, false, acceptPartialIdentityUsage)
	addOutputFlag(cmd, &f.output)
	fs.StringVar(&f.resume, "resume", "", "continue the recovery run RUN_ID after a crash or kill; latest: the newest unfinished recovery of this cloud")
	fs.IntVar(&f.concurrency, "concurrency", recover.DefaultExecOptions.Concurrency, "instances recovered at once after step 2")
	fs.IntVar(&f.perHost, "per-host", recover.DefaultExecOptions.PerHost, "instances of one compute host recovered at once (each HARD reboot rebuilds a domain and connects its volumes there)")
	fs.IntVar(&f.perBackend, "per-backend", recover.DefaultExecOptions.PerBackend, "iSCSI logins sent at once against one storage target portal (a reboot logs in every volume of its instance)")
	fs.Float64Var(&f.apiRate, "api-rate", defaultAPIRate, "maximum API requests per second to the whole control plane (0: unlimited)")
	fs.DurationVar(&f.rebootTimeout, "reboot-timeout", recover.DefaultExecOptions.RebootTimeout, "how long an instance may take to come back ACTIVE")
	fs.DurationVar(&f.attachTimeout, "attach-timeout", recover.DefaultExecOptions.AttachTimeout, "how long a volume may take to become in-use")
	fs.DurationVar(&f.guestTimeout, "guest-timeout", recover.DefaultExecOptions.GuestTimeout, "how long a guest may take to answer over SSH")
	cmd.AddCommand(newUndoDBCommand())
	return cmd
}

func parseUntil(s string) (recover.Step, error) {
	switch s {
	case "":
		return "", nil
	case "db":
		return recover.StepDBClean, nil
	case "reboot":
		return recover.StepReboot, nil
	case "reattach":
		return recover.StepReattach, nil
	}
	return "", fmt.Errorf("--until %q: want db, reboot or reattach", s)
}

// options checks the flags of a recovery and turns them into the engine's options.
func (f recoverFlags) options() (recover.Options, error) {
	if f.output != "text" && f.output != "json" {
		return recover.Options{}, fmt.Errorf("--output %q: want text or json", f.output)
	}
	until, err := parseUntil(f.until)
	if err != nil {
		return recover.Options{}, err
	}
	policy, err := recover.ParseGuestRebootPolicy(f.guestReboot)
	if err != nil {
		return recover.Options{}, err
	}
	var strategy recover.Strategy
	if f.strategy != "" {
		if strategy, err = recover.ParseStrategy(f.strategy); err != nil {
			return recover.Options{}, err
		}
	}
	if err := errors.Join(
		recover.ConcurrencyRange.Check("--concurrency", f.concurrency),
		recover.ConcurrencyRange.Check("--per-host", f.perHost),
		recover.ConcurrencyRange.Check("--per-backend", f.perBackend),
		cloud.APIRateRange.Check("--api-rate", f.apiRate),
		recover.WaitRange.Check("--reboot-timeout", f.rebootTimeout),
		recover.WaitRange.Check("--attach-timeout", f.attachTimeout),
		recover.WaitRange.Check("--guest-timeout", f.guestTimeout),
	); err != nil {
		return recover.Options{}, err
	}
	scope := recover.Scope{All: f.all, Hosts: f.hosts, Instances: f.instances}
	if f.resume == "" {
		if err := scope.Validate(); err != nil {
			return recover.Options{}, err
		}
	} else if scope.Validate() == nil || f.dryRun || f.manifest != "" {
		return recover.Options{}, errors.New("--resume continues a run as it was planned: give no scope, --manifest or --dry-run with it")
	}
	return recover.Options{
		Scope: scope, ManifestPath: f.manifest, FromDB: f.fromDB, Until: until, GuestReboot: policy, SkipDownHosts: f.skipDownHosts,
		AcceptPartialIdentity: f.acceptPartial, Strategy: strategy,
		Exec: recover.ExecOptions{
			Concurrency: f.concurrency, PerHost: f.perHost, PerBackend: f.perBackend, RebootTimeout: f.rebootTimeout, AttachTimeout: f.attachTimeout,
			GuestTimeout: f.guestTimeout, Polling: recover.DefaultExecOptions.Polling,
		},
		AfterJournalEntry: crashHook(),
	}, nil
}

func runRecover(cmd *cobra.Command, contract *settings.Flags, f recoverFlags) error {
	out, err := newOutput(cmd, "recover", f.output)
	if err != nil {
		return err
	}
	return out.finish(recoverCloud(cmd, out, contract, f))
}

func recoverCloud(cmd *cobra.Command, out *output, contract *settings.Flags, f recoverFlags) error {
	ctx := cmd.Context()
	opts, err := f.options()
	if err != nil {
		return err
	}
	c, err := openCloud(cmd, contract, cloud.Options{APIRate: f.apiRate})
	if err != nil {
		return err
	}
	defer c.Close()
	runs := c.Settings().Runs
	keystone, _ := c.Endpoint()
	if f.manifest == latest {
		snapshot, err := runs.Latest(run.KindSnapshot, keystone, run.StatusSucceeded)
		if err != nil {
			return fmt.Errorf("--manifest latest: %w", err)
		}
		opts.ManifestPath = snapshot.Manifest()
		fmt.Fprintf(cmd.ErrOrStderr(), "osdr: the newest snapshot of this cloud: %s\n", opts.ManifestPath)
	}
	rec := recover.New(c, opts)
	if f.dryRun {
		plan, err := rec.DryRun(ctx)
		if err != nil {
			return err
		}
		if out.json() {
			out.res.Plan = plan
			return nil
		}
		return plan.WriteText(out.text())
	}

	view := newProgress(cmd.OutOrStdout(), f.output, true)
	var rn run.Run
	var summary *recover.Summary
	if f.resume != "" {
		if rn, err = findRun(runs, f.resume, run.KindRecovery, keystone); err != nil {
			return err
		}
		out.run(rn)
		fmt.Fprintf(cmd.ErrOrStderr(), "osdr: resuming recovery %s\n", rn.ID)
		summary, err = rec.Resume(ctx, rn, view)
	} else {
		if rn, err = runs.New(run.KindRecovery); err != nil {
			return err
		}
		out.run(rn)
		summary, err = rec.Start(ctx, rn, view)
	}
	view.Done()
	if summary != nil {
		out.res.Instances, out.res.Timing, out.res.Cost = instanceOutcomes(summary), summary.Timing, &summary.Cost
	}
	if err != nil {
		if recover.Planned(rn) {
			return fmt.Errorf("%w (run %s: resume with --resume %s)", err, rn.ID, rn.ID)
		}
		return err
	}
	writeSummary(out.text(), summary, rn)
	if !summary.Complete() {
		return &exitError{code: exitPartial, err: fmt.Errorf("partial recovery: %d of %d instance(s) failed (run %s)", summary.Failed, summary.Failed+summary.Recovered, rn.ID)}
	}
	return nil
}

// latest stands for the newest run that fits, where a command takes a run id or a manifest.
const latest = "latest"

// findRun finds a run by id or, for "latest", the newest unfinished run of the kind on this cloud.
func findRun(runs run.Store, id string, kind run.Kind, keystone string) (run.Run, error) {
	if id != latest {
		return runs.Find(id)
	}
	rn, err := runs.Latest(kind, keystone, run.StatusRunning)
	if err != nil {
		return run.Run{}, fmt.Errorf("--resume latest: %w", err)
	}
	return rn, nil
}

// instanceOutcomes are a recovery's per-instance results as the JSON result lists them.
func instanceOutcomes(s *recover.Summary) []InstanceOutcome {
	out := make([]InstanceOutcome, 0, len(s.Instances))
	for _, in := range s.Instances {
		steps := map[string]float64{}
		for step, secs := range in.StepSeconds {
			steps[string(step)] = secs
		}
		out = append(out, InstanceOutcome{ID: in.ID, Name: in.Name, Host: in.Host, Outcome: string(in.Outcome), Error: in.Error, Seconds: in.TotalSeconds, Steps: steps,
			Class: string(in.Class), FellBack: in.FellBack})
	}
	return out
}

func writeSummary(w io.Writer, s *recover.Summary, rn run.Run) {
	fmt.Fprintf(w, "\nRecovery %s: %d recovered, %d failed, %d left out (%s)\n", s.RunID, s.Recovered, s.Failed, s.Excluded, s.Finished.Sub(s.Started).Round(time.Second))
	for _, in := range s.Instances {
		var steps []string
		for _, step := range []recover.Step{recover.StepReboot, recover.StepProve, recover.StepDBClean, recover.StepReattach, recover.StepGuestReboot} {
			if secs, ok := in.StepSeconds[step]; ok {
				steps = append(steps, fmt.Sprintf("%s %.1fs", step, secs))
			}
		}
		line := fmt.Sprintf("  %-9s %s (%s) %.1fs", in.Outcome, in.ID, in.Name, in.TotalSeconds)
		if len(steps) > 0 {
			line += " [" + strings.Join(steps, ", ") + "]"
		}
		if in.Class != "" {
			line += " " + string(in.Class)
		}
		if in.FellBack != "" {
			line += " (proof failed, so the guide's steps: " + in.FellBack + ")"
		}
		if in.Error != "" {
			line += ": " + in.Error
		}
		fmt.Fprintln(w, line)
	}
	c := s.Cost
	fmt.Fprintf(w, "Strategy %s: %d HARD reboot(s), %d guest reboot(s), %d database row(s) changed, %d API request(s) (%d changing state).\n",
		s.Strategy, c.HardReboots, c.GuestReboots, c.DBRowsChanged, c.APIRequests.Total(), c.APIRequests.Changes)
	if t := s.Timing; t != nil {
		fmt.Fprintf(w, "Steps 3-5 took %.1fs; their lower bound is %.1fs (%s): %.2f× the bound. Steps 1-2 took %.1fs.\n",
			t.WallSeconds, t.BoundSeconds, t.BoundBy, t.Ratio, t.Steps12Seconds)
	}
	fmt.Fprintf(w, "Run directory: %s\n", rn.Dir)
	// Without --run, verify expects each instance in its manifest state; a manifest taken after the loss says
	// SHUTOFF, and only the journal says this run brought the instance back.
	fmt.Fprintf(w, "Prove it: osdr verify --manifest %s --run %s\n", rn.Manifest(), rn.ID)
}

func newUndoDBCommand() *cobra.Command {
	var contract *settings.Flags
	var output string
	cmd := &cobra.Command{
		Use:   "undo-db RUN_ID",
		Short: "Put back the database rows step 2 of a recovery changed (refused once step 3 has started)",
		Example: `  osdr recover --all --until db                        # step 2 only, then look
  osdr recover undo-db 20261125T081500.042Z-recovery-3fa9c2`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			out, err := newOutput(cmd, "recover undo-db", output)
			if err != nil {
				return err
			}
			return out.finish(func() error {
				c, err := openCloud(cmd, contract, cloud.Options{})
				if err != nil {
					return err
				}
				defer c.Close()
				rn, err := c.Settings().Runs.Find(args[0])
				if err != nil {
					return err
				}
				out.run(rn)
				if err := recover.UndoDB(cmd.Context(), c, rn); err != nil {
					return err
				}
				fmt.Fprintf(out.text(), "Rows of run %s restored from %s\n", rn.ID, rn.Backup())
				return nil
			}())
		},
	}
	contract = settings.AddFlags(cmd.Flags(), settings.PartDatabases, settings.PartRuns)
	addOutputFlag(cmd, &output)
	return cmd
}
