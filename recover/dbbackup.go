package recover

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/osdr/osdr/internal/cloud"
	"github.com/osdr/osdr/internal/durable"
)

// The backup of step 2 is JSON lines: a header, then for each statement a table line (which columns of which
// rows follow) and one line per row, written as the locking SELECT reads them, so a clean of any size never
// holds its rows in memory. It keeps what undo needs: the key and the columns a statement sets, and whole rows
// only where a statement deletes them. Format 1 (before step 2 streamed its backup) was one JSON object of
// whole rows; undo-db still reads it.
const backupFormat = 2

// backupNote is written into every backup: it is kept owner-only (0600) because a deleted row is kept whole.
const backupNote = "The rows step 2 of this recovery changed, as they were, for `osdr recover undo-db`. Owner-only: a row step 2 deleted is kept whole and may hold credentials."

type backupHeader struct {
	Format  int       `json:"format"`
	TakenAt time.Time `json:"taken_at"`
	Note    string    `json:"note"`
}

// dbBackupTable is the rows one statement locked: of one table of one database, the named columns; values
// are the server's text form, nil for NULL.
type dbBackupTable struct {
	Database string   `json:"database"`
	Cell     int      `json:"cell"`
	Table    string   `json:"table"`
	Key      []string `json:"key"`
	Columns  []string `json:"columns"`
	// WholeRows says the rows are complete, so a row that is gone can be inserted again.
	WholeRows bool        `json:"whole_rows"`
	Rows      [][]*string `json:"rows,omitempty"`
}

// backupLine is one line after the header: a table or a row of the last table.
type backupLine struct {
	Table *dbBackupTable `json:"table,omitempty"`
	Row   []*string      `json:"row,omitempty"`
}

// dbBackup is a whole backup as undo reads it.
type dbBackup struct {
	TakenAt time.Time
	Tables  []dbBackupTable
}

// backupWriter streams a backup to a file that appears, durable and complete, only on commit.
type backupWriter struct {
	f   *durable.File
	enc *json.Encoder
}

func newBackupWriter(path string) (*backupWriter, error) {
	f, err := durable.Create(path, 0o600)
	if err != nil {
		return nil, fmt.Errorf("create backup %s: %w", path, err)
	}
	w := &backupWriter{f: f, enc: json.NewEncoder(f)}
	if err := w.enc.Encode(backupHeader{Format: backupFormat, TakenAt: time.Now().UTC(), Note: backupNote}); err != nil {
		f.Abort()
		return nil, fmt.Errorf("write backup %s: %w", path, err)
	}
	return w, nil
}

func (w *backupWriter) table(t dbBackupTable) error { return w.enc.Encode(backupLine{Table: &t}) }
func (w *backupWriter) row(r []*string) error       { return w.enc.Encode(backupLine{Row: r}) }
func (w *backupWriter) commit() error               { return w.f.Commit() }
func (w *backupWriter) abort()                      { w.f.Abort() }

// readBackup loads a backup step 2 wrote, of either format.
func readBackup(path string) (*dbBackup, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read backup: %w", err)
	}
	defer f.Close()
	r := bufio.NewReader(f)
	first, err := r.ReadBytes('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("read backup %s: %w", path, err)
	}
	var header backupHeader
	if json.Unmarshal(first, &header) != nil || header.Format != backupFormat {
		return readBackupFormat1(path)
	}
	b := &dbBackup{TakenAt: header.TakenAt}
	dec := json.NewDecoder(r)
	for line := 2; ; line++ {
		var l backupLine
		if err := dec.Decode(&l); errors.Is(err, io.EOF) {
			return b, nil
		} else if err != nil {
			return nil, fmt.Errorf("parse backup %s line %d: %w", path, line, err)
		}
		switch {
		case l.Table != nil:
			b.Tables = append(b.Tables, *l.Table)
		case len(b.Tables) == 0:
			return nil, fmt.Errorf("parse backup %s line %d: a row before any table", path, line)
		default:
			t := &b.Tables[len(b.Tables)-1]
			if len(l.Row) != len(t.Columns) {
				return nil, fmt.Errorf("parse backup %s line %d: %d values for %d columns", path, line, len(l.Row), len(t.Columns))
			}
			t.Rows = append(t.Rows, l.Row)
		}
	}
}

