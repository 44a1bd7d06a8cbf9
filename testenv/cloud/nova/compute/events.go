package compute

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/osdr/osdr/testenv/cloud/osapi"
	"github.com/osdr/osdr/testenv/cloud/store"
)

// The results an instance action's events finish with.
const (
	eventSuccess = "Success"
	eventError   = "Error"
)

// actionEvent is one event nova-compute's wrap_instance_event reports on the action of the request that cast
// the operation: started when the operation begins, finished with its result when it ends.
type actionEvent struct {
	m  *Manager
	id int64 // 0: the action was not found, so nothing is recorded (Nova logs and carries on)
}

// startEvent is InstanceActionEvent.event_start.
func (m *Manager) startEvent(ctx context.Context, uuid, requestID, event, host string) actionEvent {
	if requestID == "" {
		return actionEvent{m: m}
	}
	var actionID int64
	err := m.db.QueryRowContext(ctx, "SELECT id FROM instance_actions WHERE instance_uuid = ? AND request_id = ? "+
		"ORDER BY id DESC LIMIT 1", uuid, requestID).Scan(&actionID)
	if err != nil {
		m.logf("compute %s: action of request %s on %s: %v", host, requestID, uuid, err)
		return actionEvent{m: m}
	}
	t := store.Now()
	res, err := m.db.ExecContext(ctx, "INSERT INTO instance_actions_events (created_at, updated_at, event, action_id, "+
		"start_time, host, deleted) VALUES (?, ?, ?, ?, ?, ?, 0)", t, t, event, actionID, t, host)
	if err == nil {
		_, err = m.db.ExecContext(ctx, "UPDATE instance_actions SET updated_at = ? WHERE id = ?", t, actionID)
	}
	if err != nil {
		m.logf("compute %s: start event %s of %s: %v", host, event, uuid, err)
		return actionEvent{m: m}
	}
	id, _ := res.LastInsertId()
	return actionEvent{m: m, id: id}
}

// finish is event_finish_with_failure: the result, a failure's traceback, and the action's message set to
// Error when an event fails, as Nova's action_event_finish does.
func (e actionEvent) finish(ctx context.Context, failure error) {
	if e.id == 0 {
		return
	}
	result, traceback := eventSuccess, sql.NullString{}
	if failure != nil {
		result = eventError
		traceback = sql.NullString{String: "Traceback (most recent call last):\n" + failure.Error() + "\n", Valid: true}
	}
	t := store.Now()
	// Finishing outlives a cancelled operation: nova-compute reports the event as the greenthread unwinds.
	ctx = context.WithoutCancel(ctx)
	_, err := e.m.db.ExecContext(ctx, "UPDATE instance_actions_events SET finish_time = ?, result = ?, traceback = ?, "+
		"updated_at = ? WHERE id = ?", t, result, traceback, t, e.id)
	if err == nil {
		query := "UPDATE instance_actions SET updated_at = ? WHERE id = (SELECT action_id FROM instance_actions_events WHERE id = ?)"
		if failure != nil {
			query = "UPDATE instance_actions SET updated_at = ?, message = 'Error' WHERE id = (SELECT action_id FROM instance_actions_events WHERE id = ?)"
		}
		_, err = e.m.db.ExecContext(ctx, query, t, e.id)
	}
	if err != nil {
		e.m.logf("compute: finish event %d: %v", e.id, err)
	}
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

// auditCompute records what nova-compute did to a guest.
func (m *Manager) auditCompute(host, operation, detail, target string, err error) {
	e := osapi.AuditEntry{Time: time.Now().UTC(), Caller: "nova-compute@" + host, Service: "compute",
		Operation: operation, Detail: detail, Target: target}
	if err != nil {
		e.Error = err.Error()
	}
	m.audit.Add(e)
}
