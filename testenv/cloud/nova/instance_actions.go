package nova

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/http"

	uuidpkg "github.com/google/uuid"

	"github.com/osdr/osdr/testenv/cloud/nova/novadb"
	"github.com/osdr/osdr/testenv/cloud/osapi"
	"github.com/osdr/osdr/testenv/cloud/store"
)

// Nova's instance_actions names (nova/compute/instance_actions.py).
const (
	actionReboot       = "reboot"
	actionStart        = "start"
	actionStop         = "stop"
	actionAttachVolume = "attach_volume"
	actionDetachVolume = "detach_volume"
)

// recordActionStart is the compute API's _record_action_start: one row per request that changes an
// instance, written before the cast, so it exists once the API has answered. It returns the request id the
// action is filed under; a call from a periodic task (no API request) gets its own, as Nova's admin context does.
func recordActionStart(ctx context.Context, q store.Querier, uuid, action string) (string, error) {
	who := osapi.CallerOf(ctx)
	if who.RequestID == "" {
		who.RequestID = "req-" + uuidpkg.NewString()
	}
	t := store.Now()
	_, err := q.ExecContext(ctx, "INSERT INTO instance_actions (created_at, updated_at, action, instance_uuid, "+
		"request_id, user_id, project_id, start_time, deleted) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 0)",
		t, t, action, uuid, who.RequestID, nullIfEmpty(who.UserID), nullIfEmpty(who.ProjectID), t)
	if err != nil {
		return "", fmt.Errorf("record action %s of instance %s: %w", action, uuid, err)
	}
	return who.RequestID, nil
}

func nullIfEmpty(s string) sql.NullString { return sql.NullString{String: s, Valid: s != ""} }

// instanceActionRow is an instance_actions row as the API shows it.
type instanceActionRow struct {
	id                                         int64
	action, uuid, requestID, userID, projectID sql.NullString
	message                                    sql.NullString
	startTime, updatedAt                       sql.NullTime
}

const instanceActionColumns = "id, action, instance_uuid, request_id, user_id, project_id, message, start_time, updated_at"

func scanInstanceAction(scan func(...any) error) (instanceActionRow, error) {
	var a instanceActionRow
	err := scan(&a.id, &a.action, &a.uuid, &a.requestID, &a.userID, &a.projectID, &a.message, &a.startTime, &a.updatedAt)
	return a, err
}

func (a instanceActionRow) view(r *osapi.Request) map[string]any {
	v := map[string]any{
		"action": osapi.NullString(a.action), "instance_uuid": osapi.NullString(a.uuid), "request_id": osapi.NullString(a.requestID),
		"user_id": osapi.NullString(a.userID), "project_id": osapi.NullString(a.projectID), "message": osapi.NullString(a.message),
		"start_time": nullTime(a.startTime),
	}
	if r.Version.AtLeast(2, 58) {
		v["updated_at"] = nullTime(a.updatedAt)
	}
	return v
}

func nullTime(t sql.NullTime) any {
	if !t.Valid {
		return nil
	}
	return t.Time.UTC().Format(osapi.NaiveTime)
}

// listInstanceActions is GET /servers/{id}/os-instance-actions: newest first.
func (c *Service) listInstanceActions(w http.ResponseWriter, r *osapi.Request) error {
	uuid := r.PathValue("id")
	if _, err := novadb.GetInstance(r.Context(), c.db, uuid, false); err != nil {
		return err
	}
	rows, err := c.db.QueryContext(r.Context(), "SELECT "+instanceActionColumns+" FROM instance_actions "+
		"WHERE instance_uuid = ? AND deleted = 0 ORDER BY created_at DESC, id DESC", uuid)
	if err != nil {
		return fmt.Errorf("list actions of %s: %w", uuid, err)
	}
	defer rows.Close()
	actions := []any{}
	for rows.Next() {
		a, err := scanInstanceAction(rows.Scan)
		if err != nil {
			return fmt.Errorf("list actions of %s: %w", uuid, err)
		}
		actions = append(actions, a.view(r))
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("list actions of %s: %w", uuid, err)
	}
	osapi.WriteJSON(w, http.StatusOK, map[string]any{"instanceActions": actions})
	return nil
}

// showInstanceAction is GET /servers/{id}/os-instance-actions/{request_id}: the action and its events, newest
// first. The simulation's one user is admin, so events carry their traceback.
func (c *Service) showInstanceAction(w http.ResponseWriter, r *osapi.Request) error {
	uuid, requestID := r.PathValue("id"), r.PathValue("request_id")
	if _, err := novadb.GetInstance(r.Context(), c.db, uuid, false); err != nil {
		return err
	}
	a, err := scanInstanceAction(c.db.QueryRowContext(r.Context(), "SELECT "+instanceActionColumns+
		" FROM instance_actions WHERE instance_uuid = ? AND request_id = ? AND deleted = 0 ORDER BY id DESC LIMIT 1",
		uuid, requestID).Scan)
	if errors.Is(err, sql.ErrNoRows) {
		return osapi.NotFound("Action %s not found", requestID)
	}
	if err != nil {
		return fmt.Errorf("show action %s of %s: %w", requestID, uuid, err)
	}
	rows, err := c.db.QueryContext(r.Context(), "SELECT event, start_time, finish_time, result, traceback, host, details "+
		"FROM instance_actions_events WHERE action_id = ? AND deleted = 0 ORDER BY created_at DESC, id DESC", a.id)
	if err != nil {
		return fmt.Errorf("events of action %s: %w", requestID, err)
	}
	defer rows.Close()
	events := []any{}
	for rows.Next() {
		var event, result, traceback, host, details sql.NullString
		var start, finish sql.NullTime
		if err := rows.Scan(&event, &start, &finish, &result, &traceback, &host, &details); err != nil {
			return fmt.Errorf("events of action %s: %w", requestID, err)
		}
		e := map[string]any{
			"event": osapi.NullString(event), "start_time": nullTime(start), "finish_time": nullTime(finish),
			"result": osapi.NullString(result), "traceback": osapi.NullString(traceback),
		}
		if r.Version.AtLeast(2, 62) {
			e["host"] = osapi.NullString(host)
			e["hostId"] = hostID(host.String, a.projectID.String)
		}
		if r.Version.AtLeast(2, 84) {
			e["details"] = osapi.NullString(details)
		}
		events = append(events, e)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("events of action %s: %w", requestID, err)
	}
	v := a.view(r)
	v["events"] = events
	osapi.WriteJSON(w, http.StatusOK, map[string]any{"instanceAction": v})
	return nil
}
