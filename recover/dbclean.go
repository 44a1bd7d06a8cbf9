package recover

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/osdr/osdr/internal/cloud"
)

// DBStatement is one statement of step 2 as the plan shows it: the SQL with its ids written out, the database
// it runs on, and how many rows it matches now (-1 when the plan did not count: a run counts the rows it
// locks, and the statement must change exactly those).
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
	// WriteSets are, for each database that replicates with Galera, the size of the clean's one transaction
	// beside the cluster's limits.
	WriteSets []WriteSet `json:"write_sets,omitempty"`
	changes   []change
}

// WriteSet is the clean's transaction on a Galera database: a transaction is one write set there, and the
// cluster refuses one over wsrep_max_ws_rows rows or wsrep_max_ws_size bytes (0: no limit).
type WriteSet struct {
	Database string `json:"database"`
	Rows     int64  `json:"rows"`
	Bytes    int64  `json:"bytes"` // estimated from the tables' average row length
	MaxRows  int64  `json:"max_rows"`
	MaxBytes int64  `json:"max_bytes"`
}

// Exclusion names something the recovery leaves out and why.
type Exclusion struct {
	ID     string `json:"id"`
	Kind   string `json:"kind"` // "instance" or "volume"
	Reason string `json:"reason"`
}

// errPlanMismatch means the database no longer matches the plan: a statement changed a different number of
// rows than it locked. The transaction is rolled back and nothing changes.
var errPlanMismatch = errors.New("database changed since the plan")

// errWriteSetTooLarge means the clean's one transaction would exceed a Galera cluster's write-set limits.
var errWriteSetTooLarge = errors.New("the clean is larger than the Galera cluster accepts in one transaction")

// maxIDsPerStatement bounds the ids one statement carries. MySQL refuses a statement with more than 65,535
// placeholders (error 1390), and a statement must also fit max_allowed_packet; 1,000 ids (2,000 placeholders
// for (instance, volume) pairs, about 80 kB) keep far from both while a 100,000-volume clean stays a few
// hundred statements.
const maxIDsPerStatement = 1000

// change is one statement of step 2 together with the locking SELECT of exactly the rows it touches: both
// share the WHERE clause.
type change struct {
	database string // how plans and errors name the database
	cell     int    // -1 for Cinder
	table    string
	key      []string
	set      []assignment // nil: the statement deletes the rows
	where    string
	args     []string
	expected int64 // rows matched when planned; -1 when not counted
}

// assignment is one column an UPDATE sets, and to what.
type assignment struct{ column, expr string }

// assign reads "a=x, b=y": the SET lists of step 2 hold no commas inside a value.
func assign(list string) []assignment {
	var out []assignment
	for _, part := range strings.Split(list, ", ") {
		column, expr, _ := strings.Cut(part, "=")
		out = append(out, assignment{column: column, expr: expr})
	}
	return out
}

func quoteIdent(s string) string { return "`" + strings.ReplaceAll(s, "`", "``") + "`" }

// backupColumns are what undo needs of a row: its key and the columns the statement sets; all of it (nil)
// for a row the statement deletes, so it can be inserted again.
func (c change) backupColumns() []string {
	if c.set == nil {
		return nil
	}
	cols := append([]string(nil), c.key...)
	for _, a := range c.set {
		cols = append(cols, a.column)
	}
	return cols
}

func (c change) selectSQL() string {
	cols := "*"
	if bc := c.backupColumns(); bc != nil {
		quoted := make([]string, len(bc))
		for i, col := range bc {
			quoted[i] = quoteIdent(col)
		}
		cols = strings.Join(quoted, ",")
	}
	return "SELECT " + cols + " FROM " + quoteIdent(c.table) + " WHERE " + c.where + " FOR UPDATE"
}

func (c change) mutationSQL() string {
	if c.set == nil {
		return "DELETE FROM " + quoteIdent(c.table) + " WHERE " + c.where
	}
	sets := make([]string, len(c.set))
	for i, a := range c.set {
		sets[i] = a.column + "=" + a.expr
	}
	return "UPDATE " + quoteIdent(c.table) + " SET " + strings.Join(sets, ", ") + " WHERE " + c.where
}

func (c change) queryArgs() []any { return stringArgs(c.args) }

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
// statement's row count is what it locked.
func (c change) db(dbs cloud.Databases) (*sql.DB, error) {
	if c.cell < 0 {
		return dbs.Cinder, nil
	}
	return dbs.Cell(c.cell)
}

func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?,", n), ",")
}

