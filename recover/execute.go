package recover

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/osdr/osdr/internal/bounds"
	"github.com/osdr/osdr/internal/cloud"
	"github.com/osdr/osdr/internal/osapi"
	"github.com/osdr/osdr/internal/sshx"
	"github.com/osdr/osdr/internal/wait"
)

// guests runs commands inside instances (step 5, stamps); *cloud.Cloud is the real one, over SSH with the
// inventory's endpoints.
type guests interface {
	RunOnGuest(ctx context.Context, g cloud.Guest, command string) (sshx.Result, error)
	GuestLogin(g cloud.Guest) cloud.Login
}

// ExecOptions bound steps 3 to 5.
type ExecOptions struct {
	// Concurrency is how many instances proceed at once after step 2; each proceeds independently.
	Concurrency   int
	RebootTimeout time.Duration
	AttachTimeout time.Duration
	GuestTimeout  time.Duration
	Polling       wait.Polling
}

// The ranges an operator's options of a recovery must lie in, checked where they are read (flags, drill
// files) and again before a run starts.
var (
	ConcurrencyRange = bounds.Range[int]{Min: 1, Max: 1024}
	WaitRange        = bounds.Range[time.Duration]{Min: time.Second, Max: 24 * time.Hour}
)

// check refuses options out of range, by the names of the flags that set them.
func (o ExecOptions) check() error {
	return errors.Join(
		ConcurrencyRange.Check("--concurrency", o.Concurrency),
		WaitRange.Check("--reboot-timeout", o.RebootTimeout),
		WaitRange.Check("--attach-timeout", o.AttachTimeout),
		WaitRange.Check("--guest-timeout", o.GuestTimeout),
	)
}

// DefaultExecOptions suit a real cloud.
var DefaultExecOptions = ExecOptions{
	Concurrency:   8,
	RebootTimeout: 10 * time.Minute,
	AttachTimeout: 5 * time.Minute,
	GuestTimeout:  15 * time.Minute,
	Polling:       wait.DefaultPolling,
}

// executor carries out steps 3 to 5 of a plan, instance by instance, journaling every intent before acting.
type executor struct {
	cloud   computeAPI
	guests  guests
	journal *journal
	options ExecOptions
	// until stops after this step (StepReboot or StepReattach); empty runs through step 5.
	until Step
	// emit receives progress events, one at a time; it must not block for long.
	emit func(Event)

	emitMu sync.Mutex
}

// run recovers every instance of the plan and returns one result per instance (excluded ones included).
// One instance failing or timing out never stops the others.
func (x *executor) run(ctx context.Context, p *Plan, m *Manifest) []InstanceResult {
	results := make([]InstanceResult, len(p.Instances))
	var g errgroup.Group
	g.SetLimit(x.options.Concurrency)
	for i, in := range p.Instances {
		g.Go(func() error {
			results[i] = x.recoverInstance(ctx, in, m)
			return nil
		})
	}
	_ = g.Wait()
	for _, e := range p.Excluded {
		in, _ := m.Instance(e.ID)
		results = append(results, InstanceResult{ID: e.ID, Name: in.Name, Host: in.Host, Outcome: OutcomeExcluded, Error: e.Reason})
	}
	return results
}

func (x *executor) record(step Step, phase Phase, instance, volume, detail string) error {
	return x.recordEntry(Entry{Step: step, Phase: phase, Instance: instance, Volume: volume, Detail: detail})
}

func (x *executor) recordEntry(entry Entry) error {
	step, phase, instance, volume, detail := entry.Step, entry.Phase, entry.Instance, entry.Volume, entry.Detail
	e, err := x.journal.append(entry)
	if x.emit != nil {
		x.emitMu.Lock()
		x.emit(Event{Time: e.Time, Instance: instance, Step: step, Phase: phase, Volume: volume, Message: detail})
		x.emitMu.Unlock()
	}
	if err != nil {
		return fmt.Errorf("journal %s %s of %s: %w", step, phase, instance, err)
	}
	return nil
}

func (x *executor) recoverInstance(ctx context.Context, in InstancePlan, m *Manifest) InstanceResult {
	res := InstanceResult{ID: in.ID, Name: in.Name, Host: in.Host, Started: time.Now().UTC()}
	inst, _ := m.Instance(in.ID)
	err := func() error {
		if in.Reboot != nil {
			start := time.Now()
			err := x.reboot(ctx, in.ID)
			res.addStep(StepReboot, time.Since(start))
			if err != nil {
				return err
			}
		}
		if x.until == StepReboot {
			return nil
		}
		start := time.Now()
		for _, a := range in.Reattach {
			if err := x.reattach(ctx, in.ID, a); err != nil {
				res.addStep(StepReattach, time.Since(start))
				return err
			}
		}
		res.addStep(StepReattach, time.Since(start))
		if x.until == StepReattach || len(in.Guest) == 0 {
			return nil
		}
		start = time.Now()
		err := x.guestReboot(ctx, inst, in)
		res.addStep(StepGuestReboot, time.Since(start))
		return err
	}()
	res.Finished = time.Now().UTC()
	res.TotalSeconds = res.Finished.Sub(res.Started).Seconds()
	if err != nil {
		res.Outcome, res.Error = OutcomeFailed, err.Error()
	} else {
		res.Outcome = OutcomeRecovered
	}
	return res
}

