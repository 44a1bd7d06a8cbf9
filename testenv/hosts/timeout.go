package hosts

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// timeout is coreutils' timeout (src/timeout.c): it runs a program, not a shell builtin, and ends it when
// DURATION has passed. Its statuses: the program's own when it finished in time; 124 when it ran out of time
// (with --preserve-status, 128+15, the status of a program TERM killed); 125 when timeout itself failed (a
// bad option, a bad duration, a missing operand); 126 when the program exists but cannot be run; 127 when
// there is no such program. Time here is the latency model's: a program runs out of time when the modelled
// durations of what it did add up past DURATION, and then it took DURATION.
//
// -k, -s and -v are refused as not simulated: which signal ends the program and what it then prints is not
// modelled. Quotes are the UTF-8 locale's (‘x’), which Debian's sshd sessions run in (pam_env reads
// /etc/default/locale); getopt's own messages keep ASCII quotes in every locale.

// Exit statuses of timeout's own (coreutils' EXIT_TIMEDOUT, EXIT_CANCELED, EXIT_CANNOT_INVOKE, EXIT_ENOENT).
const (
	timeoutTimedOut     = 124
	timeoutCanceled     = 125
	timeoutCannotInvoke = 126
	timeoutNotFound     = 127
	// timeoutTerminated is a program ended by SIGTERM, as --preserve-status reports it.
	timeoutTerminated = 128 + 15
)

var timeoutLongOptions = []longOption{
	{"foreground", noArgument, 'f'},
	{"kill-after", requiredArgument, 'k'},
	{"preserve-status", noArgument, 'p'},
	{"signal", requiredArgument, 's'},
	{"verbose", noArgument, 'v'},
	{"help", noArgument, 'h'},
	{"version", noArgument, 'V'},
}

func timeoutProgram(x *execution, argv []string) int {
	var diagnostics strings.Builder
	g := newGetopt(argv, "k:s:v", timeoutLongOptions, &diagnostics)
	g.posix = true // "+k:s:v": the program's own options are left to it
	preserve := false
	for {
		opt, _, ok := g.next()
		if !ok {
			break
		}
		switch opt {
		case 'f':
		case 'p':
			preserve = true
		case '?':
			fmt.Fprintf(x.stderr, "%sTry '%s --help' for more information.\n", diagnostics.String(), argv[0])
			return timeoutCanceled
		default:
			fmt.Fprintf(x.stderr, "osdr-sim: timeout: -%c is not simulated (simulated: timeout [--foreground] [--preserve-status] DURATION COMMAND...)\n", opt)
			return notSimulated
		}
	}
	operands := argv[g.index:]
	if len(operands) > 0 && operands[0] == "--" {
		operands = operands[1:]
	}
	if len(operands) < 2 {
		fmt.Fprintf(x.stderr, "Try '%s --help' for more information.\n", argv[0])
		return timeoutCanceled
	}
	limit, ok := parseTimeoutDuration(operands[0])
	if !ok {
		fmt.Fprintf(x.stderr, "%s: invalid time interval ‘%s’\nTry '%s --help' for more information.\n", argv[0], operands[0], argv[0])
		return timeoutCanceled
	}
	name := operands[1]
	p, found := x.machine.lookup(name)
	if !found {
		err := errNoEntry
		if tester, ok := x.machine.(fileTester); ok && strings.Contains(name, "/") {
			if kind, _ := tester.fileType(name); kind != "" {
				// execvp of a directory or device: it is there, but not a program.
				err = errPermission
			}
		}
		fmt.Fprintf(x.stderr, "%s: failed to run command ‘%s’: %v\n", argv[0], name, err)
		if err == errPermission {
			return timeoutCannotInvoke
		}
		return timeoutNotFound
	}
	before := *x.spent
	status := p(x, operands[1:])
	if limit > 0 && *x.spent-before > limit {
		*x.spent = before + limit
		if preserve {
			return timeoutTerminated
		}
		return timeoutTimedOut
	}
	return status
}

// parseTimeoutDuration reads DURATION as timeout's parse_duration does: a non-negative floating-point number
// with an optional unit s, m, h or d; 0 means no limit.
func parseTimeoutDuration(s string) (time.Duration, bool) {
	number, unit := s, time.Second
	if n := len(s); n > 0 {
		switch s[n-1] {
		case 's':
			number = s[:n-1]
		case 'm':
			number, unit = s[:n-1], time.Minute
		case 'h':
			number, unit = s[:n-1], time.Hour
		case 'd':
			number, unit = s[:n-1], 24*time.Hour
		}
	}
	v, err := strconv.ParseFloat(number, 64)
	if err != nil || math.IsNaN(v) || v < 0 {
		return 0, false
	}
	if v*float64(unit) >= math.MaxInt64 {
		return 0, true // beyond any simulated run: no limit
	}
	return time.Duration(v * float64(unit)), true
}
