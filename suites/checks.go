package suites

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/osdr/osdr/internal/cloud"
	"github.com/osdr/osdr/internal/iscsi"
	"github.com/osdr/osdr/internal/osapi"
	"github.com/osdr/osdr/internal/sshx"
	"github.com/osdr/osdr/recover"
)

// Labels of the check families; a label expression (`attachments && !integrity`) selects among them.
const (
	LabelAttachments  = "attachments"
	LabelStates       = "states"
	LabelReachability = "reachability"
	LabelIntegrity    = "integrity"
)

// apiReader is what the checks read of Nova and Cinder; *osapi.Client is the real one.
type apiReader interface {
	GetServer(ctx context.Context, id string) (osapi.Server, error)
	GetVolume(ctx context.Context, id string) (osapi.Volume, error)
	ListVolumeAttachments(ctx context.Context, serverID string) ([]osapi.VolumeAttachment, error)
	ListServers(ctx context.Context, host string) ([]osapi.Server, error)
	ListVolumes(ctx context.Context) ([]osapi.Volume, error)
}

// machines runs commands on compute hosts and inside guests; *cloud.Cloud is the real one.
type machines interface {
	RunOnHost(ctx context.Context, host, command string) (sshx.Result, error)
	RunOnGuest(ctx context.Context, g cloud.Guest, command string) (sshx.Result, error)
}

// view is what the checks can see of the cloud: the APIs always; the databases and the machines when they
// are configured, else the reason they are not, which the checks that need them report as their skip.
type view struct {
	api       apiReader
	dbs       *cloud.Databases
	schema    recover.CinderSchema
	noDBs     string
	machines  machines
	noMachine string
	// rowKeys are the attachments the row checks cover; liveRows, in a look at many checks, counts their
	// rows in bulk (see view.look).
	rowKeys  []rowKey
	liveRows func(context.Context) (rowCounts, error)
}

// outcome is one probe of the cloud.
type outcome struct {
	state  State
	causes []string
}

func passed() outcome                 { return outcome{state: StatePassed} }
func failed(causes ...string) outcome { return outcome{state: StateFailed, causes: causes} }
func skipped(reason string) outcome   { return outcome{state: StateSkipped, causes: []string{reason}} }
func failedIf(causes []string) outcome {
	if len(causes) > 0 {
		return failed(causes...)
	}
	return passed()
}

// Check is one thing the cloud must show. Its name is stable from run to run (the instance's name and the
// device, never ids), so CI servers keep its history; the ids are fields of their own.
type Check struct {
	Name         string
	Family       string
	Instance     string
	InstanceName string
	Volume       string
	// machine is the machine whose SSH connection the check's commands go over ("host NAME", "guest ID"),
	// empty for a check that reads only the APIs and the databases.
	machine string
	view    *view
	probe   func(ctx context.Context, v *view) outcome
}

// checks lists every check that applies to the target, in family order, bound to what the cloud shows. A
// check that does not apply is not listed (a volume the snapshot could not stamp, a guest the run did not
// reboot from inside); a check that applies but cannot run (no SSH, no database) is skipped, which fails the
// verification unless its family was left out on purpose.
func checks(t *Target, instances []recover.Instance, v *view) []Check {
	names := instanceNames(instances)
	var out []Check
	add := func(family string, in recover.Instance, volume, machine, what string, probe func(context.Context, *view) outcome) {
		out = append(out, Check{Name: names[in.ID] + ": " + what, Family: family, Instance: in.ID, InstanceName: in.Name, Volume: volume,
			machine: machine, view: v, probe: probe})
	}
	for _, in := range instances {
		host := "host " + in.Host
		for _, a := range t.Manifest.DataAttachments(in.ID) {
			add(LabelAttachments, in, a.VolumeID, "", "volume at "+a.Device+" attached in Cinder and Nova", func(ctx context.Context, v *view) outcome { return v.attached(ctx, in, a) })
			add(LabelAttachments, in, a.VolumeID, host, "volume at "+a.Device+" has its iSCSI session on the host", func(ctx context.Context, v *view) outcome { return v.session(ctx, in, a) })
			add(LabelAttachments, in, a.VolumeID, "", "volume at "+a.Device+" has one live row in Cinder and Nova", func(ctx context.Context, v *view) outcome { return v.rows(ctx, in, a) })
			v.rowKeys = append(v.rowKeys, rowKey{volume: a.VolumeID, instance: a.InstanceID, cell: in.Cell})
		}
	}
	for _, in := range instances {
		running := t.expectRunning(in)
		what := "back in its state before the loss (" + in.VMState + ")"
		if running {
			what = "ACTIVE, running, no task, no fault"
		}
		add(LabelStates, in, "", "", what, func(ctx context.Context, v *view) outcome { return v.state(ctx, in, running) })
	}
	for _, in := range instances {
		if t.expectRunning(in) {
			add(LabelReachability, in, "", "guest "+in.ID, "guest answers and sees its disks and mounts", func(ctx context.Context, v *view) outcome { return v.reachable(ctx, t.Manifest, in) })
		}
	}
	for _, in := range instances {
		for _, a := range t.Manifest.DataAttachments(in.ID) {
			if stamp, ok := t.Manifest.Stamps[a.VolumeID]; ok {
				add(LabelIntegrity, in, a.VolumeID, "guest "+in.ID, "stamp on the volume at "+a.Device+" intact", func(ctx context.Context, v *view) outcome { return v.stamped(ctx, in, a, stamp) })
			}
		}
		if before, rebooted := t.guestRebootedFrom(in.ID); rebooted {
			add(LabelIntegrity, in, "", "guest "+in.ID, "guest rebooted from inside has a new boot id", func(ctx context.Context, v *view) outcome { return v.newBootID(ctx, in, before) })
		}
	}
	return out
}

