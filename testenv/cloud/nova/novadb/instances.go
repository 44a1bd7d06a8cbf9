package novadb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/osdr/osdr/testenv/cloud/osapi"
	"github.com/osdr/osdr/testenv/cloud/store"
)

// Instance is an instances row, the columns the API renders and the compute manager decides on.
type Instance struct {
	ID                                             int64
	UUID                                           string
	DisplayName, Hostname, Host, Node              sql.NullString
	VMState, TaskState                             sql.NullString
	PowerState                                     sql.NullInt64
	ProjectID, UserID, ImageRef                    sql.NullString
	CreatedAt, UpdatedAt, LaunchedAt, TerminatedAt sql.NullTime
	AvailabilityZone, AccessIPv4, AccessIPv6       sql.NullString
	ConfigDrive, KeyName                           sql.NullString
	AutoDiskConfig                                 sql.NullBool
	LockedBy                                       sql.NullString
	Progress                                       sql.NullInt64
	Description, ReservationID                     sql.NullString
	LaunchIndex                                    sql.NullInt64
	KernelID, RamdiskID, RootDeviceName            sql.NullString
	UserData                                       sql.NullString
	InstanceTypeID, MemoryMB, VCPUs, RootGB        sql.NullInt64
	EphemeralGB                                    sql.NullInt64
}

const instanceColumns = `id, uuid, display_name, hostname, host, node, vm_state, task_state, power_state,
	project_id, user_id, image_ref, created_at, updated_at, launched_at, terminated_at, availability_zone,
	access_ip_v4, access_ip_v6, config_drive, key_name, auto_disk_config, locked_by, progress,
	display_description, reservation_id, launch_index, kernel_id, ramdisk_id, root_device_name, user_data,
	instance_type_id, memory_mb, vcpus, root_gb, ephemeral_gb`

func scanInstance(row interface{ Scan(...any) error }) (Instance, error) {
	var i Instance
	err := row.Scan(&i.ID, &i.UUID, &i.DisplayName, &i.Hostname, &i.Host, &i.Node, &i.VMState, &i.TaskState,
		&i.PowerState, &i.ProjectID, &i.UserID, &i.ImageRef, &i.CreatedAt, &i.UpdatedAt, &i.LaunchedAt,
		&i.TerminatedAt, &i.AvailabilityZone, &i.AccessIPv4, &i.AccessIPv6, &i.ConfigDrive, &i.KeyName,
		&i.AutoDiskConfig, &i.LockedBy, &i.Progress, &i.Description, &i.ReservationID, &i.LaunchIndex,
		&i.KernelID, &i.RamdiskID, &i.RootDeviceName, &i.UserData, &i.InstanceTypeID, &i.MemoryMB, &i.VCPUs,
		&i.RootGB, &i.EphemeralGB)
	return i, err
}

// Name is the libvirt domain Name (instance_name_template instance-%08x of the row id).
func (i Instance) Name() string { return fmt.Sprintf("instance-%08x", i.ID) }

func instanceNotFound(id string) *osapi.Error {
	return osapi.NotFound("Instance %s could not be found.", id)
}

// GetInstance loads a live instance; forUpdate locks its row for the caller's transaction.
func GetInstance(ctx context.Context, q store.Querier, uuid string, forUpdate bool) (Instance, error) {
	query := "SELECT " + instanceColumns + " FROM instances WHERE uuid = ? AND deleted = 0"
	if forUpdate {
		query += " FOR UPDATE"
	}
	i, err := scanInstance(q.QueryRowContext(ctx, query, uuid))
	if errors.Is(err, sql.ErrNoRows) {
		return Instance{}, instanceNotFound(uuid)
	}
	if err != nil {
		return Instance{}, fmt.Errorf("load instance %s: %w", uuid, err)
	}
	return i, nil
}

