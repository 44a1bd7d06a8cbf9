package recover

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"sort"
	"testing"

	"github.com/osdr/osdr/internal/cloud"
	"github.com/osdr/osdr/internal/settings"
	"github.com/osdr/osdr/testenv"
)

func TestMain(m *testing.M) { os.Exit(testenv.Main(m)) }

// fixture is a small cloud in the modern schema, as Nova and Cinder write it: instances with a boot volume,
// iSCSI data volumes, an RBD volume, a multiattach volume shared by two instances, and one instance the
// tests keep out of scope.
type fixture struct {
	cinder, nova *sql.DB
	dbs          cloud.Databases
	manifest     *Manifest
}

const (
	instA = "aaaaaaaa-0000-4000-8000-000000000001"
	instB = "bbbbbbbb-0000-4000-8000-000000000002"
	instC = "cccccccc-0000-4000-8000-000000000003" // out of scope in most tests
)

func intp(i int) *int { return &i }

func newModernFixture(t *testing.T) *fixture {
	t.Helper()
	cinder, cinderDSN := testenv.MySQLWithSchema(t, testenv.SchemaCinder)
	nova, novaDSN := testenv.MySQLWithSchema(t, testenv.SchemaNova)
	f := &fixture{cinder: cinder, nova: nova}
	f.dbs = cloud.Databases{Cinder: mustOpen(t, cinderDSN), Cells: []*sql.DB{mustOpen(t, novaDSN)}, CinderName: "cinder", CellNames: []string{"nova_cell1"}}
	f.manifest = &Manifest{RunID: "test", Source: "db"}

	for i, inst := range []string{instA, instB, instC} {
		host := "compute-1"
		if inst == instC {
			host = "compute-2"
		}
		exec(t, nova, `INSERT INTO instances (uuid, display_name, host, node, vm_state, power_state, deleted) VALUES (?, ?, ?, ?, 'active', 1, 0)`,
			inst, fmt.Sprintf("vm%d", i+1), host, host)
		f.manifest.Instances = append(f.manifest.Instances, Instance{ID: inst, Name: fmt.Sprintf("vm%d", i+1), Host: host, VMState: "active", PowerState: 1})
		f.attach(t, inst, host, fmt.Sprintf("boot-%d", i), "/dev/vda", intp(0), "iscsi", false)
		f.attach(t, inst, host, fmt.Sprintf("data-%d-b", i), "/dev/vdb", nil, "iscsi", false)
		f.attach(t, inst, host, fmt.Sprintf("data-%d-c", i), "/dev/vdc", nil, "iscsi", false)
		f.attach(t, inst, host, fmt.Sprintf("rbd-%d", i), "/dev/vdd", nil, "rbd", false)
	}
	// One multiattach volume on A and C: cleaning A alone must leave it in-use for C.
	f.attach(t, instA, "compute-1", "shared", "/dev/vde", nil, "iscsi", true)
	f.attach(t, instC, "compute-2", "shared", "/dev/vde", nil, "iscsi", true)
	// A volume with an in-flight worker row, as a volume that lost power mid-operation has.
	exec(t, cinder, `INSERT INTO workers (resource_type, resource_id, status, deleted) VALUES ('VOLUME', 'data-0-b', 'attaching', 0)`)
	// An old, already detached attachment: it must stay exactly as it is.
	exec(t, cinder, `INSERT INTO volume_attachment (id, volume_id, instance_uuid, attach_status, deleted, deleted_at) VALUES ('old-att', 'data-0-b', ?, 'detached', 1, '2020-01-01 00:00:00')`, instA)
	return f
}

var attachSeq int

// attach writes one attachment on both sides, the way Cinder and Nova record it.
func (f *fixture) attach(t *testing.T, inst, host, vol, device string, bootIndex *int, backend string, multi bool) {
	t.Helper()
	attachSeq++
	var exists int
	if err := f.cinder.QueryRow(`SELECT COUNT(*) FROM volumes WHERE id=?`, vol).Scan(&exists); err != nil {
		t.Fatal(err)
	}
	if exists == 0 {
		exec(t, f.cinder, `INSERT INTO volumes (id, deleted, status, attach_status, volume_type_id, multiattach, size, display_name) VALUES (?, 0, 'in-use', 'attached', 'lvm', ?, 1, ?)`, vol, multi, vol)
		exec(t, f.cinder, `INSERT INTO volume_admin_metadata (volume_id, `+"`key`"+`, value, deleted) VALUES (?, 'attached_mode', 'rw', 0)`, vol)
	}
	attID := fmt.Sprintf("att-%04d", attachSeq)
	iqn := "iqn.2010-10.org.openstack:volume-" + vol
	conn := fmt.Sprintf(`{"driver_volume_type": %q, "data": {"target_iqn": %q, "target_portal": "127.0.0.1:3260", "target_lun": 1}}`, backend, iqn)
	exec(t, f.cinder, `INSERT INTO volume_attachment (id, volume_id, instance_uuid, attached_host, mountpoint, attach_status, attach_mode, deleted, connection_info, attach_time) VALUES (?, ?, ?, ?, ?, 'attached', 'rw', 0, ?, '2026-01-01 10:00:00')`,
		attID, vol, inst, host, device, conn)
	res, err := f.nova.Exec(`INSERT INTO block_device_mapping (uuid, instance_uuid, volume_id, device_name, boot_index, source_type, destination_type, attachment_id, connection_info, deleted, delete_on_termination) VALUES (UUID(), ?, ?, ?, ?, 'volume', 'volume', ?, ?, 0, 0)`,
		inst, vol, device, bootIndex, attID, conn)
	if err != nil {
		t.Fatal(err)
	}
	bdmID, _ := res.LastInsertId()
	f.manifest.Attachments = append(f.manifest.Attachments, Attachment{
		VolumeID: vol, InstanceID: inst, Device: device, Host: host, AttachmentID: attID, BDMID: bdmID,
		BootIndex: bootIndex, DriverVolumeType: backend, IQN: iqn, Portal: "127.0.0.1:3260", LUN: 1,
		Multiattach: multi, VolumeStatus: "in-use", AttachStatus: "attached",
	})
}

func mustOpen(t testing.TB, dsn string) *sql.DB {
	t.Helper()
	parsed, err := settings.ParseDSN(dsn)
	if err != nil {
		t.Fatal(err)
	}
	db, err := cloud.OpenDB(parsed)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func exec(t *testing.T, db *sql.DB, q string, args ...any) {
	t.Helper()
	if _, err := db.ExecContext(context.Background(), q, args...); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}

// dumpTables returns every row of the tables, sorted, in the text form backups use, so two dumps are equal
// exactly when the rows are identical.
func dumpTables(t *testing.T, db *sql.DB, tables ...string) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	for _, table := range tables {
		rows, err := db.Query("SELECT * FROM `" + table + "`")
		if err != nil {
			t.Fatal(err)
		}
		cols, _ := rows.Columns()
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			line := ""
			for i, v := range vals {
				if text := textValue(v); text == nil {
					line += cols[i] + "=NULL|"
				} else {
					line += cols[i] + "=" + *text + "|"
				}
			}
			out[table] = append(out[table], line)
		}
		rows.Close()
		sort.Strings(out[table])
	}
	return out
}
