package inject

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/osdr/osdr/internal/iscsi"
	"github.com/osdr/osdr/internal/run"
	"github.com/osdr/osdr/internal/sshx"
)

const (
	volA = "11111111-1111-4111-8111-111111111111"
	volB = "22222222-2222-4222-8222-222222222222"
)

// scriptedHost answers iscsiadm and virsh from a session table, with open-iscsi's exact text, and logs every
// command it is sent.
type scriptedHost struct {
	sessions map[int]string // sid → IQN
	domains  map[string]string
	sent     []string
	// beforeCommand lets a test change the host between two commands (a sid renumbered).
	beforeCommand func(cmd string)
}

func (h *scriptedHost) RunOnHost(_ context.Context, host, cmd string) (sshx.Result, error) {
	if h.beforeCommand != nil {
		h.beforeCommand(cmd)
	}
	h.sent = append(h.sent, cmd)
	switch {
	case cmd == "iscsiadm -m session":
		if len(h.sessions) == 0 {
			return sshx.Result{Stderr: "iscsiadm: No active sessions.\n", ExitCode: 21}, nil
		}
		var b strings.Builder
		for sid := 1; sid <= 64; sid++ {
			if iqn, ok := h.sessions[sid]; ok {
				fmt.Fprintf(&b, "tcp: [%d] 10.0.0.1:3260,1 %s (non-flash)\n", sid, iqn)
			}
		}
		return sshx.Result{Stdout: b.String()}, nil
	case strings.HasPrefix(cmd, "iscsiadm -m session -u -r "):
		var sid int
		fmt.Sscanf(strings.TrimPrefix(cmd, "iscsiadm -m session -u -r "), "%d", &sid)
		iqn, ok := h.sessions[sid]
		if !ok {
			return sshx.Result{Stderr: "iscsiadm: could not read session targetname: 5\niscsiadm: Could not get session info for sid " + fmt.Sprint(sid) + "\n", ExitCode: 22}, nil
		}
		delete(h.sessions, sid)
		return sshx.Result{Stdout: fmt.Sprintf("Logging out of session [sid: %d, target: %s, portal: 10.0.0.1,3260]\nLogout of [sid: %d, target: %s, portal: 10.0.0.1,3260] successful.\n", sid, iqn, sid, iqn)}, nil
	case strings.HasPrefix(cmd, "iscsiadm -m node -T "):
		f := strings.Fields(cmd)
		iqn := f[4]
		next := 1
		for sid := range h.sessions {
			next = max(next, sid+1)
		}
		h.sessions[next] = iqn
		return sshx.Result{Stdout: fmt.Sprintf("Login to [iface: default, target: %s, portal: 10.0.0.1,3260] successful.\n", iqn)}, nil
	case cmd == "virsh list --all":
		out := " Id   Name                State\n------------------------------------\n"
		for name, state := range h.domains {
			id := "-"
			if state == "running" {
				id = "1"
			}
			out += fmt.Sprintf(" %-4s %-19s %s\n", id, name, state)
		}
		return sshx.Result{Stdout: out + "\n"}, nil
	case strings.HasPrefix(cmd, "virsh destroy "):
		name := strings.TrimPrefix(cmd, "virsh destroy ")
		h.domains[name] = "shut off"
		return sshx.Result{Stdout: "Domain '" + name + "' destroyed\n\n"}, nil
	case strings.HasPrefix(cmd, "virsh start "):
		name := strings.TrimPrefix(cmd, "virsh start ")
		h.domains[name] = "running"
		return sshx.Result{Stdout: "Domain '" + name + "' started\n\n"}, nil
	}
	return sshx.Result{Stderr: "bash: line 1: " + strings.Fields(cmd)[0] + ": command not found\n", ExitCode: 127}, nil
}

func iqnOf(vol string) string { return "iqn.2010-10.org.openstack:volume-" + vol }

func newHost() *scriptedHost {
	return &scriptedHost{
		sessions: map[int]string{3: iqnOf(volA), 4: iqnOf(volB), 5: iqnOf("33333333-3333-4333-8333-333333333333")},
		domains:  map[string]string{"instance-00000001": "running", "instance-00000002": "running"},
	}
}

func selection(vols ...string) Selection {
	var vs []Volume
	for _, v := range vols {
		vs = append(vs, Volume{ID: v, DriverVolumeType: "iscsi", IQN: iqnOf(v)})
	}
	return Selection{Instances: []Instance{{ID: "inst-1", Host: "compute-1", DomainName: "instance-00000001", Volumes: vs}}}
}

