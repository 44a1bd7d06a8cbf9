package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"
	"sigs.k8s.io/yaml"

	"github.com/osdr/osdr/drills"
	"github.com/osdr/osdr/internal/settings"
	"github.com/osdr/osdr/testenv"
	"github.com/osdr/osdr/testenv/sim"
)

func newDemoCommand() *cobra.Command {
	var stateDir, db string
	shape := sim.DefaultShape
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Run a complete drill against a simulated cloud started in-process",
		Long: `demo starts a simulated cloud in this process (Keystone, Nova, Cinder, compute hosts and guests over
SSH, on loopback; an embedded database unless --db container), then runs a complete drill on it: cut the
iSCSI sessions of one host's instances like a power loss, recover with the guide's procedure, verify, and
report. It prints the summary and the path of the HTML report, which stays after the demo ends.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			if stateDir == "" {
				stateDir = filepath.Join(os.TempDir(), "osdr-demo-"+time.Now().UTC().Format("20060102T150405Z"))
			}
			out := cmd.OutOrStdout()
			logf := func(format string, args ...any) { fmt.Fprintf(cmd.ErrOrStderr(), "osdr demo: "+format+"\n", args...) }
			opts := sim.Options{StateDir: stateDir, Shape: shape, Logf: logf}
			var sopts testenv.ServerOptions
			switch db {
			case "auto":
				sopts = testenv.ServerOptions{AllowEmbedded: true, Logf: logf}
			case "embedded":
				sopts = testenv.ServerOptions{EmbeddedOnly: true, Logf: logf}
			case "container":
				sopts = testenv.ServerOptions{Logf: logf}
			default:
				return fmt.Errorf("--db %q: want auto, container or embedded", db)
			}
			srv, err := testenv.StartServer(ctx, sopts)
			if err != nil {
				return err
			}
			defer srv.Close(context.WithoutCancel(ctx))
			opts.Server = srv
			fmt.Fprintf(out, "Starting a simulated cloud in %s ...\n", stateDir)
			s, err := sim.Start(ctx, opts)
			if err != nil {
				return err
			}
			defer s.Close(ctx)
			env, err := s.Env()
			if err != nil {
				return err
			}
			// The drill's verification runs as a child osdr; it finds the simulated cloud the way an operator's
			// shell does, through the settings contract's environment.
			for k, v := range env {
				if err := os.Setenv(k, v); err != nil {
					return err
				}
			}
			drillPath, err := writeDemoDrill(stateDir, s)
			if err != nil {
				return err
			}
			fmt.Fprintf(out, "Cloud ready: %d host(s), %d instance(s). Running the drill %s\n", len(s.Topology.Hosts), len(s.Topology.Instances), drillPath)
			contract := &settings.Flags{}
			d, e, de, err := drillEnv(cmd, contract, drillPath)
			if err != nil {
				return err
			}
			defer e.close()
			return runDrill(cmd, contract, d, e, de, "text")
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&stateDir, "state-dir", "", "where the simulated cloud's files, the drill and its reports go (default: a new directory under the system's temporary directory)")
	fs.StringVar(&db, "db", "auto", "database of the simulated cloud: auto (MariaDB through a container engine when one answers, else embedded), container, or embedded (in-process, nothing to install)")
	fs.IntVar(&shape.Hosts, "hosts", shape.Hosts, "compute hosts")
	fs.IntVar(&shape.Instances, "instances", shape.Instances, "instances")
	fs.IntVar(&shape.VolumesPerInstance, "volumes-per-instance", shape.VolumesPerInstance, "data volumes per instance")
	return cmd
}

// writeDemoDrill writes the drill the demo runs: the first host's instances lose their iSCSI sessions.
func writeDemoDrill(dir string, s *sim.Sim) (string, error) {
	host := s.Topology.Hosts[0].Name
	instances, volumes := 0, 0
	for _, in := range s.Topology.Instances {
		if in.Host != host {
			continue
		}
		instances++
		for _, v := range in.Volumes {
			if !v.Boot {
				volumes++
			}
		}
	}
	d := drills.Drill{
		APIVersion: drills.APIVersion, Kind: "Drill", Name: "demo",
		Description: "A power loss of " + host + "'s storage path, recovered with the Operations Guide's procedure.",
		Cloud:       drills.CloudRef{OSCloud: sim.CloudName},
		Guards: drills.Guards{
			Staging: true, AllowedEndpoints: []string{s.Cloud.Endpoints().Identity}, AllowedRegions: []string{"RegionOne"},
			MaxHosts: 1, MaxInstances: max(1, instances), MaxVolumes: max(1, volumes),
		},
		Targets:      drills.Targets{Hosts: []string{host}},
		Faults:       []drills.FaultSpec{{Kind: "iscsi-session"}},
		Recovery:     drills.Recovery{GuestReboot: "fstab", Concurrency: 4, Timeout: drills.Duration{Duration: 2 * time.Minute}},
		Verification: drills.Verification{Deadline: drills.Duration{Duration: 30 * time.Second}},
	}
	raw, err := yaml.Marshal(d)
	if err != nil {
		return "", err
	}
	path := filepath.Join(dir, "demo-drill.yaml")
	return path, os.WriteFile(path, raw, 0o600)
}
