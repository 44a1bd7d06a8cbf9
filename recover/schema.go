package recover

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sort"
	"strings"
)

// CinderSchema names the flavour of Cinder database found; step 2 is translated to it.
type CinderSchema string

const (
	// SchemaLegacy is the nova-volume-era volumes table the guide's SQL was written for.
	SchemaLegacy CinderSchema = "legacy"
	// SchemaModern is every Cinder since the multi-attach work (2015): attachments in volume_attachment.
	SchemaModern CinderSchema = "modern"
)

// errUnknownSchema means the database is neither schema osdr knows how to clean; nothing is changed.
var errUnknownSchema = errors.New("schema not recognised")

// tableColumns reads the columns of every table in the connection's database from INFORMATION_SCHEMA.
func tableColumns(ctx context.Context, db *sql.DB) (map[string]map[string]bool, error) {
	rows, err := db.QueryContext(ctx, `SELECT table_name, column_name FROM information_schema.columns
		WHERE table_schema = DATABASE()`)
	if err != nil {
		return nil, fmt.Errorf("read information_schema: %w", err)
	}
	defer rows.Close()
	tables := map[string]map[string]bool{}
	for rows.Next() {
		var table, column string
		if err := rows.Scan(&table, &column); err != nil {
			return nil, fmt.Errorf("read information_schema: %w", err)
		}
		table, column = strings.ToLower(table), strings.ToLower(column)
		if tables[table] == nil {
			tables[table] = map[string]bool{}
		}
		tables[table][column] = true
	}
	return tables, rows.Err()
}

// missingColumns lists table.column names the database lacks, sorted.
func missingColumns(tables map[string]map[string]bool, want map[string][]string) []string {
	var missing []string
	for table, cols := range want {
		for _, c := range cols {
			if !tables[table][c] {
				missing = append(missing, table+"."+c)
			}
		}
	}
	sort.Strings(missing)
	return missing
}

var (
	modernCinderColumns = map[string][]string{
		"volumes":               {"id", "status", "attach_status", "deleted", "multiattach"},
		"volume_attachment":     {"id", "volume_id", "instance_uuid", "attach_status", "deleted", "deleted_at", "detach_time", "mountpoint", "attached_host", "connection_info"},
		"volume_admin_metadata": {"volume_id", "key", "deleted", "deleted_at"},
		"workers":               {"resource_type", "resource_id"},
	}
	legacyCinderColumns = map[string][]string{
		"volumes": {"id", "status", "attach_status", "instance_id", "mountpoint"},
	}
	novaColumns = map[string][]string{
		"instances":            {"id", "uuid", "host", "vm_state", "power_state", "task_state", "deleted"},
		"block_device_mapping": {"id", "uuid", "instance_uuid", "volume_id", "device_name", "boot_index", "attachment_id", "connection_info", "deleted", "deleted_at"},
	}
)

// DetectCinderSchema tells which Cinder schema the database has, from INFORMATION_SCHEMA alone.
func DetectCinderSchema(ctx context.Context, db *sql.DB) (CinderSchema, error) {
	tables, err := tableColumns(ctx, db)
	if err != nil {
		return "", err
	}
	if _, ok := tables["volume_attachment"]; ok {
		if missing := missingColumns(tables, modernCinderColumns); len(missing) > 0 {
			return "", fmt.Errorf("%w: Cinder database has volume_attachment but lacks %s", errUnknownSchema, strings.Join(missing, ", "))
		}
		return SchemaModern, nil
	}
	if missing := missingColumns(tables, legacyCinderColumns); len(missing) > 0 {
		return "", fmt.Errorf("%w: Cinder database has no volume_attachment table and lacks %s", errUnknownSchema, strings.Join(missing, ", "))
	}
	return SchemaLegacy, nil
}

// checkNovaSchema verifies a Nova cell database has the columns the engine reads and writes.
func checkNovaSchema(ctx context.Context, db *sql.DB) error {
	tables, err := tableColumns(ctx, db)
	if err != nil {
		return err
	}
	if missing := missingColumns(tables, novaColumns); len(missing) > 0 {
		return fmt.Errorf("%w: Nova database lacks %s", errUnknownSchema, strings.Join(missing, ", "))
	}
	return nil
}
