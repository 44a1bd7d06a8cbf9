package main

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/osdr/osdr/drills"
	"github.com/osdr/osdr/inject"
	"github.com/osdr/osdr/internal/cloud"
	"github.com/osdr/osdr/internal/run"
	"github.com/osdr/osdr/internal/settings"
	"github.com/osdr/osdr/recover"
)

func newInjectCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "inject FAULT",
		Short: "Break a staging cloud like a power cut does (and restore it)",
		Long: `inject breaks exactly what it is told to, the way a power loss does, and records every action before
taking it so that 'osdr inject restore RUN_ID' can put it back:
  iscsi-session    close the volumes' iSCSI sessions on their compute host (iscsiadm -m session -u -r SID,
                   the sid re-checked against its IQN right before the logout); never a Nova detach
  guest-destroy    virsh destroy the instance's domain (the hypervisor side of a power cut)
  host-power-loss  every volume session of the host, each with its own -r, and every domain destroyed`,
	}
	for _, kind := range inject.Kinds() {
		cmd.AddCommand(newInjectFaultCommand(kind))
	}
	cmd.AddCommand(newInjectRestoreCommand())
	return cmd
}

func newInjectFaultCommand(kind string) *cobra.Command {
	var contract *settings.Flags
	var instances, volumes, hosts []string
	var dryRun bool
	var output string
	limits := inject.DefaultLimits
	cmd := &cobra.Command{
		Use:   kind + " (--instance ID... | --volume ID... | --host H...)",
		Short: "Inject the " + kind + " fault",
		Example: "  osdr inject " + kind + " --instance 6774a0c9-a063-4cbd-aa55-298277b09aba --dry-run\n" +
			"  osdr inject " + kind + " --host compute-1 --max-instances 5",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			out, err := newOutput(cmd, "inject "+kind, output)
			if err != nil {
				return err
			}
			return out.finish(func() error {
				ctx := cmd.Context()
				fault, err := inject.Lookup(kind)
				if err != nil {
					return err
				}
				if err := limits.CheckRange("--max-hosts", "--max-instances", "--max-sessions"); err != nil {
					return err
				}
				scope := recover.Scope{Instances: instances, Volumes: volumes, Hosts: hosts}
				if len(instances)+len(volumes)+len(hosts) == 0 {
					return errors.New("name the target with --instance, --volume or --host")
				}
				c, err := openCloud(cmd, contract, cloud.Options{})
				if err != nil {
					return err
				}
				defer c.Close()
				// A manifest of the cloud as it is now (the databases too when configured, for exact IQNs).
				m, err := recover.Snapshot(ctx, c, scope, recover.SnapshotOptions{})
				if err != nil {
					return err
				}
				sel, err := scope.Resolve(m)
				if err != nil {
					return err
				}
				targets := drills.Selection(m, sel)
				// A host-wide fault acts only on hosts named with --host, never on the host of a named instance.
				targets.Hosts = hosts
				actions, err := inject.PlanFaults(ctx, c, []inject.Fault{fault}, targets, limits)
				if err != nil {
					return err
				}
				if dryRun {
					out.actions("Would run", actions)
					return nil
				}
				rn, err := c.Settings().Runs.New(run.KindInject)
				if err != nil {
					return err
				}
				out.run(rn)
				keystone, _ := c.Endpoint()
				if err := rn.Begin(keystone); err != nil {
					return err
				}
				rec := inject.NewRecord(rn, []string{kind}, limits, actions)
				err = inject.Inject(ctx, c, rec)
				out.actions("Ran", rec.Actions)
				fmt.Fprintf(out.text(), "Record: %s (restore with: osdr inject restore %s)\n", rn.Faults(), rn.ID)
				return endRun(rn, err, len(sel.Instances))
			}())
		},
	}
	fs := cmd.Flags()
	contract = settings.AddFlags(fs)
	fs.StringSliceVar(&instances, "instance", nil, "every iSCSI volume of this instance (repeatable)")
	fs.StringSliceVar(&volumes, "volume", nil, "this attached volume (repeatable)")
	fs.StringSliceVar(&hosts, "host", nil, "this compute host (repeatable)")
	fs.BoolVar(&dryRun, "dry-run", false, "print the exact command per host and change nothing")
	fs.IntVar(&limits.MaxHosts, "max-hosts", limits.MaxHosts, "refuse to touch more compute hosts than this")
	fs.IntVar(&limits.MaxInstances, "max-instances", limits.MaxInstances, "refuse to touch more instances than this")
	fs.IntVar(&limits.MaxSessions, "max-sessions", limits.MaxSessions, "refuse to close more iSCSI sessions than this")
	addOutputFlag(cmd, &output)
	return cmd
}

// actions reports fault actions: one line each for people, and in the JSON result.
func (o *output) actions(verb string, actions []inject.Action) {
	w := o.text()
	o.res.Actions = o.res.Actions[:0]
	for _, a := range actions {
		o.res.Actions = append(o.res.Actions, ActionOutcome{Host: a.Host, Command: a.Command, Restore: a.Restore, Instance: a.Instance, Volume: a.Volume, State: string(a.State), Error: a.Error})
		line := fmt.Sprintf("%s on %s: %s", verb, a.Host, a.Command)
		if a.Volume != "" {
			line += fmt.Sprintf("   # volume %s of %s", a.Volume, a.Instance)
		} else if a.Instance != "" {
			line += "   # instance " + a.Instance
		}
		if a.State != inject.StatePlanned {
			line += " [" + string(a.State) + "]"
		}
		if a.Error != "" {
			line += ": " + a.Error
		}
		fmt.Fprintln(w, line)
	}
}

func newInjectRestoreCommand() *cobra.Command {
	var contract *settings.Flags
	var output string
	cmd := &cobra.Command{
		Use:     "restore RUN_ID",
		Short:   "Undo what an injection run did, from its record",
		Example: `  osdr inject restore 20261125T081500.042Z-inject-3fa9c2`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			out, err := newOutput(cmd, "inject restore", output)
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
				rec, err := inject.LoadRecord(rn)
				if err != nil {
					return err
				}
				err = inject.Restore(cmd.Context(), c, rec)
				out.actions("Restored", rec.Actions)
				return err
			}())
		},
	}
	contract = settings.AddFlags(cmd.Flags(), settings.PartMachines, settings.PartRuns)
	addOutputFlag(cmd, &output)
	return cmd
}
