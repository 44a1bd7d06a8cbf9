package osapi

import (
	"context"
	"strings"
	"time"

	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/instanceactions"
)

// InstanceAction is one request Nova recorded against a server (os-instance-actions).
type InstanceAction struct {
	Action    string // reboot, start, stop, attach_volume, ...
	RequestID string
	Message   string // "Error" once one of its events failed
	// Events are nova-compute's reports on the request, newest first; nil when the policy hides them (Nova shows
	// events to admins, and to everyone from microversion 2.51).
	Events []ActionEvent
}

// ActionEvent is one step nova-compute carried out for an action.
type ActionEvent struct {
	Event    string // compute_reboot_instance, ...
	Result   string // Success or Error; empty while it runs
	Finished bool
	// Failure is the last line of a failed event's traceback (the exception), when Nova shows it.
	Failure string
	// Started and Ended are when nova-compute began and finished the step: its service time, on its clock.
	Started, Ended time.Time
}

// ListInstanceActions lists the requests Nova recorded against a server, newest first, without events.
func (c *Client) ListInstanceActions(ctx context.Context, serverID string) ([]InstanceAction, error) {
	return call(ctx, "list instance actions of "+serverID, func(ctx context.Context) ([]InstanceAction, error) {
		pages, err := instanceactions.List(c.compute, serverID, nil).AllPages(ctx)
		if err != nil {
			return nil, err
		}
		all, err := instanceactions.ExtractInstanceActions(pages)
		if err != nil {
			return nil, err
		}
		out := make([]InstanceAction, 0, len(all))
		for _, a := range all {
			out = append(out, InstanceAction{Action: a.Action, RequestID: a.RequestID, Message: a.Message})
		}
		return out, nil
	})
}

// GetInstanceAction shows one action with its events.
func (c *Client) GetInstanceAction(ctx context.Context, serverID, requestID string) (InstanceAction, error) {
	return call(ctx, "show instance action "+requestID+" of "+serverID, func(ctx context.Context) (InstanceAction, error) {
		a, err := instanceactions.Get(ctx, c.compute, serverID, requestID).Extract()
		if err != nil {
			return InstanceAction{}, err
		}
		out := InstanceAction{Action: a.Action, RequestID: a.RequestID, Message: a.Message}
		if a.Events != nil {
			out.Events = make([]ActionEvent, 0, len(*a.Events))
			for _, e := range *a.Events {
				out.Events = append(out.Events, ActionEvent{
					Event: e.Event, Result: e.Result, Finished: !e.FinishTime.IsZero(), Failure: lastLine(e.Traceback),
					Started: e.StartTime, Ended: e.FinishTime,
				})
			}
		}
		return out, nil
	})
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}
