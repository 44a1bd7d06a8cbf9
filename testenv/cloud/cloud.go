package cloud

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/osdr/osdr/testenv/cloud/cinder"
	"github.com/osdr/osdr/testenv/cloud/glance"
	"github.com/osdr/osdr/testenv/cloud/keystone"
	"github.com/osdr/osdr/testenv/cloud/model"
	"github.com/osdr/osdr/testenv/cloud/nova"
	"github.com/osdr/osdr/testenv/cloud/nova/compute"
	"github.com/osdr/osdr/testenv/cloud/osapi"
	"github.com/osdr/osdr/testenv/cloud/store"
	"github.com/osdr/osdr/testenv/virt"
)

// Config describes one simulated cloud.
type Config struct {
	// CinderDSN and NovaDSN name databases loaded with testenv.SchemaNova and the profile's CinderSchema
	// (testenv.SchemaCinder, or testenv.SchemaCinderLegacy for the legacy profile); New detects which Cinder
	// schema the database has and refuses one that does not match the profile.
	CinderDSN, NovaDSN string
	// Driver is the compute hosts' hypervisor side; nil means a fresh virt.Fake.
	Driver virt.Driver
	// Profile is the release to play (ProfileNames); empty means DefaultProfile.
	Profile string
	// Region names the catalog's region; empty means RegionOne.
	Region string
	// AdminUser, AdminPassword and AdminProject name the admin account; empty means admin, a generated
	// password, and admin.
	AdminUser, AdminPassword, AdminProject string
	// Seed, when not zero, makes every generated id (projects, users, servers, volumes, attachments, ...) the
	// same from run to run.
	Seed int64
	// IdentityAddr, ComputeAddr, VolumeAddr and ImageAddr are where Start listens; empty means 127.0.0.1:0.
	IdentityAddr, ComputeAddr, VolumeAddr, ImageAddr string
	// LatencyScale multiplies the time every modelled operation takes (reboot, boot, attach, detach, reset,
	// each drawn around a real cloud's median from Seed): 0 makes them instant, as tests want; 1 models a real
	// cloud for a benchmark.
	LatencyScale float64
	// Latencies replace the model's medians (durations at scale 1) of the operations they name: model.OpReboot,
	// OpBoot, OpAttach, OpDetach, OpReset, and OpAPI, each Nova and Cinder API request (none unless set).
	Latencies map[model.Operation]time.Duration
	// ComputeWorkers is how many casts each host's nova-compute carries out at once, the rest waiting their turn:
	// nova.conf's executor_thread_pool_size, whose default (64, DefaultComputeWorkers) zero means.
	ComputeWorkers int
	// Faults are the API faults the cloud starts with (SetFaults changes them).
	Faults FaultConfig
	// PowerSyncInterval, when set, runs Nova's _sync_power_states on every running compute host that often
	// (nova.conf sync_power_state_interval, 600 s on a real cloud); zero leaves it to SyncPowerStates.
	PowerSyncInterval time.Duration
	// NoReconnectOnReboot makes nova-compute's HARD reboot (and start) bring a domain back without connecting
	// its data volumes, as the Operations Guide assumes; by default it connects every volume from its BDM's
	// stored connection_info, as Nova's libvirt driver does from Zed to 2026.1.
	NoReconnectOnReboot bool
	// MaxLimit is the most items one page of a Nova or Cinder listing holds ([api] max_limit, osapi_max_limit);
	// zero means their default, 1000. A listing that fills a page links to the next one.
	MaxLimit int
	// Logf receives what the services would log: rejected requests, state corrections, failed operations.
	Logf func(format string, args ...any)
}

// DefaultComputeWorkers is nova.conf's executor_thread_pool_size default: the green threads oslo.messaging gives
// each nova-compute to carry out the RPC messages it receives.
const DefaultComputeWorkers = 64

// AuditEntry is one mutating call the cloud served, or one thing nova-compute did to a guest by itself.
type AuditEntry = osapi.AuditEntry

// Cloud is a running simulated control plane.
type Cloud struct {
	cfg              Config
	profile          Profile
	novaDB, cinderDB *sql.DB
	ids              *store.IDs
	audit            *osapi.AuditLog
	faults           *model.Faults
	logf             func(format string, args ...any)

	keystone *keystone.Service
	nova     *nova.Service
	cinder   *cinder.Service
	glance   *glance.Service

	endpoints Endpoints

	started bool
	closing chan struct{} // closed when Close begins: held requests let go
	servers []*http.Server
	stop    context.CancelFunc // ends the background work (heartbeats, syncs, in-flight compute operations)
	bg      sync.WaitGroup
	// requests counts handlers still running: Shutdown does not wait for those whose connection a fault
	// hijacked, and a handler must not outlive Close (it writes the databases and casts to compute).
	requests sync.WaitGroup
}