// pairsWhere selects the rows of exactly these (volume, instance) pairs, instance in the named column. The
// volumes are listed on their own first, so the volume_id index finds the candidate rows; the pairs are then
// matched as "volume instance" strings. A list of row constructors, ((v, i), …), is what MariaDB 10.11 takes
// seconds per thousand pairs to analyse against Nova's composite indexes; a list of plain strings it sorts
// once and searches.
func pairsWhere(pairs []Attachment, instanceColumn string) (string, []string) {
	volumes := volumeIDs(pairs)
	args := append([]string(nil), volumes...)
	for _, a := range pairs {
		args = append(args, a.VolumeID+" "+a.InstanceID)
	}
	where := fmt.Sprintf("volume_id IN (%s) AND CONCAT(volume_id, ' ', %s) IN (%s)", placeholders(len(volumes)), instanceColumn, placeholders(len(pairs)))
	return where, args
}

func stringArgs(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}

// chunks splits items into runs of at most size, in order.
func chunks[T any](items []T, size int) [][]T {
	var out [][]T
	for len(items) > size {
		out = append(out, items[:size])
		items = items[size:]
	}
	if len(items) > 0 {
		out = append(out, items)
	}
	return out
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
		case a.DriverVolumeType == "" && a.Unverifiable != "":
			excluded = append(excluded, Exclusion{ID: a.VolumeID, Kind: "volume", Reason: "its driver type is unknown (" + a.Unverifiable + "): take the manifest with the database DSNs"})
		case a.IsBoot():
			excluded = append(excluded, Exclusion{ID: a.VolumeID, Kind: "volume", Reason: "boot volume of " + a.InstanceID + ": the procedure does not detach it"})
		default:
			excluded = append(excluded, Exclusion{ID: a.VolumeID, Kind: "volume", Reason: fmt.Sprintf("%s volume: no iSCSI session was lost", a.DriverVolumeType)})
		}
	}
	return pairs, excluded
}

// dbCleanOptions say how much a plan of step 2 reads.
type dbCleanOptions struct {
	// count counts the rows each statement matches now, for a plan a person reads (--dry-run). A run does
	// not: the rows it locks are the count, and every statement must change exactly those.
	count bool
}