// instanceNames names each instance in check names by its name, made unique by its place in the list when
// two share one (or it has none).
func instanceNames(instances []recover.Instance) map[string]string {
	count := map[string]int{}
	for _, in := range instances {
		count[in.Name]++
	}
	out := map[string]string{}
	for i, in := range instances {
		name := "instance " + in.Name
		if in.Name == "" || count[in.Name] > 1 {
			name = fmt.Sprintf("instance #%d %s", i+1, in.Name)
		}
		out[in.ID] = strings.TrimSpace(name)
	}
	return out
}

// attached: Cinder shows the volume in-use on the instance at the device, and Nova lists it there.
func (v *view) attached(ctx context.Context, in recover.Instance, a recover.Attachment) outcome {
	where := fmt.Sprintf("%s: volume %s at %s", who(in), a.VolumeID, a.Device)
	var causes []string
	vol, err := v.api.GetVolume(ctx, a.VolumeID)
	if err != nil {
		return failed(fmt.Sprintf("%s: Cinder does not show it: %v", where, err))
	}
	if vol.Status != "in-use" {
		causes = append(causes, fmt.Sprintf("%s: Cinder says %s, not in-use", where, vol.Status))
	}
	var cinderDevices []string
	for _, att := range vol.Attachments {
		if att.ServerID == a.InstanceID {
			cinderDevices = append(cinderDevices, att.Device)
		}
	}
	causes = append(causes, deviceCauses(where, "Cinder", cinderDevices, a.Device)...)
	atts, err := v.api.ListVolumeAttachments(ctx, a.InstanceID)
	if err != nil {
		return failed(append(causes, fmt.Sprintf("%s: Nova does not list the server's attachments: %v", where, err))...)
	}
	var novaDevices []string
	for _, att := range atts {
		if att.VolumeID == a.VolumeID {
			novaDevices = append(novaDevices, att.Device)
		}
	}
	causes = append(causes, deviceCauses(where, "Nova", novaDevices, a.Device)...)
	return failedIf(causes)
}

func deviceCauses(where, service string, got []string, want string) []string {
	switch {
	case len(got) == 0:
		return []string{fmt.Sprintf("%s: %s has no attachment of it to the instance", where, service)}
	case len(got) > 1:
		return []string{fmt.Sprintf("%s: %s attaches it %d times (%s)", where, service, len(got), strings.Join(got, ", "))}
	case got[0] != want:
		return []string{fmt.Sprintf("%s: %s attaches it at %s", where, service, got[0])}
	}
	return nil
}

// session: Cinder and Nova keep saying in-use after a power loss; only the host shows whether the data path
// is really up.
func (v *view) session(ctx context.Context, in recover.Instance, a recover.Attachment) outcome {
	switch {
	case v.machines == nil:
		return skipped(v.noMachine)
	case a.IQN == "":
		return skipped("the manifest records no IQN for volume " + a.VolumeID)
	}
	r, err := v.machines.RunOnHost(ctx, in.Host, iscsi.ListSessions().String())
	if err != nil {
		return failed(fmt.Sprintf("%s: host %s: list iSCSI sessions: %v", who(in), in.Host, err))
	}
	sessions, err := iscsi.SessionsFromResult(r.Stdout, r.Stderr, r.ExitCode)
	if err != nil {
		return failed(fmt.Sprintf("%s: host %s: read iSCSI sessions: %v", who(in), in.Host, err))
	}
	if slices.ContainsFunc(sessions, func(s iscsi.Session) bool { return s.IQN == a.IQN }) {
		return passed()
	}
	return failed(fmt.Sprintf("%s: volume %s at %s: host %s has no iSCSI session of %s", who(in), a.VolumeID, a.Device, in.Host, a.IQN))
}

