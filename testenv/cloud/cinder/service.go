package cinder

import (
	"cmp"
	"context"
	"database/sql"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/osdr/osdr/testenv/cloud/model"
	"github.com/osdr/osdr/testenv/cloud/osapi"
	"github.com/osdr/osdr/testenv/cloud/store"
)

// Release is what differs between the Cinder releases the cloud plays.
type Release struct {
	// MaxVersion is the newest microversion the release serves; VersionUpdated its version document's stamp.
	MaxVersion     osapi.Microversion
	VersionUpdated string
	// Legacy plays the nova-volume-era volumes table: attachment state on the volume row (instance_id,
	// mountpoint, attach_time), no volume_attachment, services or workers tables, none of the actions of the
	// attachments era, and the service rows and instances in Nova's database.
	Legacy bool
	// ResetStatusWorkerType is the workers.resource_type os-reset_status deletes. Up to 2025.2 it asks for
	// 'Volumes' (the controller's collection name, title-cased) while cinder-volume writes 'Volume', so the row
	// survives the reset; 2026.1 asks for 'VOLUME', which the case-insensitive collation matches.
	ResetStatusWorkerType string
	// RPCVersion is what cinder-volume writes to services.rpc_current_version.
	RPCVersion string
}

// Nova is what Cinder asks of Nova. The legacy volume service is nova-volume, a Nova service: its volumes'
// instance_id is Nova's numeric instances.id and its service rows are in Nova's services table, which the last
// two methods read.
type Nova interface {
	// ServerUsesAttachment is the question attachment_deletion_allowed asks through Nova's API
	// (get_server_volume): does Nova map the volume to the server through that very attachment?
	ServerUsesAttachment(ctx context.Context, serverID, volumeID, attachmentID string) (bool, error)
	// LegacyInstance resolves the nova-volume table's instance_id to the instance's uuid and host, both invalid
	// when there is no such row.
	LegacyInstance(ctx context.Context, id int64) (uuid, host sql.NullString, err error)
	// VolumeServices lists the nova-volume services, narrowed to host and binary when they are not empty.
	VolumeServices(ctx context.Context, host, binary string) ([]NovaService, error)
}

// NovaService is a row of Nova's services table.
type NovaService struct {
	Host, Binary, DisabledReason sql.NullString
	Disabled                     sql.NullBool
	CreatedAt, UpdatedAt         sql.NullTime
}

// Config is what a Cinder is built from.
type Config struct {
	Release
	DB       *sql.DB // loaded with the release's schema
	Pipeline *osapi.Pipeline
	Nova     Nova
	IDs      *store.IDs
	Latency  *model.Latency
	// UserID and ProjectID are the account Provision's volumes belong to.
	UserID, ProjectID string
	// DefaultTypeID is the id of the volume type Cinder creates at installation; CephSecret is the libvirt secret
	// of the Ceph backend's connections.
	DefaultTypeID, CephSecret string
	// MaxLimit is osapi_max_limit, the most items one page of a listing holds; zero means its default.
	MaxLimit int
	Logf     func(format string, args ...any)
}

// Service is Cinder: its API over the volumes in its database, and the volume API Nova calls.
type Service struct {
	rel        Release
	db         *sql.DB
	api        osapi.Service
	nova       Nova
	ids        *store.IDs
	latency    *model.Latency
	types      *volumeTypes
	userID     string
	projectID  string
	cephSecret string
	logf       func(format string, args ...any)
	maxLimit   int

	mu sync.Mutex
	// storage is where Provision put the storage backends, for volumes whose provider_location names none.
	storage string
}

// New prepares Cinder; Handler serves it.
func New(cfg Config) *Service {
	c := &Service{
		rel: cfg.Release, db: cfg.DB, nova: cfg.Nova, ids: cfg.IDs, latency: cfg.Latency,
		types:  newVolumeTypes(cfg.IDs, cfg.DefaultTypeID),
		userID: cfg.UserID, projectID: cfg.ProjectID, cephSecret: cfg.CephSecret, logf: cfg.Logf,
		maxLimit: cmp.Or(cfg.MaxLimit, osapi.DefaultMaxLimit),
		storage:  "127.0.0.1",
	}
	c.api = osapi.Service{
		Pipeline:   cfg.Pipeline,
		Name:       "volume",
		PathPrefix: "/v3/",
		Negotiate: func(h http.Header) (osapi.Microversion, *osapi.Error) {
			return osapi.VolumeVersion(h, c.rel.MaxVersion)
		},
		VersionHeader: func(w http.ResponseWriter, v osapi.Microversion) {
			w.Header().Set(osapi.HeaderAPIVersion, "volume "+v.String())
			w.Header().Add("Vary", osapi.HeaderAPIVersion)
		},
		InternalError: "The server has either erred or is incapable of performing the requested operation.",
	}
	return c
}

// DefineVolumeType names a volume type id that rows written by other means than Provision reference (the
// schema carries no volume_types table).
func (c *Service) DefineVolumeType(id, name string) {
	c.types.mu.Lock()
	defer c.types.mu.Unlock()
	c.types.byID[id] = name
}

func (c *Service) storageIP() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.storage
}

// cinder.conf report_interval: how often a running service heartbeats.
const reportInterval = 10 * time.Second

// Run heartbeats Cinder's services until ctx ends.
func (c *Service) Run(ctx context.Context) {
	beat := time.NewTicker(reportInterval)
	defer beat.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-beat.C:
			if err := c.heartbeat(ctx); err != nil && ctx.Err() == nil {
				c.logf("heartbeat: %v", err)
			}
		}
	}
}

// heartbeat is every service's report_state: report_count+1, which stamps updated_at. nova-volume's row is
// Nova's, beaten by Nova; the legacy database has no services table.
func (c *Service) heartbeat(ctx context.Context) error {
	if c.rel.Legacy {
		return nil
	}
	if _, err := c.db.ExecContext(ctx,
		"UPDATE services SET report_count = report_count + 1, updated_at = ? WHERE deleted = 0", store.Now()); err != nil {
		return fmt.Errorf("cinder services: %w", err)
	}
	return nil
}
