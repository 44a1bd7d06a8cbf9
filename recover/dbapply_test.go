package recover

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/osdr/osdr/internal/run"
)

// The backup keeps what undo needs and nothing of the credentials in the rows it locks: connection_info
// (CHAP secrets) and provider_auth stay in the database. It is owner-only and says what it is.
func TestTheBackupKeepsOnlyWhatUndoNeeds(t *testing.T) {
	ctx := context.Background()
	f := newModernFixture(t)
	exec(t, f.cinder, `UPDATE volume_attachment SET connection_info='{"driver_volume_type":"iscsi","data":{"auth_method":"CHAP","auth_username":"chap-user","auth_password":"chap-secret-42"}}' WHERE volume_id='data-0-b'`)
	exec(t, f.cinder, `UPDATE volumes SET provider_auth='CHAP chap-user provider-secret-43' WHERE id='data-0-b'`)
	plan, err := planDBClean(ctx, f.dbs, f.manifest, []string{instA}, dbCleanOptions{})
	if err != nil {
		t.Fatal(err)
	}
	path := run.Run{Dir: t.TempDir()}.Backup()
	if _, err := applyDBClean(ctx, f.dbs, plan, path); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, secret := range []string{"chap-secret-42", "provider-secret-43", "chap-user"} {
		if strings.Contains(string(raw), secret) {
			t.Errorf("the backup holds %q", secret)
		}
	}
	var header backupHeader
	first, _, _ := strings.Cut(string(raw), "\n")
	if err := json.Unmarshal([]byte(first), &header); err != nil || header.Format != backupFormat || !strings.Contains(header.Note, "may hold credentials") {
		t.Errorf("backup header = %+v (%v)", header, err)
	}
	if info, err := os.Stat(path); err != nil || info.Mode().Perm() != 0o600 {
		t.Errorf("backup mode: %v %v", info.Mode(), err)
	}
}

