package testenv

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"
)

// The one server a test process shares: starting a container per test would cost seconds each, and every
// test gets its own database on it anyway.
var shared struct {
	sync.Mutex
	server *Server
	err    error
}

// Main runs a package's tests and then stops the server its tests shared. Packages whose tests call MySQL
// use it as `func TestMain(m *testing.M) { os.Exit(testenv.Main(m)) }`; a process killed before that point
// leaves a container the next run removes.
func Main(m *testing.M) int {
	code := m.Run()
	shared.Lock()
	defer shared.Unlock()
	if shared.server != nil {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := shared.server.Close(ctx); err != nil {
			fmt.Fprintf(os.Stderr, "testenv: %v\n", err)
		}
		shared.server = nil
	}
	return code
}

// inCI reports whether the tests run under CI, where a missing database is a failure, never a skip.
func inCI() bool {
	v := os.Getenv("CI")
	return v != "" && v != "false" && v != "0"
}

func sharedServer(ctx context.Context, logf func(string, ...any)) (*Server, error) {
	shared.Lock()
	defer shared.Unlock()
	if shared.server == nil && shared.err == nil {
		shared.server, shared.err = StartServer(ctx, ServerOptions{Logf: logf})
	}
	return shared.server, shared.err
}

// SharedServer returns the real MySQL/MariaDB server of this test process, for code that creates its own
// databases (the simulation). Without one the test is skipped, except under CI, where it fails.
func SharedServer(t testing.TB) *Server {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), containerStartTimeout)
	defer cancel()
	srv, err := sharedServer(ctx, t.Logf)
	if err != nil {
		if errors.Is(err, ErrNoServer) && !inCI() {
			t.Skipf("needs MySQL: %v", err)
		}
		t.Fatalf("needs MySQL: %v", err)
	}
	return srv
}

// MySQL returns the DSN of a fresh, empty database on a real MySQL/MariaDB server (OSDR_TEST_MYSQL_DSN, else
// a container); the database is dropped when t ends. Without a server the test is skipped, except under CI
// (CI=true), where it fails.
func MySQL(t testing.TB) string {
	t.Helper()
	srv := SharedServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	db, err := srv.NewDatabase(ctx, sanitizeIdent(t.Name()))
	if err != nil {
		t.Fatalf("fresh database: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := srv.DropDatabase(ctx, db.Name); err != nil {
			t.Errorf("drop test database: %v", err)
		}
	})
	return db.DSN
}

// MySQLWithSchema returns an open handle on a fresh database loaded with the given schemas.
func MySQLWithSchema(t testing.TB, schemas ...Schema) (*sql.DB, string) {
	t.Helper()
	dsn := MySQL(t)
	db, err := sql.Open("mysql", dsn)
	if err != nil {
		t.Fatalf("open test database: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, s := range schemas {
		if err := LoadSchema(ctx, db, s); err != nil {
			t.Fatal(err)
		}
	}
	return db, dsn
}
