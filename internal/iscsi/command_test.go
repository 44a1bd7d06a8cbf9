package iscsi

import (
	"bytes"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

const volumeIQN = "iqn.2010-10.org.openstack:volume-3f1c9c1e-6d2a-4b8e-9a57-0e5b2f4c7d19"

func mustSID(t testing.TB, n int) SID {
	t.Helper()
	sid, err := NewSID(n)
	if err != nil {
		t.Fatal(err)
	}
	return sid
}

func mustTarget(t testing.TB, iqn, portal string) Target {
	t.Helper()
	target, err := ParseTarget(iqn, portal)
	if err != nil {
		t.Fatal(err)
	}
	return target
}

func mustLogout(t testing.TB, sid int) Command {
	t.Helper()
	cmd, err := Logout(mustSID(t, sid))
	if err != nil {
		t.Fatal(err)
	}
	return cmd
}

func mustLogin(t testing.TB, iqn, portal string) Command {
	t.Helper()
	cmd, err := Login(mustTarget(t, iqn, portal))
	if err != nil {
		t.Fatal(err)
	}
	return cmd
}

func TestCommandsRenderExactly(t *testing.T) {
	tests := []struct {
		name string
		cmd  Command
		argv []string
		line string
	}{
		{"list", ListSessions(), []string{"iscsiadm", "-m", "session"}, "iscsiadm -m session"},
		{"list detail", ListSessionsDetail(), []string{"iscsiadm", "-m", "session", "-P", "3"}, "iscsiadm -m session -P 3"},
		// The seed's own example, byte for byte.
		{"logout", mustLogout(t, 15), []string{"iscsiadm", "-m", "session", "-u", "-r", "15"},
			"iscsiadm -m session -u -r 15"},
		{"logout largest sid", mustLogout(t, math.MaxInt32),
			[]string{"iscsiadm", "-m", "session", "-u", "-r", "2147483647"}, "iscsiadm -m session -u -r 2147483647"},
		{"login IPv4", mustLogin(t, volumeIQN, "10.0.0.1:3260"),
			[]string{"iscsiadm", "-m", "node", "-T", volumeIQN, "-p", "10.0.0.1:3260", "--login"},
			"iscsiadm -m node -T " + volumeIQN + " -p 10.0.0.1:3260 --login"},
		{"login IPv4 default port", mustLogin(t, volumeIQN, "10.0.0.1"),
			[]string{"iscsiadm", "-m", "node", "-T", volumeIQN, "-p", "10.0.0.1:3260", "--login"},
			"iscsiadm -m node -T " + volumeIQN + " -p 10.0.0.1:3260 --login"},
		// Brackets are shell glob characters: unquoted, [fd00::1]:3260 would match a file named f:3260.
		{"login IPv6", mustLogin(t, volumeIQN, "[fd00::1]:3260"),
			[]string{"iscsiadm", "-m", "node", "-T", volumeIQN, "-p", "[fd00::1]:3260", "--login"},
			"iscsiadm -m node -T " + volumeIQN + " -p '[fd00::1]:3260' --login"},
		{"login IPv6 canonicalised", mustLogin(t, "eui.02004567A425678D", "[FD00:0:0::1]:860"),
			[]string{"iscsiadm", "-m", "node", "-T", "eui.02004567A425678D", "-p", "[fd00::1]:860", "--login"},
			"iscsiadm -m node -T eui.02004567A425678D -p '[fd00::1]:860' --login"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.cmd.Argv(); !slices.Equal(got, tt.argv) {
				t.Errorf("Argv() = %q, want %q", got, tt.argv)
			}
			if got := tt.cmd.String(); got != tt.line {
				t.Errorf("String() = %q, want %q", got, tt.line)
			}
		})
	}
}

