package sim

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/osdr/osdr/testenv"
	"github.com/osdr/osdr/testenv/cloud"
	"github.com/osdr/osdr/testenv/cloud/model"
	"github.com/osdr/osdr/testenv/hosts"
	"github.com/osdr/osdr/testenv/virt"
)

// Options configure a simulated cloud.
type Options struct {
	// StateDir receives clouds.yaml, openrc, osdr.env, inventory.yaml, sim.json and the SSH keys.
	StateDir string
	Profile  string
	Shape    Shape
	// Server is the database server to use; nil starts one (a DSN, a container, or the embedded server).
	Server *testenv.Server
	// LatencyScale scales the modelled durations of the control plane's operations, the hosts' iscsiadm and
	// the guests' commands (0: instant; 1: a real cloud).
	LatencyScale float64
	// NoReconnectOnReboot: a HARD reboot brings a guest back without its data volumes' iSCSI sessions, as the
	// Operations Guide assumes, instead of reconnecting them as Nova's libvirt driver does
	// (cloud.Config.NoReconnectOnReboot).
	NoReconnectOnReboot bool
	// Latencies, ComputeWorkers and Faults are the rest of the latency model and the API faults (cloud.Config).
	Latencies      map[model.Operation]time.Duration
	ComputeWorkers int
	Faults         cloud.FaultConfig
	// MaxLimit is the most items one page of a Nova or Cinder listing holds (cloud.Config.MaxLimit).
	MaxLimit int
	Logf     func(format string, args ...any)
}

// Sim is a running simulated cloud.
type Sim struct {
	Cloud *cloud.Cloud
	// Driver is the compute hosts: SSH servers answering iscsiadm and virsh, with their guests.
	Driver   virt.Driver
	Topology cloud.Topology
	// Stuck are the volumes Shape.Stuck left stuck, by state (also in sim.json).
	Stuck []cloud.StuckVolume
	// CinderDSN and NovaDSN are the databases' DSNs (with credentials).
	CinderDSN, NovaDSN string
	ServerKind         testenv.ServerKind
	cluster            *hosts.Cluster
	control            *control
	stateDir           string
	server             *testenv.Server
	ownsServer         bool
	dbNames            []string
}

// Start builds the cloud: databases with the real schemas, the control plane on loopback ports, the topology
// provisioned through it, and the state files written once everything answers.
func Start(ctx context.Context, opts Options) (_ *Sim, err error) {
	if err := opts.Shape.Validate(); err != nil {
		return nil, err
	}
	if opts.StateDir == "" {
		return nil, errors.New("a state directory is required")
	}
	if err := os.MkdirAll(opts.StateDir, 0o700); err != nil {
		return nil, fmt.Errorf("create state directory: %w", err)
	}
	logf := opts.Logf
	if logf == nil {
		logf = func(string, ...any) {}
	}
	s := &Sim{stateDir: opts.StateDir, server: opts.Server}
	defer func() {
		if err != nil {
			cleanupCtx, cancel := CleanupContext(ctx)
			defer cancel()
			s.Close(cleanupCtx)
		}
	}()
	if s.server == nil {
		if s.server, err = testenv.StartServer(ctx, testenv.ServerOptions{AllowEmbedded: true, Logf: logf}); err != nil {
			return nil, err
		}
		s.ownsServer = true
	}
	s.ServerKind = s.server.Kind()
	profile, err := cloud.LookupProfile(opts.Profile)
	if err != nil {
		return nil, err
	}
	if s.CinderDSN, err = s.database(ctx, "cinder", profile.CinderSchema); err != nil {
		return nil, err
	}
	if s.NovaDSN, err = s.database(ctx, "nova", testenv.SchemaNova); err != nil {
		return nil, err
	}
	topology := opts.Shape.topology()
	if s.cluster, err = startMachines(ctx, topology); err != nil {
		return nil, err
	}
	if err := s.cluster.SetLatencyScale(opts.LatencyScale); err != nil {
		return nil, err
	}
	s.Driver = s.cluster
	s.Cloud, err = cloud.New(ctx, cloud.Config{
		CinderDSN: s.CinderDSN, NovaDSN: s.NovaDSN, Driver: s.Driver, Profile: opts.Profile, Seed: opts.Shape.Seed, Logf: logf,
		LatencyScale: opts.LatencyScale, NoReconnectOnReboot: opts.NoReconnectOnReboot,
		Latencies: opts.Latencies, ComputeWorkers: opts.ComputeWorkers, Faults: opts.Faults, MaxLimit: opts.MaxLimit,
	})
	if err != nil {
		return nil, err
	}
	if err := s.Cloud.Start(ctx); err != nil {
		return nil, err
	}
	if s.Topology, err = s.Cloud.Provision(ctx, topology); err != nil {
		return nil, err
	}
	if s.Stuck, err = s.Cloud.SeedStuck(ctx, s.Topology, opts.Shape.Stuck); err != nil {
		return nil, err
	}
	if err := s.waitForGuests(ctx); err != nil {
		return nil, err
	}
	if err := s.startControl(); err != nil {
		return nil, err
	}
	if err := s.writeStateFiles(); err != nil {
		return nil, err
	}
	return s, nil
}

// guestsUpTimeout bounds the wait for the provisioned guests' first boot.
const guestsUpTimeout = time.Minute

// waitForGuests returns once every guest has booted and answers over SSH: a cloud announced ready whose
// guests are still booting would fail the first command that reaches into them.
func (s *Sim) waitForGuests(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, guestsUpTimeout)
	defer cancel()
	for _, g := range s.cluster.Guests() {
		if _, err := s.cluster.WaitGuest(ctx, g.InstanceUUID, func(g hosts.GuestInfo) bool { return g.Stage == hosts.StageUp }); err != nil {
			return fmt.Errorf("the simulated guests did not come up: %w", err)
		}
	}
	return nil
}

func (s *Sim) database(ctx context.Context, name string, schema testenv.Schema) (string, error) {
	d, err := s.server.NewDatabase(ctx, name)
	if err != nil {
		return "", err
	}
	s.dbNames = append(s.dbNames, d.Name)
	db, err := sql.Open("mysql", d.DSN)
	if err != nil {
		return "", err
	}
	defer db.Close()
	if err := testenv.LoadSchema(ctx, db, schema); err != nil {
		return "", err
	}
	return d.DSN, nil
}

// cleanupTimeout bounds Close after an interrupt: dropping the databases and stopping a container take seconds,
// and a server that stopped answering must not hang the lab forever.
const cleanupTimeout = 2 * time.Minute

// CleanupContext is the context to Close with when ctx may be cancelled (Ctrl-C during `sim up`, or Start
// failing because of it): ctx's values, none of its cancellation, and a deadline of its own. With the cancelled
// context the databases were left behind ("drop database ...: context canceled").
func CleanupContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
}

// Close stops the cloud and removes its databases.
func (s *Sim) Close(ctx context.Context) error {
	var errs []error
	if s.control != nil {
		errs = append(errs, s.control.srv.Close())
	}
	if s.Cloud != nil {
		errs = append(errs, s.Cloud.Close(ctx))
	}
	if s.cluster != nil {
		errs = append(errs, s.cluster.Close())
	}
	if s.server != nil {
		for _, name := range s.dbNames {
			errs = append(errs, s.server.DropDatabase(ctx, name))
		}
		if s.ownsServer {
			errs = append(errs, s.server.Close(ctx))
		}
	}
	return errors.Join(errs...)
}
