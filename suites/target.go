package suites

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/osdr/osdr/internal/osapi"
	"github.com/osdr/osdr/internal/sshx"
	"github.com/osdr/osdr/recover"
)

// Cloud is what the specs read of Nova and Cinder; *osapi.Client is the real one.
type Cloud interface {
	GetServer(ctx context.Context, id string) (osapi.Server, error)
	GetVolume(ctx context.Context, id string) (osapi.Volume, error)
	ListVolumeAttachments(ctx context.Context, serverID string) ([]osapi.VolumeAttachment, error)
}

// Hosts runs commands on compute hosts, for diagnostics (the host's iSCSI sessions).
type Hosts interface {
	RunOnHost(ctx context.Context, host, command string) (sshx.Result, error)
}

// Target is the cloud the specs check and the evidence they check it against.
type Target struct {
	Manifest *recover.Manifest
	Cloud    Cloud
	// DBs, when set, lets the attachment specs prove there is no stale or duplicate row.
	DBs *recover.Databases
	// Guests, when set, enables the reachability and integrity specs.
	Guests recover.Guests
	// Hosts, when set, adds each host's iSCSI sessions to a failing spec's diagnostics.
	Hosts Hosts
	// Instance restricts every spec to one instance: the guide's test mode.
	Instance string
	// Journal is the recovery run's journal, when there is one: guest reboots it records must show a new
	// boot id.
	Journal []recover.Entry
	// Deadline is how long a spec waits for the cloud to converge before it fails (default 30 s).
	Deadline time.Duration
}

// Validate checks the target before any spec runs, so bad input is an error, not a failing spec.
func (t *Target) Validate() error {
	if t.Manifest == nil {
		return errors.New("no manifest")
	}
	if t.Cloud == nil {
		return errors.New("no cloud to check")
	}
	if t.Instance != "" {
		if _, ok := t.Manifest.Instance(t.Instance); !ok {
			return fmt.Errorf("unknown instance %s: not in the manifest", t.Instance)
		}
	}
	return nil
}

// instances are the manifest's instances in scope, sorted by id.
func (t *Target) instances() []recover.Instance {
	var out []recover.Instance
	for _, in := range t.Manifest.Instances {
		if t.Instance == "" || in.ID == t.Instance {
			out = append(out, in)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// attachments are the data volumes the recovery reattaches, for the instances in scope: iSCSI, not boot.
func (t *Target) attachments() []recover.Attachment {
	var out []recover.Attachment
	for _, in := range t.instances() {
		for _, a := range t.Manifest.AttachmentsOf(in.ID) {
			if !a.IsBoot() && a.DriverVolumeType == "iscsi" {
				out = append(out, a)
			}
		}
	}
	return out
}

// expectRunning says whether the instance should be running after a recovery: it was running before the
// loss, or the recovery rebooted it (a manifest taken after the loss shows instances the power-state sync
// stopped).
func (t *Target) expectRunning(in recover.Instance) bool {
	if in.VMState == "active" || in.VMState == "error" {
		return true
	}
	for _, e := range t.Journal {
		if e.Step == recover.StepReboot && e.Phase == recover.PhaseDone && e.Instance == in.ID {
			return true
		}
	}
	return false
}

// guestRebootedFrom returns the boot id a guest had before the run rebooted it from inside.
func (t *Target) guestRebootedFrom(instance string) (string, bool) {
	var before string
	done := false
	for _, e := range t.Journal {
		if e.Step != recover.StepGuestReboot || e.Instance != instance {
			continue
		}
		switch e.Phase {
		case recover.PhaseIntent:
			before = e.BootID
		case recover.PhaseDone:
			done = true
		}
	}
	return before, done && before != ""
}

func (t *Target) deadline() time.Duration {
	if t.Deadline > 0 {
		return t.Deadline
	}
	return 30 * time.Second
}
