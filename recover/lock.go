package recover

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
)

// LockName is the MySQL named lock a recovery (and a drill) holds on the Cinder database server. Named locks
// are server-wide, so two osdr processes on different machines exclude each other, and the server releases
// the lock when the holder's connection dies, so a crashed run never leaves the cloud locked.
const LockName = "osdr:recover"

// ErrLocked means another osdr holds the cloud's lock.
var ErrLocked = errors.New("another osdr recovery or drill holds the lock on this cloud")

// CloudLock is a held named lock; Release gives it back.
type CloudLock struct {
	conn *sql.Conn
	name string
}

// AcquireLock takes the named lock without waiting.
func AcquireLock(ctx context.Context, db *sql.DB, name string) (*CloudLock, error) {
	conn, err := db.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("connect for the cloud lock: %w", err)
	}
	var got sql.NullInt64
	if err := conn.QueryRowContext(ctx, "SELECT GET_LOCK(?, 0)", name).Scan(&got); err != nil {
		discard(conn)
		return nil, fmt.Errorf("take the cloud lock %q: %w", name, err)
	}
	if !got.Valid || got.Int64 != 1 {
		conn.Close()
		var holder sql.NullInt64
		_ = db.QueryRowContext(ctx, "SELECT IS_USED_LOCK(?)", name).Scan(&holder)
		if holder.Valid {
			return nil, fmt.Errorf("%w (MySQL connection %d holds %q)", ErrLocked, holder.Int64, name)
		}
		return nil, fmt.Errorf("%w (%q)", ErrLocked, name)
	}
	return &CloudLock{conn: conn, name: name}, nil
}

// Release gives the lock back. The connection is discarded rather than returned to the pool: should the
// RELEASE_LOCK fail, closing the connection still frees the lock.
func (l *CloudLock) Release(ctx context.Context) error {
	_, err := l.conn.ExecContext(ctx, "SELECT RELEASE_LOCK(?)", l.name)
	discard(l.conn)
	if err != nil {
		return fmt.Errorf("release the cloud lock: %w", err)
	}
	return nil
}

// discard closes a connection for good: database/sql drops a connection whose driver reports it bad.
func discard(conn *sql.Conn) {
	_ = conn.Raw(func(any) error { return driver.ErrBadConn })
	_ = conn.Close()
}
