package nova

import (
	"context"
	"database/sql"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/osdr/osdr/testenv/cloud/nova/novadb"
	"github.com/osdr/osdr/testenv/cloud/osapi"
	"github.com/osdr/osdr/testenv/cloud/store"
)

// The vm_states and task_states Nova's compute API accepts each action from (nova/compute/vm_states.py,
// task_states.py); "" stands for a NULL task_state.
var (
	// task_states.ALLOW_REBOOT: a HARD reboot may overtake these.
	allowRebootTasks = []string{"", "rebooting", "reboot_pending", "reboot_started", "resuming", "rebooting_hard",
		"unpausing", "pausing", "suspending"}
	noTask = []string{""}
)

var rebootTypes = []string{"HARD", "Hard", "hard", "SOFT", "Soft", "soft"}

// serverAction is POST /servers/{id}/action for the actions the simulation carries out.
func (c *Service) serverAction(w http.ResponseWriter, r *osapi.Request) error {
	// nova-api finishes what it started when the client goes away: the task state, the action and the cast
	// happen together, never the first without the others.
	ctx := context.WithoutCancel(r.Context())
	c.api.AuditedAction(w, r, http.StatusAccepted, func(action string, body osapi.Object) error {
		switch action {
		case "reboot":
			kind, err := rebootType(body.Values["reboot"])
			if err != nil {
				return err
			}
			return c.requestReboot(ctx, r.PathValue("id"), kind)
		case "os-start":
			return c.requestStart(ctx, r.PathValue("id"))
		case "os-stop":
			return c.requestStop(ctx, r.PathValue("id"))
		default:
			return osapi.BadRequest("There is no such action: %s", action)
		}
	})
	return nil
}

// rebootType validates the reboot body against Nova's schema and returns SOFT or HARD.
func rebootType(arg any) (string, error) {
	obj, ok := arg.(osapi.Object)
	if !ok {
		return "", osapi.InvalidInput("reboot", arg, osapi.PyRepr(arg)+" is not of type 'object'")
	}
	t, present := obj.Get("type")
	if present {
		s, ok := t.(string)
		if !ok {
			return "", osapi.InvalidInput("type", t, osapi.PyRepr(t)+" is not of type 'string'")
		}
		if !slices.Contains(rebootTypes, s) {
			return "", osapi.InvalidInput("type", t, fmt.Sprintf("%s is not one of ['HARD', 'Hard', 'hard', 'SOFT', 'Soft', 'soft']", osapi.PyRepr(s)))
		}
	} else {
		return "", osapi.InvalidInput("reboot", arg, "'type' is a required property")
	}
	if msg := osapi.UnexpectedKeys(obj, "type"); msg != "" {
		return "", osapi.InvalidInput("reboot", arg, msg)
	}
	return strings.ToUpper(t.(string)), nil
}

// pyOptional is how Python prints a nullable column: None when NULL.
func pyOptional(s sql.NullString) string {
	if !s.Valid {
		return "None"
	}
	return s.String
}

// checkState is compute API check_instance_state, with the message raise_http_conflict_for_instance_invalid_state
// turns its InstanceInvalidState into.
func checkState(i novadb.Instance, action string, vmStates, taskStates []string) error {
	if vmStates != nil && !slices.Contains(vmStates, i.VMState.String) {
		return osapi.Conflict("Cannot '%s' instance %s while it is in vm_state %s", action, i.UUID, pyOptional(i.VMState))
	}
	if !slices.Contains(taskStates, i.TaskState.String) {
		return osapi.Conflict("Cannot '%s' instance %s while it is in task_state %s", action, i.UUID, pyOptional(i.TaskState))
	}
	if !i.LaunchedAt.Valid {
		return osapi.Conflict("Cannot '%s' instance %s while it is in launched_at None", action, i.UUID)
	}
	return nil
}

