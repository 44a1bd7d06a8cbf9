package recover

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/osdr/osdr/internal/cloud"
	"github.com/osdr/osdr/internal/durable"
)

// DBStatement is one statement of step 2 as the plan shows it: the SQL with its ids written out, the database
// it runs on, and how many rows it must match. A different count at run time rolls everything back.
type DBStatement struct {
	Database     string `json:"database"`
	SQL          string `json:"sql"`
	ExpectedRows int64  `json:"expected_rows"`
}

// DBPlan is step 2 translated to the schema found, scoped to the manifest's volumes.
type DBPlan struct {
	CinderSchema CinderSchema  `json:"cinder_schema"`
	Statements   []DBStatement `json:"statements"`
	// Skipped explains volumes the clean leaves alone (e.g. a multiattach volume still attached elsewhere).
	Skipped []Exclusion `json:"skipped,omitempty"`
	changes []change
}

// Exclusion names something the recovery leaves out and why.
type Exclusion struct {
	ID     string `json:"id"`
	Kind   string `json:"kind"` // "instance" or "volume"
	Reason string `json:"reason"`
}

// errPlanMismatch means the database no longer matches the plan: a statement would touch a different number of
// rows than planned. The transaction is rolled back and nothing changes.
var errPlanMismatch = errors.New("database changed since the plan")

// change is one statement together with the SELECT that finds, locks and backs up exactly the rows it touches:
// both share the WHERE clause.
type change struct {
	database string
	cell     int // -1 for Cinder
	table    string
	key      []string
	mutation string // "UPDATE `t` SET ..." or "DELETE FROM `t`"
	where    string
	args     []string
	expected int64
}

func (c change) selectSQL(lock bool) string {
	q := "SELECT * FROM `" + c.table + "` WHERE " + c.where
	if lock {
		q += " FOR UPDATE"
	}
	return q
}

func (c change) mutationSQL() string { return c.mutation + " WHERE " + c.where }

func (c change) queryArgs() []any {
	out := make([]any, len(c.args))
	for i, a := range c.args {
		out[i] = a
	}
	return out
}

// rendered writes the statement with its ids inline, for people. Ids are quoted and single quotes doubled;
// execution always uses placeholders.
func (c change) rendered() string {
	q := c.mutationSQL()
	var b strings.Builder
	i := 0
	for _, r := range q {
		if r == '?' && i < len(c.args) {
			b.WriteString("'" + strings.ReplaceAll(c.args[i], "'", "''") + "'")
			i++
			continue
		}
		b.WriteRune(r)
	}
	return b.String() + ";"
}

// db is the database the change runs on. Its connections count matched rows (cloud.OpenDB), so a
// statement's row count is what the plan predicts.
func (c change) db(dbs cloud.Databases) (*sql.DB, error) {
	if c.cell < 0 {
		return dbs.Cinder, nil
	}
	return dbs.Cell(c.cell)
}

func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?,", n), ",")
}

func pairPlaceholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("(?,?),", n), ",")
}

// cleanTargets picks what step 2 touches: iSCSI data volumes of the instances in scope. Boot volumes and other
// backends are left out, with the reason.
func cleanTargets(m *Manifest, instances []string) (pairs []Attachment, excluded []Exclusion) {
	inScope := map[string]bool{}
	for _, id := range instances {
		inScope[id] = true
	}
	for _, a := range m.Attachments {
		if !inScope[a.InstanceID] {
			continue
		}
		switch {
		case a.IsISCSIData():
			pairs = append(pairs, a)
		case a.IsBoot():
			excluded = append(excluded, Exclusion{ID: a.VolumeID, Kind: "volume", Reason: "boot volume of " + a.InstanceID + ": the procedure does not detach it"})
		default:
			excluded = append(excluded, Exclusion{ID: a.VolumeID, Kind: "volume", Reason: fmt.Sprintf("%s volume: no iSCSI session was lost", a.DriverVolumeType)})
		}
	}
	return pairs, excluded
}

