package recover

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/semaphore"

	"github.com/osdr/osdr/internal/bounds"
	"github.com/osdr/osdr/internal/cloud"
	"github.com/osdr/osdr/internal/osapi"
	"github.com/osdr/osdr/internal/run"
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
	Concurrency int
	// PerHost is how many instances of one compute host proceed at once: a HARD reboot rebuilds the domain
	// and connects every volume on that host, and nova-compute runs them side by side.
	PerHost int
	// PerBackend is how many iSCSI logins osdr sends against one storage target portal at once: each HARD
	// reboot logs in every volume of its instance, each reattach one.
	PerBackend    int
	RebootTimeout time.Duration
	AttachTimeout time.Duration
	GuestTimeout  time.Duration
	Polling       wait.Polling
}

// The ranges an operator's options of a recovery must lie in, checked where they are read (flags, drill
// files) and again before a run starts.
var (
	ConcurrencyRange = bounds.Range[int]{Min: 1, Max: 65536}
	WaitRange        = bounds.Range[time.Duration]{Min: time.Second, Max: 24 * time.Hour}
)

// check refuses options out of range, by the names of the flags that set them.
func (o ExecOptions) check() error {
	return errors.Join(
		ConcurrencyRange.Check("--concurrency", o.Concurrency),
		ConcurrencyRange.Check("--per-host", o.PerHost),
		ConcurrencyRange.Check("--per-backend", o.PerBackend),
		WaitRange.Check("--reboot-timeout", o.RebootTimeout),
		WaitRange.Check("--attach-timeout", o.AttachTimeout),
		WaitRange.Check("--guest-timeout", o.GuestTimeout),
	)
}

// DefaultExecOptions suit a real cloud. What a cloud feels is per compute host, per storage portal and at
// the API, so those are the limits: 8 instances per compute host at once is what a hypervisor rebuilding
// domains and logging in their volumes takes without queueing in libvirt (nova-compute itself does not limit
// reboots); 256 logins in flight per target portal, a HARD reboot holding one per volume for its whole
// length, is far under what an LVM target (LIO, tgt) serves, and lets 128 two-volume instances reboot at once
// against one backend; the API rate (--api-rate) spaces every request. Concurrency only bounds how many
// instances osdr holds in flight, and is set high so that it never binds before the cloud's own limits: a
// waiting instance costs a goroutine and no request of its own, since one listing per tick answers them all.
// The waits' deadlines are a real cloud's worst cases: a HARD reboot of a loaded host within 10 minutes, an
// attach within 5, a guest's boot with fsck within 15.
var DefaultExecOptions = ExecOptions{
	Concurrency:   1024,
	PerHost:       8,
	PerBackend:    256,
	RebootTimeout: 10 * time.Minute,
	AttachTimeout: 5 * time.Minute,
	GuestTimeout:  15 * time.Minute,
	Polling:       wait.DefaultPolling,
}

// engineAPI is everything steps 3 to 5 ask of Nova and Cinder; *osapi.Client is the real one.
type engineAPI interface {
	computeAPI
	fleetAPI
}

// executor carries out steps 3 to 5 of a plan, instance by instance, journaling every intent before acting.
type executor struct {
	cloud   engineAPI
	guests  guests
	hosts   hostRunner
	dbs     cloud.Databases
	rn      run.Run
	journal *journal
	options ExecOptions
	// apiRate is the control plane's request budget (0: none): the waits spend a share of it.
	apiRate float64
	// until stops after this step (StepReboot or StepReattach); empty runs through step 5.
	until Step
	// emit receives progress events, one at a time; it must not block for long.
	emit func(Event)

	emitMu   sync.Mutex
	obs      *observer
	portals  *portalLimits
	services serviceLog
	// dbMu keeps database cleans one at a time.
	dbMu sync.Mutex
	// instances and data index the manifest for the steps, which look instances up thousands of times.
	instances map[string]Instance
	data      map[string][]Attachment
}

// index builds the manifest's lookups for the plan's instances.
func (x *executor) index(p *Plan, m *Manifest) {
	x.instances, x.data = map[string]Instance{}, map[string][]Attachment{}
	for _, in := range m.Instances {
		x.instances[in.ID] = in
	}
	for _, in := range p.Instances {
		x.data[in.ID] = m.DataAttachments(in.ID)
	}
}

// portalsOf are the target portals of the volumes a step logs in: the instance's, or one volume's.
func (x *executor) portalsOf(instance, volume string) []string {
	var out []string
	for _, a := range x.data[instance] {
		if volume == "" || a.VolumeID == volume {
			out = append(out, a.Portal)
		}
	}
	return out
}

