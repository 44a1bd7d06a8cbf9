package cloud

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/osdr/osdr/testenv/cloud/osapi"
	"github.com/osdr/osdr/testenv/cloud/store"
)

// instance is an instances row, the columns the API renders and the compute manager decides on.
type instance struct {
	id                                           int64
	uuid                                         string
	displayName, hostname, host, node            sql.NullString
	vmState, taskState                           sql.NullString
	powerState                                   sql.NullInt64
	projectID, userID, imageRef                  sql.NullString
	createdAt, updatedAt, launchedAt, terminated sql.NullTime
	availabilityZone, accessIPv4, accessIPv6     sql.NullString
	configDrive, keyName                         sql.NullString
	autoDiskConfig                               sql.NullBool
	lockedBy                                     sql.NullString
	progress                                     sql.NullInt64
	description, reservationID                   sql.NullString
	launchIndex                                  sql.NullInt64
	kernelID, ramdiskID, rootDeviceName          sql.NullString
	userData                                     sql.NullString
	instanceTypeID, memoryMB, vcpus, rootGB      sql.NullInt64
	ephemeralGB                                  sql.NullInt64
}

const instanceColumns = `id, uuid, display_name, hostname, host, node, vm_state, task_state, power_state,
	project_id, user_id, image_ref, created_at, updated_at, launched_at, terminated_at, availability_zone,
	access_ip_v4, access_ip_v6, config_drive, key_name, auto_disk_config, locked_by, progress,
	display_description, reservation_id, launch_index, kernel_id, ramdisk_id, root_device_name, user_data,
	instance_type_id, memory_mb, vcpus, root_gb, ephemeral_gb`

func scanInstance(row interface{ Scan(...any) error }) (instance, error) {
	var i instance
	err := row.Scan(&i.id, &i.uuid, &i.displayName, &i.hostname, &i.host, &i.node, &i.vmState, &i.taskState,
		&i.powerState, &i.projectID, &i.userID, &i.imageRef, &i.createdAt, &i.updatedAt, &i.launchedAt,
		&i.terminated, &i.availabilityZone, &i.accessIPv4, &i.accessIPv6, &i.configDrive, &i.keyName,
		&i.autoDiskConfig, &i.lockedBy, &i.progress, &i.description, &i.reservationID, &i.launchIndex,
		&i.kernelID, &i.ramdiskID, &i.rootDeviceName, &i.userData, &i.instanceTypeID, &i.memoryMB, &i.vcpus,
		&i.rootGB, &i.ephemeralGB)
	return i, err
}

// name is the libvirt domain name (instance_name_template instance-%08x of the row id).
func (i instance) name() string { return fmt.Sprintf("instance-%08x", i.id) }

func instanceNotFound(id string) *osapi.Error {
	return osapi.NotFound("Instance %s could not be found.", id)
}

// getInstance loads a live instance; forUpdate locks its row for the caller's transaction.
func getInstance(ctx context.Context, q store.Querier, uuid string, forUpdate bool) (instance, error) {
	query := "SELECT " + instanceColumns + " FROM instances WHERE uuid = ? AND deleted = 0"
	if forUpdate {
		query += " FOR UPDATE"
	}
	i, err := scanInstance(q.QueryRowContext(ctx, query, uuid))
	if errors.Is(err, sql.ErrNoRows) {
		return instance{}, instanceNotFound(uuid)
	}
	if err != nil {
		return instance{}, fmt.Errorf("load instance %s: %w", uuid, err)
	}
	return i, nil
}

// instanceFilter narrows a server listing as Nova's search options do.
type instanceFilter struct {
	projectID   string
	host        string
	namePattern string
	vmStates    []string
	taskStates  []string
}

