package testenv

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"
)

// Environment variables that choose where databases come from.
const (
	// EnvMySQLDSN names an existing MySQL/MariaDB server; its user must be allowed to CREATE DATABASE.
	EnvMySQLDSN = "OSDR_TEST_MYSQL_DSN"
	// EnvMySQLImage overrides the container image (default DefaultMySQLImage).
	EnvMySQLImage = "OSDR_TEST_MYSQL_IMAGE"
)

// DefaultMySQLImage is the official MariaDB image a user's machine pulls. Machines that reach no registry
// build LocalMySQLImage with `make image`, which is then preferred.
const DefaultMySQLImage = "docker.io/library/mariadb:10.11"

// LocalMySQLImage is the image `make image` builds from Debian's mariadb-server without a registry.
const LocalMySQLImage = "osdr/mariadb:local"

// ServerKind says where a Server runs; callers report it so nobody mistakes a demo database for a real one.
type ServerKind string

const (
	KindDSN       ServerKind = "dsn"       // an existing server from OSDR_TEST_MYSQL_DSN
	KindContainer ServerKind = "container" // a MariaDB/MySQL container started through testcontainers-go
	KindEmbedded  ServerKind = "embedded"  // go-mysql-server in-process, transactions run one at a time: sim and demo only
)

// ErrNoServer means neither a DSN nor a container engine was available (and embedded was not allowed).
var ErrNoServer = errors.New("no MySQL server: set " + EnvMySQLDSN + " or start a container engine")

// Server is a MySQL-compatible server that hands out fresh, isolated databases.
type Server struct {
	kind  ServerKind
	admin *mysql.Config
	stop  func(context.Context) error
	// about says in a few words what the server is and, for the embedded one, why no container was used.
	about string
}

// About says, in one line for people, which database this is (and why it is the embedded one).
func (s *Server) About() string { return s.about }

// ServerOptions tune StartServer.
type ServerOptions struct {
	// AllowEmbedded lets StartServer fall back to an in-process server when there is neither a DSN nor a
	// container engine. Only the simulation and the demo may set it: the embedded server is not MariaDB (it
	// runs one transaction per database at a time, has no row locks and other error codes), so no test of SQL
	// behaviour may run on it.
	AllowEmbedded bool
	// Image overrides the container image; empty means OSDR_TEST_MYSQL_IMAGE, then DefaultMySQLImage.
	Image string
	// EmbeddedOnly skips the DSN and the container: the demo's way to run anywhere in seconds.
	EmbeddedOnly bool
	// Logf, when set, receives one line per decision (which source was chosen and why the others were not).
	Logf func(format string, args ...any)
}

// StartServer finds a server in order: OSDR_TEST_MYSQL_DSN, a container, and (if allowed) an embedded one.
func StartServer(ctx context.Context, opts ServerOptions) (*Server, error) {
	logf := opts.Logf
	if logf == nil {
		logf = func(string, ...any) {}
	}
	embedded := func(why string) (*Server, error) {
		s, err := startEmbedded(ctx)
		if err != nil {
			return nil, err
		}
		s.about = "the embedded database (go-mysql-server in this process" + why + ")"
		logf("testenv: %s", s.about)
		return s, nil
	}
	if opts.EmbeddedOnly {
		return embedded("")
	}
	if dsn := os.Getenv(EnvMySQLDSN); dsn != "" {
		cfg, err := mysql.ParseDSN(dsn)
		if err != nil {
			return nil, fmt.Errorf("parse %s: %w", EnvMySQLDSN, err)
		}
		s := &Server{kind: KindDSN, admin: cfg, stop: func(context.Context) error { return nil }}
		if err := s.ping(ctx); err != nil {
			return nil, fmt.Errorf("reach the server named by %s: %w", EnvMySQLDSN, err)
		}
		s.about = "MySQL from " + EnvMySQLDSN + " (" + cfg.Addr + ")"
		logf("testenv: %s", s.about)
		return s, nil
	}
	image := containerImage(opts.Image, os.Getenv(EnvMySQLImage), imageHere(ctx, LocalMySQLImage))
	s, err := startContainer(ctx, image)
	if err == nil {
		s.about = "MariaDB in a container from image " + image
		logf("testenv: %s (%s)", s.about, s.admin.Addr)
		return s, nil
	}
	if !opts.AllowEmbedded {
		return nil, fmt.Errorf("%w: %w", ErrNoServer, err)
	}
	// Falling back is the expected path on a laptop without a container engine or a registry: say why in a
	// few words, not with the engine's error (a DNS failure looks like something broke).
	why := ": no container engine answers"
	if !errors.Is(err, errNoEngine) {
		why = ": image " + image + " is not here and cannot be pulled"
	}
	s, eerr := embedded(why)
	if eerr != nil {
		return nil, fmt.Errorf("start embedded MySQL server after the container failed (%v): %w", err, eerr)
	}
	return s, nil
}