// run recovers every instance of the plan and returns one result per instance (excluded ones included).
// Instances start longest chain first, at most Concurrency at once and PerHost per compute host; one
// failing or timing out never stops the others.
func (x *executor) recoverAll(ctx context.Context, p *Plan, m *Manifest) []InstanceResult {
	x.index(p, m)
	watched := map[string]bool{}
	for _, in := range p.Instances {
		watched[in.ID] = true
		for _, a := range in.Reattach {
			watched[a.Volume] = true
		}
	}
	x.obs = newObserver(x.cloud, watched, x.apiRate)
	x.portals = newPortalLimits(x.options.PerBackend)
	octx, stop := context.WithCancel(ctx)
	defer stop()
	go x.obs.run(octx)

	results := make([]InstanceResult, len(p.Instances))
	queue := newHostQueue(p, x.options.PerHost)
	var workers sync.WaitGroup
	for range min(x.options.Concurrency, len(p.Instances)) {
		workers.Go(func() {
			for {
				i, ok := queue.take()
				if !ok {
					return
				}
				results[i] = x.recoverInstance(ctx, p.Instances[i], m, p.GuestReboot)
				queue.done(p.Instances[i].Host)
			}
		})
	}
	workers.Wait()
	for _, e := range p.Excluded {
		in := x.instances[e.ID]
		results = append(results, InstanceResult{ID: e.ID, Name: in.Name, Host: in.Host, Outcome: OutcomeExcluded, Error: e.Reason})
	}
	return results
}

// hostQueue hands out the plan's instances longest chain first (the reboot, each reattach, the guest
// reboot), never more than perHost of one compute host at once.
type hostQueue struct {
	mu      sync.Mutex
	free    *sync.Cond
	plan    *Plan
	pending []int
	busy    map[string]int
	perHost int
}

func newHostQueue(p *Plan, perHost int) *hostQueue {
	q := &hostQueue{plan: p, busy: map[string]int{}, perHost: perHost}
	q.free = sync.NewCond(&q.mu)
	for i := range p.Instances {
		q.pending = append(q.pending, i)
	}
	chain := func(in InstancePlan) int {
		n := len(in.Prove)
		if !in.fallbackOnly() {
			n += len(in.Reattach)
			if len(in.Guest) > 0 {
				n++
			}
		}
		if in.Reboot != nil {
			n++
		}
		return n
	}
	sort.SliceStable(q.pending, func(a, b int) bool {
		return chain(p.Instances[q.pending[a]]) > chain(p.Instances[q.pending[b]])
	})
	return q
}

// take returns the next instance whose host has room, waiting for room; false once none is left.
func (q *hostQueue) take() (int, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for {
		if len(q.pending) == 0 {
			return 0, false
		}
		for k, i := range q.pending {
			if host := q.plan.Instances[i].Host; q.busy[host] < q.perHost {
				q.busy[host]++
				q.pending = append(q.pending[:k], q.pending[k+1:]...)
				return i, true
			}
		}
		q.free.Wait()
	}
}

func (q *hostQueue) done(host string) {
	q.mu.Lock()
	q.busy[host]--
	q.mu.Unlock()
	q.free.Broadcast()
}

// portalLimits bounds the iSCSI logins osdr causes at once against each storage target portal.
type portalLimits struct {
	mu   sync.Mutex
	per  int64
	sems map[string]*semaphore.Weighted
}

func newPortalLimits(per int) *portalLimits {
	return &portalLimits{per: int64(per), sems: map[string]*semaphore.Weighted{}}
}

