package recover

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/osdr/osdr/internal/osapi"
	"github.com/osdr/osdr/internal/wait"
)

// Nova's instance actions are the evidence of what nova-compute did with a request: the API files an action
// before it answers, and compute reports each step as an event that finishes Success or Error. A server that
// runs again, or a volume that is back, can have got there without the request having worked.

// errRebootNotCarriedOut means Nova accepted the reboot but nova-compute reported it failed or abandoned it.
var errRebootNotCarriedOut = errors.New("nova-compute did not carry out the reboot")

// errAttachFailed means nova-compute reported that it could not attach the volume.
var errAttachFailed = errors.New("nova-compute failed to attach the volume")

// actionMark notes where the server's instance actions stand before a request is sent. Reads retry
// transient failures in the API client (osapi) already.
func actionMark(ctx context.Context, id string, list func(context.Context, string) ([]osapi.InstanceAction, error)) (*ActionMark, error) {
	actions, err := list(ctx, id)
	if err != nil {
		return nil, err
	}
	mark := &ActionMark{}
	if len(actions) > 0 {
		mark.NewestRequestID = actions[0].RequestID
	}
	return mark, nil
}

// actionsSince lists the server's actions of the kind (reboot, attach_volume, ...) filed after the mark,
// oldest first.
func (x *executor) actionsSince(ctx context.Context, id string, mark ActionMark, action string) ([]osapi.InstanceAction, error) {
	actions, err := x.cloud.ListInstanceActions(ctx, id)
	if err != nil {
		return nil, err
	}
	var ours []osapi.InstanceAction
	for _, a := range actions { // newest first, down to the mark
		if mark.NewestRequestID != "" && a.RequestID == mark.NewestRequestID {
			break
		}
		if a.Action == action {
			ours = append([]osapi.InstanceAction{a}, ours...)
		}
	}
	return ours, nil
}

// computeReport is what nova-compute said of the requests of one kind sent since a mark.
type computeReport struct {
	Pending   string // why there is no verdict yet; empty once there is one
	Succeeded string // the request whose event finished Success
	// Took is the successful event: nova-compute's own record of when it carried the request out.
	Took     osapi.ActionEvent
	Hidden   string   // the request whose events the policy hides
	Failures []string // "req-...: Error <exception>" per failed event
}

// The events of nova-compute that prove a request was carried out.
const (
	eventReboot = "compute_reboot_instance"
	eventAttach = "compute_attach_volume"
)

// computeEvent reads the event (compute_reboot_instance, ...) of each action of the kind filed since the
// mark. One success settles it; failures count once every action has finished.
func (x *executor) computeEvent(ctx context.Context, id string, mark ActionMark, action, event string) (computeReport, error) {
	ours, err := x.actionsSince(ctx, id, mark, action)
	if err != nil {
		return computeReport{}, err
	}
	if len(ours) == 0 {
		return computeReport{Pending: "no " + action + " action filed since the request"}, nil
	}
	ids := make([]string, len(ours))
	for i, a := range ours {
		ids[i] = a.RequestID
	}
	return x.verdict(ctx, id, ids, event)
}

// verdict reads nova-compute's event on each of the requests (the request ids Nova answered with are the
// ids of their instance actions).
func (x *executor) verdict(ctx context.Context, id string, requestIDs []string, event string) (computeReport, error) {
	var report computeReport
	for _, reqID := range requestIDs {
		detail, err := x.cloud.GetInstanceAction(ctx, id, reqID)
		if err != nil {
			return computeReport{}, err
		}
		if detail.Events == nil {
			return computeReport{Hidden: reqID}, nil
		}
		reported := false
		for _, e := range detail.Events {
			if e.Event != event {
				continue
			}
			reported = true
			switch {
			case !e.Finished:
				report.Pending = event + " of " + reqID + " still running"
			case e.Result == "Success":
				return computeReport{Succeeded: reqID, Took: e}, nil
			default:
				report.Failures = append(report.Failures, strings.TrimSpace(fmt.Sprintf("%s: %s %s", reqID, e.Result, e.Failure)))
			}
		}
		if !reported {
			report.Pending = detail.Action + " " + reqID + " filed, nova-compute has not reported yet"
		}
	}
	return report, nil
}

// confirmReboot waits for nova-compute's compute_reboot_instance event on the reboot this run sent (the
// request Nova answered, else any filed after the mark) and says what it proves, with the request whose
// event succeeded. The event finishes just after the task state clears, so the wait is short; an event that
// ends in Error means the reboot never happened.
func (x *executor) confirmReboot(ctx context.Context, id, requestID string, mark *ActionMark) (proof string, took computeReport, err error) {
	err = wait.Until(ctx, "nova-compute's report of the reboot of "+id, x.options.RebootTimeout, x.options.Polling,
		func(ctx context.Context) (bool, string, error) {
			var r computeReport
			var err error
			if requestID != "" {
				r, err = x.verdict(ctx, id, []string{requestID}, eventReboot)
			} else {
				r, err = x.computeEvent(ctx, id, *mark, "reboot", eventReboot)
			}
			switch {
			case err != nil:
				return false, "", wait.Retry(err)
			case r.Succeeded != "":
				proof, took = eventReboot+" Success ("+r.Succeeded+")", r
				return true, "", nil
			case r.Hidden != "":
				proof = "reboot action " + r.Hidden + " filed; its events are hidden by policy, so nova-compute's result is unknown"
				return true, "", nil
			case r.Pending != "":
				return false, r.Pending, nil
			}
			return false, "", fmt.Errorf("%w: %s %s (this run never sends a second reboot: once the cause is fixed, recover the instance in a new run)",
				errRebootNotCarriedOut, eventReboot, strings.Join(r.Failures, "; "))
		})
	return proof, took, err
}
