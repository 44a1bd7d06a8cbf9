package cinder

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/osdr/osdr/testenv"
	"github.com/osdr/osdr/testenv/cloud/osapi"
	"github.com/osdr/osdr/testenv/cloud/store"
)

// ErrSchemaMismatch means the Cinder database is not loaded with the schema the profile plays.
var ErrSchemaMismatch = errors.New("the Cinder database does not have the profile's schema")

// DetectSchema tells the Cinder database's schema from INFORMATION_SCHEMA: a volume_attachment table
// is the modern schema, a volumes table with instance_id and mountpoint the nova-volume-era one.
func DetectSchema(ctx context.Context, db *sql.DB) (testenv.Schema, error) {
	rows, err := db.QueryContext(ctx, `SELECT LOWER(table_name), LOWER(column_name) FROM information_schema.columns
		WHERE table_schema = DATABASE() AND LOWER(table_name) IN ('volumes', 'volume_attachment')`)
	if err != nil {
		return "", fmt.Errorf("read the Cinder schema: %w", err)
	}
	defer rows.Close()
	columns := map[string]bool{}
	for rows.Next() {
		var table, column string
		if err := rows.Scan(&table, &column); err != nil {
			return "", fmt.Errorf("read the Cinder schema: %w", err)
		}
		columns[table+"."+column] = true
	}
	if err := rows.Err(); err != nil {
		return "", fmt.Errorf("read the Cinder schema: %w", err)
	}
	switch {
	case columns["volume_attachment.id"]:
		return testenv.SchemaCinder, nil
	case columns["volumes.instance_id"] && columns["volumes.mountpoint"]:
		return testenv.SchemaCinderLegacy, nil
	}
	return "", fmt.Errorf("%w: it has neither a volume_attachment table nor volumes.instance_id and mountpoint",
		ErrSchemaMismatch)
}

// volumeRow is a volumes row, the columns Cinder's API renders and the attach flows decide on.
type volumeRow struct {
	id                                       string
	createdAt, updatedAt                     sql.NullTime
	userID, projectID, host                  sql.NullString
	size                                     sql.NullInt64
	availabilityZone, status, attachStatus   sql.NullString
	displayName, displayDescription          sql.NullString
	snapshotID                               sql.NullString
	volumeTypeID                             string
	sourceVolID                              sql.NullString
	bootable                                 sql.NullBool
	nameID, encryptionKeyID, migrationStatus sql.NullString
	replicationStatus, consistencyGroupID    sql.NullString
	providerID, providerLocation             sql.NullString
	multiattach                              sql.NullBool
	clusterName, groupID, serviceUUID        sql.NullString
	sharedTargets, useQuota                  sql.NullBool
}

const volumeColumns = `id, created_at, updated_at, user_id, project_id, host, size, availability_zone, status,
	attach_status, display_name, display_description, snapshot_id, volume_type_id, source_volid, bootable, ` + "`_name_id`" + `,
	` + "`encryption_key_id`" + `, migration_status, replication_status, consistencygroup_id, provider_id, provider_location,
	multiattach, cluster_name, group_id, service_uuid, shared_targets, use_quota`

// legacyVolumeColumns reads the nova-volume table into the same shape: what it lacks is NULL (no type, not
// bootable, not multiattach), its integer volume type id a string.
const legacyVolumeColumns = `id, created_at, updated_at, user_id, project_id, host, size, availability_zone, status,
	attach_status, display_name, display_description, snapshot_id, COALESCE(CAST(volume_type_id AS CHAR), ''), NULL,
	NULL, NULL, NULL, NULL, NULL, NULL, NULL, provider_location, NULL, NULL, NULL, NULL, NULL, NULL`

// volumeColumns is the select list of the profile's volumes table.
func (c *Service) volumeColumns() string {
	if c.rel.Legacy {
		return legacyVolumeColumns
	}
	return volumeColumns
}

func scanVolume(row interface{ Scan(...any) error }) (volumeRow, error) {
	var v volumeRow
	err := row.Scan(&v.id, &v.createdAt, &v.updatedAt, &v.userID, &v.projectID, &v.host, &v.size,
		&v.availabilityZone, &v.status, &v.attachStatus, &v.displayName, &v.displayDescription, &v.snapshotID,
		&v.volumeTypeID, &v.sourceVolID, &v.bootable, &v.nameID, &v.encryptionKeyID, &v.migrationStatus,
		&v.replicationStatus, &v.consistencyGroupID, &v.providerID, &v.providerLocation, &v.multiattach,
		&v.clusterName, &v.groupID, &v.serviceUUID, &v.sharedTargets, &v.useQuota)
	return v, err
}

func volumeNotFound(id string) *osapi.Error {
	return osapi.NotFound("Volume %s could not be found.", id)
}