// acquire takes one login slot per volume on its portal (in portal order, so two acquirers never wait on
// each other) and returns their release. Volumes whose portal is not recorded are not limited.
func (l *portalLimits) acquire(ctx context.Context, portals []string) (func(), error) {
	count := map[string]int64{}
	for _, p := range portals {
		if p != "" {
			count[p] = min(count[p]+1, l.per)
		}
	}
	names := make([]string, 0, len(count))
	for p := range count {
		names = append(names, p)
	}
	sort.Strings(names)
	var held []func()
	release := func() {
		for _, r := range held {
			r()
		}
	}
	for _, p := range names {
		l.mu.Lock()
		sem, ok := l.sems[p]
		if !ok {
			sem = semaphore.NewWeighted(l.per)
			l.sems[p] = sem
		}
		l.mu.Unlock()
		if err := sem.Acquire(ctx, count[p]); err != nil {
			release()
			return nil, err
		}
		held = append(held, func() { sem.Release(count[p]) })
	}
	return release, nil
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

func (x *executor) recoverInstance(ctx context.Context, in InstancePlan, m *Manifest, policy GuestRebootPolicy) InstanceResult {
	res := InstanceResult{ID: in.ID, Name: in.Name, Host: in.Host, Class: in.Class, Started: time.Now().UTC()}
	step := func(s Step, do func() error) error {
		start := time.Now()
		err := do()
		res.addStep(s, time.Since(start))
		return err
	}
	err := func() error {
		if in.Reboot != nil {
			if err := step(StepReboot, func() error { return x.reboot(ctx, in) }); err != nil {
				return err
			}
		}
		if x.until == StepReboot {
			return nil
		}
		if in.fallbackOnly() {
			err := step(StepProve, func() error { return x.prove(ctx, in) })
			if err == nil {
				return nil
			}
			var failed *proofFailedError
			if !errors.As(err, &failed) {
				return err
			}
			// The reboot is spent: the guide's steps for this instance's volumes alone, never a second reboot.
			res.FellBack = failed.why
			if err := step(StepDBClean, func() error { return x.cleanInstance(ctx, m, in.ID) }); err != nil {
				return err
			}
		}
		if err := step(StepReattach, func() error { return x.reattachAll(ctx, in) }); err != nil || x.until == StepReattach || len(in.Guest) == 0 {
			return err
		}
		return step(StepGuestReboot, func() error { return x.guestReboot(ctx, x.instances[in.ID], in) })
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
func (x *executor) reboot(ctx context.Context, in InstancePlan) error {
	id := in.ID
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
		before, err := x.serverNow(ctx, id)
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
	// The reboot logs in every volume of the instance again: it holds a login slot on each volume's portal.
	release, err := x.portals.acquire(ctx, x.portalsOf(id, ""))
	if err != nil {
		return fmt.Errorf("reboot %s: %w", id, err)
	}
	defer release()
	var requestID string
	if send {
		err := x.callOnce(ctx, "hard reboot "+id, x.options.RebootTimeout,
			func(ctx context.Context) error {
				var err error
				requestID, err = x.cloud.RebootHard(ctx, id)
				return err
			},
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
	err = x.obs.await(ctx, kindServer, id, "reboot", "server "+id+" ACTIVE, running, no task", x.options.RebootTimeout,
		func(o *observer) (bool, string, error) {
			s, ok := o.server(id)
			if !ok {
				return false, "not listed", nil
			}
			seen := fmt.Sprintf("%s vm_state=%s task=%s power=%d", s.Status, s.VMState, s.TaskState, s.PowerState)
			if s.VMState == "error" && s.TaskState == "" {
				return false, seen, fmt.Errorf("server went to ERROR (%s)", s.Fault)
			}
			return s.Running(), seen, nil
		})
	done := "ACTIVE, running"
	var verdict computeReport
	if err == nil && (mark != nil || requestID != "") {
		var proof string
		if proof, verdict, err = x.confirmReboot(ctx, id, requestID, mark); err == nil {
			done += "; " + proof
		}
	}
	if err != nil {
		_ = x.record(StepReboot, PhaseFailed, id, "", err.Error())
		return fmt.Errorf("reboot %s: %w", id, err)
	}
	// The verdict's event is nova-compute's record of the reboot: no second read for its service time.
	x.services.add(serviceRecord{instance: id, host: in.Host, portals: x.portalsOf(id, ""), action: "reboot", event: eventReboot,
		requestID: cmp.Or(verdict.Succeeded, requestID), started: verdict.Took.Started, ended: verdict.Took.Ended})
	return x.record(StepReboot, PhaseDone, id, "", done)
}

// serverNow is the server as the latest listing shows it, listing it first when none has.
func (x *executor) serverNow(ctx context.Context, id string) (osapi.Server, error) {
	var s osapi.Server
	err := x.obs.await(ctx, kindServer, id, "read", "server "+id+" listed", x.options.RebootTimeout, func(o *observer) (bool, string, error) {
		var ok bool
		s, ok = o.server(id)
		if !ok {
			return false, "", fmt.Errorf("Nova lists no server %s", id)
		}
		return true, "", nil
	})
	return s, err
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

// reattachAll is step 4 for an instance: its volumes one after another, in device order, skipping those the
// shared listing already shows on the server (os-extended-volumes:volumes_attached, built from the live block
// device mappings), and Nova's list of the server's volumes read at the end to see every one of them there.
func (x *executor) reattachAll(ctx context.Context, in InstancePlan) error {
	if len(in.Reattach) == 0 {
		return nil
	}
	attached, err := x.novaLists(ctx, in.ID)
	if err != nil {
		return fmt.Errorf("reattach volumes of %s: read its volumes: %w", in.ID, err)
	}
	var sent []Action
	for _, a := range in.Reattach {
		if attached[a.Volume] {
			if last, found := x.journal.last(StepReattach, in.ID, a.Volume); !found || last.Phase != PhaseDone {
				if err := x.record(StepReattach, PhaseDone, in.ID, a.Volume, "already attached"); err != nil {
					return err
				}
			}
			continue
		}
		if err := x.reattach(ctx, in, a); err != nil {
			return err
		}
		sent = append(sent, a)
	}
	if len(sent) == 0 {
		return nil
	}
	// Cinder shows every volume in-use on the server; Nova must list each too (its BDM), or the guest's next
	// reboot would come up without it. Asked of Nova directly: an attach need not change the server's
	// updated_at, so a changes-since listing may not show the server again.
	if attached, err = x.novaListsNow(ctx, in.ID); err != nil {
		return fmt.Errorf("reattach volumes of %s: read its volumes: %w", in.ID, err)
	}
	for _, a := range sent {
		if !attached[a.Volume] {
			err := fmt.Errorf("Cinder shows volume %s in-use on %s, but Nova does not list it", a.Volume, in.ID)
			_ = x.record(StepReattach, PhaseFailed, in.ID, a.Volume, err.Error())
			return fmt.Errorf("reattach volume %s to %s: %w", a.Volume, in.ID, err)
		}
		if err := x.record(StepReattach, PhaseDone, in.ID, a.Volume, "in-use at "+a.Device); err != nil {
			return err
		}
	}
	return nil
}

// novaLists is the set of volumes Nova lists on the server (its live BDMs), from a listing taken after the
// call: no request of its own.
func (x *executor) novaLists(ctx context.Context, id string) (map[string]bool, error) {
	s, err := x.serverNow(ctx, id)
	if err != nil {
		return nil, err
	}
	out := map[string]bool{}
	for _, v := range s.Volumes {
		out[v] = true
	}
	return out, nil
}

// novaListsNow asks Nova for the server's volumes directly: after attaches, whose effect a changes-since
// listing need not show.
func (x *executor) novaListsNow(ctx context.Context, id string) (map[string]bool, error) {
	atts, err := x.cloud.ListVolumeAttachments(ctx, id)
	if err != nil {
		return nil, err
	}
	out := map[string]bool{}
	for _, att := range atts {
		out[att.VolumeID] = true
	}
	return out, nil
}

// reattach is step 4 for one volume, at the device the manifest recorded: sent once, then waited for until
// Cinder shows it in-use on the server.
func (x *executor) reattach(ctx context.Context, in InstancePlan, a Action) error {
	id := in.ID
	fail := func(err error) error {
		_ = x.record(StepReattach, PhaseFailed, id, a.Volume, err.Error())
		return fmt.Errorf("reattach volume %s to %s: %w", a.Volume, id, err)
	}
	if err := x.record(StepReattach, PhaseIntent, id, a.Volume, "attach at "+a.Device); err != nil {
		return err
	}
	release, err := x.portals.acquire(ctx, x.portalsOf(id, a.Volume))
	if err != nil {
		return fail(err)
	}
	defer release()
	var requestID string
	err = x.callOnce(ctx, "attach volume "+a.Volume+" to "+id, x.options.AttachTimeout,
		func(ctx context.Context) error {
			var err error
			requestID, err = x.cloud.AttachVolume(ctx, id, a.Volume, a.Device)
			return err
		},
		func(ctx context.Context) (bool, error) { return x.attachAccepted(ctx, id, a.Volume) })
	if err != nil {
		return fail(err)
	}
	deadline := time.Now().Add(x.options.AttachTimeout)
	for {
		// Look at nova-compute's report of the attach whenever the volume is slower than attaches have been
		// so far: a failed attach never completes, and waiting out the timeout would only hide the reason.
		slice := min(time.Until(deadline), max(3*x.obs.learned.expected("attach"), time.Second))
		err = x.obs.await(ctx, kindVolume, a.Volume, "attach", "volume "+a.Volume+" in-use on "+id, max(slice, time.Millisecond),
			func(o *observer) (bool, string, error) {
				v, ok := o.volume(a.Volume)
				if !ok {
					return false, "not listed", nil
				}
				if v.Status == "error_attaching" || v.Status == "error" {
					return false, v.Status, fmt.Errorf("volume went to %s", v.Status)
				}
				for _, att := range v.Attachments {
					if att.ServerID == id && v.Status == "in-use" {
						return true, "in-use", nil
					}
				}
				return false, "cinder status " + v.Status, nil
			})
		if err == nil || !errors.Is(err, context.DeadlineExceeded) || ctx.Err() != nil || !time.Now().Before(deadline) {
			break
		}
		if requestID != "" {
			if r, verr := x.verdict(ctx, id, []string{requestID}, eventAttach); verr == nil && len(r.Failures) > 0 {
				err = fmt.Errorf("%w: %s %s", errAttachFailed, eventAttach, strings.Join(r.Failures, "; "))
				break
			}
		}
	}
	if err != nil {
		return fail(err)
	}
	x.services.add(serviceRecord{instance: id, host: in.Host, portals: x.portalsOf(id, a.Volume), action: "attach_volume", event: eventAttach, requestID: requestID})
	return nil
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
