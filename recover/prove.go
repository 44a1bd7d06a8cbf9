package recover

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/osdr/osdr/internal/iscsi"
	"github.com/osdr/osdr/internal/osapi"
	"github.com/osdr/osdr/internal/wait"
)

// proofFailedError means the proof found a volume missing after the reboot: positive evidence, on which a
// reboot-only instance gets the guide's steps for its volumes. A proof that could not look (a listing or the
// host unreachable) is an ordinary error instead: falling back then could attach a second time a volume
// the reboot did connect.
type proofFailedError struct{ why string }

func (e *proofFailedError) Error() string { return "proof failed: " + e.why }

// prove checks, after a reboot-only instance's HARD reboot, that every data volume came back: Nova lists it
// on the server, Cinder shows it in-use there, and on the compute host its target's session is logged in
// with the LUN's disk present and running. Nova connects the volumes before it starts the domain, so one
// look after the reboot decides; only a failure to look is retried. The verdict is journaled: a resume
// never proves again what was decided.
func (x *executor) prove(ctx context.Context, in InstancePlan) error {
	id := in.ID
	if last, ok := x.journal.last(StepProve, id, ""); ok {
		switch last.Phase {
		case PhaseDone:
			return nil
		case PhaseFailed:
			if strings.HasPrefix(last.Detail, proofFailedPrefix) {
				return &proofFailedError{why: strings.TrimPrefix(last.Detail, proofFailedPrefix)}
			}
		}
	}
	if err := x.record(StepProve, PhaseIntent, id, "", "Nova and Cinder agree on every volume; sessions and disks on "+in.Host); err != nil {
		return err
	}
	proof, err := x.proveRecords(ctx, in)
	if err == nil {
		var disks string
		if disks, err = x.proveHost(ctx, in); err == nil {
			proof += "; " + disks
		}
	}
	var failed *proofFailedError
	switch {
	case errors.As(err, &failed):
		_ = x.record(StepProve, PhaseFailed, id, "", proofFailedPrefix+failed.why)
		return err
	case err != nil:
		_ = x.record(StepProve, PhaseFailed, id, "", err.Error())
		return fmt.Errorf("prove %s came back: %w (nothing more was done to it; resume to prove it again)", id, err)
	}
	return x.record(StepProve, PhaseDone, id, "", proof)
}

// proofFailedPrefix marks a journaled proof failure that was a verdict, not a failure to look.
const proofFailedPrefix = "volume missing: "

// proveRecords reads Nova's and Cinder's view of the volumes from listings taken after the reboot.
func (x *executor) proveRecords(ctx context.Context, in InstancePlan) (string, error) {
	id := in.ID
	var volumes []string
	for _, a := range x.data[id] {
		volumes = append(volumes, a.VolumeID)
	}
	err := x.obs.await(ctx, kindServer, id, "prove", "Nova's view of "+id, x.options.AttachTimeout, func(o *observer) (bool, string, error) {
		s, ok := o.server(id)
		if !ok {
			return false, "not listed", nil
		}
		for _, v := range volumes {
			if !slices.Contains(s.Volumes, v) {
				return false, "", &proofFailedError{why: fmt.Sprintf("Nova does not list volume %s on %s after the reboot", v, id)}
			}
		}
		return true, "", nil
	})
	if err != nil {
		return "", err
	}
	for _, v := range volumes {
		err := x.obs.await(ctx, kindVolume, v, "prove", "Cinder's view of volume "+v, x.options.AttachTimeout, func(o *observer) (bool, string, error) {
			vol, ok := o.volume(v)
			if !ok {
				return false, "not listed", nil
			}
			if vol.Status == "in-use" && slices.ContainsFunc(vol.Attachments, func(a osapi.VolumeServerAttachment) bool { return a.ServerID == id }) {
				return true, "", nil
			}
			return false, "", &proofFailedError{why: fmt.Sprintf("Cinder shows volume %s %s, not in-use on %s, after the reboot", v, vol.Status, id)}
		})
		if err != nil {
			return "", err
		}
	}
	return fmt.Sprintf("Nova lists and Cinder shows in-use %d volume(s)", len(volumes)), nil
}

