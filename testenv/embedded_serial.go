package testenv

import (
	"context"
	"strings"
	"sync"
	"time"

	"github.com/dolthub/go-mysql-server/memory"
	gmsserver "github.com/dolthub/go-mysql-server/server"
	gmssql "github.com/dolthub/go-mysql-server/sql"
	"github.com/dolthub/go-mysql-server/sql/plan"
	"github.com/dolthub/vitess/go/mysql"
	"github.com/dolthub/vitess/go/sqltypes"
	querypb "github.com/dolthub/vitess/go/vt/proto/query"
)

// lockWaitTimeout is InnoDB's default innodb_lock_wait_timeout: how long a statement waits for another
// session's transaction before it fails as MariaDB's would (error 1205), instead of hanging the simulation.
const lockWaitTimeout = 50 * time.Second

// transactionSerializer makes the memory backend safe for concurrent sessions, one database at a time.
//
// go-mysql-server's memory backend gives every transaction a private copy of each table it touches and
// writes the copies back at commit, reads included: two sessions whose transactions overlap on one table lose
// each other's writes, even to different rows. The simulated Nova runs compute casts beside API requests, so
// an instance's task_state written by one session vanished under another's commit. MariaDB's row locks make
// those overlaps harmless; here every transaction on a database runs alone, from the statement that starts it
// to the one that ends it. Locks are per database because a client may hold a Nova and a Cinder transaction
// at once (osdr's DB clean does).
//
// The lock is taken around protocol commands, not in the session, because the memory backend requires its
// own session type and because go-mysql-server drops a failed autocommit transaction without a rollback call.
type transactionSerializer struct {
	mu       sync.Mutex
	sessions map[uint32]*memory.Session // by connection id
	held     map[uint32]string          // database whose lock a connection holds
	locks    map[string]chan struct{}   // one-slot semaphore per database name
}

func newTransactionSerializer() *transactionSerializer {
	return &transactionSerializer{
		sessions: map[uint32]*memory.Session{}, held: map[uint32]string{}, locks: map[string]chan struct{}{},
	}
}

// sessionBuilder records each connection's session so the handler can tell whether a transaction is open.
func (s *transactionSerializer) sessionBuilder(provider *memory.DbProvider) gmsserver.SessionBuilder {
	build := memory.NewSessionBuilder(provider)
	return func(ctx context.Context, conn *mysql.Conn, addr string) (gmssql.Session, error) {
		sess, err := build(ctx, conn, addr)
		if err != nil {
			return nil, err
		}
		s.mu.Lock()
		s.sessions[conn.ConnectionID] = sess.(*memory.Session)
		s.mu.Unlock()
		return sess, nil
	}
}

// wrap is the server's HandlerWrapper.
func (s *transactionSerializer) wrap(h mysql.Handler) (mysql.Handler, error) {
	return &serialHandler{Handler: h, s: s}, nil
}

func (s *transactionSerializer) semaphore(database string) chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	sem, ok := s.locks[database]
	if !ok {
		sem = make(chan struct{}, 1)
		s.locks[database] = sem
	}
	return sem
}

// enter takes the lock of the session's database unless the connection's transaction already holds one.
func (s *transactionSerializer) enter(ctx context.Context, c *mysql.Conn) error {
	s.mu.Lock()
	sess := s.sessions[c.ConnectionID]
	_, holding := s.held[c.ConnectionID]
	s.mu.Unlock()
	if holding {
		return nil
	}
	database := ""
	if sess != nil {
		database = strings.ToLower(sess.GetCurrentDatabase())
	}
	sem := s.semaphore(database)
	timer := time.NewTimer(lockWaitTimeout)
	defer timer.Stop()
	select {
	case sem <- struct{}{}:
	case <-timer.C:
		return mysql.NewSQLError(mysql.ERLockWaitTimeout, mysql.SSUnknownSQLState,
			"Lock wait timeout exceeded; try restarting transaction")
	case <-ctx.Done():
		return ctx.Err()
	}
	s.mu.Lock()
	s.held[c.ConnectionID] = database
	s.mu.Unlock()
	return nil
}

// leave releases the connection's lock once no transaction is open on it. An autocommit statement that failed
// can leave its transaction behind; it is dropped here, as its writes were never committed.
func (s *transactionSerializer) leave(c *mysql.Conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if sess := s.sessions[c.ConnectionID]; sess != nil && sess.GetTransaction() != nil {
		if sess.GetIgnoreAutoCommit() || !autocommit(sess) {
			return // an explicit transaction: it keeps the lock until COMMIT or ROLLBACK
		}
		sess.SetTransaction(nil)
	}
	s.releaseLocked(c.ConnectionID)
}

func (s *transactionSerializer) closed(c *mysql.Conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.releaseLocked(c.ConnectionID)
	delete(s.sessions, c.ConnectionID)
}

func (s *transactionSerializer) releaseLocked(conn uint32) {
	database, ok := s.held[conn]
	if !ok {
		return
	}
	delete(s.held, conn)
	<-s.locks[database]
}

// autocommit is the session's @@autocommit, read as the engine reads it; unreadable counts as on, the default.
func autocommit(sess gmssql.Session) bool {
	on, err := plan.IsSessionAutocommit(gmssql.NewContext(context.Background(), gmssql.WithSession(sess)))
	return err != nil || on
}

// serialHandler brackets every command that can run a statement with the serializer.
type serialHandler struct {
	mysql.Handler
	s *transactionSerializer
}

func (h *serialHandler) ComQuery(ctx context.Context, c *mysql.Conn, query string, callback mysql.ResultSpoolFn) error {
	if err := h.s.enter(ctx, c); err != nil {
		return err
	}
	defer h.s.leave(c)
	return h.Handler.ComQuery(ctx, c, query, callback)
}

func (h *serialHandler) ComMultiQuery(ctx context.Context, c *mysql.Conn, query string, callback mysql.ResultSpoolFn) (string, error) {
	if err := h.s.enter(ctx, c); err != nil {
		return "", err
	}
	defer h.s.leave(c)
	return h.Handler.ComMultiQuery(ctx, c, query, callback)
}

func (h *serialHandler) ComPrepare(ctx context.Context, c *mysql.Conn, query string, prepare *mysql.PrepareData) ([]*querypb.Field, error) {
	if err := h.s.enter(ctx, c); err != nil {
		return nil, err
	}
	defer h.s.leave(c)
	return h.Handler.ComPrepare(ctx, c, query, prepare)
}

func (h *serialHandler) ComStmtExecute(ctx context.Context, c *mysql.Conn, prepare *mysql.PrepareData, callback func(*sqltypes.Result) error) error {
	if err := h.s.enter(ctx, c); err != nil {
		return err
	}
	defer h.s.leave(c)
	return h.Handler.ComStmtExecute(ctx, c, prepare, callback)
}

func (h *serialHandler) ConnectionClosed(c *mysql.Conn) {
	h.s.closed(c)
	h.Handler.ConnectionClosed(c)
}