func listInstances(ctx context.Context, q store.Querier, f instanceFilter) ([]instance, error) {
	var where []string
	var args []any
	where = append(where, "deleted = 0")
	if f.projectID != "" {
		where, args = append(where, "project_id = ?"), append(args, f.projectID)
	}
	if f.host != "" {
		where, args = append(where, "host = ?"), append(args, f.host)
	}
	if f.namePattern != "" {
		// Nova filters names with the database's regular expressions (REGEXP on MySQL).
		where, args = append(where, "display_name REGEXP ?"), append(args, f.namePattern)
	}
	if len(f.vmStates) > 0 {
		where, args = append(where, "vm_state IN ("+store.Placeholders(len(f.vmStates))+")"), append(args, store.Args(f.vmStates)...)
	}
	if len(f.taskStates) > 0 {
		where, args = append(where, "task_state IN ("+store.Placeholders(len(f.taskStates))+")"), append(args, store.Args(f.taskStates)...)
	}
	rows, err := q.QueryContext(ctx, "SELECT "+instanceColumns+" FROM instances WHERE "+strings.Join(where, " AND ")+
		" ORDER BY created_at DESC, id DESC", args...)
	if err != nil {
		return nil, fmt.Errorf("list instances: %w", err)
	}
	defer rows.Close()
	var out []instance
	for rows.Next() {
		i, err := scanInstance(rows)
		if err != nil {
			return nil, fmt.Errorf("read an instance: %w", err)
		}
		out = append(out, i)
	}
	return out, rows.Err()
}

// bdm is a live block_device_mapping row.
type bdm struct {
	id                        int64
	uuid, instanceUUID        string
	volumeID, deviceName, tag sql.NullString
	attachmentID              sql.NullString
	connectionInfo            sql.NullString
	deleteOnTermination       sql.NullBool
	destinationType           sql.NullString
	bootIndex                 sql.NullInt64
}

// queryBDMs returns the live mappings matching cond, in creation order.
func queryBDMs(ctx context.Context, q store.Querier, cond string, args ...any) ([]bdm, error) {
	rows, err := q.QueryContext(ctx, `SELECT id, COALESCE(uuid, ''), instance_uuid, volume_id, device_name, tag,
		attachment_id, connection_info, delete_on_termination, destination_type, boot_index
		FROM block_device_mapping WHERE deleted = 0 AND `+cond+` ORDER BY id`, args...)
	if err != nil {
		return nil, fmt.Errorf("list block device mappings: %w", err)
	}
	defer rows.Close()
	var out []bdm
	for rows.Next() {
		var b bdm
		if err := rows.Scan(&b.id, &b.uuid, &b.instanceUUID, &b.volumeID, &b.deviceName, &b.tag, &b.attachmentID,
			&b.connectionInfo, &b.deleteOnTermination, &b.destinationType, &b.bootIndex); err != nil {
			return nil, fmt.Errorf("read a block device mapping: %w", err)
		}
		out = append(out, b)
	}
	return out, rows.Err()
}

// liveBDMs returns the instances' live mappings in creation order, keyed by instance uuid.
func liveBDMs(ctx context.Context, q store.Querier, uuids ...string) (map[string][]bdm, error) {
	out := map[string][]bdm{}
	if len(uuids) == 0 {
		return out, nil
	}
	all, err := queryBDMs(ctx, q, "instance_uuid IN ("+store.Placeholders(len(uuids))+")", store.Args(uuids)...)
	for _, b := range all {
		out[b.instanceUUID] = append(out[b.instanceUUID], b)
	}
	return out, err
}

// volumeBDM is BlockDeviceMapping.get_by_volume_and_instance; found is false when there is none.
func volumeBDM(ctx context.Context, q store.Querier, instanceUUID, volumeID string) (b bdm, found bool, err error) {
	list, err := queryBDMs(ctx, q, "instance_uuid = ? AND volume_id = ?", instanceUUID, volumeID)
	if err != nil || len(list) == 0 {
		return bdm{}, false, err
	}
	return list[0], true, nil
}

