package iscsi

import (
	"errors"
	"fmt"
	"strings"
)

// SIDMismatchError reports a session id that no longer names the expected target: the session is gone, or the
// kernel gave its number to a session of another target (sids are reused). Logging it out would close someone
// else's disk.
type SIDMismatchError struct {
	SID SID
	// Want is the target the caller meant; Got the target the sid now belongs to, empty when no session has it.
	Want string
	Got  string
}

func (e *SIDMismatchError) Error() string {
	if e.Got == "" {
		return fmt.Sprintf("no session has sid %s (expected one of target %s)", e.SID, e.Want)
	}
	return fmt.Sprintf("sid %s belongs to target %s, not to the expected %s", e.SID, e.Got, e.Want)
}

// VerifyLogoutTarget is the check right before a logout: sessions (a fresh listing) must hold sid, and that
// session must be of target iqn. It returns a *SIDMismatchError when not.
func VerifyLogoutTarget(sessions []Session, sid SID, iqn string) error {
	if sid.n <= 0 {
		return errZeroSID
	}
	if err := CheckName(iqn); err != nil {
		return fmt.Errorf("verify session %s before logout: %w", sid, err)
	}
	found := false
	for _, s := range sessions {
		if s.SID != sid {
			continue
		}
		if s.IQN != iqn {
			return &SIDMismatchError{SID: sid, Want: iqn, Got: s.IQN}
		}
		found = true
	}
	if !found {
		return &SIDMismatchError{SID: sid, Want: iqn}
	}
	return nil
}

// bracketed is what iscsiadm writes between the brackets of its login and logout messages.
type bracketed struct {
	lead   string // "sid: 15" or "iface: default"
	target string
	portal Portal
}

// parseBracketed reads "[LEAD, target: NAME, portal: ADDRESS,PORT]" followed by suffix, from the front of s.
// These messages print the address as the node record holds it, never bracketed.
func parseBracketed(s, prefix, suffix string) (bracketed, bool) {
	inner, ok := strings.CutPrefix(s, prefix+"[")
	if !ok {
		return bracketed{}, false
	}
	if inner, ok = strings.CutSuffix(inner, "]"+suffix); !ok {
		return bracketed{}, false
	}
	lead, rest, ok := strings.Cut(inner, ", target: ")
	if !ok {
		return bracketed{}, false
	}
	target, portalText, ok := strings.Cut(rest, ", portal: ")
	if !ok || CheckName(target) != nil {
		return bracketed{}, false
	}
	addr, port, ok := cutLast(portalText, ",")
	if !ok {
		return bracketed{}, false
	}
	portal, err := parseAddrPort(addr, port)
	if err != nil {
		return bracketed{}, false
	}
	return bracketed{lead: lead, target: target, portal: portal}, true
}

// ParseLogout confirms the stdout of a Logout(sid) that exited 0: exactly iscsiadm's two lines
//
//	Logging out of session [sid: N, target: IQN, portal: ADDRESS,PORT]
//	Logout of [sid: N, target: IQN, portal: ADDRESS,PORT] successful.
//
// for that sid. A session of another target there means the sid was reused between the check and the logout:
// a *SIDMismatchError, and the wrong session is gone.
func ParseLogout(stdout string, sid SID, iqn string) error {
	if sid.n <= 0 {
		return errZeroSID
	}
	lines, err := splitLines(stdout)
	if err == nil && len(lines) != 2 {
		err = fmt.Errorf("%d lines where iscsiadm prints 2", len(lines))
	}
	if err != nil {
		return fmt.Errorf("confirm logout of session %s: %w", sid, err)
	}
	forms := [2]struct{ prefix, suffix string }{{"Logging out of session ", ""}, {"Logout of ", " successful."}}
	var seen [2]bracketed
	for i, line := range lines {
		b, ok := parseBracketed(line, forms[i].prefix, forms[i].suffix)
		if !ok || b.lead != "sid: "+sid.String() {
			return fmt.Errorf("confirm logout of session %s: line %d %s is not iscsiadm's %q[...]%s line for that sid",
				sid, i+1, showLine(line), forms[i].prefix, forms[i].suffix)
		}
		seen[i] = b
	}
	if seen[0] != seen[1] {
		return fmt.Errorf("confirm logout of session %s: the two lines name different sessions: %s", sid, showLine(stdout))
	}
	if seen[0].target != iqn {
		return &SIDMismatchError{SID: sid, Want: iqn, Got: seen[0].target}
	}
	return nil
}

// ParseLogin confirms the stdout of a Login(target) that exited 0. open-iscsi 2.1.11 prints one line per
// node record (iface) logged in:
//
//	Login to [iface: IFACE, target: IQN, portal: ADDRESS,PORT] successful.
//
// Releases up to 2.1.10 print "Logging in to [iface: IFACE, target: IQN, portal: ADDRESS,PORT]" (then
// " (multiple)" for an extra session) before it; both are accepted, each "Logging in" must have its success
// line, and every line must name target.
func ParseLogin(stdout string, target Target) error {
	if target.iqn == "" {
		return errors.New("confirm login: no target (zero Target)")
	}
	lines, err := splitLines(stdout)
	if err != nil {
		return fmt.Errorf("confirm login to %s at %s: %w", target.iqn, target.portal, err)
	}
	started, succeeded := map[string]bool{}, map[string]bool{}
	for i, line := range lines {
		b, ok := parseBracketed(line, "Login to ", " successful.")
		record := succeeded
		if !ok {
			b, ok = parseBracketed(strings.TrimSuffix(line, " (multiple)"), "Logging in to ", "")
			record = started
		}
		iface, isIface := strings.CutPrefix(b.lead, "iface: ")
		if !ok || !isIface || b.target != target.iqn || b.portal != target.portal {
			return fmt.Errorf("confirm login to %s at %s: line %d %s is not a login message for that target and portal",
				target.iqn, target.portal, i+1, showLine(line))
		}
		record[iface] = true
	}
	if len(succeeded) == 0 {
		return fmt.Errorf("confirm login to %s at %s: no \"Login to [...] successful.\" line", target.iqn, target.portal)
	}
	for iface := range started {
		if !succeeded[iface] {
			return fmt.Errorf("confirm login to %s at %s: iface %s started logging in but did not report success",
				target.iqn, target.portal, iface)
		}
	}
	return nil
}