// planDBClean translates step 2 to the Cinder schema the database has, scoped to the data volumes of the
// given instances, and counts the rows each statement will match. It changes nothing.
func planDBClean(ctx context.Context, dbs cloud.Databases, m *Manifest, instances []string) (*DBPlan, error) {
	schema, err := DetectCinderSchema(ctx, dbs.Cinder)
	if err != nil {
		return nil, err
	}
	pairs, excluded := cleanTargets(m, instances)
	plan := &DBPlan{CinderSchema: schema, Skipped: excluded}
	if len(pairs) == 0 {
		return plan, nil
	}
	switch schema {
	case SchemaLegacy:
		bdms, err := bdmChanges(m, pairs)
		if err != nil {
			return nil, err
		}
		plan.changes = append(legacyChanges(volumeIDs(pairs)), bdms...)
	case SchemaModern:
		changes, skipped, err := modernChanges(ctx, dbs, m, pairs)
		if err != nil {
			return nil, err
		}
		plan.changes = changes
		plan.Skipped = append(plan.Skipped, skipped...)
	}
	for i := range plan.changes {
		c := &plan.changes[i]
		db, err := c.db(dbs)
		if err != nil {
			return nil, err
		}
		var n int64
		count := "SELECT COUNT(*) FROM `" + c.table + "` WHERE " + c.where
		if err := db.QueryRowContext(ctx, count, c.queryArgs()...).Scan(&n); err != nil {
			return nil, fmt.Errorf("count rows for %s on %s: %w", c.table, c.database, err)
		}
		c.expected = n
		plan.Statements = append(plan.Statements, DBStatement{Database: c.database, SQL: c.rendered(), ExpectedRows: n})
	}
	return plan, nil
}

func volumeIDs(pairs []Attachment) []string {
	seen := map[string]bool{}
	var ids []string
	for _, a := range pairs {
		if !seen[a.VolumeID] {
			seen[a.VolumeID] = true
			ids = append(ids, a.VolumeID)
		}
	}
	sort.Strings(ids)
	return ids
}

// legacyChanges are the guide's four statements, each scoped to the manifest's volumes.
func legacyChanges(ids []string) []change {
	in := "id IN (" + placeholders(len(ids)) + ")"
	mk := func(set, where string) change {
		return change{database: "cinder", cell: -1, table: "volumes", key: []string{"id"},
			mutation: "UPDATE `volumes` SET " + set, where: where, args: ids}
	}
	return []change{
		mk("mountpoint=NULL", in),
		mk("status='available'", "status<>'error_deleting' AND "+in),
		mk("attach_status='detached'", in),
		mk("instance_id=0", in),
	}
}

