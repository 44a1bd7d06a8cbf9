package recover

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/osdr/osdr/internal/cloud"
	"github.com/osdr/osdr/internal/run"
	"github.com/osdr/osdr/testenv"
)

// bulkRows bounds the rows one seeding INSERT carries.
const bulkRows = 1000

// bulkInsert inserts rows (each its values as SQL literals, already quoted) into table, bulkRows at a time.
func bulkInsert(b *testing.B, db *sql.DB, table, columns string, rows []string) {
	b.Helper()
	for _, chunk := range chunks(rows, bulkRows) {
		if _, err := db.Exec("INSERT INTO " + table + " (" + columns + ") VALUES " + strings.Join(chunk, ",")); err != nil {
			b.Fatalf("seed %s: %v", table, err)
		}
	}
}

// seedClean builds a modern-schema Cinder and a Nova cell holding instances with two iSCSI data volumes
// each, attached on both sides as a real cloud records them, and the manifest of them all.
func seedClean(b *testing.B, volumes int) (cloud.Databases, *Manifest, []string) {
	b.Helper()
	cinder, cinderDSN := testenv.MySQLWithSchema(b, testenv.SchemaCinder)
	nova, novaDSN := testenv.MySQLWithSchema(b, testenv.SchemaNova)
	m := &Manifest{RunID: "bench", Source: "db"}
	var instances, vols, atts, meta, bdms, ids []string
	for i := range volumes / 2 {
		inst := fmt.Sprintf("00000000-0000-4000-8000-%012d", i)
		ids = append(ids, inst)
		host := fmt.Sprintf("compute-%d", i%100)
		instances = append(instances, fmt.Sprintf("('%s','vm%d','%s','%s','active',1,0)", inst, i, host, host))
		m.Instances = append(m.Instances, Instance{ID: inst, Name: fmt.Sprintf("vm%d", i), Host: host, VMState: "active", PowerState: 1})
		for j, dev := range []string{"/dev/vdb", "/dev/vdc"} {
			vol := fmt.Sprintf("11111111-0000-4000-8000-%06d%06d", i, j)
			att := fmt.Sprintf("22222222-0000-4000-8000-%06d%06d", i, j)
			iqn := "iqn.2010-10.org.openstack:volume-" + vol
			conn := fmt.Sprintf(`{"driver_volume_type": "iscsi", "data": {"target_iqn": "%s", "target_portal": "10.0.0.%d:3260", "target_lun": 1}}`, iqn, i%4+1)
			vols = append(vols, fmt.Sprintf("('%s',0,'in-use','attached','lvm',0,1,'v%d-%d')", vol, i, j))
			meta = append(meta, fmt.Sprintf("('%s','attached_mode','rw',0)", vol))
			atts = append(atts, fmt.Sprintf("('%s','%s','%s','%s','%s','attached','rw',0,'%s','2026-01-01 10:00:00')", att, vol, inst, host, dev, conn))
			bdms = append(bdms, fmt.Sprintf("(UUID(),'%s','%s','%s','volume','volume','%s','%s',0,0)", inst, vol, dev, att, conn))
			m.Attachments = append(m.Attachments, Attachment{VolumeID: vol, InstanceID: inst, Device: dev, Host: host, AttachmentID: att,
				DriverVolumeType: "iscsi", IQN: iqn, Portal: fmt.Sprintf("10.0.0.%d:3260", i%4+1), LUN: 1, VolumeStatus: "in-use", AttachStatus: "attached"})
		}
	}
	bulkInsert(b, nova, "instances", "uuid, display_name, host, node, vm_state, power_state, deleted", instances)
	bulkInsert(b, cinder, "volumes", "id, deleted, status, attach_status, volume_type_id, multiattach, size, display_name", vols)
	bulkInsert(b, cinder, "volume_admin_metadata", "volume_id, `key`, value, deleted", meta)
	bulkInsert(b, cinder, "volume_attachment", "id, volume_id, instance_uuid, attached_host, mountpoint, attach_status, attach_mode, deleted, connection_info, attach_time", atts)
	bulkInsert(b, nova, "block_device_mapping", "uuid, instance_uuid, volume_id, device_name, source_type, destination_type, attachment_id, connection_info, deleted, delete_on_termination", bdms)
	dbs := cloud.Databases{Cinder: mustOpen(b, cinderDSN), Cells: []*sql.DB{mustOpen(b, novaDSN)}, CinderName: "cinder", CellNames: []string{"nova"}}
	return dbs, m, ids
}

