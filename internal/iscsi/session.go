package iscsi

import (
	"errors"
	"fmt"
	"math"
	"net/netip"
	"strconv"
	"strings"
)

// unknownTransport is what iscsiadm prints (UNKNOWN_VALUE) when it cannot find a session's transport.
const unknownTransport = "<empty>"

// noActiveSessions is iscsiadm's whole stderr when a listing finds no session (with exit 21).
const noActiveSessions = "iscsiadm: No active sessions."

// Session is one line of `iscsiadm -m session`.
type Session struct {
	// Transport is the iSCSI transport: "tcp" for the software initiator, "iser", "bnx2i", …; empty when
	// iscsiadm could not tell (it prints <empty>).
	Transport string
	SID       SID
	// Portal is the session's persistent portal: the address of its node record.
	Portal Portal
	// TPGT is the target portal group tag; -1 when the kernel does not report one.
	TPGT int
	// IQN is the target's iSCSI name (eui. and naa. names too).
	IQN string
	// Flash is true for a session a hardware initiator's flash node made, rather than iscsiadm or iscsid.
	Flash bool
}

// String renders the session as iscsiadm prints it, without the newline: open-iscsi's
// "%s: [%u] %s:%d,%d %s (%s)", the address in brackets when it has no dot.
func (s Session) String() string {
	transport := s.Transport
	if transport == "" {
		transport = unknownTransport
	}
	flash := "non-flash"
	if s.Flash {
		flash = "flash"
	}
	return fmt.Sprintf("%s: [%d] %s,%d %s (%s)", transport, s.SID.Int(), listedPortal(s.Portal), s.TPGT, s.IQN, flash)
}

// listedPortal writes a portal as iscsiadm's listings do: they bracket an address only when it has no '.', so
// an IPv4-mapped IPv6 address goes without brackets.
func listedPortal(p Portal) string {
	addr := p.IP.String()
	if !strings.Contains(addr, ".") {
		addr = "[" + addr + "]"
	}
	return addr + ":" + strconv.Itoa(int(p.Port))
}

// parseListedPortal reads "addr:port" as iscsiadm's listings write it (see listedPortal).
func parseListedPortal(s string) (Portal, error) {
	var addr, port string
	if rest, ok := strings.CutPrefix(s, "["); ok {
		var found bool
		if addr, port, found = strings.Cut(rest, "]:"); !found || strings.Contains(addr, ".") {
			return Portal{}, fmt.Errorf("portal %q is not [address]:port with an address without dots", s)
		}
	} else {
		i := strings.LastIndexByte(s, ':')
		if i < 0 || !strings.Contains(s[:i], ".") {
			return Portal{}, fmt.Errorf("portal %q is not address:port with a dotted address", s)
		}
		addr, port = s[:i], s[i+1:]
	}
	return parseAddrPort(addr, port)
}

func parseAddrPort(addr, port string) (Portal, error) {
	ip, err := netip.ParseAddr(addr)
	if err != nil || ip.Zone() != "" {
		return Portal{}, fmt.Errorf("%q is not an IP address without a zone", addr)
	}
	n, ok := parseDecimal(port, 1, math.MaxUint16)
	if !ok {
		return Portal{}, fmt.Errorf("port %q is not a number from 1 to 65535", port)
	}
	return Portal{IP: ip, Port: uint16(n)}, nil
}

// ParseSessions reads the stdout of `iscsiadm -m session`. Every line must be a session line: a line it cannot
// read is an error naming the line, never skipped, and so is a sid listed twice.
func ParseSessions(stdout string) ([]Session, error) {
	lines, err := splitLines(stdout)
	if err != nil {
		return nil, fmt.Errorf("read iscsiadm -m session output: %w", err)
	}
	sessions := make([]Session, 0, len(lines))
	firstLine := map[SID]int{}
	for i, line := range lines {
		s, err := parseSessionLine(line)
		if err != nil {
			return nil, fmt.Errorf("read iscsiadm -m session output: line %d %s: %w", i+1, showLine(line), err)
		}
		if first, dup := firstLine[s.SID]; dup {
			return nil, fmt.Errorf("read iscsiadm -m session output: line %d %s: sid %s already listed on line %d",
				i+1, showLine(line), s.SID, first)
		}
		firstLine[s.SID] = i + 1
		sessions = append(sessions, s)
	}
	return sessions, nil
}

