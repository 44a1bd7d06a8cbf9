package iscsi

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// SID is the kernel's number for one iSCSI session, the one `iscsiadm -m session` shows in brackets. Obtain one
// from ParseSID, NewSID or a parser; the zero SID is what an unset field holds and every function here refuses
// it, because `iscsiadm -m session -u` without a session logs out every session on the host.
type SID struct {
	n int32
}

// NewSID accepts 1 to 2^31-1. iscsiadm reads -r with strtol into an int, so a larger number would silently
// wrap onto another session's id.
func NewSID(n int) (SID, error) {
	if n <= 0 || n > math.MaxInt32 {
		return SID{}, fmt.Errorf("session id %d is not between 1 and %d", n, math.MaxInt32)
	}
	return SID{n: int32(n)}, nil
}

// ParseSID accepts a session id written as iscsiadm writes it: decimal digits, no sign, no leading zero.
func ParseSID(s string) (SID, error) {
	n, ok := parseDecimal(s, 1, math.MaxInt32)
	if !ok {
		return SID{}, fmt.Errorf("session id %q is not a number between 1 and %d", s, math.MaxInt32)
	}
	return SID{n: int32(n)}, nil
}

// Int returns the number; 0 for the zero SID.
func (s SID) Int() int { return int(s.n) }

func (s SID) String() string { return strconv.Itoa(int(s.n)) }

var errZeroSID = errors.New("no session id (zero SID): refusing, iscsiadm would act on every session")

// Command is one iscsiadm invocation, built only by ListSessions, ListSessionsDetail, Logout and Login, so it
// is always one of those four shapes. The zero Command has no arguments at all.
type Command struct {
	argv []string
}

// ListSessions is `iscsiadm -m session`; read its result with SessionsFromResult.
func ListSessions() Command {
	return Command{argv: []string{"iscsiadm", "-m", "session"}}
}

// ListSessionsDetail is `iscsiadm -m session -P 3`; read its result with SessionDetailsFromResult.
func ListSessionsDetail() Command {
	return Command{argv: []string{"iscsiadm", "-m", "session", "-P", "3"}}
}

// Logout is `iscsiadm -m session -u -r SID`: it logs out of that one session. Re-check the sid with
// VerifyLogoutTarget right before running it, and confirm the result with ParseLogout.
func Logout(sid SID) (Command, error) {
	if sid.n <= 0 {
		return Command{}, errZeroSID
	}
	return Command{argv: []string{"iscsiadm", "-m", "session", "-u", "-r", sid.String()}}, nil
}

// Login is `iscsiadm -m node -T IQN -p PORTAL --login`; the node record must exist. Confirm the result with
// ParseLogin.
func Login(target Target) (Command, error) {
	if target.iqn == "" {
		return Command{}, errors.New("login: no target (zero Target)")
	}
	return Command{argv: []string{"iscsiadm", "-m", "node", "-T", target.iqn, "-p", target.portal.String(), "--login"}}, nil
}

// Argv returns a copy of the arguments, program name first, for running without a shell.
func (c Command) Argv() []string {
	return append([]string(nil), c.argv...)
}

// String renders the command line for a POSIX shell (what SSH hands the remote command to), every argument
// that needs it single-quoted.
func (c Command) String() string {
	quoted := make([]string, len(c.argv))
	for i, arg := range c.argv {
		quoted[i] = shellQuote(arg)
	}
	return strings.Join(quoted, " ")
}

// shellQuote leaves alone only words made of characters no POSIX shell (nor bash or zsh) treats specially
// anywhere in a word; '=' and '~' are out because of assignments and tilde expansion.
func shellQuote(s string) string {
	safe := s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !isAlnum(r) && !strings.ContainsRune("_./:,@+-", r)
	}) < 0
	if safe {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
