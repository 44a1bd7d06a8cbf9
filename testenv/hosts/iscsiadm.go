package hosts

import (
	"bytes"
	"fmt"
	"io"
	"math"
	"strings"
	"time"
)

// iscsiadm reproduces open-iscsi's iscsiadm (usr/iscsiadm.c of the host's release) for session listing,
// session logout and node login: its option parsing (getopt_long, and the re-parse with per-mode allowed
// options when -m is met), its messages on stdout and stderr, and its exit codes (include/iscsi_err.h).
// Invocations it does not reproduce answer with an "osdr-sim:" message instead of a guess.

// Exit codes of include/iscsi_err.h that the simulated paths return.
const (
	iscsiOK             = 0
	iscsiErrGeneric     = 1
	iscsiErrInvalid     = 7
	iscsiErrSessExists  = 15
	iscsiErrFatalLogin  = 19
	iscsiErrNoObjsFound = 21
	iscsiErrSysfs       = 22
)

// fatalLoginMessage is iscsi_err_msgs[19], what a target that does not exist (tgt answers "target not
// found", status 0x0203) leads to.
const fatalLoginMessage = "encountered non-retryable iSCSI login failure"

const iscsiadmShortOptions = "RlDVhm:a:b:c:C:p:P:T:H:i:I:U:k:L:d:r:n:v:o:sSt:ux:A:W"

var iscsiadmLongOptions = []longOption{
	{"mode", requiredArgument, 'm'},
	{"portal", requiredArgument, 'p'},
	{"targetname", requiredArgument, 'T'},
	{"interface", requiredArgument, 'I'},
	{"op", requiredArgument, 'o'},
	{"type", requiredArgument, 't'},
	{"name", requiredArgument, 'n'},
	{"value", requiredArgument, 'v'},
	{"host", requiredArgument, 'H'},
	{"sid", requiredArgument, 'r'},
	{"rescan", noArgument, 'R'},
	{"print", requiredArgument, 'P'},
	{"discover", noArgument, 'D'},
	{"login", noArgument, 'l'},
	{"loginall", requiredArgument, 'L'},
	{"logout", noArgument, 'u'},
	{"logoutall", requiredArgument, 'U'},
	{"stats", noArgument, 's'},
	{"killiscsid", requiredArgument, 'k'},
	{"debug", requiredArgument, 'd'},
	{"show", noArgument, 'S'},
	{"version", noArgument, 'V'},
	{"help", noArgument, 'h'},
	{"submode", requiredArgument, 'C'},
	{"ip", requiredArgument, 'a'},
	{"packetsize", requiredArgument, 'b'},
	{"count", requiredArgument, 'c'},
	{"interval", requiredArgument, 'i'},
	{"index", requiredArgument, 'x'},
	{"portal_type", optionalArgument, 'A'},
	{"no_wait", noArgument, 'W'},
}

// iscsiadmModes are the modes str_to_mode knows: mode_paras' name for each (2.1.8 words its messages with
// it) and the options verify_mode_params allows in it.
var iscsiadmModes = map[string]struct{ name, allowed string }{
	"discovery":   {"discovery", "DSIPdmntplov"},
	"discoverydb": {"discovery", "DSIPdmntplov"},
	"node":        {"node", "RsPIdmlSonvupTULW"},
	"session":     {"session", "PiRdrmusonuSv"},
	"host":        {"host", "CHdmPotnvxA"},
	"iface":       {"iface", "HIdnvmPoCabci"},
	"fw":          {"fw", "dmlWnv"},
}

// Operations of str_to_op, as bits.
const (
	opNoop          = 0x0
	opNew           = 0x1
	opDelete        = 0x2
	opUpdate        = 0x4
	opShow          = 0x8
	opNonPersistent = 0x10
	opApply         = 0x20
	opApplyAll      = 0x40
	opLogin         = 0x80
	opLogout        = 0x100
)

var iscsiadmOps = map[string]int{
	"new": opNew, "delete": opDelete, "update": opUpdate, "show": opShow, "nonpersistent": opNonPersistent,
	"apply": opApply, "applyall": opApplyAll, "login": opLogin, "logout": opLogout,
}

// What a session logout and a node login take on a real host at the latency model's scale 1: a logout
// tears one session and its SCSI disk down; a login connects, authenticates and scans the LUN, and takes as
// long when the target refuses it.
const (
	logoutDuration = 300 * time.Millisecond
	loginDuration  = time.Second
)

// iscsiadmRun is one invocation: the host it runs on, what it wrote and how long it took.
type iscsiadmRun struct {
	c      *Cluster
	h      *host
	stdout strings.Builder
	stderr strings.Builder
	took   time.Duration
}

