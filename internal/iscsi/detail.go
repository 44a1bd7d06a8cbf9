package iscsi

import (
	"errors"
	"fmt"
	"math"
	"strings"
)

// The connection and session states of a session that works.
const (
	ConnectionLoggedIn = "LOGGED IN" // iscsid's connection state
	SessionLoggedIn    = "LOGGED_IN" // the kernel's session state
)

// SessionDetail is one session of `iscsiadm -m session -P 3`.
type SessionDetail struct {
	SID   SID
	IQN   string
	Flash bool
	// CurrentPortal is the address the connection uses now (a redirect can make it differ from the persistent
	// one); the kernel writes IPv6 addresses here uncompressed, which Portal does not keep.
	CurrentPortal Portal
	// PersistentPortal is the node record's address. iscsiadm omits both portals of a session whose target and
	// current portal are those of the session before it; such a session gets that session's persistent portal.
	PersistentPortal Portal
	TPGT             int
	// ConnectionState is iscsid's view: "LOGGED IN", "TRANSPORT WAIT", "IN LOGIN", "IN LOGOUT", "LOGOUT
	// REQUESTED", "CLEANUP WAIT", "FREE", or "Unknown" when iscsid did not answer.
	ConnectionState string
	// SessionState is the kernel's: "LOGGED_IN", "FAILED", "FREE", or "Unknown".
	SessionState string
	// Devices are the LUNs the session exposes, in iscsiadm's order; nil when iscsiadm printed "Unavailable"
	// (it could not find the session's SCSI host) or the target exports none.
	Devices []SCSIDevice
}

// SCSIDevice is one LUN of a session.
type SCSIDevice struct {
	LUN int
	// Disk is the block device's kernel name, such as "sdb"; empty when the kernel attached none to the LUN
	// (tgt exports a volume at LUN 1 and its controller, which has no disk, at LUN 0; LIO uses LUN 0).
	Disk string
	// State is the disk's SCSI device state ("running", "offline", "blocked", …, or "Unknown").
	State string
}

// LoggedIn reports whether both iscsid and the kernel consider the session logged in.
func (d SessionDetail) LoggedIn() bool {
	return d.ConnectionState == ConnectionLoggedIn && d.SessionState == SessionLoggedIn
}

var (
	connectionStates = setOf("FREE", "TRANSPORT WAIT", "IN LOGIN", "LOGGED IN", "IN LOGOUT", "LOGOUT REQUESTED",
		"CLEANUP WAIT", "Unknown")
	kernelSessionStates = setOf("LOGGED_IN", "FAILED", "FREE", "Unknown")
	iscsidSessionStates = setOf("NO CHANGE", "CLEANUP", "REOPEN", "REDIRECT", "Unknown")
)

// Sections of one session's -P 3 block, named by their header lines; stateSection is the untitled run of
// lines from "SID:" to the next header.
const (
	noSection       = ""
	stateSection    = "SID"
	ifaceSection    = "Interface:"
	timeoutsSection = "Timeouts:"
	chapSection     = "CHAP:"
	paramsSection   = "Negotiated iSCSI params:"
	devicesSection  = "Attached SCSI devices:"
)

// sectionKeys are the "key: value" lines osdr does not interpret, per section, as session_info.c and
// iface.c of open-iscsi 2.1.11 print them.
var sectionKeys = map[string]map[string]bool{
	ifaceSection: setOf("Iface Name", "Iface Transport", "Iface Initiatorname", "Iface IPaddress",
		"Iface HWaddress", "Iface Netdev"),
	timeoutsSection: setOf("Recovery Timeout", "Target Reset Timeout", "LUN Reset Timeout", "Abort Timeout"),
	chapSection:     setOf("username", "password", "username_in", "password_in"),
	paramsSection: setOf("HeaderDigest", "DataDigest", "MaxRecvDataSegmentLength", "MaxXmitDataSegmentLength",
		"FirstBurstLength", "MaxBurstLength", "ImmediateData", "InitialR2T", "MaxOutstandingR2T"),
}