// plainClean runs the plan's statements with nothing around them: per database one transaction, each
// statement's rows read once (no lock, no backup, no count check) and then changed. It is what any clean of
// these rows must at least cost.
func plainClean(ctx context.Context, dbs cloud.Databases, plan *DBPlan) (int64, error) {
	txs := map[string]*sql.Tx{}
	var changed int64
	for _, c := range plan.changes {
		tx, ok := txs[c.database]
		if !ok {
			db, err := c.db(dbs)
			if err != nil {
				return 0, err
			}
			if tx, err = db.BeginTx(ctx, nil); err != nil {
				return 0, err
			}
			defer tx.Rollback()
			txs[c.database] = tx
		}
		rows, err := tx.QueryContext(ctx, "SELECT * FROM "+quoteIdent(c.table)+" WHERE "+c.where, c.queryArgs()...)
		if err != nil {
			return 0, err
		}
		for rows.Next() {
		}
		rows.Close()
		res, err := tx.ExecContext(ctx, c.mutationSQL(), c.queryArgs()...)
		if err != nil {
			return 0, err
		}
		n, _ := res.RowsAffected()
		changed += n
	}
	for _, tx := range txs {
		if err := tx.Commit(); err != nil {
			return 0, err
		}
	}
	return changed, nil
}

// BenchmarkDBCleanOf100kVolumes sets step 2 of a 100,000-volume recovery (modern schema, one transaction,
// rows locked and streamed to a backup first, counts checked) beside the same statements run plainly, on
// two identical databases of the same server in the same run. Only with BENCH_LARGE=1 (make bench
// BENCH_LARGE=1); BENCH_DBCLEAN_VOLUMES overrides the size.
func BenchmarkDBCleanOf100kVolumes(b *testing.B) {
	if os.Getenv("BENCH_LARGE") == "" {
		b.Skip("the 100,000-volume clean runs with BENCH_LARGE=1")
	}
	volumes := 100000
	if v, err := strconv.Atoi(os.Getenv("BENCH_DBCLEAN_VOLUMES")); err == nil && v > 0 {
		volumes = v
	}
	ctx := context.Background()
	for b.Loop() {
		cleanDBs, cleanManifest, ids := seedClean(b, volumes)
		plainDBs, plainManifest, _ := seedClean(b, volumes)

		start := time.Now()
		plan, err := planDBClean(ctx, cleanDBs, cleanManifest, ids, dbCleanOptions{})
		if err != nil {
			b.Fatal(err)
		}
		rows, err := applyDBClean(ctx, cleanDBs, plan, run.Run{Dir: b.TempDir()}.Backup())
		if err != nil {
			b.Fatal(err)
		}
		cleanTime := time.Since(start)

		plain, err := planDBClean(ctx, plainDBs, plainManifest, ids, dbCleanOptions{})
		if err != nil {
			b.Fatal(err)
		}
		start = time.Now()
		plainRows, err := plainClean(ctx, plainDBs, plain)
		if err != nil {
			b.Fatal(err)
		}
		plainTime := time.Since(start)
		if rows != plainRows || rows < int64(volumes) {
			b.Fatalf("the clean changed %d rows, the plain statements %d; %d volumes", rows, plainRows, volumes)
		}
		b.ReportMetric(cleanTime.Seconds(), "dbclean_100k_seconds")
		b.ReportMetric(plainTime.Seconds(), "dbclean_100k_plain_seconds")
		b.ReportMetric(cleanTime.Seconds()/plainTime.Seconds(), "dbclean_100k_ratio")
	}
}
