package nova

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/osdr/osdr/testenv/cloud/inventory"
)

// Nova's names for what a boot and an attach leave in instance_actions (nova/compute/instance_actions.py) and
// the event nova-compute's wrap_instance_event files under each (the decorated method's name, prefixed
// compute_), as Nova 26 (Zed) to 33 (2026.1) write them.
const (
	actionCreate      = "create"
	eventBuild        = "compute__do_build_and_run_instance"
	eventAttachVolume = "compute_attach_volume"
)

// writeHistory records an instance's past as the compute API and nova-compute left it when the instance was
// booted (its boot volume, if any, mapped at boot) and then had each data volume attached through the API:
// one create action, one attach_volume action per data volume, each with its successful event on the
// instance's host, all stamped at.
func (c *Service) writeHistory(ctx context.Context, tx *sql.Tx, inst inventory.Instance, at time.Time) error {
	if err := c.writeAction(ctx, tx, inst, actionCreate, eventBuild, at); err != nil {
		return err
	}
	for _, v := range inst.Volumes {
		if v.Boot {
			continue
		}
		if err := c.writeAction(ctx, tx, inst, actionAttachVolume, eventAttachVolume, at); err != nil {
			return err
		}
	}
	return nil
}

func (c *Service) writeAction(ctx context.Context, tx *sql.Tx, inst inventory.Instance, action, event string, at time.Time) error {
	res, err := tx.ExecContext(ctx, "INSERT INTO instance_actions (created_at, updated_at, action, instance_uuid, "+
		"request_id, user_id, project_id, start_time, deleted) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 0)",
		at, at, action, inst.ID, "req-"+c.ids.UUID(), c.userID, c.projectID, at)
	if err != nil {
		return fmt.Errorf("record action %s of %s: %w", action, inst.Name, err)
	}
	id, err := res.LastInsertId()
	if err != nil {
		return fmt.Errorf("record action %s of %s: %w", action, inst.Name, err)
	}
	if _, err := tx.ExecContext(ctx, "INSERT INTO instance_actions_events (created_at, updated_at, event, action_id, "+
		"start_time, finish_time, result, host, deleted) VALUES (?, ?, ?, ?, ?, ?, 'Success', ?, 0)",
		at, at, event, id, at, at, inst.Host); err != nil {
		return fmt.Errorf("record event %s of %s: %w", event, inst.Name, err)
	}
	return nil
}
