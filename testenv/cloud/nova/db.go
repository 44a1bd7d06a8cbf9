package nova

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/osdr/osdr/testenv/cloud/store"
)

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