func networkInfos(ctx context.Context, q store.Querier, uuids []string) (map[string]string, error) {
	out := map[string]string{}
	if len(uuids) == 0 {
		return out, nil
	}
	rows, err := q.QueryContext(ctx, `SELECT instance_uuid, network_info FROM instance_info_caches
		WHERE deleted = 0 AND instance_uuid IN (`+store.Placeholders(len(uuids))+`)`, store.Args(uuids)...)
	if err != nil {
		return nil, fmt.Errorf("read instance info caches: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var uuid string
		var info sql.NullString
		if err := rows.Scan(&uuid, &info); err != nil {
			return nil, fmt.Errorf("read an instance info cache: %w", err)
		}
		out[uuid] = info.String
	}
	return out, rows.Err()
}

type fault struct {
	code      int
	message   sql.NullString
	details   sql.NullString
	createdAt sql.NullTime
}

// latestFaults returns each instance's newest fault, which Nova shows on ERROR servers.
func latestFaults(ctx context.Context, q store.Querier, uuids []string) (map[string]fault, error) {
	out := map[string]fault{}
	if len(uuids) == 0 {
		return out, nil
	}
	rows, err := q.QueryContext(ctx, `SELECT instance_uuid, code, message, details, created_at FROM instance_faults
		WHERE deleted = 0 AND instance_uuid IN (`+store.Placeholders(len(uuids))+`) ORDER BY created_at DESC, id DESC`,
		store.Args(uuids)...)
	if err != nil {
		return nil, fmt.Errorf("read instance faults: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var uuid string
		var f fault
		if err := rows.Scan(&uuid, &f.code, &f.message, &f.details, &f.createdAt); err != nil {
			return nil, fmt.Errorf("read an instance fault: %w", err)
		}
		if _, seen := out[uuid]; !seen {
			out[uuid] = f
		}
	}
	return out, rows.Err()
}

// addFault records an instance fault as compute_utils.add_instance_fault_from_exc does for an exception that
// is not a NovaException: code 500, the message, the host.
func addFault(ctx context.Context, q store.Querier, uuid, host string, cause error) error {
	msg := cause.Error()
	if len(msg) > 255 {
		msg = msg[:255]
	}
	t := store.Now()
	_, err := q.ExecContext(ctx, `INSERT INTO instance_faults (created_at, instance_uuid, code, message, details, host,
		deleted) VALUES (?, ?, 500, ?, ?, ?, 0)`, t, uuid, msg, cause.Error(), host)
	if err != nil {
		return fmt.Errorf("record a fault for instance %s: %w", uuid, err)
	}
	return nil
}

// computeService is a services row of the cell database.
type computeService struct {
	id                         int64
	uuid, host, binary         sql.NullString
	disabled, forcedDown       sql.NullBool
	disabledReason             sql.NullString
	createdAt, updatedAt, seen sql.NullTime
}

func listComputeServices(ctx context.Context, q store.Querier) ([]computeService, error) {
	rows, err := q.QueryContext(ctx, `SELECT id, uuid, host, `+"`binary`"+`, disabled, forced_down,
		disabled_reason, created_at, updated_at, last_seen_up FROM services WHERE deleted = 0 ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("list nova services: %w", err)
	}
	defer rows.Close()
	var out []computeService
	for rows.Next() {
		var s computeService
		if err := rows.Scan(&s.id, &s.uuid, &s.host, &s.binary, &s.disabled, &s.forcedDown,
			&s.disabledReason, &s.createdAt, &s.updatedAt, &s.seen); err != nil {
			return nil, fmt.Errorf("read a nova service: %w", err)
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

// serviceDownTime is nova.conf/cinder.conf service_down_time: a heartbeat older than this means down.
const serviceDownTime = 60 * time.Second

// isUp is the DB servicegroup driver's verdict: the last heartbeat (last_seen_up, else created_at) is recent
// and the service is not forced down.
func (s computeService) isUp(at time.Time) bool {
	beat := s.seen
	if !beat.Valid {
		beat = s.createdAt
	}
	if !beat.Valid || s.forcedDown.Bool {
		return false
	}
	elapsed := at.Sub(beat.Time)
	return elapsed <= serviceDownTime && elapsed >= -serviceDownTime
}

// hostStatus is compute API get_instance_host_status for instances on host.
func hostStatus(services []computeService, host string, at time.Time) string {
	if host == "" {
		return ""
	}
	for _, s := range services {
		if s.host.String != host || s.binary.String != "nova-compute" {
			continue
		}
		switch {
		case s.forcedDown.Bool:
			return "DOWN"
		case s.disabled.Bool:
			return "MAINTENANCE"
		case s.isUp(at):
			return "UP"
		default:
			return "UNKNOWN"
		}
	}
	return ""
}
