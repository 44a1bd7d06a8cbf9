package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/osdr/osdr/drills"
	"github.com/osdr/osdr/inject"
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
	limits := inject.DefaultLimits
	cmd := &cobra.Command{
		Use:   kind + " (--instance ID... | --volume ID... | --host H...)",
		Short: "Inject the " + kind + " fault",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			fault, err := inject.Lookup(kind)
			if err != nil {
				return err
			}
			e, err := resolveEnv(cmd, contract)
			if err != nil {
				return err
			}
			defer e.close()
			sel, err := resolveSelection(ctx, e, instances, volumes, hosts)
			if err != nil {
				return err
			}
			machines := e.machines()
			actions, err := inject.PlanFaults(ctx, machines, []inject.Fault{fault}, sel, limits)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if dryRun {
				writeActions(out, "Would run", actions)
				return nil
			}
			run, err := e.settings.Runs.NewRun("inject")
			if err != nil {
				return err
			}
			rec := inject.NewRecord(run.Dir, run.ID, []string{kind}, limits, actions)
			err = inject.Inject(ctx, machines, rec)
			writeActions(out, "Ran", rec.Actions)
			fmt.Fprintf(out, "Record: %s/%s (restore with: osdr inject restore %s)\n", run.Dir, inject.RecordFile, run.ID)
			return err
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
	return cmd
}

func writeActions(w io.Writer, verb string, actions []inject.Action) {
	for _, a := range actions {
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

// resolveSelection turns --instance/--volume/--host into the instances and volumes to break, from a manifest
// of the cloud as it is now (the databases when configured, for exact IQNs).
func resolveSelection(ctx context.Context, e *env, instances, volumes, hosts []string) (inject.Selection, error) {
	n := 0
	for _, l := range [][]string{instances, volumes, hosts} {
		if len(l) > 0 {
			n++
		}
	}
	if n != 1 {
		return inject.Selection{}, errors.New("name the target with exactly one of --instance, --volume and --host")
	}
	api, err := e.cloud(ctx, 0)
	if err != nil {
		return inject.Selection{}, err
	}
	dbs, _, err := e.optionalDatabases(ctx)
	if err != nil {
		return inject.Selection{}, err
	}
	m, err := recover.Snapshot(ctx, api, dbs, recover.Scope{All: true})
	if err != nil {
		return inject.Selection{}, err
	}
	return selectionFromManifest(m, instances, volumes, hosts)
}

func selectionFromManifest(m *recover.Manifest, instances, volumes, hosts []string) (inject.Selection, error) {
	toTarget := func(in recover.Instance, only map[string]bool) inject.Instance {
		return drills.FaultTarget(m, in, only)
	}
	var sel inject.Selection
	switch {
	case len(instances) > 0:
		for _, id := range instances {
			in, ok := m.Instance(id)
			if !ok {
				return sel, fmt.Errorf("unknown instance %s", id)
			}
			sel.Instances = append(sel.Instances, toTarget(in, nil))
		}
	case len(volumes) > 0:
		byInstance := map[string]map[string]bool{}
		for _, v := range volumes {
			found := false
			for _, a := range m.Attachments {
				if a.VolumeID == v {
					found = true
					if byInstance[a.InstanceID] == nil {
						byInstance[a.InstanceID] = map[string]bool{}
					}
					byInstance[a.InstanceID][v] = true
				}
			}
			if !found {
				return sel, fmt.Errorf("volume %s is unknown or not attached to any instance", v)
			}
		}
		for _, in := range m.Instances {
			if only, ok := byInstance[in.ID]; ok {
				sel.Instances = append(sel.Instances, toTarget(in, only))
			}
		}
	default:
		for _, h := range hosts {
			found := false
			for _, in := range m.Instances {
				if in.Host == h {
					found = true
					sel.Instances = append(sel.Instances, toTarget(in, nil))
				}
			}
			if !found {
				return sel, fmt.Errorf("unknown host %s: no instance runs there", h)
			}
		}
		sel.Hosts = hosts
	}
	return sel, nil
}

func newInjectRestoreCommand() *cobra.Command {
	var contract *settings.Flags
	var output string
	cmd := &cobra.Command{
		Use:   "restore RUN_ID",
		Short: "Undo what an injection run did, from its record",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			e, err := resolveEnv(cmd, contract)
			if err != nil {
				return err
			}
			defer e.close()
			run, err := e.settings.Runs.FindRun(args[0])
			if err != nil {
				return err
			}
			rec, err := inject.LoadRecord(run.Dir)
			if err != nil {
				return err
			}
			machines := e.machines()
			err = inject.Restore(ctx, machines, rec)
			if output == "json" {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				_ = enc.Encode(rec)
			} else {
				writeActions(cmd.OutOrStdout(), "Restored", rec.Actions)
			}
			return err
		},
	}
	contract = settings.AddFlags(cmd.Flags())
	cmd.Flags().StringVarP(&output, "output", "o", "text", "output: text or json")
	return cmd
}