func TestLogoutRefusesTheZeroSID(t *testing.T) {
	var unset SID
	failed, _ := ParseSID("0") // a failed parse hands back the zero SID: it must not become a logout
	for _, sid := range []SID{unset, failed, {}} {
		cmd, err := Logout(sid)
		if err == nil {
			t.Fatalf("Logout(%#v) = %q, want an error", sid, cmd)
		}
		if argv := cmd.Argv(); len(argv) != 0 {
			t.Fatalf("Logout(%#v) returned argv %q with its error", sid, argv)
		}
	}
	if cmd, err := Login(Target{}); err == nil || len(cmd.Argv()) != 0 {
		t.Fatalf("Login(Target{}) = %q, %v; want no command and an error", cmd, err)
	}
}

func TestSIDConstructors(t *testing.T) {
	for _, n := range []int{1, 15, math.MaxInt32} {
		sid, err := NewSID(n)
		if err != nil || sid.Int() != n || sid.String() != fmt.Sprint(n) {
			t.Errorf("NewSID(%d) = %v (%d), %v", n, sid, sid.Int(), err)
		}
	}
	for _, n := range []int{0, -1, math.MinInt, math.MaxInt32 + 1, math.MaxInt32 + 16, math.MaxInt} {
		if sid, err := NewSID(n); err == nil {
			t.Errorf("NewSID(%d) = %v, want an error", n, sid)
		}
	}
	for _, s := range []string{"1", "15", "2147483647"} {
		sid, err := ParseSID(s)
		if err != nil || sid.String() != s {
			t.Errorf("ParseSID(%q) = %v, %v", s, sid, err)
		}
	}
	// strtol would take most of these: a sign, blanks, leading zeros, and 4294967311, which wraps to sid 15 in
	// iscsiadm's int.
	for _, s := range []string{"", "0", "00", "-1", "-0", "+15", " 15", "15 ", "015", "15abc", "0x0f", "1e3",
		"2147483648", "4294967311", "99999999999999999999", "١٥", "/sys/class/iscsi_session/session15", "-r"} {
		if sid, err := ParseSID(s); err == nil {
			t.Errorf("ParseSID(%q) = %v, want an error", s, sid)
		}
	}
}

func TestArgvIsACopy(t *testing.T) {
	cmd := mustLogout(t, 15)
	argv := cmd.Argv()
	argv[4], argv[5] = "-u", "-u"
	if got := cmd.String(); got != "iscsiadm -m session -u -r 15" {
		t.Fatalf("changing Argv()'s result changed the command: %q", got)
	}
}

// commandViolation says how argv breaks the package's promise, or returns "": every command is one of the four
// shapes, and a logout always names exactly one positive sid.
func commandViolation(argv []string) string {
	if i := slices.Index(argv, "-u"); i >= 0 {
		if i+2 >= len(argv) || argv[i+1] != "-r" {
			return "-u without -r <sid>"
		}
		if sid, err := ParseSID(argv[i+2]); err != nil || sid.Int() <= 0 {
			return fmt.Sprintf("-r %q is not a positive sid", argv[i+2])
		}
	}
	for _, flag := range []string{"-U", "--logout", "--logoutall", "-o", "--op", "-S", "--show"} {
		if slices.Contains(argv, flag) {
			return "forbidden flag " + flag
		}
	}
	switch {
	case slices.Equal(argv, []string{"iscsiadm", "-m", "session"}),
		slices.Equal(argv, []string{"iscsiadm", "-m", "session", "-P", "3"}):
		return ""
	case len(argv) == 6 && slices.Equal(argv[:5], []string{"iscsiadm", "-m", "session", "-u", "-r"}):
		return ""
	case len(argv) == 8 && slices.Equal(argv[:4], []string{"iscsiadm", "-m", "node", "-T"}) &&
		argv[5] == "-p" && argv[7] == "--login":
		if err := CheckName(argv[4]); err != nil {
			return err.Error()
		}
		if portal, err := ParsePortal(argv[6]); err != nil || portal.String() != argv[6] {
			return fmt.Sprintf("portal %q is not canonical", argv[6])
		}
		return ""
	}
	return fmt.Sprintf("argv %q has none of the four shapes", argv)
}