// rows: exactly one live attachment row in Cinder and one live BDM in Nova, so nothing stale or duplicated
// is left for the next attach or detach to trip on.
func (v *view) rows(ctx context.Context, in recover.Instance, a recover.Attachment) outcome {
	if v.dbs == nil {
		return skipped(v.noDBs)
	}
	where := fmt.Sprintf("%s: volume %s", who(in), a.VolumeID)
	key := rowKey{volume: a.VolumeID, instance: a.InstanceID, cell: in.Cell}
	var cinder, nova int
	var cinderErr, novaErr error
	if v.liveRows != nil {
		counts, err := v.liveRows(ctx)
		cinder, nova, cinderErr, novaErr = counts.cinder[key], counts.nova[key], err, cmp.Or(err, counts.cellErrs[key.cell])
	} else {
		cinder, cinderErr = v.cinderRows(ctx, key)
		nova, novaErr = v.novaRows(ctx, key)
	}
	var causes []string
	switch {
	case cinderErr != nil:
		causes = append(causes, fmt.Sprintf("%s: read Cinder's attachment rows: %v", where, cinderErr))
	case cinder != 1:
		causes = append(causes, fmt.Sprintf("%s: %d live Cinder attachment rows, want 1", where, cinder))
	}
	switch {
	case novaErr != nil:
		causes = append(causes, fmt.Sprintf("%s: read Nova's block device mappings: %v", where, novaErr))
	case nova != 1:
		causes = append(causes, fmt.Sprintf("%s: %d live Nova BDMs, want 1", where, nova))
	}
	return failedIf(causes)
}

// cinderRows counts the live Cinder attachment rows of one attachment. The nova-volume-era row holds the
// attachment itself: attached, to some instance.
func (v *view) cinderRows(ctx context.Context, k rowKey) (live int, err error) {
	if v.schema == recover.SchemaLegacy {
		err = v.dbs.Cinder.QueryRowContext(ctx, `SELECT COUNT(*) FROM volumes
			WHERE deleted=0 AND attach_status='attached' AND instance_id<>0 AND id=?`, k.volume).Scan(&live)
		return live, err
	}
	err = v.dbs.Cinder.QueryRowContext(ctx, `SELECT COUNT(*) FROM volume_attachment
		WHERE deleted=0 AND attach_status<>'detached' AND volume_id=? AND instance_uuid=?`, k.volume, k.instance).Scan(&live)
	return live, err
}

// novaRows counts the live block device mappings of one attachment in its instance's cell.
func (v *view) novaRows(ctx context.Context, k rowKey) (live int, err error) {
	cell, err := v.dbs.Cell(k.cell)
	if err != nil {
		return 0, err
	}
	err = cell.QueryRowContext(ctx, `SELECT COUNT(*) FROM block_device_mapping
		WHERE deleted=0 AND volume_id=? AND instance_uuid=?`, k.volume, k.instance).Scan(&live)
	return live, err
}

// state: running instances ACTIVE with power on and no task or fault; others back in their recorded state.
func (v *view) state(ctx context.Context, in recover.Instance, running bool) outcome {
	s, err := v.api.GetServer(ctx, in.ID)
	if err != nil {
		return failed(fmt.Sprintf("%s: Nova does not show it: %v", who(in), err))
	}
	var causes []string
	seen := func(what, got, want string) {
		if got != want {
			causes = append(causes, fmt.Sprintf("%s: %s %s, want %s", who(in), what, orNone(got), orNone(want)))
		}
	}
	if running {
		seen("status", s.Status, "ACTIVE")
		seen("power state", fmt.Sprint(s.PowerState), "1")
		seen("task state", s.TaskState, "")
		if s.Fault != "" {
			causes = append(causes, fmt.Sprintf("%s: fault %q", who(in), s.Fault))
		}
		return failedIf(causes)
	}
	seen("vm_state", s.VMState, in.VMState)
	seen("task state", s.TaskState, "")
	return failedIf(causes)
}

