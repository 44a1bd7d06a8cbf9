package recover

import (
	"context"
	"slices"
	"testing"

	"github.com/osdr/osdr/internal/osapi"
)

// actionsCloud answers os-instance-actions as Nova does: the list newest first, without events; each action
// with its events when shown. The rest of the engineAPI interface is not used by the evidence code.
type actionsCloud struct {
	engineAPI
	actions []osapi.InstanceAction // newest first, with events
}

func (c actionsCloud) ListInstanceActions(_ context.Context, _ string) ([]osapi.InstanceAction, error) {
	out := make([]osapi.InstanceAction, len(c.actions))
	for i, a := range c.actions {
		a.Events = nil
		out[i] = a
	}
	return out, nil
}

func (c actionsCloud) GetInstanceAction(_ context.Context, _, requestID string) (osapi.InstanceAction, error) {
	i := slices.IndexFunc(c.actions, func(a osapi.InstanceAction) bool { return a.RequestID == requestID })
	return c.actions[i], nil
}

func reboot(id string, events ...osapi.ActionEvent) osapi.InstanceAction {
	if events == nil {
		events = []osapi.ActionEvent{}
	}
	return osapi.InstanceAction{Action: "reboot", RequestID: id, Events: events}
}

var (
	rebootOK     = osapi.ActionEvent{Event: "compute_reboot_instance", Result: "Success", Finished: true}
	rebootFailed = osapi.ActionEvent{Event: "compute_reboot_instance", Result: "Error", Finished: true, Failure: "UnexpectedTaskStateError"}
	rebootBusy   = osapi.ActionEvent{Event: "compute_reboot_instance"}
)

func TestComputeEventReadsTheVerdictOnRequestsSinceTheMark(t *testing.T) {
	older := osapi.InstanceAction{Action: "stop", RequestID: "req-old", Events: []osapi.ActionEvent{}}
	for _, tc := range []struct {
		name    string
		actions []osapi.InstanceAction // newest first
		mark    string
		want    computeReport
	}{
		{"nothing filed since the mark", []osapi.InstanceAction{reboot("req-before", rebootOK), older}, "req-before",
			computeReport{Pending: "no reboot action filed since the request"}},
		{"filed, compute has not started", []osapi.InstanceAction{reboot("req-1"), older}, "req-old",
			computeReport{Pending: "reboot req-1 filed, nova-compute has not reported yet"}},
		{"compute still at it", []osapi.InstanceAction{reboot("req-1", rebootBusy)}, "",
			computeReport{Pending: "compute_reboot_instance of req-1 still running"}},
		{"carried out", []osapi.InstanceAction{reboot("req-1", rebootOK), older}, "req-old",
			computeReport{Succeeded: "req-1"}},
		{"abandoned", []osapi.InstanceAction{reboot("req-1", rebootFailed), older}, "req-old",
			computeReport{Failures: []string{"req-1: Error UnexpectedTaskStateError"}}},
		{"a retry that was carried out settles it", []osapi.InstanceAction{reboot("req-2", rebootOK), reboot("req-1", rebootFailed)}, "",
			computeReport{Succeeded: "req-2"}},
		{"one failed, the other still running", []osapi.InstanceAction{reboot("req-2", rebootBusy), reboot("req-1", rebootFailed)}, "",
			computeReport{Pending: "compute_reboot_instance of req-2 still running", Failures: []string{"req-1: Error UnexpectedTaskStateError"}}},
		{"events hidden by policy", []osapi.InstanceAction{{Action: "reboot", RequestID: "req-1"}}, "",
			computeReport{Hidden: "req-1"}},
		{"a reboot before the mark is not ours", []osapi.InstanceAction{reboot("req-mark", rebootFailed), reboot("req-0", rebootOK)}, "req-mark",
			computeReport{Pending: "no reboot action filed since the request"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			x := &executor{cloud: actionsCloud{actions: tc.actions}, options: DefaultExecOptions}
			got, err := x.computeEvent(t.Context(), "server", ActionMark{NewestRequestID: tc.mark}, "reboot", "compute_reboot_instance")
			if err != nil {
				t.Fatal(err)
			}
			if got.Pending != tc.want.Pending || got.Succeeded != tc.want.Succeeded || got.Hidden != tc.want.Hidden ||
				!slices.Equal(got.Failures, tc.want.Failures) {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}