func parseSessionLine(line string) (Session, error) {
	transport, rest, ok := strings.Cut(line, ": [")
	if !ok {
		return Session{}, errors.New(`no "transport: [sid]"`)
	}
	sidText, rest, ok := strings.Cut(rest, "] ")
	if !ok {
		return Session{}, errors.New(`no "] " after the sid`)
	}
	portalText, rest, ok := strings.Cut(rest, " ")
	if !ok {
		return Session{}, errors.New("nothing after the portal")
	}
	iqn, flashText, ok := strings.Cut(rest, " ")
	if !ok {
		return Session{}, errors.New("nothing after the target name")
	}

	var s Session
	switch {
	case transport == unknownTransport:
	case transport != "" && strings.IndexFunc(transport, func(r rune) bool { return !isAlnum(r) && r != '_' }) < 0:
		s.Transport = transport
	default:
		return Session{}, fmt.Errorf("transport %q is not a transport name", transport)
	}
	var err error
	if s.SID, err = ParseSID(sidText); err != nil {
		return Session{}, err
	}
	portalText, tpgtText, ok := cutLast(portalText, ",")
	if !ok {
		return Session{}, fmt.Errorf("%q is not portal,tpgt", portalText)
	}
	if s.Portal, err = parseListedPortal(portalText); err != nil {
		return Session{}, err
	}
	if s.TPGT, err = parseTPGT(tpgtText); err != nil {
		return Session{}, err
	}
	if err := CheckName(iqn); err != nil {
		return Session{}, err
	}
	s.IQN = iqn
	if s.Flash, err = parseFlash(flashText); err != nil {
		return Session{}, err
	}
	return s, nil
}

func parseTPGT(s string) (int, error) {
	n, ok := parseDecimal(s, -1, math.MaxUint16)
	if !ok {
		return 0, fmt.Errorf("target portal group tag %q is not a number from -1 to 65535", s)
	}
	return int(n), nil
}

func parseFlash(s string) (bool, error) {
	switch s {
	case "(flash)":
		return true, nil
	case "(non-flash)":
		return false, nil
	}
	return false, fmt.Errorf("%q is neither (flash) nor (non-flash)", s)
}

func cutLast(s, sep string) (before, after string, found bool) {
	i := strings.LastIndex(s, sep)
	if i < 0 {
		return s, "", false
	}
	return s[:i], s[i+len(sep):], true
}

// splitLines splits printf output into lines: no output is no line, the last line may lack its newline, and
// an empty line is refused (none of the formats read here prints one, except -P 3, which splits by itself).
func splitLines(stdout string) ([]string, error) {
	if stdout == "" {
		return nil, nil
	}
	lines := strings.Split(strings.TrimSuffix(stdout, "\n"), "\n")
	for i, line := range lines {
		if line == "" {
			return nil, fmt.Errorf("line %d is empty", i+1)
		}
	}
	return lines, nil
}

// showLine quotes a line for an error message, cut short: output may be huge.
func showLine(line string) string {
	const max = 160
	if len(line) > max {
		return strconv.Quote(line[:max]) + "…"
	}
	return strconv.Quote(line)
}

// SessionsFromResult interprets a whole run of ListSessions: exit 21 with iscsiadm's "No active sessions."
// means no session (nil, nil); exit 0 means stdout lists at least one session and stderr is empty; anything
// else is an error, an *ExitError for a non-zero exit.
func SessionsFromResult(stdout, stderr string, exit int) ([]Session, error) {
	listed, err := listingResult(ListSessions(), stdout, stderr, exit)
	if !listed || err != nil {
		return nil, err
	}
	return ParseSessions(stdout)
}

// listingResult checks the exit status and streams of a session listing (flat or -P 3, which share the code
// path in iscsiadm). listed says stdout holds sessions to parse; false with a nil error is the empty listing.
func listingResult(cmd Command, stdout, stderr string, exit int) (listed bool, err error) {
	switch {
	case exit == int(ExitNoObjectsFound) && stdout == "" && strings.TrimSuffix(stderr, "\n") == noActiveSessions:
		return false, nil
	case exit != 0:
		return false, cmd.Check(exit, stderr)
	case stderr != "":
		return false, fmt.Errorf("%s exited 0 but wrote to stderr, so its listing may be incomplete: %s",
			cmd, showLine(strings.TrimSpace(stderr)))
	case stdout == "":
		return false, fmt.Errorf("%s exited 0 without listing a session (iscsiadm exits 21 when there is none)", cmd)
	}
	return true, nil
}