// SaveInstance is Instance.save: it writes the columns in set (and updated_at), and when expected is not nil
// only if the task_state is still one of expected ("" for NULL). It reports whether the row was written.
func SaveInstance(ctx context.Context, q store.Querier, uuid string, expected []string, set map[string]any) (bool, error) {
	cols := make([]string, 0, len(set))
	for k := range set {
		cols = append(cols, k)
	}
	slices.Sort(cols)
	assignments := make([]string, 0, len(cols)+1)
	args := make([]any, 0, len(cols)+4)
	for _, col := range cols {
		assignments = append(assignments, col+" = ?")
		args = append(args, set[col])
	}
	assignments = append(assignments, "updated_at = ?")
	args = append(args, store.Now(), uuid)
	query := "UPDATE instances SET " + strings.Join(assignments, ", ") + " WHERE uuid = ? AND deleted = 0"
	if expected != nil {
		var cond []string
		var named []string
		for _, e := range expected {
			if e == "" {
				cond = append(cond, "task_state IS NULL")
			} else {
				named = append(named, e)
			}
		}
		if len(named) > 0 {
			cond = append(cond, "task_state IN ("+store.Placeholders(len(named))+")")
			args = append(args, store.Args(named)...)
		}
		query += " AND (" + strings.Join(cond, " OR ") + ")"
	}
	res, err := q.ExecContext(ctx, query, args...)
	if err != nil {
		return false, fmt.Errorf("save instance %s: %w", uuid, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("save instance %s: %w", uuid, err)
	}
	return n > 0, nil
}

var hostnameUnsafe = regexp.MustCompile(`[^a-z0-9.-]+`)

// SanitizeHostname is Nova's sanitize_hostname of a display name.
func SanitizeHostname(name string) string {
	h := hostnameUnsafe.ReplaceAllString(strings.ReplaceAll(strings.ToLower(name), "_", "-"), "-")
	return strings.Trim(h, ".-")
}

// InstanceFilter narrows a server listing as Nova's search options do.
type InstanceFilter struct {
	ProjectID   string
	Host        string
	NamePattern string // a regular expression the display name matches
	VMStates    []string
	TaskStates  []string
	// ChangesSince and ChangesBefore, when set, keep the instances saved at or after and at or before them,
	// deleted ones included (instance_get_all_by_filters_sort with changes-since and changes-before).
	ChangesSince, ChangesBefore time.Time
}

// ListInstances lists the instances f selects, newest first: the live ones, or with a changes-since or
// changes-before time the deleted ones too.
func ListInstances(ctx context.Context, q store.Querier, f InstanceFilter) ([]Instance, error) {
	var where []string
	var args []any
	if f.ChangesSince.IsZero() && f.ChangesBefore.IsZero() {
		where = append(where, "deleted = 0")
	}
	if !f.ChangesSince.IsZero() {
		where, args = append(where, "updated_at >= ?"), append(args, f.ChangesSince)
	}
	if !f.ChangesBefore.IsZero() {
		where, args = append(where, "updated_at <= ?"), append(args, f.ChangesBefore)
	}
	if f.ProjectID != "" {
		where, args = append(where, "project_id = ?"), append(args, f.ProjectID)
	}
	if f.Host != "" {
		where, args = append(where, "host = ?"), append(args, f.Host)
	}
	if f.NamePattern != "" {
		// Nova filters names with the database's regular expressions (REGEXP on MySQL).
		where, args = append(where, "display_name REGEXP ?"), append(args, f.NamePattern)
	}
	if len(f.VMStates) > 0 {
		where, args = append(where, "vm_state IN ("+store.Placeholders(len(f.VMStates))+")"), append(args, store.Args(f.VMStates)...)
	}
	if len(f.TaskStates) > 0 {
		where, args = append(where, "task_state IN ("+store.Placeholders(len(f.TaskStates))+")"), append(args, store.Args(f.TaskStates)...)
	}
	rows, err := q.QueryContext(ctx, "SELECT "+instanceColumns+" FROM instances WHERE "+strings.Join(where, " AND ")+
		" ORDER BY created_at DESC, id DESC", args...)
	if err != nil {
		return nil, fmt.Errorf("list instances: %w", err)
	}
	defer rows.Close()
	var out []Instance
	for rows.Next() {
		i, err := scanInstance(rows)
		if err != nil {
			return nil, fmt.Errorf("read an instance: %w", err)
		}
		out = append(out, i)
	}
	return out, rows.Err()
}