func (r *iscsiadmRun) errorf(format string, args ...any) {
	fmt.Fprintf(&r.stderr, "iscsiadm: "+format+"\n", args...)
}

// iscsiadmInvocation is main()'s variables after its option loop.
type iscsiadmInvocation struct {
	mode       string
	sid        int
	infoLevel  int
	op         int
	login      bool
	logout     bool
	show       bool
	targetName string
	ip         string
	port       int
	killISCSId bool
	// unsimulated names the first option the simulation does not reproduce.
	unsimulated string
}

func (c *Cluster) iscsiadmProgram(h *host) program {
	return func(x *execution, argv []string) int {
		r := &iscsiadmRun{c: c, h: h}
		status := r.main(argv)
		x.spend(r.took)
		io.WriteString(x.stdout, r.stdout.String())
		io.WriteString(x.stderr, r.stderr.String())
		return status
	}
}

func (r *iscsiadmRun) main(argv []string) int {
	inv := iscsiadmInvocation{sid: -1, infoLevel: -1, port: -1}
	g := newGetopt(argv, iscsiadmShortOptions, iscsiadmLongOptions, &r.stderr)
	for {
		opt, arg, ok := g.next()
		if !ok {
			break
		}
		switch opt {
		case 'm':
			inv.mode = arg
			if status := r.verifyModeOptions(argv, arg); status != iscsiOK {
				return status
			}
		case 'o':
			inv.op |= iscsiadmOps[arg]
			if inv.op == opNoop {
				r.errorf("can not recognize operation: '%s'", arg)
				return iscsiErrInvalid
			}
		case 'r':
			sid, ok := parseSIDArgument(arg)
			if !ok {
				r.errorf("%s is an invalid session ID or path", arg)
				return iscsiErrGeneric
			}
			inv.sid = sid
		case 'P':
			inv.infoLevel = atoi(arg)
		case 'l':
			inv.login = true
		case 'u':
			inv.logout = true
		case 'S':
			inv.show = true
		case 'T':
			inv.targetName = arg
		case 'p':
			inv.ip, inv.port = splitPortalArgument(arg)
		case 'k':
			if atoi(arg) < 0 {
				r.errorf("Invalid killiscsid priority %d Priority must be greater than or equal to zero.", atoi(arg))
				return iscsiErrInvalid
			}
			inv.killISCSId = true
		case 'V':
			fmt.Fprintf(&r.stdout, "iscsiadm version %s\n", r.h.opts.OpenISCSI)
			return iscsiOK
		case 'd':
			if atoi(arg) > 0 {
				inv.markUnsimulated("-d with a debug level above 0")
			}
		case '?':
		default:
			inv.markUnsimulated(fmt.Sprintf("-%c", opt))
		}
	}
	if g.optopt != 0 {
		r.errorf("unrecognized character '%c'", g.optopt)
		return iscsiErrInvalid
	}
	if inv.killISCSId {
		return r.notSimulated("-k (stopping iscsid)")
	}
	if inv.mode == "" {
		if r.h.opts.OpenISCSI != OpenISCSI2_1_8 {
			r.errorf("no mode specified")
		}
		r.stderr.WriteString("Try `iscsiadm --help' for more information.\n")
		return iscsiErrInvalid
	}
	if inv.unsimulated != "" {
		return r.notSimulated(inv.unsimulated)
	}
	switch inv.mode {
	case "session":
		return r.sessionMode(inv)
	case "node":
		return r.nodeMode(inv)
	}
	return r.notSimulated("-m " + inv.mode)
}

func (inv *iscsiadmInvocation) markUnsimulated(what string) {
	if inv.unsimulated == "" {
		inv.unsimulated = what
	}
}

func (r *iscsiadmRun) notSimulated(what string) int {
	fmt.Fprintf(&r.stderr, "osdr-sim: iscsiadm: %s is not simulated (simulated: -m session [-P N] [-r SID] [-u], -m node -T IQN -p PORTAL --login)\n", what)
	return notSimulated
}

