package recover

import (
	"context"
	"errors"
	"testing"

	"github.com/osdr/osdr/testenv"
)

func TestTwoRecoveriesNeverHoldTheCloudAtOnce(t *testing.T) {
	ctx := context.Background()
	_, dsn := testenv.MySQLWithSchema(t)
	first, second := mustOpen(t, dsn), mustOpen(t, dsn)
	name := LockName + ":" + t.Name() // other test processes share the server

	held, err := AcquireLock(ctx, first, name)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := AcquireLock(ctx, second, name); !errors.Is(err, ErrLocked) {
		t.Fatalf("second AcquireLock = %v, want ErrLocked", err)
	}
	if err := held.Release(ctx); err != nil {
		t.Fatal(err)
	}
	again, err := AcquireLock(ctx, second, name)
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
	if l, err := AcquireLock(ctx, first, name); err != nil {
		t.Fatalf("lock not free after the holder's connection died: %v", err)
	} else {
		l.Release(ctx)
	}
}