// callOnce sends a non-idempotent request and retries it only when the real state shows it did not take
// effect: after a 5xx, a timeout or a dropped connection the request may have been carried out, and after a
// 409 a task may be running. accepted re-reads the real state.
func (x *executor) callOnce(ctx context.Context, what string, deadline time.Duration, call func(context.Context) error, accepted func(context.Context) (bool, error)) error {
	return wait.Until(ctx, what, deadline, x.options.Polling, func(ctx context.Context) (bool, string, error) {
		err := call(ctx)
		if err == nil {
			return true, "", nil
		}
		ok, aerr := accepted(ctx)
		if aerr == nil && ok {
			return true, "", nil
		}
		switch osapi.Classify(err) {
		case osapi.Transient, osapi.Conflict:
			return false, "", wait.Retry(err)
		default:
			return false, "", err
		}
	})
}

// reboot is step 3: one HARD reboot, never a second one, even across a crash and --resume. It is done when
// the server runs again and, where Nova's instance actions can be read, nova-compute reported the reboot
// carried out: a server that was running all along proves nothing by running.
func (x *executor) reboot(ctx context.Context, id string) error {
	send := !x.journal.rebootRequested(id)
	var mark *ActionMark
	if !send {
		intent, _ := x.journal.first(StepReboot, PhaseIntent, id, "")
		mark = intent.Actions
		reached, err := x.rebootReachedNova(ctx, id, intent)
		if err != nil {
			return fmt.Errorf("reboot %s: %w", id, err)
		}
		detail := "reboot requested by an earlier run: not sent again, waiting for the server"
		if !reached {
			detail = "the earlier run died before Nova accepted its reboot: sending it now"
			send = true
		}
		if err := x.record(StepReboot, PhaseIntent, id, "", detail); err != nil {
			return err
		}
	} else {
		before, err := x.cloud.GetServer(ctx, id)
		if err != nil {
			return fmt.Errorf("reboot %s: read its state first: %w", id, err)
		}
		detail := "HARD reboot"
		if mark, err = actionMark(ctx, id, x.cloud.ListInstanceActions); err != nil {
			detail += " (Nova's instance actions unreadable, so the reboot will be judged by the server's state alone: " + err.Error() + ")"
		}
		if err := x.recordEntry(Entry{Step: StepReboot, Phase: PhaseIntent, Instance: id, Detail: detail, VMStateBefore: before.VMState, Actions: mark}); err != nil {
			return err
		}
	}
	if send {
		err := x.callOnce(ctx, "hard reboot "+id, x.options.RebootTimeout,
			func(ctx context.Context) error { return x.cloud.RebootHard(ctx, id) },
			func(ctx context.Context) (bool, error) {
				if mark != nil {
					if ours, err := x.actionsSince(ctx, id, *mark, "reboot"); err == nil {
						return len(ours) > 0, nil
					}
				}
				s, err := x.cloud.GetServer(ctx, id)
				return err == nil && (strings.HasPrefix(s.TaskState, "reboot") || s.Running()), err
			})
		if err != nil {
			_ = x.record(StepReboot, PhaseFailed, id, "", err.Error())
			return fmt.Errorf("reboot %s: %w", id, err)
		}
	}
	err := wait.Until(ctx, "server "+id+" ACTIVE, running, no task", x.options.RebootTimeout, x.options.Polling,
		func(ctx context.Context) (bool, string, error) {
			s, err := x.cloud.GetServer(ctx, id)
			if err != nil {
				return false, "", wait.Retry(err)
			}
			seen := fmt.Sprintf("%s vm_state=%s task=%s power=%d", s.Status, s.VMState, s.TaskState, s.PowerState)
			if s.VMState == "error" && s.TaskState == "" {
				return false, seen, fmt.Errorf("server went to ERROR (%s)", s.Fault)
			}
			return s.Running(), seen, nil
		})
	done := "ACTIVE, running"
	if err == nil && mark != nil {
		var proof string
		if proof, err = x.confirmReboot(ctx, id, *mark); err == nil {
			done += "; " + proof
		}
	}
	if err != nil {
		_ = x.record(StepReboot, PhaseFailed, id, "", err.Error())
		return fmt.Errorf("reboot %s: %w", id, err)
	}
	return x.record(StepReboot, PhaseDone, id, "", done)
}

