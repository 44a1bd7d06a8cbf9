package cloud

import (
	"context"
	"database/sql"
	"errors"
	"os"
	"testing"

	"github.com/osdr/osdr/internal/settings"
	"github.com/osdr/osdr/testenv"
)

func TestMain(m *testing.M) { os.Exit(testenv.Main(m)) }

func mustOpen(t *testing.T, raw string) *sql.DB {
	t.Helper()
	dsn, err := settings.ParseDSN(raw)
	if err != nil {
		t.Fatal(err)
	}
	db, err := OpenDB(dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func TestTwoRecoveriesNeverHoldTheCloudAtOnce(t *testing.T) {
	ctx := context.Background()
	_, dsn := testenv.MySQLWithSchema(t)
	first, second := mustOpen(t, dsn), mustOpen(t, dsn)
	name := lockPrefix + t.Name() // other test processes share the server

	held, err := acquireLock(ctx, first, name)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := acquireLock(ctx, second, name); !errors.Is(err, ErrLocked) {
		t.Fatalf("second acquireLock = %v, want ErrLocked", err)
	}
	if err := held.release(ctx); err != nil {
		t.Fatal(err)
	}
	again, err := acquireLock(ctx, second, name)
	if err != nil {
		t.Fatalf("lock not free after release: %v", err)
	}
	// A holder that dies (its connection is gone) frees the lock without a release.
	var holder int64
	if err := again.conn.QueryRowContext(ctx, "SELECT CONNECTION_ID()").Scan(&holder); err != nil {
		t.Fatal(err)
	}
	if _, err := first.ExecContext(ctx, "KILL CONNECTION ?", holder); err != nil {
		t.Fatal(err)
	}
	// KILL returns before the killed thread has let its locks go; taking the lock waits for that.
	if l, err := acquireLock(ctx, first, name); err != nil {
		t.Fatalf("lock not free after the holder's connection died: %v", err)
	} else {
		l.release(ctx)
	}
}

// A drill holds the cloud for its whole run and the recovery it runs takes the lock again: within one Cloud
// the lock is counted, and only the last release frees it for others.
func TestTheLockIsReentrantWithinOneCloud(t *testing.T) {
	ctx := context.Background()
	_, dsn := testenv.MySQLWithSchema(t)
	s, err := (&settings.Flags{}).Resolve(func(name string) string {
		if name == settings.EnvCinderDBDSN || name == settings.EnvNovaDBDSN {
			return dsn
		}
		return ""
	})
	if err != nil {
		t.Fatal(err)
	}
	c := Open(s, Options{})
	defer c.Close()
	other := Open(s, Options{})
	defer other.Close()

	outer, err := c.Lock(ctx)
	if err != nil {
		t.Fatal(err)
	}
	inner, err := c.Lock(ctx)
	if err != nil {
		t.Fatalf("the same cloud could not take its lock again: %v", err)
	}
	if _, err := other.Lock(ctx); !errors.Is(err, ErrLocked) {
		t.Fatalf("another osdr took the lock while it was held: %v", err)
	}
	if err := inner(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := other.Lock(ctx); !errors.Is(err, ErrLocked) {
		t.Fatalf("the inner release freed the lock the outer holder still needs: %v", err)
	}
	if err := outer(ctx); err != nil {
		t.Fatal(err)
	}
	release, err := other.Lock(ctx)
	if err != nil {
		t.Fatalf("lock not free after the last release: %v", err)
	}
	if err := release(ctx); err != nil {
		t.Fatal(err)
	}
}
