package testenv

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"sync"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
)

// The simulation and the demo run on machines with neither Docker nor MySQL; the embedded server must accept
// the real schemas and answer the queries the simulated APIs make.
func TestEmbeddedServerServesTheSchemas(t *testing.T) {
	ctx := context.Background()
	srv, err := startEmbedded(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close(ctx) })
	if srv.Kind() != KindEmbedded {
		t.Fatalf("kind = %s", srv.Kind())
	}
	for _, schema := range []Schema{SchemaCinder, SchemaCinderLegacy, SchemaNova} {
		t.Run(string(schema), func(t *testing.T) {
			_, db := openDatabase(t, srv, "embedded")
			if err := LoadSchema(ctx, db, schema); err != nil {
				t.Fatal(err)
			}
			var n int
			if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM information_schema.columns WHERE table_schema = DATABASE()`).Scan(&n); err != nil {
				t.Fatal(err)
			}
			if n < 20 {
				t.Errorf("information_schema lists %d columns for %s", n, schema)
			}
		})
	}
}

// embeddedDB starts an embedded server with one fresh database and returns a pool on it.
func embeddedDB(t *testing.T) (*Server, Database, *sql.DB) {
	t.Helper()
	ctx := context.Background()
	srv, err := startEmbedded(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close(ctx) })
	d, db := openDatabase(t, srv, "serial")
	return srv, d, db
}

// openDatabase creates a fresh database on srv and returns a pool on it, closed when the test ends.
func openDatabase(t *testing.T, srv *Server, prefix string) (Database, *sql.DB) {
	t.Helper()
	d, err := srv.NewDatabase(context.Background(), prefix)
	if err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("mysql", d.DSN)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return d, db
}

// The memory backend writes a transaction's copy of a table back whole at commit; without serialisation two
// sessions updating different rows lose each other's writes. The simulated Nova does exactly that: compute
// casts save one instance while API requests save another.
func TestEmbeddedServerKeepsConcurrentWritesToOneTable(t *testing.T) {
	ctx := context.Background()
	_, _, db := embeddedDB(t)
	const writers, rounds = 6, 40
	if _, err := db.ExecContext(ctx, "CREATE TABLE counters (id INT PRIMARY KEY, n INT NOT NULL)"); err != nil {
		t.Fatal(err)
	}
	for id := range writers {
		if _, err := db.ExecContext(ctx, "INSERT INTO counters VALUES (?, 0)", id); err != nil {
			t.Fatal(err)
		}
	}
	db.SetMaxOpenConns(writers + 2)
	var wg sync.WaitGroup
	errs := make(chan error, writers+1)
	stop := make(chan struct{})
	wg.Go(func() { // a reader: read-only transactions wrote their stale copy back too
		for {
			select {
			case <-stop:
				return
			default:
			}
			var n int
			if err := db.QueryRowContext(ctx, "SELECT SUM(n) FROM counters").Scan(&n); err != nil {
				errs <- err
				return
			}
		}
	})
	var writersDone sync.WaitGroup
	for id := range writers {
		writersDone.Go(func() {
			for round := range rounds {
				if round%2 == 0 {
					if _, err := db.ExecContext(ctx, "UPDATE counters SET n = n + 1 WHERE id = ?", id); err != nil {
						errs <- err
						return
					}
					continue
				}
				err := func() error {
					tx, err := db.BeginTx(ctx, nil)
					if err != nil {
						return err
					}
					defer tx.Rollback()
					var n int
					if err := tx.QueryRowContext(ctx, "SELECT n FROM counters WHERE id = ?", id).Scan(&n); err != nil {
						return err
					}
					if _, err := tx.ExecContext(ctx, "UPDATE counters SET n = ? WHERE id = ?", n+1, id); err != nil {
						return err
					}
					return tx.Commit()
				}()
				if err != nil {
					errs <- err
					return
				}
			}
		})
	}
	writersDone.Wait()
	close(stop)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	rows, err := db.QueryContext(ctx, "SELECT id, n FROM counters ORDER BY id")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var id, n int
		if err := rows.Scan(&id, &n); err != nil {
			t.Fatal(err)
		}
		if n != rounds {
			t.Errorf("counter %d = %d after %d increments: writes were lost", id, n, rounds)
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
}

// osdr's DB clean holds a Nova and a Cinder transaction at once: databases must not wait for each other, while
// a second transaction on the same database waits for the first to end.
func TestEmbeddedServerSerialisesTransactionsPerDatabase(t *testing.T) {
	ctx := context.Background()
	srv, _, first := embeddedDB(t)
	_, second := openDatabase(t, srv, "serial_other")
	for _, db := range []*sql.DB{first, second} {
		if _, err := db.ExecContext(ctx, "CREATE TABLE t (id INT PRIMARY KEY)"); err != nil {
			t.Fatal(err)
		}
	}
	txFirst, err := first.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer txFirst.Rollback()
	if _, err := txFirst.ExecContext(ctx, "INSERT INTO t VALUES (1)"); err != nil {
		t.Fatal(err)
	}

	quick, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	txSecond, err := second.BeginTx(quick, nil)
	if err != nil {
		t.Fatalf("a transaction on another database waited: %v", err)
	}
	if _, err := txSecond.ExecContext(quick, "INSERT INTO t VALUES (1)"); err != nil {
		t.Fatalf("a transaction on another database waited: %v", err)
	}
	if err := txSecond.Commit(); err != nil {
		t.Fatal(err)
	}

	waited := make(chan error, 1)
	go func() {
		_, err := first.ExecContext(ctx, "INSERT INTO t VALUES (2)")
		waited <- err
	}()
	select {
	case err := <-waited:
		t.Fatalf("a statement ran inside another session's open transaction on the same database (err %v)", err)
	case <-time.After(300 * time.Millisecond):
	}
	if err := txFirst.Commit(); err != nil {
		t.Fatal(err)
	}
	if err := <-waited; err != nil {
		t.Fatalf("the waiting statement, once the transaction committed: %v", err)
	}
	var n int
	if err := first.QueryRowContext(ctx, "SELECT COUNT(*) FROM t").Scan(&n); err != nil || n != 2 {
		t.Fatalf("rows after both writes: %d (%v), want 2", n, err)
	}
}

// A failed autocommit statement, an explicit transaction left by a dropped connection: neither may leave the
// database locked for everyone else.
func TestEmbeddedServerFreesTheDatabaseAfterFailuresAndDisconnects(t *testing.T) {
	ctx := context.Background()
	_, d, db := embeddedDB(t)
	if _, err := db.ExecContext(ctx, "CREATE TABLE t (id INT PRIMARY KEY)"); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, "INSERT INTO t VALUES (1)"); err != nil {
		t.Fatal(err)
	}
	failing, err := db.Conn(ctx) // kept open and out of the pool: its failures must not hold the lock
	if err != nil {
		t.Fatal(err)
	}
	defer failing.Close()
	for _, bad := range []string{
		"UPDATE t SET id = 2 WHERE",     // syntax error, before anything runs
		"SELECT nope FROM t",            // unknown column, while the plan is analysed
		"INSERT INTO t VALUES (4), (1)", // duplicate key after a good row: the engine leaves its transaction open
	} {
		if _, err := failing.ExecContext(ctx, bad); err == nil {
			t.Fatalf("%q succeeded", bad)
		}
	}
	quick, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if _, err := db.ExecContext(quick, "INSERT INTO t VALUES (2)"); err != nil {
		t.Fatalf("the database stayed locked after failed statements: %v", err)
	}
	// The failed connection's next statement starts afresh: it neither commits the failed one's half nor
	// writes back a copy of the table from before row 2.
	if _, err := failing.ExecContext(ctx, "DELETE FROM t WHERE id = 99"); err != nil {
		t.Fatal(err)
	}

	cfg, err := mysql.ParseDSN(d.DSN)
	if err != nil {
		t.Fatal(err)
	}
	connector, err := mysql.NewConnector(cfg)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := connector.Connect(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := raw.(driver.ConnBeginTx).BeginTx(ctx, driver.TxOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := raw.(driver.ExecerContext).ExecContext(ctx, "INSERT INTO t VALUES (5)", nil); err != nil {
		t.Fatal(err)
	}
	raw.Close() // the client goes away with its transaction open

	if _, err := db.ExecContext(quick, "INSERT INTO t VALUES (3)"); err != nil {
		t.Fatalf("the database stayed locked after a client left mid-transaction: %v", err)
	}
	// Neither the half-done statement nor the abandoned transaction left a row behind.
	var ids string
	if err := db.QueryRowContext(ctx, "SELECT GROUP_CONCAT(id ORDER BY id) FROM t").Scan(&ids); err != nil {
		t.Fatal(err)
	}
	if ids != "1,2,3" {
		t.Errorf("rows %s, want 1,2,3", ids)
	}
}
