package nova

import (
	"cmp"
	"context"
	"database/sql"
	"net/http"
	"time"

	"github.com/osdr/osdr/testenv/cloud/model"
	"github.com/osdr/osdr/testenv/cloud/nova/compute"
	"github.com/osdr/osdr/testenv/cloud/nova/novadb"
	"github.com/osdr/osdr/testenv/cloud/nova/volume"
	"github.com/osdr/osdr/testenv/cloud/osapi"
	"github.com/osdr/osdr/testenv/cloud/store"
	"github.com/osdr/osdr/testenv/virt"
)

// Release is what differs between the Nova releases the cloud plays.
type Release struct {
	// MaxVersion is the newest microversion the release serves.
	MaxVersion osapi.Microversion
	// DeletesDanglingBDMsOnReboot is nova-compute's (compute.Config).
	DeletesDanglingBDMsOnReboot bool
	// ServiceVersion is what Nova's services write to services.version (nova/objects/service.py).
	ServiceVersion int
	// NovaVolume: the volume service is nova-volume, a Nova service, with its row in Nova's services table.
	NovaVolume bool
}

// Config is what a Nova is built from.
type Config struct {
	Release
	DB       *sql.DB // loaded with Nova's cell schema
	Pipeline *osapi.Pipeline
	Volumes  volume.API
	Driver   virt.Driver
	IDs      *store.IDs
	Latency  *model.Latency
	Audit    *osapi.AuditLog
	// PowerSyncInterval, when set, runs nova-compute's power-state sync on every running host that often.
	PowerSyncInterval time.Duration
	// NoReconnectOnReboot is nova-compute's (compute.Config).
	NoReconnectOnReboot bool
	// ComputeWorkers is how many casts each host's nova-compute carries out at once (executor_thread_pool_size).
	ComputeWorkers int
	// ImageRef is the image image-booted instances are built from; UserID and ProjectID the account
	// Provision's instances belong to.
	ImageRef, UserID, ProjectID string
	// MaxLimit is [api] max_limit, the most items one page of a listing holds; zero means its default.
	MaxLimit int
	Logf     func(format string, args ...any)
}

// computeRPC is how the API reaches nova-compute on an instance's host (nova/compute/rpcapi.py): casts it
// carries out in the background, and the one call the API waits for.
type computeRPC interface {
	RebootInstance(host, uuid, kind, requestID string)
	StartInstance(host, uuid, requestID string)
	StopInstance(host, uuid, requestID string)
	AttachVolume(host, uuid string, bdmID int64, requestID string)
	DetachVolume(host, uuid, volumeID, requestID string)
	ReserveBlockDeviceName(ctx context.Context, i novadb.Instance, volumeID, device, tag string,
		deleteOnTermination bool) (novadb.BDM, error)
}

// Service is Nova: its compute API over the instances in its database, nova-conductor, and nova-compute on
// every compute host.
type Service struct {
	rel       Release
	db        *sql.DB
	api       osapi.Service
	volumes   volume.API
	rpc       computeRPC
	compute   *compute.Manager
	conductor conductor
	ids       *store.IDs
	imageRef  string
	userID    string
	projectID string
	logf      func(format string, args ...any)
	maxLimit  int
}

// New prepares Nova; Handler serves its API.
func New(cfg Config) *Service {
	c := &Service{
		rel: cfg.Release, db: cfg.DB, volumes: cfg.Volumes, ids: cfg.IDs, imageRef: cfg.ImageRef, userID: cfg.UserID,
		projectID: cfg.ProjectID, logf: cfg.Logf, maxLimit: cmp.Or(cfg.MaxLimit, osapi.DefaultMaxLimit), conductor: conductor{ctx: context.Background()},
	}
	c.api = osapi.Service{
		Pipeline:   cfg.Pipeline,
		Name:       "compute",
		PathPrefix: "/v2.1/",
		Negotiate: func(h http.Header) (osapi.Microversion, *osapi.Error) {
			return osapi.ComputeVersion(h, c.rel.MaxVersion)
		},
		VersionHeader: func(w http.ResponseWriter, v osapi.Microversion) {
			w.Header().Set(osapi.HeaderAPIVersion, "compute "+v.String())
			w.Header().Set(osapi.HeaderNovaLegacyVersion, v.String())
			w.Header().Add("Vary", osapi.HeaderAPIVersion)
			w.Header().Add("Vary", osapi.HeaderNovaLegacyVersion)
		},
		InternalError: novaUnexpected("oslo_db.exception.DBError").Message,
	}
	c.compute = compute.New(compute.Config{
		DB: cfg.DB, Volumes: cfg.Volumes, Driver: cfg.Driver, API: c, IDs: cfg.IDs, Latency: cfg.Latency,
		Audit: cfg.Audit, DeletesDanglingBDMsOnReboot: cfg.DeletesDanglingBDMsOnReboot,
		PowerSyncInterval: cfg.PowerSyncInterval, NoReconnectOnReboot: cfg.NoReconnectOnReboot, Workers: cfg.ComputeWorkers,
		Logf: cfg.Logf,
	})
	c.rpc = c.compute
	return c
}

// Compute is nova-compute, for what happens to the compute hosts themselves.
func (c *Service) Compute() *compute.Manager { return c.compute }

// SetContext gives the work the API hands on its context: it ends with the cloud, not with the request.
func (c *Service) SetContext(ctx context.Context) {
	c.conductor.setContext(ctx)
	c.compute.SetContext(ctx)
}

// Settle waits until nova-conductor and nova-compute have carried out what the API handed them.
func (c *Service) Settle() {
	c.conductor.work.Wait()
	c.compute.Wait()
}

// Shutdown has nova-compute refuse casts from now on and waits for the work in flight.
func (c *Service) Shutdown() {
	c.compute.Shutdown()
	c.conductor.work.Wait()
}