// rebootReachedNova tells, after a crash between journaling a reboot's intent and hearing Nova's answer,
// whether Nova accepted the request. Nova files a reboot action before it answers 202: one after the mark
// recorded with the intent settles it. Without a mark, an accepted reboot shows a task, a running server, or
// an ERROR from a failed reboot; a server with none of these never got the request, and sending it now is
// still the only reboot.
func (x *executor) rebootReachedNova(ctx context.Context, id string, intent Entry) (bool, error) {
	last, ok := x.journal.last(StepReboot, id, "")
	if ok && last.Phase != PhaseIntent {
		return true, nil
	}
	if intent.Actions != nil {
		ours, err := x.actionsSince(ctx, id, *intent.Actions, "reboot")
		if err != nil {
			return false, err
		}
		return len(ours) > 0, nil
	}
	s, err := x.cloud.GetServer(ctx, id)
	if err != nil {
		return false, err
	}
	failedSince := s.VMState == "error" && intent.VMStateBefore != "error"
	return s.TaskState != "" || s.Running() || failedSince, nil
}

// reattach is step 4 for one volume, at the device the manifest recorded.
func (x *executor) reattach(ctx context.Context, id string, a Action) error {
	listed := func(ctx context.Context) (bool, error) {
		atts, err := x.cloud.ListVolumeAttachments(ctx, id)
		if err != nil {
			return false, err
		}
		for _, att := range atts {
			if att.VolumeID == a.Volume {
				return true, nil
			}
		}
		return false, nil
	}
	if ok, err := listed(ctx); err == nil && ok {
		if last, found := x.journal.last(StepReattach, id, a.Volume); !found || last.Phase != PhaseDone {
			return x.record(StepReattach, PhaseDone, id, a.Volume, "already attached")
		}
		return nil
	}
	// Volumes of one instance are attached one after another, so an attach_volume action filed after this
	// mark is this volume's. The mark only speeds up a failure's report: one read, no retries.
	mark, _ := actionMark(ctx, id, x.cloud.ListInstanceActions)
	if err := x.record(StepReattach, PhaseIntent, id, a.Volume, "attach at "+a.Device); err != nil {
		return err
	}
	err := x.callOnce(ctx, "attach volume "+a.Volume+" to "+id, x.options.AttachTimeout,
		func(ctx context.Context) error { return x.cloud.AttachVolume(ctx, id, a.Volume, a.Device) },
		listed)
	if err == nil {
		err = wait.Until(ctx, "volume "+a.Volume+" in-use on "+id, x.options.AttachTimeout, x.options.Polling,
			func(ctx context.Context) (bool, string, error) {
				v, err := x.cloud.GetVolume(ctx, a.Volume)
				if err != nil {
					return false, "", wait.Retry(err)
				}
				if v.Status == "error_attaching" || v.Status == "error" {
					return false, v.Status, fmt.Errorf("volume went to %s", v.Status)
				}
				onServer := false
				for _, att := range v.Attachments {
					onServer = onServer || att.ServerID == id
				}
				if v.Status != "in-use" || !onServer {
					if mark != nil {
						if err := x.attachFailure(ctx, id, *mark); err != nil {
							return false, "cinder status " + v.Status, err
						}
					}
					return false, "cinder status " + v.Status, nil
				}
				ok, err := listed(ctx)
				if err != nil {
					return false, "", wait.Retry(err)
				}
				return ok, "in-use; nova lists it: " + fmt.Sprint(ok), nil
			})
	}
	if err != nil {
		_ = x.record(StepReattach, PhaseFailed, id, a.Volume, err.Error())
		return fmt.Errorf("reattach volume %s to %s: %w", a.Volume, id, err)
	}
	return x.record(StepReattach, PhaseDone, id, a.Volume, "in-use at "+a.Device)
}

