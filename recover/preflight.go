package recover

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/osdr/osdr/internal/cloud"
	"github.com/osdr/osdr/internal/osapi"
)

// computeAPI is what the engine asks of Nova and Cinder; *osapi.Client is the real one.
type computeAPI interface {
	GetServer(ctx context.Context, id string) (osapi.Server, error)
	ListServers(ctx context.Context, host string) ([]osapi.Server, error)
	ComputeServices(ctx context.Context) ([]osapi.Service, error)
	VolumeServices(ctx context.Context) ([]osapi.Service, error)
	RebootHard(ctx context.Context, id string) (requestID string, err error)
	AttachVolume(ctx context.Context, serverID, volumeID, device string) (requestID string, err error)
	ListVolumeAttachments(ctx context.Context, serverID string) ([]osapi.VolumeAttachment, error)
	GetVolume(ctx context.Context, id string) (osapi.Volume, error)
	ListInstanceActions(ctx context.Context, serverID string) ([]osapi.InstanceAction, error)
	GetInstanceAction(ctx context.Context, serverID, requestID string) (osapi.InstanceAction, error)
}

// errServicesDown means a compute or volume service the recovery needs is down; nothing was changed.
var errServicesDown = errors.New("services down")

// preflightOptions are the operator's choices that change what preflight accepts.
type preflightOptions struct {
	// SkipDownHosts leaves out instances whose nova-compute is down instead of stopping.
	SkipDownHosts bool
	// PreLossManifest says the manifest was taken before the loss (a scheduled snapshot given with
	// --manifest): its vm_states are the intended ones, so stopped instances stay stopped. A manifest taken
	// after the loss shows instances the power-state sync stopped; the guide restarts them.
	PreLossManifest bool
	// Explicit are instances named with --instance: included even when already running again.
	Explicit []string
}

// decision is preflight's verdict on one instance.
type decision struct {
	Instance Instance
	Include  bool
	Reboot   bool   // step 3 applies
	Reason   string // why it is left out, or why it is not rebooted
	Now      osapi.Server
}

// preflight checks, before anything changes, that the services the recovery needs are up and what each
// instance in scope needs: a reboot, only a reattach (it keeps its stopped/paused/shelved state), or nothing.
func preflight(ctx context.Context, cloud computeAPI, m *Manifest, inScope []string, opts preflightOptions) ([]decision, error) {
	computes, err := cloud.ComputeServices(ctx)
	if err != nil {
		return nil, fmt.Errorf("preflight: %w", err)
	}
	volumeServices, err := cloud.VolumeServices(ctx)
	if err != nil {
		return nil, fmt.Errorf("preflight: %w", err)
	}
	var downVolume []string
	for _, s := range volumeServices {
		if s.State != "up" && s.Status == "enabled" {
			downVolume = append(downVolume, s.Host)
		}
	}
	if len(downVolume) > 0 {
		sort.Strings(downVolume)
		return nil, fmt.Errorf("%w: cinder-volume on %s; a reattach would fail (start it, then run again)", errServicesDown, strings.Join(downVolume, ", "))
	}
	computeUp := map[string]bool{}
	for _, s := range computes {
		computeUp[s.Host] = s.State == "up"
	}
	explicit := map[string]bool{}
	for _, id := range opts.Explicit {
		explicit[id] = true
	}

	servers, err := readServers(ctx, cloud, inScope)
	if err != nil {
		return nil, fmt.Errorf("preflight: %w", err)
	}
	var decisions []decision
	var downHosts []string
	for _, id := range inScope {
		in, ok := m.Instance(id)
		if !ok {
			return nil, fmt.Errorf("preflight: instance %s is not in the manifest", id)
		}
		d := decision{Instance: in}
		if !computeUp[in.Host] {
			if !opts.SkipDownHosts {
				downHosts = append(downHosts, in.Host)
				continue
			}
			d.Reason = "nova-compute on " + in.Host + " is down (--skip-down-hosts)"
			decisions = append(decisions, d)
			continue
		}
		now, ok := servers[id]
		if !ok {
			return nil, fmt.Errorf("preflight: instance %s (%s) from the manifest no longer exists", id, in.Name)
		}
		d.Now = now
		if now.Host != in.Host {
			return nil, fmt.Errorf("preflight: instance %s is on host %s now, the manifest says %s: take a new manifest", id, now.Host, in.Host)
		}
		decide(&d, opts.PreLossManifest, explicit[id])
		decisions = append(decisions, d)
	}
	if len(downHosts) > 0 {
		return nil, fmt.Errorf("%w: nova-compute on %s (start it, or pass --skip-down-hosts to leave its instances out)", errServicesDown, strings.Join(uniqueSorted(downHosts), ", "))
	}
	return decisions, nil
}

// serversReadOneByOne is the most instances whose servers preflight reads one GET each: for more, one
// listing of every project's servers (paged, a thousand a page) costs fewer requests.
const serversReadOneByOne = 25