// verifyModeOptions is verify_mode_params: getopt runs over the whole command line again and the first
// option the mode does not allow, or that getopt refused, ends iscsiadm. Before 2.1.11 the message names the
// option getopt returned ('?' for one it refused); 2.1.11 prints getopt's optopt instead, which getopt sets
// only when it refuses an option, so an option valid elsewhere prints as a NUL byte, as does an unknown long
// option.
func (r *iscsiadmRun) verifyModeOptions(argv []string, mode string) int {
	legacy := r.h.opts.OpenISCSI == OpenISCSI2_1_8
	params, ok := iscsiadmModes[mode]
	switch {
	case !ok && legacy:
		r.errorf("mode -1 is not yet supported")
		return iscsiErrInvalid
	case !ok:
		r.errorf("%s mode is unkonwn/unsupported", mode)
		return iscsiErrInvalid
	}
	g := newGetopt(argv, iscsiadmShortOptions, iscsiadmLongOptions, &r.stderr)
	for {
		opt, _, ok := g.next()
		if !ok {
			return iscsiOK
		}
		if opt != '?' && strings.IndexByte(params.allowed, opt) >= 0 {
			continue
		}
		if legacy {
			r.errorf("%s mode: option '-%c' is not allowed/supported", params.name, opt)
		} else {
			r.errorf("%s mode: option '-%c' is not allowed/supported", mode, g.optopt)
		}
		return iscsiErrInvalid
	}
}

// parseSIDArgument is iscsi_sysfs_get_sid_from_path for an argument that is not a sysfs path: strtol into an
// int, accepted only when positive and wholly numeric.
func parseSIDArgument(arg string) (int, bool) {
	n, rest, ok := strtol(arg)
	if !ok || rest != "" || arg == "" {
		return 0, false
	}
	sid := int(int32(n))
	return sid, sid > 0
}

// strtol reads a base-10 long the way C's strtol does: leading white space, a sign, digits, saturating at
// the limits of a 64-bit long. ok is false when no digit was read.
func strtol(s string) (n int64, rest string, ok bool) {
	i := 0
	for i < len(s) && strings.IndexByte(" \t\n\v\f\r", s[i]) >= 0 {
		i++
	}
	negative := false
	if i < len(s) && (s[i] == '+' || s[i] == '-') {
		negative = s[i] == '-'
		i++
	}
	start := i
	var magnitude uint64
	overflow := false
	for ; i < len(s) && s[i] >= '0' && s[i] <= '9'; i++ {
		if magnitude > (math.MaxUint64-9)/10 {
			overflow = true
			continue
		}
		magnitude = magnitude*10 + uint64(s[i]-'0')
	}
	if i == start {
		return 0, s, false
	}
	switch {
	case negative && (overflow || magnitude > 1<<63):
		n = math.MinInt64
	case negative:
		n = -int64(magnitude)
	case overflow || magnitude > math.MaxInt64:
		n = math.MaxInt64
	default:
		n = int64(magnitude)
	}
	return n, s[i:], true
}

// atoi is C's atoi: strtol truncated to an int, 0 when nothing numeric leads.
func atoi(s string) int {
	n, _, _ := strtol(s)
	return int(int32(n))
}

// splitPortalArgument is str_to_ipport for -p ADDRESS[:PORT][,TPGT], which cuts its argument in place with
// NUL bytes; the port stays -1 when not given.
func splitPortalArgument(arg string) (ip string, port int) {
	buf := []byte(arg + "\x00")
	cString := func(at int) string { return string(buf[at : at+bytes.IndexByte(buf[at:], 0)]) }
	ipAt, rest := 0, 0
	portFollows := true
	if !strings.Contains(arg, ".") {
		if buf[0] == '[' {
			end := strings.IndexByte(arg, ']')
			if end < 0 {
				return "", -1
			}
			buf[end] = 0
			ipAt, rest = 1, end+1
		} else if colon := strings.IndexByte(arg, ':'); colon < 0 || strings.Contains(arg[colon+1:], ":") {
			portFollows = false // a host name alone, or an IPv6 address without brackets
		} else {
			rest = colon
		}
	}
	port = -1
	if colon := strings.IndexByte(cString(rest), ':'); portFollows && colon >= 0 {
		buf[rest+colon] = 0
		rest += colon + 1
		port = atoi(cString(rest))
	}
	if comma := strings.IndexByte(cString(rest), ','); comma >= 0 {
		buf[rest+comma] = 0
	}
	return cString(ipAt), port
}

func (r *iscsiadmRun) sessionMode(inv iscsiadmInvocation) int {
	if inv.sid >= 0 {
		return r.oneSession(inv)
	}
	if inv.op&opNew != 0 {
		r.errorf("session mode: Operation 'new' only allowed with specific session IDs")
		return iscsiErrInvalid
	}
	if inv.logout {
		if inv.op > opNoop {
			r.errorf("Invalid parameters. Login/logout and op passed in")
			return iscsiErrInvalid
		}
		// Without -r, every session of the host: the hazard the Operations Guide warns about.
		status := r.logoutSessions(r.h.sysfsOrder())
		if status == iscsiErrNoObjsFound {
			r.errorf("No matching sessions found")
		}
		return status
	}
	if len(r.h.sessions) == 0 {
		r.errorf("No active sessions.")
		return iscsiErrNoObjsFound
	}
	return r.printSessions(r.h.sysfsOrder(), inv)
}