// who names an instance in a cause: its name for people, its id to act on.
func who(in recover.Instance) string {
	if in.Name == "" {
		return "instance " + in.ID
	}
	return fmt.Sprintf("instance %s (%s)", in.Name, in.ID)
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

// reachable: the guest answers over SSH, sees every attached device and has its fstab mounts mounted.
func (v *view) reachable(ctx context.Context, m *recover.Manifest, in recover.Instance) outcome {
	if v.machines == nil {
		return skipped(v.noMachine)
	}
	guest := in.Guest()
	r, err := v.machines.RunOnGuest(ctx, guest, recover.GuestCmdBootID)
	if err != nil {
		return failed(fmt.Sprintf("%s: guest does not answer over SSH: %v", who(in), err))
	}
	if r.ExitCode != 0 {
		return failed(fmt.Sprintf("%s: guest answers, but reading its boot id exited %d", who(in), r.ExitCode))
	}
	var causes []string
	for _, a := range m.AttachmentsOf(in.ID) {
		r, err := v.machines.RunOnGuest(ctx, guest, "test -b "+a.Device)
		switch {
		case err != nil:
			return failed(fmt.Sprintf("%s: guest: %v", who(in), err))
		case r.ExitCode != 0:
			causes = append(causes, fmt.Sprintf("%s: guest has no block device %s (volume %s)", who(in), a.Device, a.VolumeID))
		}
	}
	fstab, err := v.machines.RunOnGuest(ctx, guest, recover.GuestCmdFstab)
	if err != nil {
		return failed(fmt.Sprintf("%s: guest: read /etc/fstab: %v", who(in), err))
	}
	mounts, err := v.machines.RunOnGuest(ctx, guest, "mount")
	if err != nil {
		return failed(fmt.Sprintf("%s: guest: list mounts: %v", who(in), err))
	}
	for _, mp := range fstabMountPoints(fstab.Stdout) {
		if !mountedAt(mounts.Stdout, mp) {
			causes = append(causes, fmt.Sprintf("%s: guest: %s is in /etc/fstab but not mounted", who(in), mp))
		}
	}
	return failedIf(causes)
}

// stamped: the stamp written through the guest before the fault reads back unchanged.
func (v *view) stamped(ctx context.Context, in recover.Instance, a recover.Attachment, stamp recover.Stamp) outcome {
	if v.machines == nil {
		return skipped(v.noMachine)
	}
	r, err := v.machines.RunOnGuest(ctx, in.Guest(), "cat "+stamp.Path)
	switch {
	case err != nil:
		return failed(fmt.Sprintf("%s: volume %s: read the stamp %s: %v", who(in), a.VolumeID, stamp.Path, err))
	case r.ExitCode != 0:
		return failed(fmt.Sprintf("%s: volume %s: the stamp %s cannot be read: %s", who(in), a.VolumeID, stamp.Path, strings.TrimSpace(r.Stderr)))
	case strings.TrimSpace(r.Stdout) != stamp.Content:
		return failed(fmt.Sprintf("%s: volume %s: the stamp %s changed", who(in), a.VolumeID, stamp.Path))
	}
	return passed()
}

// newBootID: a guest the run rebooted from inside really went down and came back.
func (v *view) newBootID(ctx context.Context, in recover.Instance, before string) outcome {
	if v.machines == nil {
		return skipped(v.noMachine)
	}
	r, err := v.machines.RunOnGuest(ctx, in.Guest(), recover.GuestCmdBootID)
	if err != nil {
		return failed(fmt.Sprintf("%s: guest: read its boot id: %v", who(in), err))
	}
	if strings.TrimSpace(r.Stdout) == before {
		return failed(fmt.Sprintf("%s: guest's boot id %s did not change: it was not rebooted", who(in), before))
	}
	return passed()
}

// fstabMountPoints lists the mount points of /etc/fstab's entries that a boot mounts (not swap, not noauto).
func fstabMountPoints(fstab string) []string {
	var out []string
	for _, line := range strings.Split(fstab, "\n") {
		f := strings.Fields(line)
		if len(f) < 4 || strings.HasPrefix(f[0], "#") || f[2] == "swap" || f[1] == "none" || strings.Contains(f[3], "noauto") {
			continue
		}
		out = append(out, f[1])
	}
	return out
}

// mountedAt reports whether `mount` output lists a filesystem mounted at mp.
func mountedAt(mountOutput, mp string) bool {
	for _, line := range strings.Split(mountOutput, "\n") {
		if f := strings.Fields(line); len(f) >= 3 && f[1] == "on" && f[2] == mp {
			return true
		}
	}
	return false
}