// readServers reads the servers of ids as Nova has them now; a server Nova no longer has is absent.
func readServers(ctx context.Context, cloud computeAPI, ids []string) (map[string]osapi.Server, error) {
	out := map[string]osapi.Server{}
	if len(ids) > serversReadOneByOne {
		all, err := cloud.ListServers(ctx, "")
		if err != nil {
			return nil, err
		}
		wanted := map[string]bool{}
		for _, id := range ids {
			wanted[id] = true
		}
		for _, s := range all {
			if wanted[s.ID] {
				out[s.ID] = s
			}
		}
		return out, nil
	}
	for _, id := range ids {
		s, err := cloud.GetServer(ctx, id)
		switch {
		case osapi.IsNotFound(err):
		case err != nil:
			return nil, err
		default:
			out[id] = s
		}
	}
	return out, nil
}

// reasonRunningAgain leaves out an instance that runs again although the loss stopped it; who rebooted it is
// added when an earlier osdr run did.
const reasonRunningAgain = "already running again (e.g. resume_guests_state_on_host_boot rebooted it): name it with --instance to run the procedure on it"

// decide applies the procedure's rules to one instance whose host is up.
func decide(d *decision, preLoss, explicit bool) {
	was, now := d.Instance, d.Now
	if now.TaskState != "" {
		d.Reason = "a task runs on it now (" + now.TaskState + "): wait for it to end, then run again"
		return
	}
	switch was.VMState {
	case "active", "error":
		// Running before the loss (or failed by it); the power-state sync may have stopped it since.
	case "stopped":
		if preLoss {
			d.Include, d.Reason = true, "stopped before the loss: stays stopped, volumes reattached"
			return
		}
		// Taken after the loss: the power-state sync stops running instances, so stopped is presumed lost power.
	case "paused", "shelved", "shelved_offloaded":
		d.Include, d.Reason = true, was.VMState+" before the loss: keeps that state, volumes reattached"
		return
	default:
		d.Reason = "vm_state " + was.VMState + ": Nova refuses a volume attach in that state"
		return
	}
	if now.Running() {
		if !explicit {
			d.Reason = reasonRunningAgain
			return
		}
		// Named explicitly: the guide's test mode, where only the storage path was cut and the instance
		// still runs without its disks. The whole procedure applies.
		d.Include, d.Reboot, d.Reason = true, true, "running without its volumes, named explicitly: the whole procedure"
		return
	}
	d.Include, d.Reboot = true, true
}

func uniqueSorted(ss []string) []string {
	sort.Strings(ss)
	return dedupe(ss)
}

// buildPlan turns the manifest, preflight's decisions and the DB plan into the full plan.
// classes is the minimal strategy's verdict per instance; nil for the guide's procedure.
func buildPlan(runID, manifestPath string, m *Manifest, scope Scope, decisions []decision, classes map[string]classification, db *DBPlan, policy GuestRebootPolicy, login func(cloud.Guest) cloud.Login) *Plan {
	p := &Plan{RunID: runID, Manifest: manifestPath, Scope: scope, GuestReboot: policy, DB: db, Warnings: m.Warnings}
	for _, d := range decisions {
		if !d.Include {
			p.Excluded = append(p.Excluded, Exclusion{ID: d.Instance.ID, Kind: "instance", Reason: d.Reason})
			continue
		}
		ip := InstancePlan{ID: d.Instance.ID, Name: d.Instance.Name, Host: d.Instance.Host, Note: d.Reason}
		if c, ok := classes[d.Instance.ID]; ok {
			ip.Class, ip.ClassWhy = c.Class, c.Why
		}
		if ip.Class == ClassKept {
			p.Instances = append(p.Instances, ip)
			continue
		}
		if ip.Class == ClassRebootOnly {
			ip.Prove = []Action{proveAction(d.Instance.Host)}
		}
		if d.Reboot {
			a := rebootAction(d.Instance.ID)
			ip.Reboot = &a
		}
		var devices []string
		for _, a := range m.DataAttachments(d.Instance.ID) {
			ip.Reattach = append(ip.Reattach, reattachAction(a))
			devices = append(devices, a.Device)
		}
		if len(devices) > 0 && (d.Reboot || d.Now.Running()) {
			ip.Guest = guestActions(policy, login(d.Instance.Guest()), devices)
		}
		p.Instances = append(p.Instances, ip)
	}
	return p
}

// cleanedInstances are the ids step 2 is scoped to: every instance the guide's procedure acts on; the minimal
// strategy's stuck ones.
func (p *Plan) cleanedInstances() []string {
	var ids []string
	for _, in := range p.Instances {
		if p.strategy() == StrategyGuide || in.Class == ClassStuck {
			ids = append(ids, in.ID)
		}
	}
	return ids
}
