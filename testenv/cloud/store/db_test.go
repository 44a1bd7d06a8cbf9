package store

import (
	"context"
	"database/sql"
	"strings"
	"testing"
)

// execRecorder is a Querier that records the statements it is given.
type execRecorder struct {
	Querier
	stmts []string
	args  [][]any
}

func (r *execRecorder) ExecContext(_ context.Context, query string, args ...any) (sql.Result, error) {
	r.stmts = append(r.stmts, query)
	r.args = append(r.args, args)
	return nil, nil
}

// InsertRows sends every row, in order, in as few statements as fit 500 rows and MySQL's 65,535 placeholders.
func TestInsertRowsChunksUnderTheServersLimits(t *testing.T) {
	for _, tc := range []struct {
		name          string
		rows, columns int
		statements    int
	}{
		{"one row", 1, 3, 1},
		{"a full statement", 500, 3, 1},
		{"one row more", 501, 3, 2},
		{"ten thousand", 10000, 13, 20},
		{"wide rows stop at the placeholder limit", 1000, 200, 4},
		{"nothing", 0, 3, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			columns := make([]string, tc.columns)
			for i := range columns {
				columns[i] = "c" + string(rune('a'+i%26))
			}
			rows := make([][]any, tc.rows)
			for i := range rows {
				rows[i] = make([]any, tc.columns)
				rows[i][0] = i
			}
			var rec execRecorder
			if err := InsertRows(t.Context(), &rec, "t", columns, rows); err != nil {
				t.Fatal(err)
			}
			if len(rec.stmts) != tc.statements {
				t.Errorf("%d statements, want %d", len(rec.stmts), tc.statements)
			}
			next := 0
			for i, stmt := range rec.stmts {
				args := rec.args[i]
				if n := strings.Count(stmt, "?"); n != len(args) || n > 65535 {
					t.Errorf("statement %d: %d placeholders for %d values", i, n, len(args))
				}
				for j := 0; j < len(args); j += tc.columns {
					if args[j] != next {
						t.Fatalf("statement %d: row %v where row %d was due", i, args[j], next)
					}
					next++
				}
			}
			if next != tc.rows {
				t.Errorf("%d rows sent, want %d", next, tc.rows)
			}
		})
	}
}

func TestInsertRowsRefusesARowOfTheWrongWidth(t *testing.T) {
	var rec execRecorder
	err := InsertRows(t.Context(), &rec, "volumes", []string{"id", "size"}, [][]any{{"a", 1}, {"b"}})
	if err == nil || !strings.Contains(err.Error(), "a row of 1 values for 2 columns") || len(rec.stmts) != 0 {
		t.Errorf("err %v after %d statements", err, len(rec.stmts))
	}
}