// oneSession is session mode with -r SID.
func (r *iscsiadmRun) oneSession(inv iscsiadmInvocation) int {
	s := r.h.sessionBySID(inv.sid)
	if s == nil {
		r.errorf("could not read session targetname: 5")
		r.errorf("Could not get session info for sid %d", inv.sid)
		return iscsiErrSysfs
	}
	switch {
	case !inv.logout && inv.op == opNoop && inv.infoLevel > 0:
		return r.printSessions([]*session{s}, inv)
	case inv.logout && inv.op&opNew != 0:
		// -o new on a session means "log in once more", which meets -u
		r.errorf("Invalid parameters. Both login and logout passed in")
		return iscsiErrInvalid
	case inv.logout && inv.op > opNoop:
		r.errorf("Invalid parameters. Login/logout and op passed in")
		return iscsiErrInvalid
	case inv.logout:
		return r.logoutSessions([]*session{s})
	}
	return r.notSimulated("-m session -r SID without -u or -P 1..3")
}

// logoutSessions is iscsi_logout_portals: every "Logging out" line first, then every result.
func (r *iscsiadmRun) logoutSessions(sessions []*session) int {
	if len(sessions) == 0 {
		return iscsiErrNoObjsFound
	}
	for _, s := range sessions {
		fmt.Fprintf(&r.stdout, "Logging out of session [sid: %d, target: %s, portal: %s,%d]\n",
			s.sid, s.target.iqn, s.target.portal.Addr(), s.target.portal.Port())
	}
	for _, s := range sessions {
		r.took += r.c.scaled(logoutDuration)
		r.c.logoutSession(r.h, s)
		fmt.Fprintf(&r.stdout, "Logout of [sid: %d, target: %s, portal: %s,%d] successful.\n",
			s.sid, s.target.iqn, s.target.portal.Addr(), s.target.portal.Port())
	}
	return iscsiOK
}

func (r *iscsiadmRun) printSessions(sessions []*session, inv iscsiadmInvocation) int {
	switch inv.infoLevel {
	case -1, 0:
		for _, s := range sessions {
			fmt.Fprintf(&r.stdout, "tcp: [%d] %s:%d,1 %s (non-flash)\n",
				s.sid, s.target.portal.Addr(), s.target.portal.Port(), s.target.iqn)
		}
		return iscsiOK
	case 1, 2, 3:
		r.printTree(sessions, inv.infoLevel, inv.show)
		return iscsiOK
	}
	r.errorf("Invalid info level %d. Try 0 - 3.", inv.infoLevel)
	return iscsiErrInvalid
}