func TestClosingOneInstancesSessionsLeavesEveryOtherSession(t *testing.T) {
	ctx := context.Background()
	h := newHost()
	actions, err := PlanFaults(ctx, h, []Fault{ISCSISession}, selection(volA), DefaultLimits)
	if err != nil {
		t.Fatal(err)
	}
	if len(actions) != 1 || actions[0].Command != "iscsiadm -m session -u -r 3" || actions[0].Restore != "iscsiadm -m node -T "+iqnOf(volA)+" -p 10.0.0.1:3260 --login" {
		t.Fatalf("actions = %+v", actions)
	}
	rec := NewRecord(run.Run{ID: "run", Dir: t.TempDir()}, []string{"iscsi-session"}, DefaultLimits, actions)
	if err := Inject(ctx, h, rec); err != nil {
		t.Fatal(err)
	}
	if _, ok := h.sessions[3]; ok || len(h.sessions) != 2 {
		t.Errorf("sessions after the fault: %v, want only volA's gone", h.sessions)
	}
	if err := Observe(ctx, h, rec, 5*time.Second); err != nil {
		t.Errorf("the fault took, but Observe says %v", err)
	}
	for _, cmd := range h.sent {
		if strings.Contains(cmd, " -u") && !strings.Contains(cmd, " -r ") {
			t.Fatalf("a logout without -r was sent: %q", cmd)
		}
	}
	saved, err := LoadRecord(run.Run{Dir: filepath.Dir(rec.path)})
	if err != nil || saved.Actions[0].State != StateDone {
		t.Fatalf("saved record: %+v, %v", saved, err)
	}
	if err := Restore(ctx, h, saved); err != nil {
		t.Fatal(err)
	}
	back := false
	for _, iqn := range h.sessions {
		back = back || iqn == iqnOf(volA)
	}
	if !back || saved.Actions[0].State != StateRestored {
		t.Errorf("restore did not log volA back in: %v", h.sessions)
	}
	if err := Restore(ctx, h, saved); err != nil {
		t.Errorf("a second restore failed: %v", err)
	}
}

func TestARenumberedSIDIsCaughtAndNothingIsLoggedOut(t *testing.T) {
	ctx := context.Background()
	h := newHost()
	actions, err := PlanFaults(ctx, h, []Fault{ISCSISession}, selection(volA), DefaultLimits)
	if err != nil {
		t.Fatal(err)
	}
	// Between the plan and the act, volA's session is re-established under another sid and sid 3 now
	// belongs to volB.
	h.beforeCommand = func(cmd string) {
		if cmd == "iscsiadm -m session" && h.beforeCommand != nil {
			h.sessions = map[int]string{3: iqnOf(volB), 7: iqnOf(volA)}
			h.beforeCommand = nil
		}
	}
	rec := NewRecord(run.Run{ID: "run", Dir: t.TempDir()}, []string{"iscsi-session"}, DefaultLimits, actions)
	err = Inject(ctx, h, rec)
	var mismatch *iscsi.SIDMismatchError
	if !errors.As(err, &mismatch) {
		t.Fatalf("Inject = %v, want a SIDMismatchError", err)
	}
	if len(h.sessions) != 2 {
		t.Errorf("sessions changed: %v", h.sessions)
	}
	for _, cmd := range h.sent {
		if strings.Contains(cmd, "-u") {
			t.Errorf("a logout was sent after the mismatch: %q", cmd)
		}
	}
	if rec.Actions[0].State != StateFailed || !strings.Contains(rec.Actions[0].Error, "sid") {
		t.Errorf("record: %+v", rec.Actions[0])
	}
}

func TestBadInputIsRefusedBeforeAnythingRuns(t *testing.T) {
	ctx := context.Background()
	rbd := Selection{Instances: []Instance{{ID: "inst-1", Host: "compute-1", Volumes: []Volume{{ID: volA, DriverVolumeType: "rbd"}}}}}
	unattached := selection("44444444-4444-4444-8444-444444444444")
	twoHosts := Selection{Instances: []Instance{
		{ID: "inst-1", Host: "compute-1", Volumes: []Volume{{ID: volA, DriverVolumeType: "iscsi", IQN: iqnOf(volA)}}},
		{ID: "inst-2", Host: "compute-2", Volumes: []Volume{{ID: volB, DriverVolumeType: "iscsi", IQN: iqnOf(volB)}}},
	}}
	// Its session is there under LVM's naming, but nothing recorded its target: never guessed.
	unrecorded := Selection{Instances: []Instance{{ID: "inst-1", Host: "compute-1", Volumes: []Volume{{ID: volA, DriverVolumeType: "iscsi"}}}}}
	for _, tc := range []struct {
		name string
		sel  Selection
		want string
	}{
		{"non-iSCSI volume", rbd, "rbd volume, not iSCSI"},
		{"unattached volume", unattached, "no iSCSI session for"},
		{"more hosts than allowed", twoHosts, "2 hosts (compute-1, compute-2) > --max-hosts 1"},
		{"a volume whose target is not recorded", unrecorded, "its iSCSI target is not recorded (unverifiable)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHost()
			_, err := PlanFaults(ctx, h, []Fault{ISCSISession}, tc.sel, DefaultLimits)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
			for _, cmd := range h.sent {
				if cmd != "iscsiadm -m session" {
					t.Errorf("planning sent %q", cmd)
				}
			}
		})
	}
}