// More volumes than one statement may name: the clean is still one transaction per database, every statement
// within MySQL's limits, and undo puts every byte back.
func TestACleanOfManyVolumesIsChunkedAndUndone(t *testing.T) {
	ctx := context.Background()
	f := newModernFixture(t)
	const n = 2*maxIDsPerStatement + 17
	var vols, atts, bdms []string
	for i := range n {
		vol := fmt.Sprintf("bulk-%05d", i)
		vols = append(vols, fmt.Sprintf("('%s',0,'in-use','attached','lvm',0,1,'%s')", vol, vol))
		atts = append(atts, fmt.Sprintf("('bulk-att-%05d','%s','%s','attached',0,'{\"driver_volume_type\":\"iscsi\"}')", i, vol, instB))
		bdms = append(bdms, fmt.Sprintf("(UUID(),'%s','%s','/dev/vd%d','volume','volume',0,'bulk-att-%05d','{\"driver_volume_type\":\"iscsi\"}')", instB, vol, i, i))
		f.manifest.Attachments = append(f.manifest.Attachments, Attachment{VolumeID: vol, InstanceID: instB, Device: fmt.Sprintf("/dev/vd%d", i), DriverVolumeType: "iscsi"})
	}
	exec(t, f.cinder, "INSERT INTO volumes (id, deleted, status, attach_status, volume_type_id, multiattach, size, display_name) VALUES "+strings.Join(vols, ","))
	exec(t, f.cinder, "INSERT INTO volume_attachment (id, volume_id, instance_uuid, attach_status, deleted, connection_info) VALUES "+strings.Join(atts, ","))
	exec(t, f.nova, "INSERT INTO block_device_mapping (uuid, instance_uuid, volume_id, device_name, source_type, destination_type, deleted, attachment_id, connection_info) VALUES "+strings.Join(bdms, ","))
	beforeCinder := dumpTables(t, f.cinder, cinderTables...)
	beforeNova := dumpTables(t, f.nova, "block_device_mapping")

	plan, err := planDBClean(ctx, f.dbs, f.manifest, []string{instB}, dbCleanOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// MySQL refuses a statement with more than 65,535 placeholders; a statement of pairs has two per pair.
	for _, c := range plan.changes {
		if len(c.args) > 2*maxIDsPerStatement {
			t.Errorf("a statement on %s carries %d placeholders", c.table, len(c.args))
		}
	}
	if len(plan.Statements) < 5*3 {
		t.Errorf("%d statements for %d volumes, want each of the five split in three", len(plan.Statements), n)
	}
	path := run.Run{Dir: t.TempDir()}.Backup()
	if _, err := applyDBClean(ctx, f.dbs, plan, path); err != nil {
		t.Fatal(err)
	}
	var live int
	f.cinder.QueryRow(`SELECT COUNT(*) FROM volume_attachment WHERE deleted=0 AND id LIKE 'bulk-att-%'`).Scan(&live)
	if live != 0 {
		t.Errorf("%d bulk attachments still live", live)
	}
	backup, err := readBackup(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := undoDBClean(ctx, f.dbs, backup); err != nil {
		t.Fatal(err)
	}
	assertDumpsEqual(t, "cinder after undo", beforeCinder, dumpTables(t, f.cinder, cinderTables...))
	assertDumpsEqual(t, "nova after undo", beforeNova, dumpTables(t, f.nova, "block_device_mapping"))
}

// A connection cut between two statements of the clean: the server rolls the transaction back, nothing is
// half done, and running the step again (as a resumed run does) cleans it all.
func TestAConnectionCutInTheMiddleOfTheCleanLeavesNothingHalfDone(t *testing.T) {
	ctx := context.Background()
	f := newModernFixture(t)
	beforeCinder := dumpTables(t, f.cinder, cinderTables...)
	beforeNova := dumpTables(t, f.nova, "block_device_mapping")
	plan, err := planDBClean(ctx, f.dbs, f.manifest, []string{instA, instB}, dbCleanOptions{})
	if err != nil {
		t.Fatal(err)
	}
	a := &applier{dbs: f.dbs, plan: plan, backupPath: run.Run{Dir: t.TempDir()}.Backup(),
		afterStatement: func(ctx context.Context, tx *sql.Tx, i int) {
			if i != 1 {
				return
			}
			var id int64
			if err := tx.QueryRowContext(ctx, "SELECT CONNECTION_ID()").Scan(&id); err != nil {
				t.Fatal(err)
			}
			if _, err := f.cinder.ExecContext(ctx, "KILL CONNECTION ?", id); err != nil {
				t.Fatal(err)
			}
		}}
	if err := a.run(ctx); err == nil {
		t.Fatal("the clean went on after its connection was cut")
	}
	assertDumpsEqual(t, "cinder after the cut", beforeCinder, dumpTables(t, f.cinder, cinderTables...))
	assertDumpsEqual(t, "nova after the cut", beforeNova, dumpTables(t, f.nova, "block_device_mapping"))

	again, err := planDBClean(ctx, f.dbs, f.manifest, []string{instA, instB}, dbCleanOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := applyDBClean(ctx, f.dbs, again, run.Run{Dir: t.TempDir()}.Backup()); err != nil {
		t.Fatalf("the rerun: %v", err)
	}
	var live int
	f.cinder.QueryRow(`SELECT COUNT(*) FROM volume_attachment WHERE deleted=0 AND instance_uuid IN (?, ?) AND volume_id LIKE 'data-%'`, instA, instB).Scan(&live)
	if live != 0 {
		t.Errorf("%d live attachments after the rerun", live)
	}
}

// When the answer to COMMIT is lost, the rows read back against the backup say whether it took.
func TestALostAnswerToCommitIsSettledByTheRows(t *testing.T) {
	for _, tc := range []struct {
		name      string
		commit    func(*sql.Tx) error
		committed bool
	}{
		{"committed, answer lost", func(tx *sql.Tx) error {
			if err := tx.Commit(); err != nil {
				return err
			}
			return driver.ErrBadConn
		}, true},
		{"not committed, answer lost", func(tx *sql.Tx) error {
			_ = tx.Rollback()
			return driver.ErrBadConn
		}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			f := newModernFixture(t)
			beforeCinder := dumpTables(t, f.cinder, cinderTables...)
			beforeNova := dumpTables(t, f.nova, "block_device_mapping")
			plan, err := planDBClean(ctx, f.dbs, f.manifest, []string{instA}, dbCleanOptions{})
			if err != nil {
				t.Fatal(err)
			}
			a := &applier{dbs: f.dbs, plan: plan, backupPath: run.Run{Dir: t.TempDir()}.Backup(), commit: tc.commit}
			err = a.run(ctx)
			if tc.committed {
				if err != nil {
					t.Fatalf("a commit that took is reported as %v", err)
				}
				var live int
				f.cinder.QueryRow(`SELECT COUNT(*) FROM volume_attachment WHERE deleted=0 AND instance_uuid=? AND volume_id LIKE 'data-%'`, instA).Scan(&live)
				if live != 0 {
					t.Errorf("%d live attachments", live)
				}
				return
			}
			if !errors.Is(err, driver.ErrBadConn) {
				t.Fatalf("a commit that did not take: err = %v", err)
			}
			assertDumpsEqual(t, "cinder", beforeCinder, dumpTables(t, f.cinder, cinderTables...))
			assertDumpsEqual(t, "nova", beforeNova, dumpTables(t, f.nova, "block_device_mapping"))
		})
	}
}

// A Galera cluster takes a transaction as one write set up to its limits: a larger clean is refused before
// it starts, with the numbers.
func TestAWriteSetOverGaleraLimitsIsRefusedWithTheNumbers(t *testing.T) {
	ctx := context.Background()
	f := newModernFixture(t)
	plan, err := planDBClean(ctx, f.dbs, f.manifest, []string{instA, instB}, dbCleanOptions{count: true})
	if err != nil {
		t.Fatal(err)
	}
	limits := map[string]WriteSet{"cinder": {Database: "cinder", MaxRows: 3, MaxBytes: 0}}
	sets, err := writeSets(ctx, f.dbs, plan.changes, limits)
	if !errors.Is(err, errWriteSetTooLarge) || !strings.Contains(err.Error(), "wsrep_max_ws_rows 3") {
		t.Fatalf("err = %v, want a refusal naming wsrep_max_ws_rows 3", err)
	}
	if len(sets) != 1 || sets[0].Rows <= 3 {
		t.Errorf("write sets = %+v", sets)
	}
	if _, err := writeSets(ctx, f.dbs, plan.changes, map[string]WriteSet{"cinder": {Database: "cinder"}}); err != nil {
		t.Errorf("no limits (0): %v", err)
	}
}

// Backups written before step 2 streamed them (format 1: one object of whole rows) are still undone.
func TestUndoReadsAFormat1Backup(t *testing.T) {
	ctx := context.Background()
	f := newModernFixture(t)
	before := dumpTables(t, f.cinder, "volumes")
	rows, err := f.cinder.Query("SELECT * FROM volumes WHERE id='data-0-b'")
	if err != nil {
		t.Fatal(err)
	}
	cols, _ := rows.Columns()
	var old [][]*string
	for rows.Next() {
		row, err := scanRow(rows, len(cols))
		if err != nil {
			t.Fatal(err)
		}
		old = append(old, row)
	}
	rows.Close()
	raw, _ := json.Marshal(map[string]any{"taken_at": "2026-11-25T08:15:00Z", "tables": []map[string]any{{
		"database": "cinder", "cell": -1, "table": "volumes", "key": []string{"id"}, "columns": cols, "rows": old}}})
	path := run.Run{Dir: t.TempDir()}.Backup()
	if err := os.WriteFile(path, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	exec(t, f.cinder, "UPDATE volumes SET status='available', attach_status='detached', display_name='renamed' WHERE id='data-0-b'")
	backup, err := readBackup(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := undoDBClean(ctx, f.dbs, backup); err != nil {
		t.Fatal(err)
	}
	assertDumpsEqual(t, "volumes", before, dumpTables(t, f.cinder, "volumes"))
}