// New connects to the databases and prepares the services; Start serves them.
func New(ctx context.Context, cfg Config) (*Cloud, error) {
	profile, err := LookupProfile(cfg.Profile)
	if err != nil {
		return nil, err
	}
	if cfg.Region == "" {
		cfg.Region = "RegionOne"
	}
	if cfg.Driver == nil {
		cfg.Driver = virt.NewFake()
	}
	logf := cfg.Logf
	if logf == nil {
		logf = func(string, ...any) {}
	}
	ids := store.NewIDs(cfg.Seed)
	novaDB, err := store.Open(ctx, "nova", cfg.NovaDSN)
	if err != nil {
		return nil, err
	}
	cinderDB, err := store.Open(ctx, "cinder", cfg.CinderDSN)
	if err != nil {
		novaDB.Close()
		return nil, err
	}
	if err := checkCinderSchema(ctx, cinderDB, profile); err != nil {
		novaDB.Close()
		cinderDB.Close()
		return nil, err
	}
	latency, err := model.NewLatency(cfg.LatencyScale, cfg.Seed, cfg.Latencies)
	if err == nil {
		err = cfg.Faults.Validate()
	}
	if err == nil && cfg.ComputeWorkers < 0 {
		err = fmt.Errorf("compute workers %d is negative", cfg.ComputeWorkers)
	}
	if err != nil {
		novaDB.Close()
		cinderDB.Close()
		return nil, err
	}
	faults := model.NewFaults()
	faults.Set(cfg.Faults)
	// The services draw their ids in this order, so that one seed keeps naming the same things.
	identity := keystone.New(ids, cfg.AdminUser, cfg.AdminPassword, cfg.AdminProject, cfg.Region)
	defaultVolumeType, imageRef, cephSecret := ids.UUID(), ids.UUID(), ids.UUID()
	c := &Cloud{
		cfg: cfg, profile: profile, novaDB: novaDB, cinderDB: cinderDB, ids: ids,
		audit:    &osapi.AuditLog{},
		faults:   faults,
		logf:     logf,
		keystone: identity,
		closing:  make(chan struct{}),
	}
	pipeline := &osapi.Pipeline{Tokens: identity, Faults: c.faults, Latency: latency, Audit: c.audit, Closing: c.closing, Logf: logf}
	admin := identity.Admin()
	c.cinder = cinder.New(cinder.Config{
		Release: cinder.Release{
			MaxVersion: profile.VolumeMaxVersion, VersionUpdated: profile.VolumeVersionUpdated, Legacy: profile.Legacy(),
			ResetStatusWorkerType: profile.ResetStatusWorkerType, RPCVersion: profile.VolumeRPCVersion,
		},
		DB: cinderDB, Pipeline: pipeline, Nova: nova.CinderQueries{DB: novaDB}, IDs: ids, Latency: latency,
		UserID: admin.UserID, ProjectID: admin.ProjectID, DefaultTypeID: defaultVolumeType, CephSecret: cephSecret,
		MaxLimit: cfg.MaxLimit, Logf: logf,
	})
	c.nova = nova.New(nova.Config{
		Release: nova.Release{
			MaxVersion: profile.ComputeMaxVersion, DeletesDanglingBDMsOnReboot: profile.DeletesDanglingBDMsOnReboot,
			ServiceVersion: profile.ComputeServiceVersion, NovaVolume: profile.Legacy(),
		},
		DB: novaDB, Pipeline: pipeline, Volumes: c.cinder, Driver: cfg.Driver, IDs: ids, Latency: latency,
		Audit: c.audit, PowerSyncInterval: cfg.PowerSyncInterval, NoReconnectOnReboot: cfg.NoReconnectOnReboot,
		ComputeWorkers: cmp.Or(cfg.ComputeWorkers, DefaultComputeWorkers),
		ImageRef:       imageRef, UserID: admin.UserID,
		ProjectID: admin.ProjectID, MaxLimit: cfg.MaxLimit, Logf: logf,
	})
	c.glance = glance.New(pipeline, imageRef, admin.ProjectID, store.Now())
	return c, nil
}

// Profile is the release the cloud plays.
func (c *Cloud) Profile() Profile { return c.profile }

// Admin returns the admin account's credentials.
func (c *Cloud) Admin() Credentials { return c.keystone.Admin() }

// Credentials name the cloud's admin account, as clouds.yaml or an openrc would carry them.
type Credentials = keystone.Credentials

// Endpoints are the versioned URLs the catalog publishes.
type Endpoints = keystone.Endpoints

// Endpoints returns the services' URLs; they are known once Start has returned.
func (c *Cloud) Endpoints() Endpoints { return c.endpoints }

// ErrComputeStopped means the host's nova-compute is not running (StopCompute), so it cannot act.
var ErrComputeStopped = compute.ErrStopped

// StopCompute stops nova-compute on host: it stops heartbeating (so after service_down_time the API reports
// the service down and its servers' host_status UNKNOWN) and casts to it wait until ComputeRestarted.
func (c *Cloud) StopCompute(host string) { c.nova.Compute().Stop(host) }

