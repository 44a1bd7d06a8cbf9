package cloud

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/osdr/osdr/internal/bounds"
	"github.com/osdr/osdr/internal/osapi"
	"github.com/osdr/osdr/internal/settings"
	"github.com/osdr/osdr/internal/sshx"
)

// Options are a command's choices about how it talks to the cloud.
type Options struct {
	// APIRate caps API requests per second to the whole control plane (0: unlimited). A recovering cloud's
	// API is fragile; hundreds of instances must not stampede it.
	APIRate float64
	// Warnings receives one line per thing that works but that the operator should hear about (host keys not
	// verified); nil discards them.
	Warnings io.Writer
}

// APIRateRange is what --api-rate accepts: 0 is no limit; a real control plane answers a few hundred
// requests per second at best.
var APIRateRange = bounds.Range[float64]{Min: 0, Max: 100000}

// Cloud is one cloud as a command sees it. Its methods are safe for concurrent use.
type Cloud struct {
	settings *settings.Settings
	opts     Options

	mu      sync.Mutex
	api     *osapi.Client
	dbs     *Databases
	closers []func() error
	pool    *sshx.Pool
	lock    *heldLock
}

// Open prepares the cloud the settings describe; nothing is contacted until it is needed.
func Open(s *settings.Settings, opts Options) *Cloud {
	return &Cloud{settings: s, opts: opts}
}

// APIRate is the request budget the cloud was opened with (0: none).
func (c *Cloud) APIRate() float64 { return c.opts.APIRate }

// Settings is the resolved contract the cloud was opened from, for what a command passes on (the runs
// directory, the flags of a child process).
func (c *Cloud) Settings() *settings.Settings { return c.settings }

func (c *Cloud) warn(format string, args ...any) {
	if c.opts.Warnings != nil {
		fmt.Fprintf(c.opts.Warnings, "osdr: warning: "+format+"\n", args...)
	}
}

// API authenticates with Keystone and negotiates microversions with Nova and Cinder, once.
func (c *Cloud) API(ctx context.Context) (*osapi.Client, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.api != nil {
		return c.api, nil
	}
	provider, eo, err := c.settings.Cloud.Connect(ctx)
	if err != nil {
		return nil, err
	}
	api, err := osapi.New(ctx, provider, eo, osapi.Options{RatePerSecond: c.opts.APIRate, Burst: max(1, int(c.opts.APIRate))})
	if err != nil {
		return nil, err
	}
	c.api = api
	return api, nil
}

// Databases are Cinder's database and Nova's cell databases, indexed as a manifest's Instance.Cell indexes
// them. Their connections count the rows a statement matched (see OpenDB).
type Databases struct {
	Cinder *sql.DB
	Cells  []*sql.DB
	// CinderName and CellNames are the databases' names (the schema of each DSN), which is how plans and
	// errors name them: the position of a DSN in the list says nothing of which Nova cell it holds.
	CinderName string
	CellNames  []string
}

// CellName names the database of a Nova cell.
func (d Databases) CellName(i int) string {
	if i >= 0 && i < len(d.CellNames) {
		return d.CellNames[i]
	}
	return fmt.Sprintf("nova cell %d", i)
}

// Cell returns the database of a Nova cell.
func (d Databases) Cell(i int) (*sql.DB, error) {
	if i < 0 || i >= len(d.Cells) || d.Cells[i] == nil {
		return nil, fmt.Errorf("no DSN for Nova cell %d (%d configured): the manifest's instances live in more cells than OSDR_NOVA_DB_DSN names", i, len(d.Cells))
	}
	return d.Cells[i], nil
}

// Databases opens Cinder's database and every Nova cell's, once, and checks they answer.
func (c *Cloud) Databases(ctx context.Context) (Databases, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.databasesLocked(ctx)
}

func (c *Cloud) databasesLocked(ctx context.Context) (Databases, error) {
	if c.dbs != nil {
		return *c.dbs, nil
	}
	cinderDSN, err := c.settings.Databases.Cinder()
	if err != nil {
		return Databases{}, err
	}
	cells, err := c.settings.Databases.NovaCells()
	if err != nil {
		return Databases{}, err
	}
	var opened []func() error
	closeAll := func() {
		for _, close := range opened {
			_ = close()
		}
	}
	open := func(what string, d settings.DSN) (*sql.DB, error) {
		db, err := OpenDB(d)
		if err != nil {
			return nil, fmt.Errorf("%s database %s: %w", what, d, err)
		}
		opened = append(opened, db.Close)
		if err := db.PingContext(ctx); err != nil {
			return nil, fmt.Errorf("%s database %s does not answer: %w", what, d, err)
		}
		return db, nil
	}
	dbs := Databases{CinderName: cinderDSN.Config().DBName}
	if dbs.Cinder, err = open("Cinder", cinderDSN); err != nil {
		closeAll()
		return Databases{}, err
	}
	for i, cell := range cells {
		db, err := open(fmt.Sprintf("Nova cell %d", i), cell)
		if err != nil {
			closeAll()
			return Databases{}, err
		}
		dbs.Cells = append(dbs.Cells, db)
		dbs.CellNames = append(dbs.CellNames, cell.Config().DBName)
	}
	c.closers = append(c.closers, opened...)
	c.dbs = &dbs
	return dbs, nil
}

// OptionalDatabases opens the databases when they are configured, and reports whether they are: a snapshot
// or a verification does more with them, but works without.
func (c *Cloud) OptionalDatabases(ctx context.Context) (Databases, bool, error) {
	dbs, err := c.Databases(ctx)
	if errors.Is(err, settings.ErrNotConfigured) {
		return Databases{}, false, nil
	}
	return dbs, err == nil, err
}

// Close releases a held lock and closes every connection the cloud opened.
func (c *Cloud) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	var errs []error
	if c.lock != nil {
		errs = append(errs, c.lock.release(context.Background()))
		c.lock = nil
	}
	for _, close := range c.closers {
		errs = append(errs, close())
	}
	c.closers, c.dbs = nil, nil
	if c.pool != nil {
		errs = append(errs, c.pool.Close())
		c.pool = nil
	}
	return errors.Join(errs...)
}
