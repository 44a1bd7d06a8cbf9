package recover

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/osdr/osdr/internal/cloud"
)

// applier carries out step 2: in one transaction per database it locks every row a statement will touch and
// streams it to the backup, makes the backup durable, runs the statements and checks that each changed
// exactly the rows it locked. Any error rolls every database back.
type applier struct {
	dbs        cloud.Databases
	plan       *DBPlan
	backupPath string
	// afterStatement and commit are seams for the tests that cut a connection between two statements and
	// lose the answer to a COMMIT; nil in a recovery.
	afterStatement func(ctx context.Context, tx *sql.Tx, i int)
	commit         func(tx *sql.Tx) error
	// changed is how many rows the committed statements changed.
	changed int64
}

// applyDBClean carries out a plan of step 2 and returns how many rows it changed; see applier.
func applyDBClean(ctx context.Context, dbs cloud.Databases, plan *DBPlan, backupPath string) (int64, error) {
	a := &applier{dbs: dbs, plan: plan, backupPath: backupPath}
	err := a.run(ctx)
	return a.changed, err
}

// errCommitUnknown means a COMMIT's answer was lost and reading the rows back could not tell whether it took.
var errCommitUnknown = errors.New("the outcome of a commit is unknown")

func (a *applier) run(ctx context.Context) error {
	if len(a.plan.changes) == 0 {
		return nil
	}
	txs := map[string]*sql.Tx{}
	var order []string // commit order: Nova cells first, Cinder last
	rollback := func() {
		for _, tx := range txs {
			_ = tx.Rollback()
		}
	}
	txFor := func(c change) (*sql.Tx, error) {
		if tx, ok := txs[c.database]; ok {
			return tx, nil
		}
		db, err := c.db(a.dbs)
		if err != nil {
			return nil, err
		}
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			return nil, fmt.Errorf("begin transaction on %s: %w", c.database, err)
		}
		txs[c.database] = tx
		if c.cell >= 0 {
			order = append([]string{c.database}, order...)
		} else {
			order = append(order, c.database)
		}
		return tx, nil
	}

	backup, err := newBackupWriter(a.backupPath)
	if err != nil {
		return err
	}
	// Every row is read (and locked) before any statement runs: statements on one table overlap (the legacy
	// schema's four), and a backup taken between them would hold half-changed rows.
	locked := make([]int64, len(a.plan.changes))
	for i, c := range a.plan.changes {
		tx, err := txFor(c)
		if err == nil {
			locked[i], err = lockRows(ctx, tx, c, backup)
		}
		if err == nil && c.expected >= 0 && locked[i] != c.expected {
			err = fmt.Errorf("%w: %s on %s matches %d rows now, the plan counted %d", errPlanMismatch, c.table, c.database, locked[i], c.expected)
		}
		if err != nil {
			backup.abort()
			rollback()
			return err
		}
	}
	if err := backup.commit(); err != nil {
		rollback()
		return fmt.Errorf("write backup %s: %w", a.backupPath, err)
	}
	for i, c := range a.plan.changes {
		res, err := txs[c.database].ExecContext(ctx, c.mutationSQL(), c.queryArgs()...)
		if err != nil {
			rollback()
			return fmt.Errorf("run %s: %w", c.rendered(), err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			rollback()
			return fmt.Errorf("row count of %s: %w", c.rendered(), err)
		}
		if n != locked[i] {
			rollback()
			return fmt.Errorf("%w: %s changed %d rows, it locked %d", errPlanMismatch, c.rendered(), n, locked[i])
		}
		if a.afterStatement != nil {
			a.afterStatement(ctx, txs[c.database], i)
		}
	}
	var committed []string
	for _, name := range order {
		err := a.commitOne(ctx, name, txs[name])
		if err == nil {
			committed = append(committed, name)
			continue
		}
		for _, other := range order {
			if other != name {
				_ = txs[other].Rollback()
			}
		}
		if len(committed) == 0 {
			return fmt.Errorf("commit %s: %w", name, err)
		}
		saved, rerr := readBackup(a.backupPath)
		if rerr == nil {
			rerr = undoDatabases(ctx, a.dbs, saved, committed)
		}
		if rerr != nil {
			return fmt.Errorf("commit %s: %w; restoring %s from %s also failed: %v", name, err, strings.Join(committed, ", "), a.backupPath, rerr)
		}
		return fmt.Errorf("commit %s: %w (already committed %s restored from the backup)", name, err, strings.Join(committed, ", "))
	}
	for _, n := range locked {
		a.changed += n
	}
	return nil
}

// commitOne commits a database's transaction. When the answer to COMMIT is lost (the connection dropped,
// the server went away) the transaction may or may not have taken: the rows are read back on a fresh
// connection and compared with the backup, and only a difference counts as committed.
func (a *applier) commitOne(ctx context.Context, name string, tx *sql.Tx) error {
	commit := a.commit
	if commit == nil {
		commit = (*sql.Tx).Commit
	}
	err := commit(tx)
	if err == nil {
		return nil
	}
	saved, rerr := readBackup(a.backupPath)
	if rerr != nil {
		return fmt.Errorf("%w: %v, and the backup cannot be read to tell: %v", errCommitUnknown, err, rerr)
	}
	var tables []dbBackupTable
	var cell = -1
	for _, t := range saved.Tables {
		if t.Database == name {
			tables = append(tables, t)
			cell = t.Cell
		}
	}
	db, derr := change{database: name, cell: cell}.db(a.dbs)
	if derr != nil {
		return fmt.Errorf("%w: %v", errCommitUnknown, derr)
	}
	took, cerr := differsFromBackup(ctx, db, tables)
	switch {
	case cerr != nil:
		return fmt.Errorf("%w: %v, and reading the rows back failed: %v", errCommitUnknown, err, cerr)
	case took:
		return nil
	}
	return err
}

// lockRows reads, and locks, the rows a change will touch, streaming them to the backup; it returns how
// many there are.
func lockRows(ctx context.Context, tx *sql.Tx, c change, backup *backupWriter) (int64, error) {
	rows, err := tx.QueryContext(ctx, c.selectSQL(), c.queryArgs()...)
	if err != nil {
		return 0, fmt.Errorf("lock rows of %s on %s: %w", c.table, c.database, err)
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return 0, fmt.Errorf("columns of %s: %w", c.table, err)
	}
	if err := backup.table(dbBackupTable{Database: c.database, Cell: c.cell, Table: c.table, Key: c.key, Columns: cols, WholeRows: c.set == nil}); err != nil {
		return 0, fmt.Errorf("write backup: %w", err)
	}
	var n int64
	for rows.Next() {
		row, err := scanRow(rows, len(cols))
		if err != nil {
			return 0, fmt.Errorf("read rows of %s: %w", c.table, err)
		}
		if err := backup.row(row); err != nil {
			return 0, fmt.Errorf("write backup: %w", err)
		}
		n++
	}
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("read rows of %s on %s: %w", c.table, c.database, err)
	}
	return n, nil
}
