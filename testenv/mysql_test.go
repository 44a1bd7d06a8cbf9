package testenv

import (
	"context"
	"database/sql"
	"errors"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/go-sql-driver/mysql"
)

func TestMain(m *testing.M) { os.Exit(Main(m)) }

// The tables the engine and the simulated APIs rely on must be the ones a real Zed cloud has, column for
// column and index for index: testdata/zed holds SHOW CREATE TABLE from that cloud.
func TestSchemasMatchARealZedDeployment(t *testing.T) {
	ctx := context.Background()
	cinder, _ := MySQLWithSchema(t, SchemaCinder)
	nova, _ := MySQLWithSchema(t, SchemaNova)
	autoIncrement := regexp.MustCompile(` AUTO_INCREMENT=\d+`)
	for _, tc := range []struct {
		db     *sql.DB
		table  string
		sample string
	}{
		{cinder, "volumes", "testdata/zed/cinder_volumes.sql"},
		{cinder, "volume_attachment", "testdata/zed/cinder_volume_attachment.sql"},
		{nova, "instances", "testdata/zed/nova_instances.sql"},
		{nova, "block_device_mapping", "testdata/zed/nova_block_device_mapping.sql"},
	} {
		t.Run(tc.table, func(t *testing.T) {
			want, err := os.ReadFile(tc.sample)
			if err != nil {
				t.Fatal(err)
			}
			var name, got string
			if err := tc.db.QueryRowContext(ctx, "SHOW CREATE TABLE `"+tc.table+"`").Scan(&name, &got); err != nil {
				t.Fatal(err)
			}
			wantText := autoIncrement.ReplaceAllString(strings.TrimSpace(string(want)), "")
			if got != wantText {
				t.Errorf("SHOW CREATE TABLE %s differs from the real deployment\n--- got\n%s\n--- want\n%s", tc.table, got, wantText)
			}
		})
	}
}

// The Operations Guide's step 2, verbatim. It is the fact the recovery engine's design rests on: the
// statements run on the nova-volume-era schema they were written for and fail with "Unknown column" (1054)
// on every Cinder schema since.
var guideStatements = []string{
	`update volumes set mountpoint=NULL`,
	`update volumes set status="available" where status <>"error_deleting"`,
	`update volumes set attach_status="detached"`,
	`update volumes set instance_id=0`,
}

func TestGuideSQLRunsOnlyOnTheLegacySchema(t *testing.T) {
	ctx := context.Background()

	t.Run("legacy schema", func(t *testing.T) {
		db, _ := MySQLWithSchema(t, SchemaCinderLegacy)
		mustExec(t, db, `INSERT INTO volumes (id, deleted, status, attach_status, instance_id, mountpoint, attach_time)
			VALUES ('v-attached', 0, 'in-use', 'attached', 7, '/dev/vdb', '2012-01-01T00:00:00'),
			       ('v-deleting', 0, 'error_deleting', 'detached', NULL, NULL, NULL)`)
		for _, stmt := range guideStatements {
			if _, err := db.ExecContext(ctx, stmt); err != nil {
				t.Fatalf("%s: %v", stmt, err)
			}
		}
		rows := map[string][4]sql.NullString{}
		r, err := db.QueryContext(ctx, `SELECT id, status, attach_status, instance_id, mountpoint FROM volumes`)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		for r.Next() {
			var id string
			var v [4]sql.NullString
			if err := r.Scan(&id, &v[0], &v[1], &v[2], &v[3]); err != nil {
				t.Fatal(err)
			}
			rows[id] = v
		}
		if got := rows["v-attached"]; got[0].String != "available" || got[1].String != "detached" || got[2].String != "0" || got[3].Valid {
			t.Errorf("attached volume after the guide's SQL = %v, want available/detached/0/NULL", got)
		}
		if got := rows["v-deleting"]; got[0].String != "error_deleting" {
			t.Errorf("error_deleting volume's status = %q, the guide leaves it alone", got[0].String)
		}
	})

	t.Run("modern schema", func(t *testing.T) {
		db, _ := MySQLWithSchema(t, SchemaCinder)
		for _, tc := range []struct {
			stmt   string
			column string
		}{
			{guideStatements[0], "mountpoint"},
			{guideStatements[3], "instance_id"},
		} {
			_, err := db.ExecContext(ctx, tc.stmt)
			var myErr *mysql.MySQLError
			if !errors.As(err, &myErr) || myErr.Number != 1054 || !strings.Contains(myErr.Message, "'"+tc.column+"'") {
				t.Errorf("%s on the modern schema: err = %v, want MySQL error 1054 (Unknown column '%s')", tc.stmt, err, tc.column)
			}
		}
	})
}