// checkHost is check_instance_host: start and stop need the instance scheduled to a host.
func checkHost(i novadb.Instance) error {
	if i.Host.String == "" {
		return osapi.Conflict("Instance %s is not ready", i.UUID)
	}
	return nil
}

// transition checks an instance's state and moves it to a new task state in one transaction, the row locked so
// concurrent requests see each other's task state as Nova's expected_task_state compare-and-swap does.
func (c *Service) transition(ctx context.Context, uuid string, check func(novadb.Instance) error, set map[string]any) (novadb.Instance, error) {
	var inst novadb.Instance
	err := store.InTx(ctx, c.db, func(tx *sql.Tx) error {
		i, err := novadb.GetInstance(ctx, tx, uuid, true)
		if err != nil {
			return err
		}
		if err := check(i); err != nil {
			return err
		}
		inst = i
		_, err = novadb.SaveInstance(ctx, tx, uuid, nil, set)
		return err
	})
	return inst, err
}

// requestReboot is compute API reboot: SOFT from active with no task, HARD from more states and over a
// pending reboot; then the cast to the instance's compute host.
func (c *Service) requestReboot(ctx context.Context, uuid, kind string) error {
	vmStates, tasks, task := novadb.AllowSoftReboot, noTask, "rebooting"
	if kind == "HARD" {
		vmStates, tasks, task = novadb.AllowHardReboot, allowRebootTasks, "rebooting_hard"
	}
	i, err := c.transition(ctx, uuid, func(i novadb.Instance) error { return checkState(i, "reboot", vmStates, tasks) },
		map[string]any{"task_state": task})
	if err != nil {
		return err
	}
	requestID, err := recordActionStart(ctx, c.db, uuid, actionReboot)
	if err != nil {
		return err
	}
	c.rpc.RebootInstance(i.Host.String, uuid, kind, requestID)
	return nil
}

// requestStart is compute API start: a stopped instance with a host and no task.
func (c *Service) requestStart(ctx context.Context, uuid string) error {
	i, err := c.transition(ctx, uuid, func(i novadb.Instance) error {
		if err := checkHost(i); err != nil {
			return err
		}
		return checkState(i, "start", []string{"stopped"}, noTask)
	}, map[string]any{"task_state": "powering-on"})
	if err != nil {
		return err
	}
	requestID, err := recordActionStart(ctx, c.db, uuid, actionStart)
	if err != nil {
		return err
	}
	c.rpc.StartInstance(i.Host.String, uuid, requestID)
	return nil
}

// requestStop is compute API stop: an active or errored instance with a host and no task.
func (c *Service) requestStop(ctx context.Context, uuid string) error {
	i, requestID, err := c.beginStop(ctx, uuid, false)
	if err != nil {
		return err
	}
	c.rpc.StopInstance(i.Host.String, uuid, requestID)
	return nil
}

// BeginStop is the compute API's stop, or with force its force_stop, up to the cast (compute.API).
func (c *Service) BeginStop(ctx context.Context, uuid string, force bool) (string, error) {
	_, requestID, err := c.beginStop(ctx, uuid, force)
	return requestID, err
}

// beginStop moves an instance to powering-off: stop's checks, or with force (force_stop, which the power-state
// sync uses) only that no task is running. It returns the request id its stop action was recorded under.
func (c *Service) beginStop(ctx context.Context, uuid string, force bool) (novadb.Instance, string, error) {
	i, err := c.transition(ctx, uuid, func(i novadb.Instance) error {
		if force {
			if i.TaskState.Valid {
				return osapi.Conflict("Unexpected task state: expecting [None] but the actual state is %s", i.TaskState.String)
			}
			return nil
		}
		if err := checkHost(i); err != nil {
			return err
		}
		return checkState(i, "stop", []string{"active", "error"}, noTask)
	}, map[string]any{"task_state": "powering-off", "progress": 0})
	if err != nil {
		return novadb.Instance{}, "", err
	}
	requestID, err := recordActionStart(ctx, c.db, uuid, actionStop)
	return i, requestID, err
}