// printTree is session_info_print_tree. Every session here has its own target, so each opens with its
// Target and portal lines.
func (r *iscsiadmRun) printTree(sessions []*session, level int, show bool) {
	w := &r.stdout
	if level == 3 {
		fmt.Fprintf(w, "iSCSI Transport Class version 2.0-870\nversion %s\n", r.h.opts.OpenISCSI)
	}
	// section titles between rules of stars, as wide as the title except for the devices' one
	rule := func(title string, width int) {
		stars := strings.Repeat("*", width)
		fmt.Fprintf(w, "\t\t%s\n\t\t%s\n\t\t%s\n", stars, title, stars)
	}
	for _, s := range sessions {
		portal := fmt.Sprintf("%s:%d,1", s.target.portal.Addr(), s.target.portal.Port())
		fmt.Fprintf(w, "Target: %s (non-flash)\n\tCurrent Portal: %s\n\tPersistent Portal: %s\n", s.target.iqn, portal, portal)
		rule("Interface:", 10)
		fmt.Fprintf(w, "\t\tIface Name: default\n\t\tIface Transport: tcp\n\t\tIface Initiatorname: %s\n"+
			"\t\tIface IPaddress: %s\n\t\tIface HWaddress: <empty>\n\t\tIface Netdev: <empty>\n",
			r.h.opts.InitiatorName, r.h.opts.IP)
		fmt.Fprintf(w, "\t\tSID: %d\n\t\tiSCSI Connection State: LOGGED IN\n\t\tiSCSI Session State: LOGGED_IN\n"+
			"\t\tInternal iscsid Session State: NO CHANGE\n", s.sid)
		if level >= 2 {
			rule("Timeouts:", 9)
			w.WriteString("\t\tRecovery Timeout: 120\n\t\tTarget Reset Timeout: 30\n\t\tLUN Reset Timeout: 30\n" +
				"\t\tAbort Timeout: 15\n")
			rule("CHAP:", 5)
			if show {
				// iscsiadm labels the shown incoming password "password" too.
				w.WriteString("\t\tusername: <empty>\n\t\tpassword: <empty>\n\t\tusername_in: <empty>\n\t\tpassword: <empty>\n")
			} else {
				w.WriteString("\t\tusername: <empty>\n\t\tpassword: ********\n\t\tusername_in: <empty>\n\t\tpassword_in: ********\n")
			}
			rule("Negotiated iSCSI params:", 24)
			w.WriteString("\t\tHeaderDigest: None\n\t\tDataDigest: None\n\t\tMaxRecvDataSegmentLength: 262144\n" +
				"\t\tMaxXmitDataSegmentLength: 8192\n\t\tFirstBurstLength: 65536\n\t\tMaxBurstLength: 262144\n" +
				"\t\tImmediateData: Yes\n\t\tInitialR2T: Yes\n\t\tMaxOutstandingR2T: 1\n")
		}
		if level == 3 {
			rule("Attached SCSI devices:", 24)
			fmt.Fprintf(w, "\t\tHost Number: %d\tState: running\n", s.scsiHost)
			if s.target.lun > 0 {
				// tgt exports its controller at LUN 0, without a disk
				fmt.Fprintf(w, "\t\tscsi%d Channel 00 Id 0 Lun: 0\n", s.scsiHost)
			}
			fmt.Fprintf(w, "\t\tscsi%d Channel 00 Id 0 Lun: %d\n\t\t\tAttached scsi disk %s\t\tState: running\n",
				s.scsiHost, s.target.lun, s.disk)
		}
	}
}

func (r *iscsiadmRun) nodeMode(inv iscsiadmInvocation) int {
	switch {
	case inv.login && inv.logout:
		r.errorf("Invalid parameters. Both login and logout passed in")
		return iscsiErrInvalid
	case (inv.login || inv.logout) && inv.op > opNoop:
		r.errorf("Invalid parameters. Login/logout and op passed in")
		return iscsiErrInvalid
	case !inv.login:
		return r.notSimulated("-m node without --login")
	}
	if inv.ip != "" && inv.port == -1 {
		inv.port = 3260
	}
	var matched []target
	for _, n := range r.h.nodes {
		if (inv.targetName == "" || inv.targetName == n.iqn) && (inv.ip == "" || inv.ip == n.portal.Addr().String()) &&
			(inv.port == -1 || inv.port == int(n.portal.Port())) {
			matched = append(matched, n)
		}
	}
	if len(matched) == 0 {
		r.errorf("No records found")
		return iscsiErrNoObjsFound
	}
	return r.login(matched)
}

// login is login_portals over the matched node records: each record with no session yet is logged in to,
// all requests first, then their results.
func (r *iscsiadmRun) login(records []target) int {
	status := iscsiOK
	fail := func(code int) {
		if status == iscsiOK {
			status = code
		}
	}
	var requested []target
	for _, t := range records {
		if r.h.liveSession(t.iqn) != nil {
			r.errorf("default: 1 session requested, but 1 already present.")
			fail(iscsiErrSessExists)
			continue
		}
		if r.h.opts.OpenISCSI == OpenISCSI2_1_8 {
			fmt.Fprintf(&r.stdout, "Logging in to [iface: default, target: %s, portal: %s,%d]\n",
				t.iqn, t.portal.Addr(), t.portal.Port())
		}
		requested = append(requested, t)
	}
	for _, t := range requested {
		r.took += r.c.scaled(loginDuration)
		if !r.c.exports[t.iqn] {
			r.errorf("Could not login to [iface: default, target: %s, portal: %s,%d].", t.iqn, t.portal.Addr(), t.portal.Port())
			r.errorf("initiator reported error (%d - %s)", iscsiErrFatalLogin, fatalLoginMessage)
			fail(iscsiErrFatalLogin)
			continue
		}
		r.c.loginSession(r.h, t)
		fmt.Fprintf(&r.stdout, "Login to [iface: default, target: %s, portal: %s,%d] successful.\n",
			t.iqn, t.portal.Addr(), t.portal.Port())
	}
	if status != iscsiOK {
		r.errorf("Could not log into all portals")
	}
	return status
}