func TestCommandViolationCatchesBadCommands(t *testing.T) {
	for _, argv := range [][]string{
		{"iscsiadm", "-m", "session", "-u"},
		{"iscsiadm", "-m", "session", "-u", "-r"},
		{"iscsiadm", "-m", "session", "-u", "-r", "0"},
		{"iscsiadm", "-m", "session", "-u", "-r", "-1"},
		{"iscsiadm", "-m", "session", "-r", "15", "-u"},
		{"iscsiadm", "-m", "session", "-u", "-r", "15", "-u"},
		{"iscsiadm", "-m", "session", "-U", "all"},
		{"iscsiadm", "-m", "node", "--logout"},
		{"iscsiadm", "-m", "node", "-T", "iqn.2010-10.org.x:a;reboot", "-p", "10.0.0.1:3260", "--login"},
		{"iscsiadm", "-m", "node", "-T", volumeIQN, "-p", "[fd00::1]", "--login"},
		{"sh", "-c", "iscsiadm -m session -u"},
		nil,
	} {
		if commandViolation(argv) == "" {
			t.Errorf("commandViolation(%q) found nothing wrong", argv)
		}
	}
}

// gen draws inputs for the property tests: mostly well-formed values, often with one hostile change, so that
// both accepted and refused inputs are frequent.
type gen struct{ r *rand.Rand }

const hostile = " \t\n;&|$`'\"\\*?[]{}()<>#~=!%^\x00\x7fé-_+,@/:."

func (g gen) pick(items ...string) string { return items[g.r.IntN(len(items))] }

func (g gen) chars(alphabet string, lo, hi int) string {
	runes := []rune(alphabet)
	var b strings.Builder
	for range lo + g.r.IntN(hi-lo+1) {
		b.WriteRune(runes[g.r.IntN(len(runes))])
	}
	return b.String()
}

// mutate sometimes inserts, replaces or deletes one character.
func (g gen) mutate(s string) string {
	if g.r.IntN(3) != 0 || s == "" {
		return s
	}
	i := g.r.IntN(len(s))
	switch g.r.IntN(3) {
	case 0:
		return s[:i] + g.chars(hostile, 1, 1) + s[i:]
	case 1:
		return s[:i] + g.chars(hostile, 1, 1) + s[i+1:]
	}
	return s[:i] + s[i+1:]
}

func (g gen) sidText() string {
	switch g.r.IntN(5) {
	case 0:
		return fmt.Sprint(g.r.Int64N(1<<33) - 1<<32)
	case 1:
		return g.pick("0", "00", "-0", "+1", " 1", "015", "2147483648", "4294967311", "")
	}
	return g.mutate(fmt.Sprint(1 + g.r.IntN(5000)))
}

func (g gen) iqn() string {
	const lower = "abcdefghijklmnopqrstuvwxyz0123456789"
	var name string
	switch g.r.IntN(4) {
	case 0:
		name = "eui." + g.chars("0123456789abcdefABCDEF", 16, 16)
	case 1:
		name = "naa." + g.chars("0123456789abcdef", 16, 32)
	default:
		name = fmt.Sprintf("iqn.%04d-%02d.%s.%s", 1990+g.r.IntN(40), 1+g.r.IntN(12), g.chars(lower, 1, 6), g.chars(lower+"-", 1, 12))
		if g.r.IntN(4) != 0 {
			name += ":" + g.pick("volume-", "sn.", "", "target:") + g.chars(lower+"-.:", 1, 40)
		}
	}
	return g.mutate(name)
}

func (g gen) portal() string {
	var s string
	if g.r.IntN(2) == 0 {
		s = fmt.Sprintf("%d.%d.%d.%d", 1+g.r.IntN(223), g.r.IntN(256), g.r.IntN(256), 1+g.r.IntN(254))
	} else {
		s = fmt.Sprintf("[fd%02x::%x:%x]", g.r.IntN(256), g.r.IntN(65536), 1+g.r.IntN(65535))
	}
	if g.r.IntN(4) != 0 {
		s += ":" + g.pick("3260", "860", fmt.Sprint(g.r.IntN(70000)))
	}
	return g.mutate(s)
}