func TestEveryTestGetsItsOwnDatabase(t *testing.T) {
	ctx := context.Background()
	a, dsnA := MySQLWithSchema(t, SchemaCinder)
	b, dsnB := MySQLWithSchema(t, SchemaCinder)
	if dsnA == dsnB {
		t.Fatalf("two calls returned the same database %s", dsnA)
	}
	mustExec(t, a, `INSERT INTO volumes (id, volume_type_id, deleted) VALUES ('only-in-a', 't', 0)`)
	var n int
	if err := b.QueryRowContext(ctx, `SELECT COUNT(*) FROM volumes`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Errorf("a row written to one test database is visible in another (%d rows)", n)
	}
}

// Real MySQL rolls a transaction back; the recovery engine's one-transaction clean depends on it, which is why
// tests never run on the embedded server.
func TestTransactionsRollBack(t *testing.T) {
	ctx := context.Background()
	db, _ := MySQLWithSchema(t, SchemaCinder)
	mustExec(t, db, `INSERT INTO volumes (id, volume_type_id, deleted, status) VALUES ('v1', 't', 0, 'in-use')`)
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE volumes SET status='available' WHERE id='v1'`); err != nil {
		t.Fatal(err)
	}
	if err := tx.Rollback(); err != nil {
		t.Fatal(err)
	}
	var status string
	if err := db.QueryRowContext(ctx, `SELECT status FROM volumes WHERE id='v1'`).Scan(&status); err != nil {
		t.Fatal(err)
	}
	if status != "in-use" {
		t.Errorf("status after rollback = %q, want in-use", status)
	}
}

func mustExec(t *testing.T, db *sql.DB, stmt string, args ...any) {
	t.Helper()
	if _, err := db.ExecContext(context.Background(), stmt, args...); err != nil {
		t.Fatalf("%s: %v", stmt, err)
	}
}

// A user's machine pulls the official image; a machine that reaches no registry uses its local build, found
// quietly when nobody names an image.
func TestContainerImageChoice(t *testing.T) {
	for _, tc := range []struct {
		explicit, env string
		localHere     bool
		want          string
	}{
		{"", "", false, DefaultMySQLImage},
		{"", "", true, LocalMySQLImage},
		{"", "mariadb:11", true, "mariadb:11"},
		{"mysql:8.4", "osdr/mariadb:local", true, "mysql:8.4"},
	} {
		if got := containerImage(tc.explicit, tc.env, tc.localHere); got != tc.want {
			t.Errorf("containerImage(%q, %q, %v) = %q, want %q", tc.explicit, tc.env, tc.localHere, got, tc.want)
		}
	}
	if !strings.HasPrefix(DefaultMySQLImage, "docker.io/library/mariadb:") {
		t.Errorf("default image %q is not the official MariaDB image", DefaultMySQLImage)
	}
}

// A container started for the tests and the sim serves as many connections as a control plane opens.
func TestAContainerTakesAControlPlanesConnections(t *testing.T) {
	s := SharedServer(t)
	if s.Kind() != KindContainer {
		t.Skipf("the server is %s: its settings are its owner's", s.Kind())
	}
	db, _ := MySQLWithSchema(t, SchemaCinder)
	var max int
	if err := db.QueryRowContext(context.Background(), "SELECT @@max_connections").Scan(&max); err != nil {
		t.Fatal(err)
	}
	if max < 4096 {
		t.Errorf("max_connections = %d, want at least 4096", max)
	}
}
