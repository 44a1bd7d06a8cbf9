package main

import (
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/osdr/osdr/testenv/cloud"
	"github.com/osdr/osdr/testenv/sim"
)

func newSimCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "sim",
		Short: "Serve a simulated OpenStack cloud for CI, demos and trying osdr out",
		Long: `sim serves a simulated cloud on loopback: Keystone, Nova and Cinder over the real database schemas, and
compute hosts and guests over SSH answering iscsiadm and virsh as the real tools do. Its state directory
holds clouds.yaml, openrc, osdr.env (the settings contract: set -a; . DIR/osdr.env), inventory.yaml and
sim.json.`,
	}
	cmd.AddCommand(newSimUpCommand(), newSimPowerCutCommand(), newSimAuditCommand())
	return cmd
}

func newSimUpCommand() *cobra.Command {
	var stateDir, profile, stuck string
	var noReconnect bool
	shape := sim.DefaultShape
	var latency simModelFlags
	cmd := &cobra.Command{
		Use:   "up --state-dir DIR",
		Short: "Build a simulated cloud and serve it until interrupted",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if stateDir == "" {
				return errors.New("--state-dir is required")
			}
			var err error
			if shape.Stuck, err = cloud.ParseStuckShares(stuck); err != nil {
				return err
			}
			ctx := cmd.Context()
			logf := func(format string, args ...any) {
				fmt.Fprintf(cmd.ErrOrStderr(), "osdr-lab sim: "+format+"\n", args...)
			}
			opts := sim.Options{StateDir: stateDir, Profile: profile, Shape: shape, Logf: logf,
				NoReconnectOnReboot: noReconnect}
			if err := latency.apply(&opts, shape.Seed); err != nil {
				return err
			}
			s, err := sim.Start(ctx, opts)
			if err != nil {
				return err
			}
			abs, _ := filepath.Abs(stateDir)
			fmt.Fprintf(cmd.OutOrStdout(), "osdr-lab sim: ready: profile %s, %d host(s), %d instance(s), database %s; use it with: set -a; . %s; set +a\n",
				s.Cloud.Profile().Name, len(s.Topology.Hosts), len(s.Topology.Instances), s.ServerKind, filepath.Join(abs, sim.FileEnv))
			<-ctx.Done()
			logf("stopping")
			// The interrupt that ends the sim must not cut short its cleanup: its databases and its
			// container would be left behind.
			cleanupCtx, cancel := sim.CleanupContext(ctx)
			defer cancel()
			return s.Close(cleanupCtx)
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&stateDir, "state-dir", "", "directory for clouds.yaml, openrc, osdr.env, inventory.yaml, sim.json and keys")
	fs.StringVar(&profile, "profile", "", "release to play: "+strings.Join(cloud.ProfileNames(), ", ")+" (default "+cloud.DefaultProfile+")")
	fs.IntVar(&shape.Hosts, "hosts", shape.Hosts, "compute hosts")
	fs.IntVar(&shape.Instances, "instances", shape.Instances, "instances, spread over the hosts")
	fs.IntVar(&shape.VolumesPerInstance, "volumes-per-instance", shape.VolumesPerInstance, "data volumes per instance (besides its boot volume)")
	fs.Int64Var(&shape.Seed, "seed", shape.Seed, "seed of every generated id and behaviour")
	// Clouds that do not look like the default sim (README, "The simulated cloud").
	fs.StringVar(&shape.Boot, "boot", sim.BootVolume, "what instances boot from: volume, image (data volumes from the second device) or mixed")
	fs.StringVar(&shape.DiskBus, "disk-bus", sim.DiskBusVirtio, "bus of the instances' disks: virtio (vdX), scsi (sdX) or mixed")
	fs.BoolVar(&shape.ActionHistory, "action-history", false, "give every instance its create and attach_volume actions")
	fs.StringVar(&stuck, "stuck", "", "share of data volumes left stuck: 0.05 spreads over attaching, detaching, reserved and "+
		"error_attaching; or state=share,... with states attaching, detaching, reserved, error_attaching, cinder-only, "+
		"nova-only, no-connection-info, no-target-iqn (listed in sim.json)")
	fs.BoolVar(&noReconnect, "no-reconnect-on-reboot", false, "a HARD reboot brings guests back without their data volumes' "+
		"iSCSI sessions, as the Operations Guide assumes (default: reconnect every volume, as Nova's libvirt driver does)")
	// The latency model and the API faults (README, "The simulated cloud").
	latency.register(fs)
	return cmd
}

func newSimPowerCutCommand() *cobra.Command {
	var stateDir string
	var hosts []string
	var loseDomains bool
	cmd := &cobra.Command{
		Use:   "power-cut --state-dir DIR [--host H]...",
		Short: "Cut power to simulated compute hosts: sessions gone, domains off, databases stale",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := sim.ReadClient(stateDir)
			if err != nil {
				return err
			}
			if err := c.PowerCut(cmd.Context(), hosts, loseDomains); err != nil {
				return err
			}
			what := "every host"
			if len(hosts) > 0 {
				what = strings.Join(hosts, ", ")
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Power cut: %s\n", what)
			return nil
		},
	}
	cmd.Flags().StringVar(&stateDir, "state-dir", "", "state directory of the running osdr-lab sim up")
	cmd.Flags().StringSliceVar(&hosts, "host", nil, "host to cut (repeatable; default: all)")
	cmd.Flags().BoolVar(&loseDomains, "lose-domains", false, "the hypervisor forgets the domains (servers stay ACTIVE with power state NOSTATE) instead of keeping them shut off")
	return cmd
}

func newSimAuditCommand() *cobra.Command {
	var stateDir string
	cmd := &cobra.Command{
		Use:   "audit --state-dir DIR",
		Short: "Print the simulation's audit log of mutating calls as JSON lines",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := sim.ReadClient(stateDir)
			if err != nil {
				return err
			}
			resp, err := c.Audit(cmd.Context())
			if err != nil {
				return err
			}
			defer resp.Body.Close()
			_, err = io.Copy(cmd.OutOrStdout(), resp.Body)
			return err
		},
	}
	cmd.Flags().StringVar(&stateDir, "state-dir", "", "state directory of the running osdr-lab sim up")
	return cmd
}