// ComputeRestarted models nova-compute starting on host after it was stopped or the host rebooted: init_host
// walks the host's instances (finishing interrupted reboots, stops and starts, and with resumeGuests, Nova's
// resume_guests_state_on_host_boot, hard-rebooting every guest the database says was running but the
// hypervisor does not run), then the service heartbeats again, the casts that waited for it run, and the
// power-state sync runs once, as it does at service start.
func (c *Cloud) ComputeRestarted(ctx context.Context, host string, resumeGuests bool) error {
	return c.nova.Compute().Restarted(ctx, host, resumeGuests)
}

// SyncPowerStates runs Nova's _sync_power_states on host once and returns when it is done, including the stops
// it orders (see compute.Manager.SyncPowerStates).
func (c *Cloud) SyncPowerStates(ctx context.Context, host string) error {
	return c.nova.Compute().SyncPowerStates(ctx, host)
}

// Settle waits until nova-conductor and nova-compute have carried out everything the API handed them; casts
// waiting for a stopped nova-compute are not waited for.
func (c *Cloud) Settle() { c.nova.Settle() }

// Start listens on the service addresses and serves until Close; it returns once all of them accept
// connections.
func (c *Cloud) Start(ctx context.Context) error {
	if c.started {
		return errors.New("cloud already started")
	}
	var lc net.ListenConfig
	addrs := []string{
		cmp.Or(c.cfg.IdentityAddr, "127.0.0.1:0"),
		cmp.Or(c.cfg.ComputeAddr, "127.0.0.1:0"),
		cmp.Or(c.cfg.VolumeAddr, "127.0.0.1:0"),
		cmp.Or(c.cfg.ImageAddr, "127.0.0.1:0"),
	}
	listeners := make([]net.Listener, 0, len(addrs))
	for _, addr := range addrs {
		l, err := lc.Listen(ctx, "tcp", addr)
		if err != nil {
			for _, open := range listeners {
				open.Close()
			}
			return fmt.Errorf("listen on %s: %w", addr, err)
		}
		listeners = append(listeners, l)
	}
	root := func(l net.Listener) string { return "http://" + l.Addr().String() }
	c.endpoints = Endpoints{
		Identity: root(listeners[0]) + "/v3",
		Compute:  root(listeners[1]) + "/v2.1",
		Volume:   root(listeners[2]) + "/v3/" + c.keystone.Admin().ProjectID,
		Image:    root(listeners[3]),
	}
	c.keystone.Publish(c.endpoints)

	bgCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
	c.stop = stop
	c.nova.SetContext(bgCtx)
	for i, h := range []http.Handler{c.keystone.Handler(), c.nova.Handler(), c.cinder.Handler(), c.glance.Handler()} {
		srv := &http.Server{
			Handler:           c.counted(h),
			ReadHeaderTimeout: 30 * time.Second,
			BaseContext:       func(net.Listener) context.Context { return bgCtx },
		}
		c.servers = append(c.servers, srv)
		l := listeners[i]
		c.bg.Go(func() {
			if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
				c.logf("cloud: serve %s: %v", l.Addr(), err)
			}
		})
	}
	c.bg.Go(func() { c.nova.Compute().Run(bgCtx) })
	c.bg.Go(func() { c.cinder.Run(bgCtx) })
	c.started = true
	return nil
}

// Close stops serving, ends background work (an operation in flight stops where it is, as when nova-compute
// is killed) and closes the databases.
func (c *Cloud) Close(ctx context.Context) error {
	var errs []error
	if c.started {
		close(c.closing)
		for _, srv := range c.servers {
			if err := srv.Shutdown(ctx); err != nil {
				errs = append(errs, fmt.Errorf("shut down an API server: %w", err))
			}
		}
		c.stop()
		c.requests.Wait()
		c.bg.Wait()
		c.nova.Shutdown()
	}
	for name, db := range map[string]*sql.DB{"nova": c.novaDB, "cinder": c.cinderDB} {
		if err := db.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close the %s database: %w", name, err))
		}
	}
	return errors.Join(errs...)
}

// counted keeps Close waiting for h's requests.
func (c *Cloud) counted(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.requests.Add(1)
		defer c.requests.Done()
		h.ServeHTTP(w, r)
	})
}

// AuditLog returns every entry recorded so far, oldest first.
func (c *Cloud) AuditLog() []AuditEntry { return c.audit.Entries() }

// checkCinderSchema refuses a Cinder database the profile cannot play.
// ErrSchemaMismatch means the Cinder database is not loaded with the schema the profile plays.
var ErrSchemaMismatch = cinder.ErrSchemaMismatch

// checkCinderSchema refuses a Cinder database the profile cannot play.
func checkCinderSchema(ctx context.Context, db *sql.DB, p Profile) error {
	found, err := cinder.DetectSchema(ctx, db)
	if err != nil {
		return err
	}
	if found != p.CinderSchema {
		return fmt.Errorf("%w: profile %s needs %s, the database has %s", ErrSchemaMismatch, p.Name, p.CinderSchema, found)
	}
	return nil
}