// containerImage picks the image: the caller's, then OSDR_TEST_MYSQL_IMAGE, then the locally built one when
// it is here, then the official one.
func containerImage(explicit, fromEnv string, localHere bool) string {
	switch {
	case explicit != "":
		return explicit
	case fromEnv != "":
		return fromEnv
	case localHere:
		return LocalMySQLImage
	default:
		return DefaultMySQLImage
	}
}

// Kind says where the server runs.
func (s *Server) Kind() ServerKind { return s.kind }

// Close stops a server StartServer started; a server named by DSN is left running.
func (s *Server) Close(ctx context.Context) error { return s.stop(ctx) }

// Database is a fresh database on a Server.
type Database struct {
	Name string
	DSN  string
}

// NewDatabase creates an empty database whose name starts with prefix and is unique across processes, so
// parallel test processes sharing one server never see each other's rows.
func (s *Server) NewDatabase(ctx context.Context, prefix string) (Database, error) {
	suffix := make([]byte, 4)
	if _, err := rand.Read(suffix); err != nil {
		return Database{}, fmt.Errorf("random database name: %w", err)
	}
	// MySQL identifiers stop at 64 characters; the pid and random suffix are what make the name unique.
	prefix = sanitizeIdent(prefix)
	if len(prefix) > 40 {
		prefix = prefix[:40]
	}
	name := fmt.Sprintf("%s_%d_%s", prefix, os.Getpid(), hex.EncodeToString(suffix))
	if err := s.exec(ctx, "CREATE DATABASE `"+name+"`"); err != nil {
		// A cancelled context may have cut short the answer rather than the statement (Ctrl-C while the lab
		// builds): no caller knows the name, so drop what may have been made.
		cleanup, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		_ = s.exec(cleanup, "DROP DATABASE IF EXISTS `"+name+"`")
		return Database{}, fmt.Errorf("create database %s: %w", name, err)
	}
	cfg := s.admin.Clone()
	cfg.DBName = name
	return Database{Name: name, DSN: cfg.FormatDSN()}, nil
}

// DropDatabase removes a database NewDatabase created.
func (s *Server) DropDatabase(ctx context.Context, name string) error {
	if err := s.exec(ctx, "DROP DATABASE IF EXISTS `"+sanitizeIdent(name)+"`"); err != nil {
		return fmt.Errorf("drop database %s: %w", name, err)
	}
	return nil
}

func (s *Server) exec(ctx context.Context, stmt string) error {
	db, err := sql.Open("mysql", s.AdminDSN())
	if err != nil {
		return err
	}
	defer db.Close()
	_, err = db.ExecContext(ctx, stmt)
	return err
}

func (s *Server) ping(ctx context.Context) error {
	db, err := sql.Open("mysql", s.AdminDSN())
	if err != nil {
		return err
	}
	defer db.Close()
	return db.PingContext(ctx)
}

// AdminDSN is the server's DSN without a default database, so CREATE/DROP DATABASE work whatever the
// configured DSN names. It carries the password: hand it to a child process as OSDR_TEST_MYSQL_DSN, never
// print it.
func (s *Server) AdminDSN() string {
	cfg := s.admin.Clone()
	cfg.DBName = ""
	return cfg.FormatDSN()
}

func sanitizeIdent(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '_':
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
	}
	return b.String()
}

// baseConfig is the driver configuration every DSN the package hands out shares: UTC times parsed into
// time.Time, as the engine and the simulated APIs expect.
func baseConfig(user, password, addr string) *mysql.Config {
	cfg := mysql.NewConfig()
	cfg.User = user
	cfg.Passwd = password
	cfg.Net = "tcp"
	cfg.Addr = addr
	cfg.ParseTime = true
	cfg.Loc = time.UTC
	cfg.Params = map[string]string{"time_zone": "'+00:00'"}
	return cfg
}
