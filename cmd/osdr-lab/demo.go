package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"sigs.k8s.io/yaml"

	"github.com/osdr/osdr/drills"
	"github.com/osdr/osdr/internal/sibling"
	"github.com/osdr/osdr/testenv"
	"github.com/osdr/osdr/testenv/sim"
)

func newDemoCommand() *cobra.Command {
	var stateDir, db string
	shape := sim.DefaultShape
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Run a complete drill with osdr against a simulated cloud started in-process",
		Long: `demo starts a simulated cloud in this process (Keystone, Nova, Cinder, compute hosts and guests over
SSH, on loopback; MariaDB in a container when an engine answers, else an embedded database), writes a drill
for it and runs it the way an operator would: osdr drill run FILE, with the cloud's settings contract
(DIR/osdr.env) in its environment. The drill cuts the iSCSI sessions of one host's instances like a power
loss, recovers with the guide's procedure, verifies, and reports; the HTML report stays after the demo ends.
osdr is the one next to osdr-lab, else the one on PATH. The exit status is osdr's.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			// Before anything starts: without the operator binary there is no demo.
			osdr, err := sibling.Find("osdr")
			if err != nil {
				return fmt.Errorf("the demo runs the operator binary, and %w; `make build` builds bin/osdr beside bin/osdr-lab", err)
			}
			if stateDir == "" {
				stateDir = filepath.Join(os.TempDir(), "osdr-demo-"+time.Now().UTC().Format("20060102T150405Z"))
			}
			out := cmd.OutOrStdout()
			var sopts testenv.ServerOptions
			switch db {
			case "auto":
				sopts = testenv.ServerOptions{AllowEmbedded: true}
			case "embedded":
				sopts = testenv.ServerOptions{EmbeddedOnly: true}
			case "container":
			default:
				return fmt.Errorf("--db %q: want auto, container or embedded", db)
			}
			srv, err := testenv.StartServer(ctx, sopts)
			if err != nil {
				return err
			}
			defer srv.Close(context.WithoutCancel(ctx))
			// One line says which database, so nobody mistakes the embedded server's results for MariaDB's.
			fmt.Fprintf(out, "Starting a simulated cloud in %s on %s ...\n", stateDir, srv.About())
			s, err := sim.Start(ctx, sim.Options{StateDir: stateDir, Shape: shape, Server: srv})
			if err != nil {
				return err
			}
			defer s.Close(context.WithoutCancel(ctx))
			env, err := s.Env()
			if err != nil {
				return err
			}
			drillPath, err := writeDemoDrill(stateDir, s)
			if err != nil {
				return err
			}
			fmt.Fprintf(out, "Cloud ready: %d host(s), %d instance(s). Running: osdr drill run %s\n", len(s.Topology.Hosts), len(s.Topology.Instances), drillPath)
			run := exec.CommandContext(ctx, osdr, "drill", "run", drillPath)
			run.Env = contractEnv(os.Environ(), env)
			run.Stdout, run.Stderr = out, cmd.ErrOrStderr()
			// An interrupted drill still restores its faults and recovers: osdr gets the interrupt and the time
			// to finish, and the simulated cloud stays up until it has.
			run.Cancel = func() error { return run.Process.Signal(os.Interrupt) }
			if err := run.Run(); err != nil {
				return fmt.Errorf("osdr drill run: %w", err)
			}
			return nil
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

// contractEnv is the environment osdr runs the demo in: this one with the simulated cloud's settings
// contract in place of any the shell carries, so an operator's openrc for a real cloud cannot reach the
// demo.
func contractEnv(environ []string, contract map[string]string) []string {
	var env []string
	for _, kv := range environ {
		if !strings.HasPrefix(kv, "OS_") && !strings.HasPrefix(kv, "OSDR_") {
			env = append(env, kv)
		}
	}
	for k, v := range contract {
		env = append(env, k+"="+v)
	}
	return env
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