func setOf(items ...string) map[string]bool {
	set := make(map[string]bool, len(items))
	for _, item := range items {
		set[item] = true
	}
	return set
}

// detailParser follows session_info_print_tree: a "Target:" line when the target name changes, then per
// session either the two portal lines or, when the portal is the previous session's, an empty line; then the
// session's sections at two tabs, disks at three.
type detailParser struct {
	sessions []SessionDetail
	seen     map[SID]bool
	// target is the IQN of the last "Target:" line; sessionsInTarget counts the sessions opened under it.
	target           string
	flash            bool
	sessionsInTarget int
	// open is the session being read (the last of sessions), nil between a "Target:" line and its portal.
	open             *SessionDetail
	section          string
	needPersistent   bool
	sawInternalState bool
}

// ParseSessionDetail reads the stdout of `iscsiadm -m session -P 3`. Every line must be one open-iscsi 2.1.11
// prints at that place; a line it cannot place is an error naming the line (lines of the CHAP section are
// named by number only).
func ParseSessionDetail(stdout string) ([]SessionDetail, error) {
	if stdout == "" {
		return nil, nil
	}
	p := detailParser{seen: map[SID]bool{}}
	for i, line := range strings.Split(strings.TrimSuffix(stdout, "\n"), "\n") {
		if err := p.line(line); err != nil {
			shown := showLine(line)
			if p.section == chapSection {
				shown = "(in the CHAP section, not shown)"
			}
			return nil, fmt.Errorf("read iscsiadm -m session -P 3 output: line %d %s: %w", i+1, shown, err)
		}
	}
	if err := p.closeTarget(); err != nil {
		return nil, fmt.Errorf("read iscsiadm -m session -P 3 output: at the end: %w", err)
	}
	return p.sessions, nil
}

func (p *detailParser) line(line string) error {
	depth := len(line) - len(strings.TrimLeft(line, "\t"))
	text := line[depth:]
	if p.needPersistent && !(depth == 1 && strings.HasPrefix(text, "Persistent Portal: ")) {
		return errors.New(`expected "Persistent Portal:" after "Current Portal:"`)
	}
	switch depth {
	case 0:
		return p.topLine(text)
	case 1:
		return p.portalLine(text)
	case 2:
		if p.open == nil {
			return errors.New("session information before its portal")
		}
		return p.sessionLine(text)
	case 3:
		return p.diskLine(text)
	}
	return fmt.Errorf("indented %d tabs deep", depth)
}

func (p *detailParser) topLine(text string) error {
	if strings.HasPrefix(text, "iSCSI Transport Class version ") || strings.HasPrefix(text, "version ") {
		if p.target != "" {
			return errors.New("version banner after the first target")
		}
		return nil
	}
	if rest, ok := strings.CutPrefix(text, "Target: "); ok {
		iqn, flashText, ok := strings.Cut(rest, " ")
		if !ok {
			return errors.New(`not "Target: NAME (flash|non-flash)"`)
		}
		if err := CheckName(iqn); err != nil {
			return err
		}
		flash, err := parseFlash(flashText)
		if err != nil {
			return err
		}
		if err := p.closeTarget(); err != nil {
			return err
		}
		p.target, p.flash, p.sessionsInTarget, p.open = iqn, flash, 0, nil
		return nil
	}
	if text == "" {
		// iscsiadm prints an empty line instead of the portal lines when a session has the same target and
		// current portal as the one before it.
		if p.open == nil || p.sessionsInTarget == 0 {
			return errors.New("empty line where no previous session of the same target gave the portal")
		}
		previous := *p.open
		if err := p.openSession(previous.CurrentPortal, previous.TPGT); err != nil {
			return err
		}
		p.open.PersistentPortal = previous.PersistentPortal
		return nil
	}
	return errors.New("not a banner, a Target: line or a separator")
}

