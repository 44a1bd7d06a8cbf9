package cloud

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"time"
)

// lockPrefix starts the MySQL named lock a recovery or a drill holds on the Cinder database server, followed by
// the Cinder database's name: named locks are server-wide, so two osdr processes on different machines exclude
// each other on one cloud (and two clouds whose databases share a server do not), and the server releases the
// lock when the holder's connection dies, so a crashed run never leaves the cloud locked.
const lockPrefix = "osdr:recover:"

// ErrLocked means another osdr holds the cloud's lock.
var ErrLocked = errors.New("another osdr recovery or drill holds the lock on this cloud")

// Lock takes the cloud's lock without waiting and returns its release. Within one Cloud the lock is
// reentrant: a drill holds it for its whole run and the recovery it runs takes it again.
func (c *Cloud) Lock(ctx context.Context) (release func(context.Context) error, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.lock == nil {
		dbs, err := c.databasesLocked(ctx)
		if err != nil {
			return nil, err
		}
		dsn, err := c.settings.Databases.Cinder()
		if err != nil {
			return nil, err
		}
		if c.lock, err = acquireLock(ctx, dbs.Cinder, lockPrefix+dsn.Config().DBName); err != nil {
			return nil, err
		}
	}
	held := c.lock
	held.holders++
	return func(ctx context.Context) error {
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.lock != held {
			return nil // released by Close
		}
		if held.holders--; held.holders > 0 {
			return nil
		}
		c.lock = nil
		return held.release(ctx)
	}, nil
}

// heldLock is a named lock taken on one connection; holders counts the Lock calls not yet released.
type heldLock struct {
	conn    *sql.Conn
	name    string
	holders int
}

// lockWait is how long taking the lock waits for its holder. A holder killed as `kill -9` would closes its
// connection with its process, but the server frees the lock only once the thread serving that connection
// notices, moments later: a `--resume` run right after the kill must not find its own dead run holding the
// cloud. A live holder keeps it, and the second run is refused after the wait.
const lockWait = 10 * time.Second

// acquireLock takes the named lock, waiting up to lockWait for a holder to let go.
func acquireLock(ctx context.Context, db *sql.DB, name string) (*heldLock, error) {
	conn, err := db.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("connect for the cloud lock: %w", err)
	}
	var got sql.NullInt64
	if err := conn.QueryRowContext(ctx, "SELECT GET_LOCK(?, ?)", name, lockWait.Seconds()).Scan(&got); err != nil {
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
	return &heldLock{conn: conn, name: name}, nil
}

// release gives the lock back. The connection is discarded rather than returned to the pool: should the
// RELEASE_LOCK fail, closing the connection still frees the lock.
func (l *heldLock) release(ctx context.Context) error {
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
