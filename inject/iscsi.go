package inject

import (
	"context"
	"fmt"

	"github.com/osdr/osdr/internal/iscsi"
)

const kindLogout = "iscsi-logout"

// iscsiSession is the seed's reproduction of a power loss: on the compute host, close exactly the volume's
// iSCSI session with `iscsiadm -m session -u -r <sid>`. Never a Nova detach, never a logout without -r.
type iscsiSession struct{}

func (iscsiSession) Name() string { return "iscsi-session" }

// listSessions runs `iscsiadm -m session` on the host; no sessions at all (exit 21) is an empty list.
func listSessions(ctx context.Context, hosts Hosts, host string) ([]iscsi.Session, error) {
	cmd := iscsi.ListSessions()
	r, err := hosts.RunOnHost(ctx, host, cmd.String())
	if err != nil {
		return nil, fmt.Errorf("list iSCSI sessions on %s: %w", host, err)
	}
	sessions, err := iscsi.SessionsFromResult(r.Stdout, r.Stderr, r.ExitCode)
	if err != nil {
		return nil, fmt.Errorf("list iSCSI sessions on %s: %w", host, err)
	}
	return sessions, nil
}

func (f iscsiSession) Plan(ctx context.Context, hosts Hosts, sel Selection) ([]Action, error) {
	var actions []Action
	for _, in := range sel.Instances {
		var volumes []Volume
		for _, v := range in.Volumes {
			if v.DriverVolumeType != "iscsi" {
				if len(in.Volumes) == 1 {
					return nil, fmt.Errorf("volume %s of instance %s is a %s volume, not iSCSI: there is no session to close", v.ID, in.ID, v.DriverVolumeType)
				}
				continue
			}
			volumes = append(volumes, v)
		}
		if len(volumes) == 0 {
			return nil, fmt.Errorf("instance %s has no attached iSCSI volume", in.ID)
		}
		sessions, err := listSessions(ctx, hosts, in.Host)
		if err != nil {
			return nil, err
		}
		for _, v := range volumes {
			a, err := logoutAction(f.Name(), in, v, sessions)
			if err != nil {
				return nil, err
			}
			actions = append(actions, a)
		}
	}
	return actions, nil
}

// logoutAction resolves a volume to its session on the instance's host and builds the logout.
func logoutAction(fault string, in Instance, v Volume, sessions []iscsi.Session) (Action, error) {
	iqn := v.IQN
	if iqn == "" {
		// A guessed IQN (LVM's naming) could name another volume's session: only the recorded target counts.
		return Action{}, fmt.Errorf("volume %s of instance %s: its iSCSI target is not recorded (unverifiable), so its session cannot be told from others", v.ID, in.ID)
	}
	for _, s := range sessions {
		if s.IQN != iqn {
			continue
		}
		logout, err := iscsi.Logout(s.SID)
		if err != nil {
			return Action{}, err
		}
		target, err := iscsi.NewTarget(iqn, s.Portal)
		if err != nil {
			return Action{}, fmt.Errorf("volume %s: %w", v.ID, err)
		}
		login, err := iscsi.Login(target)
		if err != nil {
			return Action{}, fmt.Errorf("volume %s: %w", v.ID, err)
		}
		return Action{
			Fault: fault, Kind: kindLogout, Host: in.Host, Instance: in.ID, Volume: v.ID, IQN: iqn,
			Portal: s.Portal.String(), SID: s.SID.Int(), Command: logout.String(), Restore: login.String(), State: StatePlanned,
		}, nil
	}
	return Action{}, fmt.Errorf("volume %s of instance %s: no iSCSI session for %s on host %s (is it attached there?)", v.ID, in.ID, iqn, in.Host)
}

// actLogout re-reads the host's sessions right before the logout and refuses when the planned sid no longer
// belongs to the volume's IQN: a sid renumbered since the plan would close another volume's session.
func actLogout(ctx context.Context, hosts Hosts, a *Action) error {
	sid, err := iscsi.NewSID(a.SID)
	if err != nil {
		return fmt.Errorf("record for volume %s: %w", a.Volume, err)
	}
	sessions, err := listSessions(ctx, hosts, a.Host)
	if err != nil {
		return err
	}
	if err := iscsi.VerifyLogoutTarget(sessions, sid, a.IQN); err != nil {
		return fmt.Errorf("refusing to log out on %s: %w", a.Host, err)
	}
	logout, err := iscsi.Logout(sid)
	if err != nil {
		return err
	}
	r, err := hosts.RunOnHost(ctx, a.Host, logout.String())
	if err != nil {
		return fmt.Errorf("log out of session %d on %s: %w", a.SID, a.Host, err)
	}
	if err := logout.Check(r.ExitCode, r.Stderr); err != nil {
		return fmt.Errorf("log out of session %d on %s: %w", a.SID, a.Host, err)
	}
	if err := iscsi.ParseLogout(r.Stdout, sid, a.IQN); err != nil {
		return fmt.Errorf("log out of session %d on %s: %w", a.SID, a.Host, err)
	}
	return nil
}

// undoLogout logs the target back in; a session that already exists (the recovery or Nova logged in again)
// is the restored state.
func undoLogout(ctx context.Context, hosts Hosts, a *Action) error {
	target, err := iscsi.ParseTarget(a.IQN, a.Portal)
	if err != nil {
		return fmt.Errorf("record for volume %s: %w", a.Volume, err)
	}
	sessions, err := listSessions(ctx, hosts, a.Host)
	if err != nil {
		return err
	}
	for _, s := range sessions {
		if s.IQN == a.IQN {
			return nil
		}
	}
	login, err := iscsi.Login(target)
	if err != nil {
		return err
	}
	r, err := hosts.RunOnHost(ctx, a.Host, login.String())
	if err != nil {
		return fmt.Errorf("log in to %s on %s: %w", a.IQN, a.Host, err)
	}
	if err := login.Check(r.ExitCode, r.Stderr); err != nil {
		if iscsi.IsSessionExists(err) {
			return nil
		}
		return fmt.Errorf("log in to %s on %s: %w", a.IQN, a.Host, err)
	}
	if err := iscsi.ParseLogin(r.Stdout, target); err != nil {
		return fmt.Errorf("log in to %s on %s: %w", a.IQN, a.Host, err)
	}
	return nil
}

// sessionGone: the host no longer lists a session of the volume's target.
func sessionGone(ctx context.Context, hosts Hosts, a Action) (bool, string, error) {
	sessions, err := listSessions(ctx, hosts, a.Host)
	if err != nil {
		return false, "", err
	}
	for _, s := range sessions {
		if s.IQN == a.IQN {
			return false, "session of " + a.IQN + " still listed", nil
		}
	}
	return true, "", nil
}