// guestReboot is step 5: `shutdown -r now` from inside the guest, where the policy says so, then wait until
// the guest answers with a new boot id.
func (x *executor) guestReboot(ctx context.Context, inst Instance, in InstancePlan) error {
	if last, ok := x.journal.last(StepGuestReboot, in.ID, ""); ok && (last.Phase == PhaseDone || last.Phase == PhaseSkipped) {
		return nil
	}
	var bootBefore string
	err := wait.Until(ctx, "guest "+in.ID+" answers over SSH", x.options.GuestTimeout, x.options.Polling,
		func(ctx context.Context) (bool, string, error) {
			r, err := x.guests.RunOnGuest(ctx, inst.Guest(), GuestCmdBootID)
			if err != nil {
				return false, "", wait.Retry(err)
			}
			if r.ExitCode != 0 {
				return false, fmt.Sprintf("exit %d", r.ExitCode), nil
			}
			bootBefore = strings.TrimSpace(r.Stdout)
			return true, "", nil
		})
	if err != nil {
		_ = x.record(StepGuestReboot, PhaseFailed, in.ID, "", err.Error())
		return fmt.Errorf("guest of %s: %w", in.ID, err)
	}
	if needs, why, err := x.guestNeedsReboot(ctx, inst, in); err != nil {
		_ = x.record(StepGuestReboot, PhaseFailed, in.ID, "", err.Error())
		return err
	} else if !needs {
		return x.record(StepGuestReboot, PhaseSkipped, in.ID, "", why)
	}
	if err := x.recordEntry(Entry{Step: StepGuestReboot, Phase: PhaseIntent, Instance: in.ID, Detail: "shutdown -r now", BootID: bootBefore}); err != nil {
		return err
	}
	reboot, ok := guestCommand(in, roleReboot)
	if !ok {
		return fmt.Errorf("plan of %s has no guest reboot command", in.ID)
	}
	r, err := x.guests.RunOnGuest(ctx, inst.Guest(), reboot)
	var lost *sshx.ConnectionLostError
	switch {
	case errors.As(err, &lost):
		// The guest going down under the session is what a reboot looks like from outside.
	case err != nil:
		_ = x.record(StepGuestReboot, PhaseFailed, in.ID, "", err.Error())
		return fmt.Errorf("reboot guest of %s: %w", in.ID, err)
	case r.ExitCode != 0:
		err := fmt.Errorf("reboot guest of %s: %q exited %d: %s", in.ID, reboot, r.ExitCode, strings.TrimSpace(r.Stderr))
		_ = x.record(StepGuestReboot, PhaseFailed, in.ID, "", err.Error())
		return err
	}
	err = wait.Until(ctx, "guest "+in.ID+" back with a new boot id", x.options.GuestTimeout, x.options.Polling,
		func(ctx context.Context) (bool, string, error) {
			r, err := x.guests.RunOnGuest(ctx, inst.Guest(), GuestCmdBootID)
			if err != nil {
				return false, "", wait.Retry(err)
			}
			now := strings.TrimSpace(r.Stdout)
			return r.ExitCode == 0 && now != "" && now != bootBefore, "boot id " + now, nil
		})
	if err != nil {
		_ = x.record(StepGuestReboot, PhaseFailed, in.ID, "", err.Error())
		return fmt.Errorf("reboot guest of %s: %w", in.ID, err)
	}
	return x.record(StepGuestReboot, PhaseDone, in.ID, "", "new boot id")
}

// guestNeedsReboot applies the fstab policy: a reboot only where /etc/fstab names a reattached device.
func (x *executor) guestNeedsReboot(ctx context.Context, inst Instance, in InstancePlan) (bool, string, error) {
	for _, a := range in.Guest {
		if a.Role != roleFstab {
			continue
		}
		r, err := x.guests.RunOnGuest(ctx, inst.Guest(), a.Command)
		if err != nil {
			return false, "", fmt.Errorf("read /etc/fstab of %s: %w", in.ID, err)
		}
		if r.ExitCode != 0 {
			return false, "", fmt.Errorf("read /etc/fstab of %s: exit %d: %s", in.ID, r.ExitCode, strings.TrimSpace(r.Stderr))
		}
		var devices []string
		for _, att := range in.Reattach {
			devices = append(devices, att.Device)
		}
		if dev, ok := fstabNames(r.Stdout, devices); ok {
			return true, "/etc/fstab mounts " + dev, nil
		}
		return false, "/etc/fstab names none of " + strings.Join(devices, ", "), nil
	}
	return true, "policy all", nil
}

// fstabNames reports the first device (or one of its partitions) that an fstab entry mounts.
func fstabNames(fstab string, devices []string) (string, bool) {
	for _, line := range strings.Split(fstab, "\n") {
		fields := strings.Fields(line)
		if len(fields) < 2 || strings.HasPrefix(fields[0], "#") {
			continue
		}
		for _, dev := range devices {
			if isDeviceOrPartition(fields[0], dev) {
				return dev, true
			}
		}
	}
	return "", false
}

// isDeviceOrPartition reports whether name is the device or one of its partitions (/dev/vdb, /dev/vdb1,
// /dev/nvme0n1p2).
func isDeviceOrPartition(name, device string) bool {
	rest, ok := strings.CutPrefix(name, device)
	return ok && (rest == "" || strings.Trim(rest, "p0123456789") == "")
}
