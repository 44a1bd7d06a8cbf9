package recover

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"testing"

	"github.com/osdr/osdr/internal/cloud"
	"github.com/osdr/osdr/internal/run"
	"github.com/osdr/osdr/testenv"
)

var cinderTables = []string{"volumes", "volume_attachment", "volume_admin_metadata", "workers"}

func TestDetectCinderSchema(t *testing.T) {
	ctx := context.Background()
	modern, _ := testenv.MySQLWithSchema(t, testenv.SchemaCinder)
	legacy, _ := testenv.MySQLWithSchema(t, testenv.SchemaCinderLegacy)
	empty, _ := testenv.MySQLWithSchema(t)
	partial, _ := testenv.MySQLWithSchema(t, testenv.SchemaCinder)
	exec(t, partial, "ALTER TABLE volume_attachment DROP COLUMN detach_time")

	for _, tc := range []struct {
		name string
		db   *sql.DB
		want CinderSchema
		err  string
	}{
		{"modern", modern, SchemaModern, ""},
		{"legacy", legacy, SchemaLegacy, ""},
		{"empty database", empty, "", "lacks volumes.attach_status"},
		{"attachments table without detach_time", partial, "", "lacks volume_attachment.detach_time"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := DetectCinderSchema(ctx, tc.db)
			if tc.err != "" {
				if !errors.Is(err, errUnknownSchema) || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want errUnknownSchema mentioning %q", err, tc.err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("DetectCinderSchema = %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}

func TestPlanScopesStepTwoToTheInstancesDataVolumes(t *testing.T) {
	f := newModernFixture(t)
	plan, err := planDBClean(context.Background(), f.dbs, f.manifest, []string{instA}, dbCleanOptions{count: true})
	if err != nil {
		t.Fatal(err)
	}
	if plan.CinderSchema != SchemaModern {
		t.Fatalf("schema = %s", plan.CinderSchema)
	}
	want := []DBStatement{
		{"cinder", "UPDATE `volume_attachment` SET attach_status='detached', deleted=1, deleted_at=UTC_TIMESTAMP(), detach_time=UTC_TIMESTAMP() WHERE deleted=0 AND attach_status<>'detached' AND volume_id IN ('data-0-b','data-0-c','shared') AND CONCAT(volume_id, ' ', instance_uuid) IN ('data-0-b " + instA + "','data-0-c " + instA + "','shared " + instA + "');", 3},
		{"cinder", "UPDATE `volumes` SET status='available', attach_status='detached' WHERE deleted=0 AND status<>'error_deleting' AND id IN ('data-0-b','data-0-c');", 2},
		{"cinder", "UPDATE `volume_admin_metadata` SET deleted=1, deleted_at=UTC_TIMESTAMP() WHERE `key`='attached_mode' AND deleted=0 AND volume_id IN ('data-0-b','data-0-c');", 2},
		{"cinder", "DELETE FROM `workers` WHERE resource_type='VOLUME' AND resource_id IN ('data-0-b','data-0-c');", 1},
		{"nova_cell1", "UPDATE `block_device_mapping` SET deleted=id, deleted_at=UTC_TIMESTAMP() WHERE deleted=0 AND volume_id IN ('data-0-b','data-0-c','shared') AND CONCAT(volume_id, ' ', instance_uuid) IN ('data-0-b " + instA + "','data-0-c " + instA + "','shared " + instA + "');", 3},
	}
	if len(plan.Statements) != len(want) {
		t.Fatalf("plan has %d statements, want %d:\n%v", len(plan.Statements), len(want), plan.Statements)
	}
	for i := range want {
		if plan.Statements[i] != want[i] {
			t.Errorf("statement %d\n got %+v\nwant %+v", i, plan.Statements[i], want[i])
		}
	}
	reasons := map[string]string{}
	for _, s := range plan.Skipped {
		reasons[s.ID] = s.Reason
	}
	for id, fragment := range map[string]string{"boot-0": "boot volume", "rbd-0": "rbd volume", "shared": "still attached to " + instC} {
		if !strings.Contains(reasons[id], fragment) {
			t.Errorf("skip reason for %s = %q, want it to mention %q", id, reasons[id], fragment)
		}
	}
}

func TestApplyCleansOnlyTheScopeAndUndoRestoresEveryByte(t *testing.T) {
	ctx := context.Background()
	f := newModernFixture(t)
	beforeCinder := dumpTables(t, f.cinder, cinderTables...)
	beforeNova := dumpTables(t, f.nova, "block_device_mapping", "instances")

	plan, err := planDBClean(ctx, f.dbs, f.manifest, []string{instA}, dbCleanOptions{count: true})
	if err != nil {
		t.Fatal(err)
	}
	backupPath := run.Run{Dir: t.TempDir()}.Backup()
	changed, err := applyDBClean(ctx, f.dbs, plan, backupPath)
	if err != nil {
		t.Fatal(err)
	}
	var counted int64
	for _, st := range plan.Statements {
		counted += st.ExpectedRows
	}
	if changed != counted || changed == 0 {
		t.Errorf("the clean says it changed %d rows; its plan counted %d", changed, counted)
	}
	backup, err := readBackup(backupPath)
	if err != nil {
		t.Fatal(err)
	}

	for _, vol := range []string{"data-0-b", "data-0-c"} {
		var status, attach string
		if err := f.cinder.QueryRow(`SELECT status, attach_status FROM volumes WHERE id=?`, vol).Scan(&status, &attach); err != nil {
			t.Fatal(err)
		}
		if status != "available" || attach != "detached" {
			t.Errorf("%s: %s/%s, want available/detached", vol, status, attach)
		}
	}
	var live int
	f.cinder.QueryRow(`SELECT COUNT(*) FROM volume_attachment WHERE deleted=0 AND instance_uuid=? AND volume_id IN ('data-0-b','data-0-c','shared')`, instA).Scan(&live)
	if live != 0 {
		t.Errorf("%d live attachments of A's data volumes remain", live)
	}
	f.nova.QueryRow(`SELECT COUNT(*) FROM block_device_mapping WHERE deleted=0 AND instance_uuid=? AND volume_id IN ('data-0-b','data-0-c','shared')`, instA).Scan(&live)
	if live != 0 {
		t.Errorf("%d live BDMs of A's data volumes remain", live)
	}
	var softDeletedAsID int
	f.nova.QueryRow(`SELECT COUNT(*) FROM block_device_mapping WHERE deleted=id AND deleted_at IS NOT NULL AND instance_uuid=?`, instA).Scan(&softDeletedAsID)
	if softDeletedAsID != 3 {
		t.Errorf("%d BDMs soft-deleted Nova's way (deleted=id), want 3", softDeletedAsID)
	}
	var sharedStatus string
	f.cinder.QueryRow(`SELECT status FROM volumes WHERE id='shared'`).Scan(&sharedStatus)
	if sharedStatus != "in-use" {
		t.Errorf("multiattach volume still attached to C has status %s, want in-use", sharedStatus)
	}

	// Every row the backup does not hold is byte-identical to before.
	assertUntouchedRowsIdentical(t, beforeCinder, dumpTables(t, f.cinder, cinderTables...), backup)
	assertUntouchedRowsIdentical(t, beforeNova, dumpTables(t, f.nova, "block_device_mapping", "instances"), backup)

	if err := undoDBClean(ctx, f.dbs, backup); err != nil {
		t.Fatal(err)
	}
	assertDumpsEqual(t, "cinder after undo", beforeCinder, dumpTables(t, f.cinder, cinderTables...))
	assertDumpsEqual(t, "nova after undo", beforeNova, dumpTables(t, f.nova, "block_device_mapping", "instances"))
}

func TestApplyRollsBackWhenTheDatabaseNoLongerMatchesThePlan(t *testing.T) {
	ctx := context.Background()
	f := newModernFixture(t)
	plan, err := planDBClean(ctx, f.dbs, f.manifest, []string{instA, instB}, dbCleanOptions{count: true})
	if err != nil {
		t.Fatal(err)
	}
	// Someone detaches one of B's volumes between the plan and the run.
	exec(t, f.cinder, `UPDATE volume_attachment SET attach_status='detached', deleted=1 WHERE volume_id='data-1-b'`)
	beforeCinder := dumpTables(t, f.cinder, cinderTables...)
	beforeNova := dumpTables(t, f.nova, "block_device_mapping")

	_, err = applyDBClean(ctx, f.dbs, plan, run.Run{Dir: t.TempDir()}.Backup())
	if !errors.Is(err, errPlanMismatch) {
		t.Fatalf("err = %v, want errPlanMismatch", err)
	}
	assertDumpsEqual(t, "cinder", beforeCinder, dumpTables(t, f.cinder, cinderTables...))
	assertDumpsEqual(t, "nova", beforeNova, dumpTables(t, f.nova, "block_device_mapping"))
}

func TestLegacySchemaRunsTheGuidesStatementsScoped(t *testing.T) {
	ctx := context.Background()
	cinder, dsn := testenv.MySQLWithSchema(t, testenv.SchemaCinderLegacy)
	exec(t, cinder, `INSERT INTO volumes (id, deleted, status, attach_status, instance_id, mountpoint, attach_time) VALUES
		('v-a', 0, 'in-use', 'attached', 1, '/dev/vdb', '2012-01-01'),
		('v-deleting', 0, 'error_deleting', 'attached', 1, '/dev/vdc', '2012-01-01'),
		('v-other', 0, 'in-use', 'attached', 2, '/dev/vdb', '2012-01-01')`)
	m := &Manifest{Instances: []Instance{{ID: instA}, {ID: instB}}, Attachments: []Attachment{
		{VolumeID: "v-a", InstanceID: instA, Device: "/dev/vdb", DriverVolumeType: "iscsi"},
		{VolumeID: "v-deleting", InstanceID: instA, Device: "/dev/vdc", DriverVolumeType: "iscsi"},
		{VolumeID: "v-other", InstanceID: instB, Device: "/dev/vdb", DriverVolumeType: "iscsi"},
	}}
	nova, novaDSN := testenv.MySQLWithSchema(t, testenv.SchemaNova)
	for i, inst := range []string{instA, instB} {
		exec(t, nova, `INSERT INTO instances (id, uuid, host, vm_state, power_state, deleted) VALUES (?, ?, 'compute-1', 'active', 1, 0)`, i+1, inst)
	}
	for _, bdm := range [][3]string{{instA, "v-a", "/dev/vdb"}, {instA, "v-deleting", "/dev/vdc"}, {instB, "v-other", "/dev/vdb"}} {
		exec(t, nova, `INSERT INTO block_device_mapping (uuid, instance_uuid, volume_id, device_name, source_type, destination_type, deleted) VALUES (UUID(), ?, ?, ?, 'volume', 'volume', 0)`, bdm[0], bdm[1], bdm[2])
	}
	dbs := cloud.Databases{Cinder: mustOpen(t, dsn), Cells: []*sql.DB{mustOpen(t, novaDSN)}, CinderName: "cinder", CellNames: []string{"nova_cell1"}}
	before := dumpTables(t, cinder, "volumes")
	novaBefore := dumpTables(t, nova, "block_device_mapping")
	plan, err := planDBClean(ctx, dbs, m, []string{instA}, dbCleanOptions{count: true})
	if err != nil {
		t.Fatal(err)
	}
	wantSQL := []string{
		"UPDATE `volumes` SET mountpoint=NULL WHERE id IN ('v-a','v-deleting');",
		"UPDATE `volumes` SET status='available' WHERE status<>'error_deleting' AND id IN ('v-a','v-deleting');",
		"UPDATE `volumes` SET attach_status='detached' WHERE id IN ('v-a','v-deleting');",
		"UPDATE `volumes` SET instance_id=0 WHERE id IN ('v-a','v-deleting');",
		"UPDATE `block_device_mapping` SET deleted=id, deleted_at=UTC_TIMESTAMP() WHERE deleted=0 AND volume_id IN ('v-a','v-deleting') AND CONCAT(volume_id, ' ', instance_uuid) IN ('v-a " + instA + "','v-deleting " + instA + "');",
	}
	wantRows := []int64{2, 1, 2, 2, 2}
	if len(plan.Statements) != len(wantSQL) {
		t.Fatalf("%d statements, want %d: %+v", len(plan.Statements), len(wantSQL), plan.Statements)
	}
	for i, s := range plan.Statements {
		if s.SQL != wantSQL[i] || s.ExpectedRows != wantRows[i] {
			t.Errorf("statement %d = %+v, want %q matching %d rows", i, s, wantSQL[i], wantRows[i])
		}
	}
	legacyBackup := run.Run{Dir: t.TempDir()}.Backup()
	if _, err := applyDBClean(ctx, dbs, plan, legacyBackup); err != nil {
		t.Fatal(err)
	}
	backup, err := readBackup(legacyBackup)
	if err != nil {
		t.Fatal(err)
	}
	var status, attach string
	var instanceID int
	var mount sql.NullString
	cinder.QueryRow(`SELECT status, attach_status, instance_id, mountpoint FROM volumes WHERE id='v-a'`).Scan(&status, &attach, &instanceID, &mount)
	if status != "available" || attach != "detached" || instanceID != 0 || mount.Valid {
		t.Errorf("v-a = %s/%s/%d/%v after the clean", status, attach, instanceID, mount)
	}
	cinder.QueryRow(`SELECT status FROM volumes WHERE id='v-deleting'`).Scan(&status)
	if status != "error_deleting" {
		t.Errorf("v-deleting status = %s, the guide leaves error_deleting alone", status)
	}
	assertUntouchedRowsIdentical(t, before, dumpTables(t, cinder, "volumes"), backup)
	assertUntouchedRowsIdentical(t, novaBefore, dumpTables(t, nova, "block_device_mapping"), backup)
	if err := undoDBClean(ctx, dbs, backup); err != nil {
		t.Fatal(err)
	}
	assertDumpsEqual(t, "legacy after undo", before, dumpTables(t, cinder, "volumes"))
	assertDumpsEqual(t, "legacy BDMs after undo", novaBefore, dumpTables(t, nova, "block_device_mapping"))
}

// assertUntouchedRowsIdentical checks that every row before, except those whose key the backup holds, is
// still there byte for byte. The tables step 2 touches are keyed by id.
func assertUntouchedRowsIdentical(t *testing.T, before, after map[string][]string, b *dbBackup) {
	t.Helper()
	backedUp := map[string]bool{}
	for _, bt := range b.Tables {
		idx, err := bt.keyIndexes()
		if err != nil {
			t.Fatal(err)
		}
		for _, row := range bt.Rows {
			backedUp[bt.Table+"\x00id="+deref(row[idx[0]])+"|"] = true
		}
	}
	for table, rows := range before {
		present := map[string]bool{}
		for _, r := range after[table] {
			present[r] = true
		}
		for _, r := range rows {
			id := ""
			for _, field := range strings.Split(r, "|") {
				if strings.HasPrefix(field, "id=") {
					id = field
				}
			}
			if !backedUp[table+"\x00"+id+"|"] && !present[r] {
				t.Errorf("%s: a row outside the scope changed:\n%s", table, r)
			}
		}
	}
}

func assertDumpsEqual(t *testing.T, what string, want, got map[string][]string) {
	t.Helper()
	for table := range want {
		if strings.Join(want[table], "\n") != strings.Join(got[table], "\n") {
			t.Errorf("%s: table %s differs\n--- want\n%s\n--- got\n%s", what, table, strings.Join(want[table], "\n"), strings.Join(got[table], "\n"))
		}
	}
}