func TestHostPowerLossClosesEverySessionWithItsOwnSID(t *testing.T) {
	ctx := context.Background()
	h := newHost()
	// The host's own storage has a session too: a power loss of the guests' disks leaves it alone.
	const ownStorage = "iqn.2004-10.com.example:host-root"
	h.sessions[9] = ownStorage
	sel := selection(volA, volB, "33333333-3333-4333-8333-333333333333")
	sel.Hosts = []string{"compute-1"}
	actions, err := PlanFaults(ctx, h, []Fault{HostPowerLoss}, sel, DefaultLimits)
	if err != nil {
		t.Fatal(err)
	}
	rec := NewRecord(run.Run{ID: "run", Dir: t.TempDir()}, []string{"host-power-loss"}, DefaultLimits, actions)
	if err := Inject(ctx, h, rec); err != nil {
		t.Fatal(err)
	}
	if len(h.sessions) != 1 || h.sessions[9] != ownStorage {
		t.Errorf("sessions left: %v, want only the host's own", h.sessions)
	}
	for name, state := range h.domains {
		if state != "shut off" {
			t.Errorf("domain %s is %s", name, state)
		}
	}
	logouts := 0
	for _, cmd := range h.sent {
		if strings.Contains(cmd, " -u") {
			logouts++
			if !strings.Contains(cmd, " -r ") {
				t.Errorf("logout without -r: %q", cmd)
			}
		}
	}
	if logouts != 3 {
		t.Errorf("%d logouts, want one per session (3)", logouts)
	}
	if err := Restore(ctx, h, rec); err != nil {
		t.Fatal(err)
	}
	if len(h.sessions) != 4 || h.domains["instance-00000001"] != "running" {
		t.Errorf("after restore: sessions %v domains %v", h.sessions, h.domains)
	}
	// Storage first: every login is sent before any domain starts.
	firstStart, lastLogin := len(h.sent), -1
	for i, cmd := range h.sent {
		if strings.HasPrefix(cmd, "virsh start") && i < firstStart {
			firstStart = i
		}
		if strings.Contains(cmd, "--login") {
			lastLogin = i
		}
	}
	if lastLogin > firstStart {
		t.Errorf("a domain started before every volume was logged in again: %v", h.sent)
	}
}

func TestParseVirshList(t *testing.T) {
	out := " Id   Name                State\n------------------------------------\n 1    instance-00000001   running\n -    instance-00000002   shut off\n\n"
	domains, err := ParseVirshList(out)
	if err != nil || len(domains) != 2 || domains[1].State != "shut off" || domains[0].ID != "1" {
		t.Fatalf("ParseVirshList = %+v, %v", domains, err)
	}
	for _, bad := range []string{"", "error: failed to connect to the hypervisor\n", " Id Name State\n---\n 1 instance-1\n"} {
		if _, err := ParseVirshList(bad); err == nil {
			t.Errorf("ParseVirshList(%q) accepted it", bad)
		}
	}
}

func TestRegistry(t *testing.T) {
	if got := strings.Join(Kinds(), ","); got != "iscsi-session,guest-destroy,host-power-loss" {
		t.Errorf("Kinds = %s", got)
	}
	if _, err := Lookup("nova-volume-detach"); err == nil {
		t.Error("an unknown fault was found")
	}
}

// A fault whose effect never shows (the host still lists the session) stops the drill before any recovery,
// saying which action did not take.
func TestObserveWaitsForTheEffectOnTheHost(t *testing.T) {
	ctx := context.Background()
	h := newHost()
	actions, err := PlanFaults(ctx, h, []Fault{ISCSISession}, selection(volA), DefaultLimits)
	if err != nil {
		t.Fatal(err)
	}
	actions[0].State = StateDone // recorded as done, but the session is still there
	rec := NewRecord(run.Run{ID: "run", Dir: t.TempDir()}, []string{"iscsi-session"}, DefaultLimits, actions)
	err = Observe(ctx, h, rec, 300*time.Millisecond)
	if err == nil || !strings.Contains(err.Error(), "volume "+volA) || !strings.Contains(err.Error(), "still listed") {
		t.Fatalf("Observe = %v, want a timeout naming volume %s and what was seen", err, volA)
	}
}
