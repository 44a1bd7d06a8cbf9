package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/osdr/osdr/internal/cloud"
	"github.com/osdr/osdr/internal/run"
	"github.com/osdr/osdr/internal/settings"
	"github.com/osdr/osdr/recover"
)

func newSnapshotCommand() *cobra.Command {
	var contract *settings.Flags
	var instances, hosts []string
	var all, fromDB, stamp bool
	var output string
	cmd := &cobra.Command{
		Use:   "snapshot (--instance ID... | --host H... | --all)",
		Short: "Take the instance-to-volume manifest (step 1 of the procedure) into a new run directory",
		Example: `  osdr snapshot --all                                  # schedule it: the best evidence after a loss
  osdr snapshot --all --from-db                        # the APIs do not answer
  osdr snapshot --host compute-1 --stamp -o json | jq .manifest.path`,
		Long: `snapshot records which volume is attached to which instance, at which device, on which host, with the
Cinder attachment and Nova BDM ids, IQNs and portals and the states of everything. It reads Nova and Cinder
and cross-checks them with the databases (or reads the databases alone with --from-db when the APIs are
down). The manifest is checksummed and fsync'ed. Taken on a healthy cloud (schedule it), it is the best
evidence for a real recovery: osdr recover --manifest FILE.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			out, err := newOutput(cmd, "snapshot", output)
			if err != nil {
				return err
			}
			return out.finish(snapshot(cmd, out, contract, recover.Scope{All: all, Hosts: hosts, Instances: instances}, recover.SnapshotOptions{FromDB: fromDB, Stamp: stamp}))
		},
	}
	fs := cmd.Flags()
	contract = settings.AddFlags(fs)
	fs.StringSliceVar(&instances, "instance", nil, "this instance (repeatable)")
	fs.StringSliceVar(&hosts, "host", nil, "the instances of this compute host (repeatable)")
	fs.BoolVar(&all, "all", false, "every instance of the cloud")
	fs.BoolVar(&fromDB, "from-db", false, "read the databases alone (the APIs do not answer)")
	fs.BoolVar(&stamp, "stamp", false, "write a unique stamp file to each data volume through its guest, for the integrity checks")
	addOutputFlag(cmd, &output)
	return cmd
}

func snapshot(cmd *cobra.Command, out *output, contract *settings.Flags, scope recover.Scope, opts recover.SnapshotOptions) error {
	if err := scope.Validate(); err != nil {
		return err
	}
	c, err := openCloud(cmd, contract, cloud.Options{})
	if err != nil {
		return err
	}
	defer c.Close()
	rn, err := c.Settings().Runs.New(run.KindSnapshot)
	if err != nil {
		return err
	}
	out.run(rn)
	keystone, _ := c.Endpoint()
	if err := rn.Begin(keystone); err != nil {
		return err
	}
	instances := 0
	m, err := recover.Snapshot(cmd.Context(), c, scope, opts)
	if err == nil {
		instances = len(m.Instances)
		var path string
		if path, err = recover.WriteManifest(rn, m); err == nil {
			out.res.Manifest = &ManifestOutcome{Path: path, Source: m.Source, Instances: len(m.Instances), Attachments: len(m.Attachments), Stamps: len(m.Stamps), Warnings: m.Warnings}
			w := out.text()
			fmt.Fprintf(w, "Manifest %s: %d instance(s), %d attachment(s), %d stamp(s) (source: %s)\n", path, len(m.Instances), len(m.Attachments), len(m.Stamps), m.Source)
			for _, warning := range m.Warnings {
				fmt.Fprintln(w, "Warning:", warning)
			}
		}
	}
	return endRun(rn, err, instances)
}