// getVolume loads a live volume with the given select list (volumeColumns or legacyVolumeColumns).
func getVolume(ctx context.Context, q store.Querier, columns, id string, forUpdate bool) (volumeRow, error) {
	query := "SELECT " + columns + " FROM volumes WHERE id = ? AND deleted = 0"
	if forUpdate {
		query += " FOR UPDATE"
	}
	v, err := scanVolume(q.QueryRowContext(ctx, query, id))
	if errors.Is(err, sql.ErrNoRows) {
		return volumeRow{}, volumeNotFound(id)
	}
	if err != nil {
		return volumeRow{}, fmt.Errorf("load volume %s: %w", id, err)
	}
	return v, nil
}

// volumeFilter narrows a volume listing.
type volumeFilter struct {
	projectID, name, status string
	// times are the time comparison filters, each a column and its comparisons, any of which selects a volume
	// (cinder.db's _filter_time_comparison joins them with OR).
	times []timeFilter
}

// timeFilter is one column's comparisons, by SQL operator.
type timeFilter struct {
	column      string
	comparisons []timeComparison
}

type timeComparison struct {
	op string // >, >=, =, !=, <, <=
	at time.Time
}

func listVolumes(ctx context.Context, q store.Querier, columns string, f volumeFilter) ([]volumeRow, error) {
	where := []string{"deleted = 0"}
	var args []any
	for col, val := range map[string]string{"project_id": f.projectID, "display_name": f.name, "status": f.status} {
		if val != "" {
			where, args = append(where, col+" = ?"), append(args, val)
		}
	}
	for _, tf := range f.times {
		var any []string
		for _, c := range tf.comparisons {
			any, args = append(any, tf.column+" "+c.op+" ?"), append(args, c.at)
		}
		where = append(where, "("+strings.Join(any, " OR ")+")")
	}
	rows, err := q.QueryContext(ctx, "SELECT "+columns+" FROM volumes WHERE "+strings.Join(where, " AND ")+
		" ORDER BY created_at DESC, id DESC", args...)
	if err != nil {
		return nil, fmt.Errorf("list volumes: %w", err)
	}
	defer rows.Close()
	var out []volumeRow
	for rows.Next() {
		v, err := scanVolume(rows)
		if err != nil {
			return nil, fmt.Errorf("read a volume: %w", err)
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// attachment is a live volume_attachment row.
type attachment struct {
	id, volumeID                           string
	instanceUUID, attachedHost, mountpoint sql.NullString
	attachTime                             sql.NullTime
	attachStatus                           sql.NullString
}

func liveAttachments(ctx context.Context, q store.Querier, volumeIDs []string) (map[string][]attachment, error) {
	out := map[string][]attachment{}
	if len(volumeIDs) == 0 {
		return out, nil
	}
	rows, err := q.QueryContext(ctx, `SELECT id, volume_id, instance_uuid, attached_host, mountpoint, attach_time,
		attach_status FROM volume_attachment WHERE deleted = 0 AND volume_id IN (`+store.Placeholders(len(volumeIDs))+`)
		ORDER BY attach_time, id`, store.Args(volumeIDs)...)
	if err != nil {
		return nil, fmt.Errorf("list volume attachments: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var a attachment
		if err := rows.Scan(&a.id, &a.volumeID, &a.instanceUUID, &a.attachedHost, &a.mountpoint, &a.attachTime,
			&a.attachStatus); err != nil {
			return nil, fmt.Errorf("read a volume attachment: %w", err)
		}
		out[a.volumeID] = append(out[a.volumeID], a)
	}
	return out, rows.Err()
}

// volumeAttachments returns the volumes' live attachments: volume_attachment rows, or on the legacy release
// the one each attached row describes, its instance_id resolved against Nova's instances.id.
func (c *Service) volumeAttachments(ctx context.Context, volumeIDs []string) (map[string][]attachment, error) {
	if !c.rel.Legacy {
		return liveAttachments(ctx, c.db, volumeIDs)
	}
	out := map[string][]attachment{}
	if len(volumeIDs) == 0 {
		return out, nil
	}
	rows, err := c.db.QueryContext(ctx, `SELECT id, instance_id, mountpoint, attach_time, attach_status FROM volumes
		WHERE deleted = 0 AND instance_id IS NOT NULL AND instance_id <> 0 AND id IN (`+store.Placeholders(len(volumeIDs))+`)`,
		store.Args(volumeIDs)...)
	if err != nil {
		return nil, fmt.Errorf("list legacy attachments: %w", err)
	}
	defer rows.Close()
	type legacyRow struct {
		a          attachment
		instanceID int64
		attachTime sql.NullString
	}
	var found []legacyRow
	for rows.Next() {
		var l legacyRow
		if err := rows.Scan(&l.a.volumeID, &l.instanceID, &l.a.mountpoint, &l.attachTime, &l.a.attachStatus); err != nil {
			return nil, fmt.Errorf("read a legacy attachment: %w", err)
		}
		if t, err := time.Parse(legacyAttachTime, l.attachTime.String); err == nil {
			l.a.attachTime = sql.NullTime{Time: t, Valid: true}
		}
		found = append(found, l)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list legacy attachments: %w", err)
	}
	for _, l := range found {
		if l.a.instanceUUID, l.a.attachedHost, err = c.nova.LegacyInstance(ctx, l.instanceID); err != nil {
			return nil, fmt.Errorf("resolve instance id %d: %w", l.instanceID, err)
		}
		out[l.a.volumeID] = append(out[l.a.volumeID], l.a)
	}
	return out, nil
}

// visibleAdminMetadata returns the admin metadata Cinder copies into a volume's metadata for every caller
// (api_utils.add_visible_admin_metadata: readonly and attached_mode).
func visibleAdminMetadata(ctx context.Context, q store.Querier, volumeIDs []string) (map[string]map[string]any, error) {
	out := map[string]map[string]any{}
	if len(volumeIDs) == 0 {
		return out, nil
	}
	rows, err := q.QueryContext(ctx, "SELECT volume_id, `key`, value FROM volume_admin_metadata WHERE deleted = 0 "+
		"AND `key` IN ('readonly', 'attached_mode') AND volume_id IN ("+store.Placeholders(len(volumeIDs))+") ORDER BY id",
		store.Args(volumeIDs)...)
	if err != nil {
		return nil, fmt.Errorf("read volume admin metadata: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id, key string
		var value sql.NullString
		if err := rows.Scan(&id, &key, &value); err != nil {
			return nil, fmt.Errorf("read volume admin metadata: %w", err)
		}
		if out[id] == nil {
			out[id] = map[string]any{}
		}
		out[id][key] = osapi.NullString(value)
	}
	return out, rows.Err()
}

// volumeTypes is the volume_types table the schema does not carry: type ids and names.
type volumeTypes struct {
	ids  *store.IDs
	mu   sync.Mutex
	byID map[string]string
}

// defaultVolumeType is the type Cinder creates at installation and gives volumes created without one.
const defaultVolumeType = "__DEFAULT__"

// newVolumeTypes holds the type Cinder creates at installation, with the given id.
func newVolumeTypes(ids *store.IDs, defaultID string) *volumeTypes {
	return &volumeTypes{ids: ids, byID: map[string]string{defaultID: defaultVolumeType}}
}

// ensure returns the id of the named type, creating it.
func (t *volumeTypes) ensure(name string) string {
	t.mu.Lock()
	defer t.mu.Unlock()
	for id, n := range t.byID {
		if n == name {
			return id
		}
	}
	id := t.ids.UUID()
	t.byID[id] = name
	return id
}

func (t *volumeTypes) name(id string) (string, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	n, ok := t.byID[id]
	return n, ok
}

// volumeService is a Cinder services row.
type volumeService struct {
	host, binary, zone, disabledReason, clusterName sql.NullString
	replicationStatus, activeBackendID              sql.NullString
	disabled, frozen                                sql.NullBool
	createdAt, updatedAt, modifiedAt                sql.NullTime
}

// volumeServices lists the volume services: Cinder's services rows, or on the legacy release nova-volume's rows
// of Nova's services table.
func (c *Service) volumeServices(ctx context.Context, host, binary string) ([]volumeService, error) {
	if !c.rel.Legacy {
		return listVolumeServices(ctx, c.db, host, binary)
	}
	rows, err := c.nova.VolumeServices(ctx, host, binary)
	if err != nil {
		return nil, fmt.Errorf("list cinder services: %w", err)
	}
	out := make([]volumeService, len(rows))
	for i, r := range rows {
		out[i] = volumeService{host: r.Host, binary: r.Binary, zone: sql.NullString{String: "nova", Valid: true},
			disabledReason: r.DisabledReason, disabled: r.Disabled, createdAt: r.CreatedAt, updatedAt: r.UpdatedAt}
	}
	return out, nil
}

func listVolumeServices(ctx context.Context, q store.Querier, host, binary string) ([]volumeService, error) {
	query := "SELECT host, `binary`, availability_zone, disabled_reason, cluster_name, replication_status, " +
		"active_backend_id, disabled, frozen, created_at, updated_at, modified_at FROM services WHERE deleted = 0"
	var args []any
	if host != "" {
		query, args = query+" AND host = ?", append(args, host)
	}
	if binary != "" {
		query, args = query+" AND `binary` = ?", append(args, binary)
	}
	rows, err := q.QueryContext(ctx, query+" ORDER BY id", args...)
	if err != nil {
		return nil, fmt.Errorf("list cinder services: %w", err)
	}
	defer rows.Close()
	var out []volumeService
	for rows.Next() {
		var s volumeService
		if err := rows.Scan(&s.host, &s.binary, &s.zone, &s.disabledReason, &s.clusterName, &s.replicationStatus,
			&s.activeBackendID, &s.disabled, &s.frozen, &s.createdAt, &s.updatedAt, &s.modifiedAt); err != nil {
			return nil, fmt.Errorf("read a cinder service: %w", err)
		}
		out = append(out, s)
	}
	return out, rows.Err()
}