func (p *detailParser) portalLine(text string) error {
	if rest, ok := strings.CutPrefix(text, "Current Portal: "); ok {
		if p.target == "" {
			return errors.New("portal before any Target: line")
		}
		portal, tpgt, err := parsePortalTPGT(rest)
		if err != nil {
			return err
		}
		if err := p.openSession(portal, tpgt); err != nil {
			return err
		}
		p.needPersistent = true
		return nil
	}
	if rest, ok := strings.CutPrefix(text, "Persistent Portal: "); ok {
		if !p.needPersistent {
			return errors.New(`"Persistent Portal:" not right after "Current Portal:"`)
		}
		portal, tpgt, err := parsePortalTPGT(rest)
		if err != nil {
			return err
		}
		if tpgt != p.open.TPGT {
			return fmt.Errorf("target portal group tag %d differs from the current portal's %d", tpgt, p.open.TPGT)
		}
		p.open.PersistentPortal = portal
		p.needPersistent = false
		return nil
	}
	return errors.New("not a Current Portal: or Persistent Portal: line")
}

func parsePortalTPGT(s string) (Portal, int, error) {
	portalText, tpgtText, ok := cutLast(s, ",")
	if !ok {
		return Portal{}, 0, fmt.Errorf("%q is not portal,tpgt", s)
	}
	portal, err := parseListedPortal(portalText)
	if err != nil {
		return Portal{}, 0, err
	}
	tpgt, err := parseTPGT(tpgtText)
	return portal, tpgt, err
}

// openSession closes the session being read and starts the next one under the current target.
func (p *detailParser) openSession(current Portal, tpgt int) error {
	if err := p.closeSession(); err != nil {
		return err
	}
	p.sessions = append(p.sessions, SessionDetail{IQN: p.target, Flash: p.flash, CurrentPortal: current, TPGT: tpgt})
	p.open = &p.sessions[len(p.sessions)-1]
	p.sessionsInTarget++
	p.section, p.sawInternalState = noSection, false
	return nil
}

// closeTarget checks the last session of the current target, and that the target had one.
func (p *detailParser) closeTarget() error {
	if err := p.closeSession(); err != nil {
		return err
	}
	if p.target != "" && p.sessionsInTarget == 0 {
		return fmt.Errorf("target %s has no session", p.target)
	}
	return nil
}

// closeSession checks that the session being read had everything -P 3 always prints.
func (p *detailParser) closeSession() error {
	switch {
	case p.needPersistent:
		return errors.New(`no "Persistent Portal:" after "Current Portal:"`)
	case p.open == nil:
		return nil
	case p.open.SID.n == 0:
		return fmt.Errorf("session of %s at %s has no SID line", p.open.IQN, p.open.CurrentPortal)
	case p.open.ConnectionState == "" || p.open.SessionState == "" || !p.sawInternalState:
		return fmt.Errorf("session %s has no complete set of state lines", p.open.SID)
	}
	return nil
}

func (p *detailParser) sessionLine(text string) error {
	if strings.Trim(text, "*") == "" && text != "" {
		return nil // the rules around section headers
	}
	switch text {
	case ifaceSection, timeoutsSection, chapSection, paramsSection, devicesSection:
		p.section = text
		return nil
	}
	if p.section == devicesSection {
		return p.deviceLine(text)
	}
	key, value, ok := strings.Cut(text, ": ")
	if !ok {
		return fmt.Errorf("not a key: value line of section %q", p.section)
	}
	if key == "SID" {
		if p.open.SID.n != 0 {
			return errors.New("second SID line in one session")
		}
		sid, err := ParseSID(value)
		if err != nil {
			return err
		}
		if p.seen[sid] {
			return fmt.Errorf("sid %s listed twice", sid)
		}
		p.seen[sid] = true
		p.open.SID, p.section = sid, stateSection
		return nil
	}
	if p.section == stateSection {
		return p.stateLine(key, value)
	}
	if !sectionKeys[p.section][key] {
		return fmt.Errorf("key %q does not belong in section %q", key, p.section)
	}
	return nil
}

