package main

import (
	"encoding/json"
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
		Long: `snapshot records which volume is attached to which instance, at which device, on which host, with the
Cinder attachment and Nova BDM ids, IQNs and portals and the states of everything. It reads Nova and Cinder
and cross-checks them with the databases (or reads the databases alone with --from-db when the APIs are
down). The manifest is checksummed and fsync'ed. Taken on a healthy cloud (schedule it), it is the best
evidence for a real recovery: osdr recover --manifest FILE.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			scope := recover.Scope{All: all, Hosts: hosts, Instances: instances}
			if err := scope.Validate(); err != nil {
				return err
			}
			if output != "text" && output != "json" {
				return fmt.Errorf("--output %q: want text or json", output)
			}
			c, err := openCloud(cmd, contract, cloud.Options{})
			if err != nil {
				return err
			}
			defer c.Close()
			m, err := recover.Snapshot(ctx, c, scope, recover.SnapshotOptions{FromDB: fromDB, Stamp: stamp})
			if err != nil {
				return err
			}
			rn, err := c.Settings().Runs.New(run.KindSnapshot)
			if err != nil {
				return err
			}
			path, err := recover.WriteManifest(rn, m)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if output == "json" {
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				return enc.Encode(map[string]any{"run_id": rn.ID, "manifest": path, "instances": len(m.Instances), "attachments": len(m.Attachments), "stamps": len(m.Stamps), "warnings": m.Warnings})
			}
			fmt.Fprintf(out, "Manifest %s: %d instance(s), %d attachment(s), %d stamp(s) (source: %s)\n", path, len(m.Instances), len(m.Attachments), len(m.Stamps), m.Source)
			for _, w := range m.Warnings {
				fmt.Fprintln(out, "Warning:", w)
			}
			return nil
		},
	}
	fs := cmd.Flags()
	contract = settings.AddFlags(fs)
	fs.StringSliceVar(&instances, "instance", nil, "this instance (repeatable)")
	fs.StringSliceVar(&hosts, "host", nil, "the instances of this compute host (repeatable)")
	fs.BoolVar(&all, "all", false, "every instance of the cloud")
	fs.BoolVar(&fromDB, "from-db", false, "read the databases alone (the APIs do not answer)")
	fs.BoolVar(&stamp, "stamp", false, "write a unique stamp file to each data volume through its guest, for the integrity checks")
	fs.StringVarP(&output, "output", "o", "text", "output: text or json")
	return cmd
}