func readBackupFormat1(path string) (*dbBackup, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read backup: %w", err)
	}
	var old struct {
		TakenAt time.Time       `json:"taken_at"`
		Tables  []dbBackupTable `json:"tables"`
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&old); err != nil {
		return nil, fmt.Errorf("parse backup %s: %w", path, err)
	}
	for i := range old.Tables {
		old.Tables[i].WholeRows = true // format 1 kept every column of every row
	}
	return &dbBackup{TakenAt: old.TakenAt, Tables: old.Tables}, nil
}

// textValue turns a scanned value into the text MySQL accepts back for the same column.
func textValue(v any) *string {
	var s string
	switch x := v.(type) {
	case nil:
		return nil
	case []byte:
		s = string(x)
	case string:
		s = x
	case time.Time:
		s = x.UTC().Format("2006-01-02 15:04:05.999999")
	case int64:
		s = strconv.FormatInt(x, 10)
	case uint64:
		s = strconv.FormatUint(x, 10)
	case float64:
		s = strconv.FormatFloat(x, 'g', -1, 64)
	case bool:
		s = "0"
		if x {
			s = "1"
		}
	default:
		s = fmt.Sprint(x)
	}
	return &s
}

func nullable(s *string) any {
	if s == nil {
		return nil
	}
	return *s
}

// scanRow reads one row of any columns in the text form backups keep.
func scanRow(rows *sql.Rows, n int) ([]*string, error) {
	vals := make([]any, n)
	ptrs := make([]any, n)
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	if err := rows.Scan(ptrs...); err != nil {
		return nil, err
	}
	row := make([]*string, n)
	for i, v := range vals {
		row[i] = textValue(v)
	}
	return row, nil
}

// keyIndexes locates a table's key columns among its backed-up columns.
func (t dbBackupTable) keyIndexes() ([]int, error) {
	idx := make([]int, len(t.Key))
	for i, k := range t.Key {
		idx[i] = -1
		for j, c := range t.Columns {
			if c == k {
				idx[i] = j
			}
		}
		if idx[i] < 0 {
			return nil, fmt.Errorf("backup of %s lacks key column %s", t.Table, k)
		}
	}
	return idx, nil
}

// undoDBClean puts every backed-up row back as it was: the backed-up columns of rows still present are
// written back, rows the clean deleted are inserted again. One transaction per database.
func undoDBClean(ctx context.Context, dbs cloud.Databases, b *dbBackup) error {
	return undoDatabases(ctx, dbs, b, nil)
}

// undoDatabases restores the backup's rows on the named databases (all when only is nil).
func undoDatabases(ctx context.Context, dbs cloud.Databases, b *dbBackup, only []string) error {
	byDB := map[string][]dbBackupTable{}
	var names []string
	for _, t := range b.Tables {
		if only != nil && !contains(only, t.Database) {
			continue
		}
		if _, ok := byDB[t.Database]; !ok {
			names = append(names, t.Database)
		}
		byDB[t.Database] = append(byDB[t.Database], t)
	}
	for _, name := range names {
		tables := byDB[name]
		db, err := change{database: name, cell: tables[0].Cell}.db(dbs)
		if err != nil {
			return err
		}
		if err := restoreTables(ctx, db, tables); err != nil {
			return fmt.Errorf("restore %s: %w", name, err)
		}
	}
	return nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func restoreTables(ctx context.Context, db *sql.DB, tables []dbBackupTable) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	// Statements on one table overlap (the legacy schema's four); every copy was read before any statement
	// ran, so each is the original, and a row's columns are written back once.
	restored := map[string]bool{}
	for _, t := range tables {
		if err := restoreTable(ctx, tx, t, restored); err != nil {
			return err
		}
	}
	return tx.Commit()
}

