package inject

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/osdr/osdr/internal/bounds"
	"github.com/osdr/osdr/internal/sshx"
)

// Hosts runs a command on a compute host: over SSH with the inventory's endpoint in the field.
type Hosts interface {
	RunOnHost(ctx context.Context, host, command string) (sshx.Result, error)
}

// Volume is one attached volume a fault may cut, as the manifest records it.
type Volume struct {
	ID               string `json:"id"`
	DriverVolumeType string `json:"driver_volume_type"`
	IQN              string `json:"iqn,omitempty"`
	Portal           string `json:"portal,omitempty"`
}

// Instance is one target instance with the volumes attached to it.
type Instance struct {
	ID         string   `json:"id"`
	Host       string   `json:"host"`
	DomainName string   `json:"domain_name"`
	Volumes    []Volume `json:"volumes"`
}

// Selection is what the caller resolved from --instance, --volume or --host: the instances to break and, with
// --volume, only some of their volumes.
type Selection struct {
	Instances []Instance
	// Hosts are whole hosts (host-power-loss); for the other faults their instances are listed above.
	Hosts []string
}

// Target names what the action breaks: the volume, else the instance's domain.
func (a Action) Target() string {
	switch {
	case a.Volume != "":
		return "volume " + a.Volume
	case a.Domain != "":
		return "domain " + a.Domain
	}
	return a.Instance
}

// ActionState is where one action of a fault stands; the record is saved at every change.
type ActionState string

const (
	StatePlanned       ActionState = "planned"
	StateIntent        ActionState = "intent" // saved before the command is sent: it may have run
	StateDone          ActionState = "done"
	StateFailed        ActionState = "failed"
	StateRestored      ActionState = "restored"
	StateRestoreFailed ActionState = "restore-failed"
)

// Action is one command on one host, with what restores it.
type Action struct {
	Fault    string      `json:"fault"`
	Kind     string      `json:"kind"` // iscsi-logout, virsh-destroy
	Host     string      `json:"host"`
	Instance string      `json:"instance,omitempty"`
	Volume   string      `json:"volume,omitempty"`
	IQN      string      `json:"iqn,omitempty"`
	Portal   string      `json:"portal,omitempty"`
	SID      int         `json:"sid,omitempty"`
	Domain   string      `json:"domain,omitempty"`
	Command  string      `json:"command"`
	Restore  string      `json:"restore_command"`
	State    ActionState `json:"state"`
	Error    string      `json:"error,omitempty"`
	// At is when the action reached its state: the drill's timeline shows the fault from these.
	At time.Time `json:"at,omitempty"`
}

// Fault is one way of breaking a cloud like a power cut: Plan resolves the selection to concrete actions on
// hosts, without changing anything. What each action does, how it is undone and how its effect shows belongs
// to its kind (actionKinds), so the runner, the restore and the observation stay generic.
type Fault interface {
	Name() string
	Plan(ctx context.Context, hosts Hosts, sel Selection) ([]Action, error)
}

// actionKind is one sort of action a fault takes on a compute host.
type actionKind struct {
	// act carries out a planned action; the record is saved (intent) before it runs.
	act func(ctx context.Context, hosts Hosts, a *Action) error
	// undo restores an action that may have run; restoring what is already restored is harmless.
	undo func(ctx context.Context, hosts Hosts, a *Action) error
	// took says whether the action's effect shows on the host, and what was seen.
	took func(ctx context.Context, hosts Hosts, a Action) (bool, string, error)
	// storage kinds are restored first: a guest started before its disks are back hangs at boot.
	storage bool
	// session kinds count against Limits.MaxSessions.
	session bool
}

// actionKinds is every action a fault can plan, by Action.Kind.
var actionKinds = map[string]actionKind{
	kindLogout:  {act: actLogout, undo: undoLogout, took: sessionGone, storage: true, session: true},
	kindDestroy: {act: actDestroy, undo: undoDestroy, took: domainDown},
}

func kindOf(a Action) (actionKind, error) {
	k, ok := actionKinds[a.Kind]
	if !ok {
		return actionKind{}, fmt.Errorf("unknown action kind %q", a.Kind)
	}
	return k, nil
}

// The faults osdr knows: an explicit registry, so a drill file can only name one of these.
var (
	ISCSISession  Fault = iscsiSession{}
	GuestDestroy  Fault = guestDestroy{}
	HostPowerLoss Fault = hostPowerLoss{}

	registry = []Fault{ISCSISession, GuestDestroy, HostPowerLoss}
)

// Kinds lists the registered fault names.
func Kinds() []string {
	out := make([]string, len(registry))
	for i, f := range registry {
		out[i] = f.Name()
	}
	return out
}

// Lookup finds a fault by name.
func Lookup(name string) (Fault, error) {
	for _, f := range registry {
		if f.Name() == name {
			return f, nil
		}
	}
	return nil, fmt.Errorf("unknown fault %q (known: %s)", name, strings.Join(Kinds(), ", "))
}

// Limits bound a run's blast radius. Exceeding one refuses the run before anything is touched.
type Limits struct {
	MaxHosts     int
	MaxInstances int
	MaxSessions  int
}

// LimitRange is what each limit may be: at least one of each, and no more than a region holds.
var LimitRange = bounds.Range[int]{Min: 1, Max: 1_000_000}

// CheckRange refuses limits out of range, by the names the operator gave them.
func (l Limits) CheckRange(hosts, instances, sessions string) error {
	return errors.Join(LimitRange.Check(hosts, l.MaxHosts), LimitRange.Check(instances, l.MaxInstances), LimitRange.Check(sessions, l.MaxSessions))
}

// DefaultLimits fit one compute host.
var DefaultLimits = Limits{MaxHosts: 1, MaxInstances: 20, MaxSessions: 64}

// ErrBlastRadius means the planned actions exceed the limits.
var ErrBlastRadius = errors.New("blast radius exceeded")

// Check refuses actions that reach more hosts, instances or iSCSI sessions than allowed.
func (l Limits) Check(actions []Action) error {
	hosts, instances := map[string]bool{}, map[string]bool{}
	sessions := 0
	for _, a := range actions {
		hosts[a.Host] = true
		if a.Instance != "" {
			instances[a.Instance] = true
		}
		if actionKinds[a.Kind].session {
			sessions++
		}
	}
	var over []string
	if len(hosts) > l.MaxHosts {
		over = append(over, fmt.Sprintf("%d hosts (%s) > --max-hosts %d", len(hosts), strings.Join(sortedKeys(hosts), ", "), l.MaxHosts))
	}
	if len(instances) > l.MaxInstances {
		over = append(over, fmt.Sprintf("%d instances > --max-instances %d", len(instances), l.MaxInstances))
	}
	if sessions > l.MaxSessions {
		over = append(over, fmt.Sprintf("%d iSCSI sessions > --max-sessions %d", sessions, l.MaxSessions))
	}
	if len(over) > 0 {
		return fmt.Errorf("%w: %s; nothing was done", ErrBlastRadius, strings.Join(over, "; "))
	}
	return nil
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