// modernChanges is the scoped equivalent of what `cinder reset-state --attach-status detached` does on the
// modern schema (Cinder since Liberty, through 2025.2): the volume's attachment rows soft-deleted as detached,
// the volume available and detached, its attached_mode admin metadata soft-deleted and its in-flight workers
// row removed; plus soft-deleting Nova's BDMs of the same attachments so the reattach is accepted on every
// release.
func modernChanges(ctx context.Context, dbs cloud.Databases, m *Manifest, pairs []Attachment) ([]change, []Exclusion, error) {
	ids := volumeIDs(pairs)
	inPairs := map[[2]string]bool{}
	for _, a := range pairs {
		inPairs[[2]string{a.VolumeID, a.InstanceID}] = true
	}
	// A multiattach volume still attached to an instance outside the scope keeps its status; only the
	// attachments in scope are cleaned.
	rows, err := dbs.Cinder.QueryContext(ctx, "SELECT volume_id, instance_uuid FROM `volume_attachment` WHERE deleted=0 AND attach_status<>'detached' AND volume_id IN ("+placeholders(len(ids))+")", stringArgs(ids)...)
	if err != nil {
		return nil, nil, fmt.Errorf("read live attachments: %w", err)
	}
	sharedOutside := map[string]string{}
	for rows.Next() {
		var vol string
		var inst sql.NullString
		if err := rows.Scan(&vol, &inst); err != nil {
			rows.Close()
			return nil, nil, fmt.Errorf("read live attachments: %w", err)
		}
		if !inPairs[[2]string{vol, inst.String}] {
			sharedOutside[vol] = inst.String
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, nil, fmt.Errorf("read live attachments: %w", err)
	}
	var skipped []Exclusion
	var whole []string
	for _, id := range ids {
		if other, ok := sharedOutside[id]; ok {
			skipped = append(skipped, Exclusion{ID: id, Kind: "volume", Reason: "multiattach volume still attached to " + other + " (out of scope): only the attachments in scope are cleaned, its status stays"})
			continue
		}
		whole = append(whole, id)
	}

	var pairArgs []string
	for _, a := range pairs {
		pairArgs = append(pairArgs, a.VolumeID, a.InstanceID)
	}
	changes := []change{{
		database: "cinder", cell: -1, table: "volume_attachment", key: []string{"id"},
		mutation: "UPDATE `volume_attachment` SET attach_status='detached', deleted=1, deleted_at=UTC_TIMESTAMP(), detach_time=UTC_TIMESTAMP()",
		where:    "deleted=0 AND attach_status<>'detached' AND (volume_id, instance_uuid) IN (" + pairPlaceholders(len(pairs)) + ")",
		args:     pairArgs,
	}}
	if len(whole) > 0 {
		in := placeholders(len(whole))
		changes = append(changes,
			change{database: "cinder", cell: -1, table: "volumes", key: []string{"id"},
				mutation: "UPDATE `volumes` SET status='available', attach_status='detached'",
				where:    "deleted=0 AND status<>'error_deleting' AND id IN (" + in + ")", args: whole},
			change{database: "cinder", cell: -1, table: "volume_admin_metadata", key: []string{"id"},
				mutation: "UPDATE `volume_admin_metadata` SET deleted=1, deleted_at=UTC_TIMESTAMP()",
				where:    "`key`='attached_mode' AND deleted=0 AND volume_id IN (" + in + ")", args: whole},
			change{database: "cinder", cell: -1, table: "workers", key: []string{"id"},
				mutation: "DELETE FROM `workers`",
				where:    "resource_type='VOLUME' AND resource_id IN (" + in + ")", args: whole},
		)
	}

	bdms, err := bdmChanges(m, pairs)
	if err != nil {
		return nil, nil, err
	}
	return append(changes, bdms...), skipped, nil
}

// bdmChanges soft-deletes Nova's block device mappings of the attachments, the way Nova does (deleted=id),
// in each instance's cell: since Wallaby Nova refuses to attach a volume that has a live mapping, and Nova
// before 28 (2023.2) keeps the mapping through the reboot, so without this the reattach is refused.
func bdmChanges(m *Manifest, pairs []Attachment) ([]change, error) {
	var changes []change
	byCell := map[int][]string{}
	for _, a := range pairs {
		inst, ok := m.Instance(a.InstanceID)
		if !ok {
			return nil, fmt.Errorf("manifest attachment of volume %s names instance %s it does not list", a.VolumeID, a.InstanceID)
		}
		byCell[inst.Cell] = append(byCell[inst.Cell], a.InstanceID, a.VolumeID)
	}
	cells := make([]int, 0, len(byCell))
	for cell := range byCell {
		cells = append(cells, cell)
	}
	sort.Ints(cells)
	for _, cell := range cells {
		args := byCell[cell]
		changes = append(changes, change{
			database: "nova-cell-" + strconv.Itoa(cell), cell: cell, table: "block_device_mapping", key: []string{"id"},
			mutation: "UPDATE `block_device_mapping` SET deleted=id, deleted_at=UTC_TIMESTAMP()",
			where:    "deleted=0 AND (instance_uuid, volume_id) IN (" + pairPlaceholders(len(args)/2) + ")",
			args:     args,
		})
	}
	return changes, nil
}

func stringArgs(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}

// backup holds every row step 2 touched, as it was before, so undo-db can put it back byte for byte.
type dbBackup struct {
	TakenAt time.Time       `json:"taken_at"`
	Tables  []dbBackupTable `json:"tables"`
}

// dbBackupTable is the rows of one table of one database; values are the server's text form, nil for NULL.
type dbBackupTable struct {
	Database string      `json:"database"`
	Cell     int         `json:"cell"`
	Table    string      `json:"table"`
	Key      []string    `json:"key"`
	Columns  []string    `json:"columns"`
	Rows     [][]*string `json:"rows"`
}

// applyDBClean carries out the plan: in one transaction per database it locks and backs up every row a
// statement will touch, writes the backup durably, runs the statements and checks each row count against the
// plan. Any mismatch or error rolls every database back. If a commit fails after another database committed,
// the committed one is restored from the backup before the error is returned.
func applyDBClean(ctx context.Context, dbs cloud.Databases, plan *DBPlan, backupPath string) (*dbBackup, error) {
	if len(plan.changes) == 0 {
		return &dbBackup{TakenAt: time.Now().UTC()}, nil
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
		db, err := c.db(dbs)
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

	backup := &dbBackup{TakenAt: time.Now().UTC()}
	// Every row is read (and locked) before any statement runs: statements on one table overlap (the legacy
	// schema's four), and a backup taken between them would hold half-changed rows.
	for _, c := range plan.changes {
		tx, err := txFor(c)
		if err != nil {
			rollback()
			return nil, err
		}
		t, err := readRows(ctx, tx, c)
		if err != nil {
			rollback()
			return nil, err
		}
		if int64(len(t.Rows)) != c.expected {
			rollback()
			return nil, fmt.Errorf("%w: %s on %s matches %d rows now, the plan expected %d", errPlanMismatch, c.table, c.database, len(t.Rows), c.expected)
		}
		backup.Tables = append(backup.Tables, t)
	}
	raw, err := json.MarshalIndent(backup, "", " ")
	if err != nil {
		rollback()
		return nil, fmt.Errorf("encode backup: %w", err)
	}
	if err := durable.WriteFile(backupPath, raw, 0o600); err != nil {
		rollback()
		return nil, fmt.Errorf("write backup %s: %w", backupPath, err)
	}
	for _, c := range plan.changes {
		res, err := txs[c.database].ExecContext(ctx, c.mutationSQL(), c.queryArgs()...)
		if err != nil {
			rollback()
			return nil, fmt.Errorf("run %s: %w", c.rendered(), err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			rollback()
			return nil, fmt.Errorf("row count of %s: %w", c.rendered(), err)
		}
		if n != c.expected {
			rollback()
			return nil, fmt.Errorf("%w: %s matched %d rows, the plan expected %d", errPlanMismatch, c.rendered(), n, c.expected)
		}
	}
	var committed []string
	for _, name := range order {
		if err := txs[name].Commit(); err != nil {
			for _, other := range order {
				if other != name {
					_ = txs[other].Rollback()
				}
			}
			if len(committed) == 0 {
				return nil, fmt.Errorf("commit %s: %w", name, err)
			}
			if uerr := undoDatabases(ctx, dbs, backup, committed); uerr != nil {
				return backup, fmt.Errorf("commit %s: %w; restoring %s from %s also failed: %v", name, err, strings.Join(committed, ", "), backupPath, uerr)
			}
			return nil, fmt.Errorf("commit %s: %w (already committed %s restored from the backup)", name, err, strings.Join(committed, ", "))
		}
		committed = append(committed, name)
	}
	return backup, nil
}

func readRows(ctx context.Context, tx *sql.Tx, c change) (dbBackupTable, error) {
	rows, err := tx.QueryContext(ctx, c.selectSQL(true), c.queryArgs()...)
	if err != nil {
		return dbBackupTable{}, fmt.Errorf("lock rows of %s on %s: %w", c.table, c.database, err)
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return dbBackupTable{}, fmt.Errorf("columns of %s: %w", c.table, err)
	}
	t := dbBackupTable{Database: c.database, Cell: c.cell, Table: c.table, Key: c.key, Columns: cols}
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return dbBackupTable{}, fmt.Errorf("read rows of %s: %w", c.table, err)
		}
		row := make([]*string, len(cols))
		for i, v := range vals {
			row[i] = textValue(v)
		}
		t.Rows = append(t.Rows, row)
	}
	return t, rows.Err()
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

// readBackup loads a backup applyDBClean wrote.
func readBackup(path string) (*dbBackup, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read backup: %w", err)
	}
	var b dbBackup
	if err := json.Unmarshal(raw, &b); err != nil {
		return nil, fmt.Errorf("parse backup %s: %w", path, err)
	}
	return &b, nil
}

// undoDBClean puts every backed-up row back as it was: rows still present are overwritten column by column,
// rows the clean deleted are inserted again. One transaction per database.
func undoDBClean(ctx context.Context, dbs cloud.Databases, b *dbBackup) error {
	return undoDatabases(ctx, dbs, b, nil)
}

// undoDatabases restores the backup's rows on the named databases (all when only is nil).
func undoDatabases(ctx context.Context, dbs cloud.Databases, b *dbBackup, only []string) error {
	wanted := func(name string) bool {
		if only == nil {
			return true
		}
		for _, o := range only {
			if o == name {
				return true
			}
		}
		return false
	}
	byDB := map[string][]dbBackupTable{}
	var names []string
	for _, t := range b.Tables {
		if !wanted(t.Database) {
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

func restoreTables(ctx context.Context, db *sql.DB, tables []dbBackupTable) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	restored := map[string]bool{}
	for _, t := range tables {
		keyIdx := make([]int, len(t.Key))
		for i, k := range t.Key {
			keyIdx[i] = -1
			for j, c := range t.Columns {
				if c == k {
					keyIdx[i] = j
				}
			}
			if keyIdx[i] < 0 {
				return fmt.Errorf("backup of %s lacks key column %s", t.Table, k)
			}
		}
		quoted := make([]string, len(t.Columns))
		for i, c := range t.Columns {
			quoted[i] = "`" + strings.ReplaceAll(c, "`", "``") + "`"
		}
		for _, row := range t.Rows {
			var keyParts []string
			var keyArgs []any
			for _, idx := range keyIdx {
				keyParts = append(keyParts, quoted[idx]+"=?")
				keyArgs = append(keyArgs, nullable(row[idx]))
			}
			// Overlapping statements back up the same row more than once; the first copy is the original.
			id := t.Table + "\x00" + fmt.Sprint(keyArgs...)
			if restored[id] {
				continue
			}
			restored[id] = true
			args := make([]any, len(row))
			for i, v := range row {
				args[i] = nullable(v)
			}
			var exists int
			err := tx.QueryRowContext(ctx, "SELECT COUNT(*) FROM `"+t.Table+"` WHERE "+strings.Join(keyParts, " AND ")+" FOR UPDATE", keyArgs...).Scan(&exists)
			if err != nil {
				return fmt.Errorf("look up %s row: %w", t.Table, err)
			}
			if exists == 0 {
				q := "INSERT INTO `" + t.Table + "` (" + strings.Join(quoted, ",") + ") VALUES (" + placeholders(len(row)) + ")"
				if _, err := tx.ExecContext(ctx, q, args...); err != nil {
					return fmt.Errorf("reinsert %s row: %w", t.Table, err)
				}
				continue
			}
			sets := make([]string, len(quoted))
			for i, c := range quoted {
				sets[i] = c + "=?"
			}
			q := "UPDATE `" + t.Table + "` SET " + strings.Join(sets, ",") + " WHERE " + strings.Join(keyParts, " AND ")
			if _, err := tx.ExecContext(ctx, q, append(args, keyArgs...)...); err != nil {
				return fmt.Errorf("restore %s row: %w", t.Table, err)
			}
		}
	}
	return tx.Commit()
}

func nullable(s *string) any {
	if s == nil {
		return nil
	}
	return *s
}
