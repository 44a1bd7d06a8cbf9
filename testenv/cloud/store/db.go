package store

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"
)

// Querier is what reads and writes need of a database or a transaction.
type Querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// Now is the services' clock: UTC, whole seconds, as DATETIME columns keep it.
func Now() time.Time { return time.Now().UTC().Truncate(time.Second) }

// Placeholders is n comma-separated ? for an IN list.
func Placeholders(n int) string { return strings.TrimSuffix(strings.Repeat("?,", n), ",") }

// Args passes a slice as the arguments of an IN list.
func Args[T any](xs []T) []any {
	out := make([]any, len(xs))
	for i, x := range xs {
		out[i] = x
	}
	return out
}

// InTx runs fn in a transaction, committed when fn succeeds.
func InTx(ctx context.Context, db *sql.DB, fn func(*sql.Tx) error) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin a transaction: %w", err)
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// Open opens a service database with the settings the code relies on: DATETIME columns read as UTC
// time.Time, and a UTC session so SQL's UTC_TIMESTAMP() and the simulation agree.
func Open(ctx context.Context, name, dsn string) (*sql.DB, error) {
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		return nil, fmt.Errorf("parse the %s DSN: %w", name, err)
	}
	cfg.ParseTime = true
	// Compare-and-swap updates count the rows they matched, not only those whose values changed.
	cfg.ClientFoundRows = true
	// Arguments go into the statement text, as PyMySQL puts them for Nova and Cinder: one round trip per
	// statement instead of a server-side prepare, execute and close.
	cfg.InterpolateParams = true
	cfg.Loc = time.UTC
	if cfg.Params == nil {
		cfg.Params = map[string]string{}
	}
	cfg.Params["time_zone"] = "'+00:00'"
	connector, err := mysql.NewConnector(cfg)
	if err != nil {
		return nil, fmt.Errorf("configure the %s database: %w", name, err)
	}
	db := sql.OpenDB(connector)
	// Keep the connections a busy moment opened, as oslo.db's pool does (max_pool_size plus overflow): with
	// database/sql's default of two idle ones, a thousand operations at once open and close a connection for
	// nearly every statement, and the handshakes cost the shared machine more than the statements.
	db.SetMaxIdleConns(maxIdleConns)
	db.SetConnMaxIdleTime(time.Minute)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("reach the %s database: %w", name, err)
	}
	return db, nil
}

// maxIdleConns is how many idle connections a service keeps to its database.
const maxIdleConns = 256

// maxInsertRows bounds one multi-row INSERT: under MySQL's 65,535 placeholders per statement (error 1390) for
// any table, and with rows of a few kilobytes of JSON well under max_allowed_packet (16 MiB on MariaDB).
const maxInsertRows = 500

// InsertRows writes rows (each one value per column) into table with as few statements as the limits allow:
// provisioning a cloud of 10,000 instances row by row spends its time in round trips, not in the database.
func InsertRows(ctx context.Context, q Querier, table string, columns []string, rows [][]any) error {
	per := min(maxInsertRows, 65535/len(columns))
	row := "(" + Placeholders(len(columns)) + ")"
	head := "INSERT INTO `" + table + "` (`" + strings.Join(columns, "`, `") + "`) VALUES "
	for chunk := range slices.Chunk(rows, per) {
		args := make([]any, 0, len(chunk)*len(columns))
		for _, r := range chunk {
			if len(r) != len(columns) {
				return fmt.Errorf("insert into %s: a row of %d values for %d columns", table, len(r), len(columns))
			}
			args = append(args, r...)
		}
		stmt := head + strings.TrimSuffix(strings.Repeat(row+",", len(chunk)), ",")
		if _, err := q.ExecContext(ctx, stmt, args...); err != nil {
			return fmt.Errorf("insert %d rows into %s: %w", len(chunk), table, err)
		}
	}
	return nil
}