// proveHost reads the compute host's iSCSI sessions: each volume's target logged in, its LUN's disk running.
func (x *executor) proveHost(ctx context.Context, in InstancePlan) (string, error) {
	var verdict error
	var disks []string
	err := wait.Until(ctx, "read the iSCSI sessions on "+in.Host, x.options.AttachTimeout, x.options.Polling, func(ctx context.Context) (bool, string, error) {
		r, err := x.hosts.RunOnHost(ctx, in.Host, iscsi.ListSessionsDetail().String())
		if err != nil {
			return false, err.Error(), wait.Retry(err)
		}
		sessions, err := iscsi.SessionDetailsFromResult(r.Stdout, r.Stderr, r.ExitCode)
		if err != nil {
			return false, err.Error(), wait.Retry(err)
		}
		disks, verdict = volumesOnHost(x.data[in.ID], sessions, in.Host)
		return true, "", nil
	})
	if err != nil {
		return "", err
	}
	if verdict != nil {
		return "", verdict
	}
	return "disks " + strings.Join(disks, ", ") + " on " + in.Host, nil
}

// volumesOnHost finds each volume's disk among a host's sessions: a session of its target, logged in, with
// its LUN's disk present and running. It names the disks, or the first volume it cannot find.
func volumesOnHost(volumes []Attachment, sessions []iscsi.SessionDetail, host string) ([]string, error) {
	var disks []string
	for _, a := range volumes {
		disk, why := diskOf(a, sessions)
		if why != "" {
			return nil, &proofFailedError{why: fmt.Sprintf("volume %s: %s on %s", a.VolumeID, why, host)}
		}
		disks = append(disks, disk)
	}
	return disks, nil
}

func diskOf(a Attachment, sessions []iscsi.SessionDetail) (disk, why string) {
	why = "no iSCSI session of " + a.IQN
	for _, s := range sessions {
		if s.IQN != a.IQN {
			continue
		}
		if !s.LoggedIn() {
			why = fmt.Sprintf("the session of %s is %s/%s, not logged in", a.IQN, s.ConnectionState, s.SessionState)
			continue
		}
		for _, d := range s.Devices {
			switch {
			case d.LUN != a.LUN:
			case d.Disk == "":
				why = fmt.Sprintf("LUN %d of %s has no disk", a.LUN, a.IQN)
			case d.State != "running":
				why = fmt.Sprintf("disk %s (LUN %d of %s) is %s", d.Disk, a.LUN, a.IQN, d.State)
			default:
				return d.Disk, ""
			}
		}
		if why == "no iSCSI session of "+a.IQN {
			why = fmt.Sprintf("the session of %s exposes no LUN %d", a.IQN, a.LUN)
		}
	}
	return "", why
}

// cleanInstance cleans the databases of one instance's volumes after its proof failed, in a transaction of
// its own with a backup of its own: Cinder's attachment rows included, since on Nova 28 (2023.2) and later
// the reboot that would have removed stale ones is spent. Done once, across resumes.
func (x *executor) cleanInstance(ctx context.Context, m *Manifest, id string) error {
	if last, ok := x.journal.last(StepDBClean, id, ""); ok && last.Phase == PhaseDone {
		return nil
	}
	return x.cleanDB(ctx, m, []string{id}, nil, id)
}

// cost reads what the run changed from its journal, across resumes.
func (x *executor) cost(requests osapi.Requests) Cost {
	c := Cost{APIRequests: requests}
	rebooted := map[string]bool{} // a resumed reboot journals a second intent, never a second reboot
	for _, e := range x.journal.all() {
		switch {
		case e.Step == StepDBClean && e.Phase == PhaseDone:
			c.DBRowsChanged += e.Rows
		case e.Step == StepReboot && e.Phase == PhaseIntent:
			rebooted[e.Instance] = true
		case e.Step == StepGuestReboot && e.Phase == PhaseDone:
			c.GuestReboots++
		}
	}
	c.HardReboots = len(rebooted)
	return c
}