// planDBClean translates step 2 to the Cinder schema the database has, scoped to the data volumes of the
// given instances, in statements of at most maxIDsPerStatement ids. It changes nothing. A database that
// replicates with Galera always has its rows counted, to refuse a transaction the cluster would not accept.
func planDBClean(ctx context.Context, dbs cloud.Databases, m *Manifest, instances []string, opts dbCleanOptions) (*DBPlan, error) {
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
		bdms, err := bdmChanges(m, dbs, pairs)
		if err != nil {
			return nil, err
		}
		plan.changes = append(legacyChanges(dbs.CinderName, volumeIDs(pairs)), bdms...)
	case SchemaModern:
		changes, skipped, err := modernChanges(ctx, dbs, m, pairs)
		if err != nil {
			return nil, err
		}
		plan.changes = changes
		plan.Skipped = append(plan.Skipped, skipped...)
	}
	galera, err := galeraLimits(ctx, dbs, plan.changes)
	if err != nil {
		return nil, err
	}
	for i := range plan.changes {
		c := &plan.changes[i]
		c.expected = -1
		if _, onGalera := galera[c.database]; opts.count || onGalera {
			db, err := c.db(dbs)
			if err != nil {
				return nil, err
			}
			count := "SELECT COUNT(*) FROM " + quoteIdent(c.table) + " WHERE " + c.where
			if err := db.QueryRowContext(ctx, count, c.queryArgs()...).Scan(&c.expected); err != nil {
				return nil, fmt.Errorf("count rows for %s on %s: %w", c.table, c.database, err)
			}
		}
		plan.Statements = append(plan.Statements, DBStatement{Database: c.database, SQL: c.rendered(), ExpectedRows: c.expected})
	}
	if plan.WriteSets, err = writeSets(ctx, dbs, plan.changes, galera); err != nil {
		return nil, err
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
func legacyChanges(database string, ids []string) []change {
	var out []change
	for _, set := range []struct{ set, where string }{
		{"mountpoint=NULL", ""},
		{"status='available'", "status<>'error_deleting' AND "},
		{"attach_status='detached'", ""},
		{"instance_id=0", ""},
	} {
		for _, chunk := range chunks(ids, maxIDsPerStatement) {
			out = append(out, change{database: database, cell: -1, table: "volumes", key: []string{"id"}, set: assign(set.set),
				where: set.where + "id IN (" + placeholders(len(chunk)) + ")", args: chunk})
		}
	}
	return out
}

// modernChanges is the scoped equivalent of what `cinder reset-state --attach-status detached` does on the
// modern schema (Cinder since Liberty, through 2025.2): the volume's attachment rows soft-deleted as detached,
// the volume available and detached, its attached_mode admin metadata soft-deleted and its in-flight workers
// row removed; plus soft-deleting Nova's BDMs of the same attachments so the reattach is accepted on every
// release.
func modernChanges(ctx context.Context, dbs cloud.Databases, m *Manifest, pairs []Attachment) ([]change, []Exclusion, error) {
	ids := volumeIDs(pairs)
	sharedOutside, err := attachedOutside(ctx, dbs.Cinder, ids, pairs)
	if err != nil {
		return nil, nil, err
	}
	// A multiattach volume still attached to an instance outside the scope keeps its status; only the
	// attachments in scope are cleaned.
	var skipped []Exclusion
	var whole []string
	for _, id := range ids {
		if other, ok := sharedOutside[id]; ok {
			skipped = append(skipped, Exclusion{ID: id, Kind: "volume", Reason: "multiattach volume still attached to " + other + " (out of scope): only the attachments in scope are cleaned, its status stays"})
			continue
		}
		whole = append(whole, id)
	}
	cinder := dbs.CinderName
	var changes []change
	for _, chunk := range chunks(pairs, maxIDsPerStatement) {
		where, args := pairsWhere(chunk, "instance_uuid")
		changes = append(changes, change{
			database: cinder, cell: -1, table: "volume_attachment", key: []string{"id"},
			set:   assign("attach_status='detached', deleted=1, deleted_at=UTC_TIMESTAMP(), detach_time=UTC_TIMESTAMP()"),
			where: "deleted=0 AND attach_status<>'detached' AND " + where,
			args:  args,
		})
	}
	for _, stmt := range []struct {
		table, set, where string
	}{
		{"volumes", "status='available', attach_status='detached'", "deleted=0 AND status<>'error_deleting' AND id IN "},
		{"volume_admin_metadata", "deleted=1, deleted_at=UTC_TIMESTAMP()", "`key`='attached_mode' AND deleted=0 AND volume_id IN "},
		{"workers", "", "resource_type='VOLUME' AND resource_id IN "},
	} {
		for _, chunk := range chunks(whole, maxIDsPerStatement) {
			c := change{database: cinder, cell: -1, table: stmt.table, key: []string{"id"},
				where: stmt.where + "(" + placeholders(len(chunk)) + ")", args: chunk}
			if stmt.set != "" {
				c.set = assign(stmt.set)
			}
			changes = append(changes, c)
		}
	}
	bdms, err := bdmChanges(m, dbs, pairs)
	if err != nil {
		return nil, nil, err
	}
	return append(changes, bdms...), skipped, nil
}

// attachedOutside finds the volumes with a live attachment to an instance the clean does not cover.
func attachedOutside(ctx context.Context, db *sql.DB, ids []string, pairs []Attachment) (map[string]string, error) {
	inPairs := map[[2]string]bool{}
	for _, a := range pairs {
		inPairs[[2]string{a.VolumeID, a.InstanceID}] = true
	}
	out := map[string]string{}
	for _, chunk := range chunks(ids, maxIDsPerStatement) {
		rows, err := db.QueryContext(ctx, "SELECT volume_id, instance_uuid FROM `volume_attachment` WHERE deleted=0 AND attach_status<>'detached' AND volume_id IN ("+placeholders(len(chunk))+")", stringArgs(chunk)...)
		if err != nil {
			return nil, fmt.Errorf("read live attachments: %w", err)
		}
		for rows.Next() {
			var vol string
			var inst sql.NullString
			if err := rows.Scan(&vol, &inst); err != nil {
				rows.Close()
				return nil, fmt.Errorf("read live attachments: %w", err)
			}
			if !inPairs[[2]string{vol, inst.String}] {
				out[vol] = inst.String
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("read live attachments: %w", err)
		}
	}
	return out, nil
}

// bdmChanges soft-deletes Nova's block device mappings of the attachments, the way Nova does (deleted=id),
// in each instance's cell: since Wallaby Nova refuses to attach a volume that has a live mapping, and Nova
// before 28 (2023.2) keeps the mapping through the reboot, so without this the reattach is refused.
func bdmChanges(m *Manifest, dbs cloud.Databases, pairs []Attachment) ([]change, error) {
	byCell := map[int][]Attachment{}
	for _, a := range pairs {
		inst, ok := m.Instance(a.InstanceID)
		if !ok {
			return nil, fmt.Errorf("manifest attachment of volume %s names instance %s it does not list", a.VolumeID, a.InstanceID)
		}
		byCell[inst.Cell] = append(byCell[inst.Cell], a)
	}
	cells := make([]int, 0, len(byCell))
	for cell := range byCell {
		cells = append(cells, cell)
	}
	sort.Ints(cells)
	var changes []change
	for _, cell := range cells {
		for _, chunk := range chunks(byCell[cell], maxIDsPerStatement) {
			where, args := pairsWhere(chunk, "instance_uuid")
			changes = append(changes, change{
				database: dbs.CellName(cell), cell: cell, table: "block_device_mapping", key: []string{"id"},
				set:   assign("deleted=id, deleted_at=UTC_TIMESTAMP()"),
				where: "deleted=0 AND " + where,
				args:  args,
			})
		}
	}
	return changes, nil
}

// galeraLimits asks each database the changes run on whether it replicates with Galera, and returns the
// write-set limits of those that do.
func galeraLimits(ctx context.Context, dbs cloud.Databases, changes []change) (map[string]WriteSet, error) {
	out := map[string]WriteSet{}
	for _, c := range changes {
		if _, seen := out[c.database]; seen {
			continue
		}
		db, err := c.db(dbs)
		if err != nil {
			return nil, err
		}
		var name, on string
		err = db.QueryRowContext(ctx, "SHOW GLOBAL VARIABLES LIKE 'wsrep_on'").Scan(&name, &on)
		if errors.Is(err, sql.ErrNoRows) || (err == nil && !strings.EqualFold(on, "ON")) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("ask %s whether it replicates with Galera: %w", c.database, err)
		}
		ws := WriteSet{Database: c.database}
		if err := db.QueryRowContext(ctx, "SELECT @@wsrep_max_ws_rows, @@wsrep_max_ws_size").Scan(&ws.MaxRows, &ws.MaxBytes); err != nil {
			return nil, fmt.Errorf("read the Galera write-set limits of %s: %w", c.database, err)
		}
		out[c.database] = ws
	}
	return out, nil
}

// writeSets sizes the clean's transaction on each Galera database (rows counted, bytes estimated from the
// tables' average row length) and refuses, with the numbers, one the cluster would not accept.
func writeSets(ctx context.Context, dbs cloud.Databases, changes []change, galera map[string]WriteSet) ([]WriteSet, error) {
	if len(galera) == 0 {
		return nil, nil
	}
	rowLength := map[string]int64{}
	for _, c := range changes {
		ws, ok := galera[c.database]
		if !ok {
			continue
		}
		key := c.database + "." + c.table
		if _, known := rowLength[key]; !known {
			db, err := c.db(dbs)
			if err != nil {
				return nil, err
			}
			var avg sql.NullInt64
			if err := db.QueryRowContext(ctx, "SELECT AVG_ROW_LENGTH FROM information_schema.TABLES WHERE TABLE_SCHEMA=DATABASE() AND TABLE_NAME=?", c.table).Scan(&avg); err != nil {
				return nil, fmt.Errorf("read the row length of %s on %s: %w", c.table, c.database, err)
			}
			rowLength[key] = avg.Int64
		}
		ws.Rows += c.expected
		ws.Bytes += c.expected * rowLength[key]
		galera[c.database] = ws
	}
	var out []WriteSet
	var over []string
	for _, ws := range galera {
		out = append(out, ws)
		if ws.MaxRows > 0 && ws.Rows > ws.MaxRows {
			over = append(over, fmt.Sprintf("%s: %d rows > wsrep_max_ws_rows %d", ws.Database, ws.Rows, ws.MaxRows))
		}
		if ws.MaxBytes > 0 && ws.Bytes > ws.MaxBytes {
			over = append(over, fmt.Sprintf("%s: about %d bytes > wsrep_max_ws_size %d", ws.Database, ws.Bytes, ws.MaxBytes))
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Database < out[j].Database })
	if len(over) > 0 {
		sort.Strings(over)
		return out, fmt.Errorf("%w: %s; nothing was changed (raise the limits, or recover fewer instances at a time with --host or --instance)", errWriteSetTooLarge, strings.Join(over, "; "))
	}
	return out, nil
}