func (p *detailParser) stateLine(key, value string) error {
	var states map[string]bool
	var field *string
	switch key {
	case "iSCSI Connection State":
		states, field = connectionStates, &p.open.ConnectionState
	case "iSCSI Session State":
		states, field = kernelSessionStates, &p.open.SessionState
	case "Internal iscsid Session State":
		if !iscsidSessionStates[value] || p.sawInternalState {
			return fmt.Errorf("unexpected %s %q", key, value)
		}
		p.sawInternalState = true
		return nil
	default:
		return fmt.Errorf("key %q does not belong after the SID line", key)
	}
	if !states[value] || *field != "" {
		return fmt.Errorf("unexpected %s %q", key, value)
	}
	*field = value
	return nil
}

// deviceLine reads the lines between "Attached SCSI devices:" and the disks: "Host Number: N\tState: S" (or
// "Unavailable") then one "scsiN Channel 00 Id T Lun: L" per LUN.
func (p *detailParser) deviceLine(text string) error {
	if text == "Unavailable" {
		return nil
	}
	if rest, ok := strings.CutPrefix(text, "Host Number: "); ok {
		host, state, ok := strings.Cut(rest, "\tState: ")
		if _, isNumber := parseDecimal(host, 0, math.MaxInt32); !ok || !isNumber || !isDeviceState(state) {
			return errors.New(`not "Host Number: N<tab>State: S"`)
		}
		return nil
	}
	var host, target, lun int
	if n, err := fmt.Sscanf(text, "scsi%d Channel 00 Id %d Lun: %d", &host, &target, &lun); n != 3 || err != nil ||
		text != fmt.Sprintf("scsi%d Channel 00 Id %d Lun: %d", host, target, lun) || host < 0 || target < 0 || lun < 0 {
		return errors.New(`not "scsiN Channel 00 Id T Lun: L"`)
	}
	p.open.Devices = append(p.open.Devices, SCSIDevice{LUN: lun})
	return nil
}

func (p *detailParser) diskLine(text string) error {
	rest, ok := strings.CutPrefix(text, "Attached scsi disk ")
	if !ok {
		return errors.New(`not "Attached scsi disk NAME<tab><tab>State: S"`)
	}
	disk, state, ok := strings.Cut(rest, "\t\tState: ")
	if !ok || disk == "" || strings.IndexFunc(disk, func(r rune) bool { return !isAlnum(r) }) >= 0 || !isDeviceState(state) {
		return errors.New(`not "Attached scsi disk NAME<tab><tab>State: S"`)
	}
	if p.open == nil || p.section != devicesSection || len(p.open.Devices) == 0 {
		return errors.New("disk line outside a session's device list")
	}
	device := &p.open.Devices[len(p.open.Devices)-1]
	if device.Disk != "" {
		return fmt.Errorf("LUN %d already has disk %s", device.LUN, device.Disk)
	}
	device.Disk, device.State = disk, state
	return nil
}

// isDeviceState accepts the kernel's SCSI host and device state names ("running", "transport-offline",
// "cancel/recovery", …) and iscsiadm's "Unknown".
func isDeviceState(s string) bool {
	return s == "Unknown" || s != "" && strings.IndexFunc(s, func(r rune) bool {
		return (r < 'a' || r > 'z') && r != '-' && r != '/'
	}) < 0
}

// SessionDetailsFromResult interprets a whole run of ListSessionsDetail the way SessionsFromResult does for the
// flat listing.
func SessionDetailsFromResult(stdout, stderr string, exit int) ([]SessionDetail, error) {
	listed, err := listingResult(ListSessionsDetail(), stdout, stderr, exit)
	if !listed || err != nil {
		return nil, err
	}
	return ParseSessionDetail(stdout)
}