func restoreTable(ctx context.Context, tx *sql.Tx, t dbBackupTable, restored map[string]bool) error {
	keyIdx, err := t.keyIndexes()
	if err != nil {
		return err
	}
	quoted := make([]string, len(t.Columns))
	for i, c := range t.Columns {
		quoted[i] = quoteIdent(c)
	}
	for _, row := range t.Rows {
		var keyParts []string
		var keyArgs []any
		for _, idx := range keyIdx {
			keyParts = append(keyParts, quoted[idx]+"=?")
			keyArgs = append(keyArgs, nullable(row[idx]))
		}
		id := t.Table + "\x00" + strings.Join(t.Columns, ",") + "\x00" + fmt.Sprint(keyArgs...)
		if restored[id] {
			continue
		}
		restored[id] = true
		args := make([]any, len(row))
		for i, v := range row {
			args[i] = nullable(v)
		}
		var exists int
		where := strings.Join(keyParts, " AND ")
		if err := tx.QueryRowContext(ctx, "SELECT COUNT(*) FROM "+quoteIdent(t.Table)+" WHERE "+where+" FOR UPDATE", keyArgs...).Scan(&exists); err != nil {
			return fmt.Errorf("look up %s row: %w", t.Table, err)
		}
		if exists == 0 {
			if !t.WholeRows {
				return fmt.Errorf("row %v of %s is gone and the backup holds only the columns the clean set", keyArgs, t.Table)
			}
			q := "INSERT INTO " + quoteIdent(t.Table) + " (" + strings.Join(quoted, ",") + ") VALUES (" + placeholders(len(row)) + ")"
			if _, err := tx.ExecContext(ctx, q, args...); err != nil {
				return fmt.Errorf("reinsert %s row: %w", t.Table, err)
			}
			continue
		}
		sets := make([]string, len(quoted))
		for i, c := range quoted {
			sets[i] = c + "=?"
		}
		q := "UPDATE " + quoteIdent(t.Table) + " SET " + strings.Join(sets, ",") + " WHERE " + where
		if _, err := tx.ExecContext(ctx, q, append(args, keyArgs...)...); err != nil {
			return fmt.Errorf("restore %s row: %w", t.Table, err)
		}
	}
	return nil
}

// differsFromBackup tells whether any backed-up row of the tables now differs from its backup (or is gone):
// after a COMMIT whose answer was lost, that is how osdr learns the transaction took. Rows the clean would
// not have changed at all (already in the cleaned state) read the same either way, which is the same state.
func differsFromBackup(ctx context.Context, db *sql.DB, tables []dbBackupTable) (bool, error) {
	for _, t := range tables {
		keyIdx, err := t.keyIndexes()
		if err != nil {
			return false, err
		}
		quoted := make([]string, len(t.Columns))
		for i, c := range t.Columns {
			quoted[i] = quoteIdent(c)
		}
		keyCols := make([]string, len(keyIdx))
		for i, idx := range keyIdx {
			keyCols[i] = quoted[idx]
		}
		for _, chunk := range chunks(t.Rows, maxIDsPerStatement) {
			tuple := "(" + placeholders(len(keyIdx)) + ")"
			tuples := strings.TrimSuffix(strings.Repeat(tuple+",", len(chunk)), ",")
			var args []any
			want := map[string][]*string{}
			for _, row := range chunk {
				var key []string
				for _, idx := range keyIdx {
					args = append(args, nullable(row[idx]))
					key = append(key, deref(row[idx]))
				}
				want[strings.Join(key, "\x00")] = row
			}
			q := "SELECT " + strings.Join(quoted, ",") + " FROM " + quoteIdent(t.Table) + " WHERE (" + strings.Join(keyCols, ",") + ") IN (" + tuples + ")"
			rows, err := db.QueryContext(ctx, q, args...)
			if err != nil {
				return false, fmt.Errorf("read %s back: %w", t.Table, err)
			}
			seen := 0
			for rows.Next() {
				now, err := scanRow(rows, len(t.Columns))
				if err != nil {
					rows.Close()
					return false, err
				}
				var key []string
				for _, idx := range keyIdx {
					key = append(key, deref(now[idx]))
				}
				before, ok := want[strings.Join(key, "\x00")]
				if !ok {
					continue
				}
				seen++
				for i := range now {
					if deref(now[i]) != deref(before[i]) || (now[i] == nil) != (before[i] == nil) {
						rows.Close()
						return true, nil
					}
				}
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				return false, fmt.Errorf("read %s back: %w", t.Table, err)
			}
			if seen < len(want) {
				return true, nil // a row the clean deleted is gone
			}
		}
	}
	return false, nil
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