// commands returns every command the constructors build from n random inputs, and how many inputs each
// constructor refused.
func (g gen) commands(t testing.TB, n int) (cmds []Command, refused int) {
	t.Helper()
	cmds = append(cmds, ListSessions(), ListSessionsDetail())
	for range n {
		var sid SID
		var err error
		if g.r.IntN(2) == 0 {
			sid, err = ParseSID(g.sidText())
		} else {
			sid, err = NewSID(int(g.r.Int64N(1<<33) - 1<<32))
		}
		// A refused sid is still passed on: the zero SID a failed parse returns must be refused again.
		if cmd, logoutErr := Logout(sid); logoutErr == nil {
			if named := cmd.Argv()[5]; named != sid.String() {
				t.Fatalf("Logout(%v) names sid %q", sid, named)
			}
			cmds = append(cmds, cmd)
		} else if err == nil {
			t.Fatalf("Logout refused valid sid %v: %v", sid, logoutErr)
		} else {
			refused++
		}
		target, err := ParseTarget(g.iqn(), g.portal())
		if cmd, loginErr := Login(target); loginErr == nil {
			if argv := cmd.Argv(); argv[4] != target.IQN() || argv[6] != target.Portal().String() {
				t.Fatalf("Login(%v at %v) = %q", target.IQN(), target.Portal(), argv)
			}
			cmds = append(cmds, cmd)
		} else if err == nil {
			t.Fatalf("Login refused valid target %v: %v", target, loginErr)
		} else {
			refused++
		}
	}
	return cmds, refused
}

func TestEveryConstructedCommandIsSafe(t *testing.T) {
	const inputs = 20000
	g := gen{rand.New(rand.NewPCG(20240601, 15))}
	cmds, refused := g.commands(t, inputs)
	var logouts, logins int
	for _, cmd := range cmds {
		argv := cmd.Argv()
		if v := commandViolation(argv); v != "" {
			t.Fatalf("%q: %s", argv, v)
		}
		if slices.Contains(argv, "-u") {
			logouts++
		}
		if slices.Contains(argv, "--login") {
			logins++
		}
	}
	// Without both outcomes in quantity the property would hold vacuously.
	if logouts < inputs/4 || logins < inputs/10 || refused < inputs/4 {
		t.Fatalf("generator too one-sided: %d logouts, %d logins, %d refused of %d inputs", logouts, logins, refused, inputs)
	}
}

// TestStringSurvivesTheShell hands command lines to a real POSIX shell in a directory full of files that
// unquoted globs would match, and checks the shell passes on exactly Argv.
func TestStringSurvivesTheShell(t *testing.T) {
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no sh on this machine")
	}
	dir := t.TempDir()
	for _, bait := range []string{"f:3260", "a", "1", "-u", "x=y"} {
		if err := os.WriteFile(filepath.Join(dir, bait), nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	g := gen{rand.New(rand.NewPCG(7, 3260))}
	cmds, _ := g.commands(t, 60)
	for range 150 {
		argv := make([]string, 1+g.r.IntN(4))
		for i := range argv {
			argv[i] = strings.ReplaceAll(g.chars(hostile+"ab1", 0, 12), "\x00", "")
		}
		cmds = append(cmds, Command{argv: argv})
	}
	for _, cmd := range cmds {
		// printf's operands are all data: the command line's words come back NUL-separated.
		script := `printf '%s\000' ` + cmd.String()
		run := exec.Command(sh, "-c", script)
		run.Dir = dir
		var stderr bytes.Buffer
		run.Stderr = &stderr
		out, err := run.Output()
		if err != nil {
			t.Fatalf("sh -c %q: %v: %s", script, err, stderr.String())
		}
		got := strings.Split(strings.TrimSuffix(string(out), "\x00"), "\x00")
		if want := cmd.Argv(); !slices.Equal(got, want) {
			t.Fatalf("sh -c %q passed on %q, want %q", script, got, want)
		}
	}
}
