package hosts

import (
	"slices"
	"strings"
	"testing"
)

func TestShell(t *testing.T) {
	unsupported := func(what string) string {
		return "osdr-sim: bash: unsupported shell syntax " + what +
			" (the simulated shell runs simple commands joined by ; && || with > >> redirections)\n"
	}
	tests := []struct {
		command string
		want    want
	}{
		{"foo -m session", want{stderr: "bash: line 1: foo: command not found\n", exit: 127}},
		{"/usr/local/sbin/iscsiadm -m session", want{stderr: "bash: line 1: /usr/local/sbin/iscsiadm: No such file or directory\n", exit: 127}},
		{"sh -c 'foo'", want{stderr: "sh: 1: foo: not found\n", exit: 127}},
		{`bash -c "iscsiadm -m session"`, want{stderr: "iscsiadm: No active sessions.\n", exit: 21}},
		{`echo 'a  b' "c\"d\\" e\ f ''`, want{stdout: "a  b c\"d\\ e f \n"}},
		{"echo -n x", want{stdout: "x"}},
		{"echo ok && foo; echo after", want{stdout: "ok\nafter\n", stderr: "bash: line 1: foo: command not found\n"}},
		{"false || echo fallback", want{stdout: "fallback\n"}},
		{"false && echo no", want{exit: 1}},
		{"true; false", want{exit: 1}},
		{"echo a # a comment", want{stdout: "a\n"}},
		{"echo a#b", want{stdout: "a#b\n"}},
		{"iscsiadm -m session 2>&1", want{stdout: "iscsiadm: No active sessions.\n", exit: 21}},
		{"iscsiadm -m session 2>/dev/null", want{exit: 21}},
		{"echo to-stderr >&2", want{stderr: "to-stderr\n"}},
		{"sudo iscsiadm -m session", want{stderr: "iscsiadm: No active sessions.\n", exit: 21}},
		{"sudo -n /sbin/iscsiadm -m session", want{stderr: "iscsiadm: No active sessions.\n", exit: 21}},
		{"sudo foo", want{stderr: "sudo: foo: command not found\n", exit: 1}},
		{"test -b /dev/sda", want{}},
		{"[ -b /dev/sdb ]", want{exit: 1}},
		{"test -d /tmp", want{stderr: "osdr-sim: bash: test -d /tmp is not simulated (only -b -e -f -d PATH, for the paths a machine models)\n", exit: 1}},
		{"[ -b /dev/sda", want{stderr: "bash: line 1: [: missing `]'\n", exit: 2}},
		{"echo 'unterminated", want{stderr: "bash: -c: line 1: unexpected EOF while looking for matching `''\n", exit: 2}},
		{`echo "unterminated`, want{stderr: "bash: -c: line 1: unexpected EOF while looking for matching `\"'\n", exit: 2}},
		{`sh -c "echo 'x"`, want{stderr: "sh: 1: Syntax error: Unterminated quoted string\n", exit: 2}},
		{"; echo", want{stderr: "bash: -c: line 1: syntax error near unexpected token `;'\nbash: -c: line 1: `; echo'\n", exit: 2}},
		{"echo a;; echo b", want{stderr: "bash: -c: line 1: syntax error near unexpected token `;;'\nbash: -c: line 1: `echo a;; echo b'\n", exit: 2}},
		{"echo a &&", want{stderr: "bash: -c: line 1: syntax error near unexpected token `newline'\nbash: -c: line 1: `echo a &&'\n", exit: 2}},
		{"echo >", want{stderr: "bash: -c: line 1: syntax error near unexpected token `newline'\nbash: -c: line 1: `echo >'\n", exit: 2}},
		{"sh -c 'echo >'", want{stderr: "sh: 1: Syntax error: newline unexpected\n", exit: 2}},
		{"sh -c '&& echo'", want{stderr: "sh: 1: Syntax error: \"&&\" unexpected\n", exit: 2}},
		{"iscsiadm -m session | grep tcp", want{stderr: unsupported(`"|"`), exit: 1}},
		{"echo $HOME", want{stderr: unsupported(`"$"`), exit: 1}},
		{`echo "$HOME"`, want{stderr: unsupported(`"$"`), exit: 1}},
		{"echo '$HOME'", want{stdout: "$HOME\n"}},
		{"ls /dev/sd*", want{stderr: unsupported(`"*"`), exit: 1}},
		{"echo x > /tmp/f", want{stderr: "bash: line 1: /tmp/f: osdr-sim: files on compute hosts are not simulated\n", exit: 1}},
		{"sh", want{stderr: "osdr-sim: sh: only `sh -c SCRIPT` is simulated\n", exit: 1}},
		{"", want{}},
	}
	for _, tt := range tests {
		t.Run(tt.command, func(t *testing.T) {
			c := newCluster(t, HostOptions{})
			check(t, tt.command, onHost(t, c, tt.command), tt.want)
		})
	}
}

func TestParse(t *testing.T) {
	commands, err := parse(bash, `sudo sh -c 'echo X > /data/osdr-stamp' && cat "/data/osdr-stamp" 2>&1 >> /tmp/log; true`)
	must(t, err)
	if len(commands) != 3 {
		t.Fatalf("%d commands: %+v", len(commands), commands)
	}
	first, second := commands[0], commands[1]
	if !slices.Equal(first.words, []string{"sudo", "sh", "-c", "echo X > /data/osdr-stamp"}) || first.op != "" {
		t.Errorf("first command %+v", first)
	}
	wantRedirects := []redirect{{fd: 2, dupTo: 1}, {fd: 1, append: true, path: "/tmp/log"}}
	if !slices.Equal(second.words, []string{"cat", "/data/osdr-stamp"}) || second.op != "&&" || !slices.Equal(second.redirects, wantRedirects) {
		t.Errorf("second command %+v", second)
	}
	if commands[2].op != ";" {
		t.Errorf("third command %+v", commands[2])
	}
}

func TestGetopt(t *testing.T) {
	long := []longOption{{"mode", requiredArgument, 'm'}, {"login", noArgument, 'l'}, {"loginall", requiredArgument, 'L'},
		{"type", optionalArgument, 't'}}
	tests := []struct {
		argv   string
		want   string // options as "opt=arg" separated by spaces
		stderr string
		optopt byte
	}{
		{"prog -m session -l", "m=session l=", "", 0},
		{"prog -msession -lm node", "m=session l= m=node", "", 0},
		{"prog operand -m session -- -l", "m=session", "", 0},
		{"prog --mode session --login", "m=session l=", "", 0},
		{"prog --mo=session --loginall=all", "m=session L=all", "", 0},
		{"prog --login --type --type=x", "l= t= t=x", "", 0},
		{"prog -m", "?=", "prog: option requires an argument -- 'm'\n", 'm'},
		{"prog -x", "?=", "prog: invalid option -- 'x'\n", 'x'},
		{"prog --mode", "?=", "prog: option '--mode' requires an argument\n", 'm'},
		{"prog --login=yes", "?=", "prog: option '--login' doesn't allow an argument\n", 'l'},
		{"prog --logo", "?=", "prog: unrecognized option '--logo'\n", 0},
		{"prog --log=1", "?=", "prog: option '--log=1' is ambiguous; possibilities: '--login' '--loginall'\n", 0},
	}
	for _, tt := range tests {
		t.Run(tt.argv, func(t *testing.T) {
			var stderr strings.Builder
			g := newGetopt(strings.Fields(tt.argv), "m:lL:t::", long, &stderr)
			var got []string
			for {
				opt, arg, ok := g.next()
				if !ok {
					break
				}
				got = append(got, string(opt)+"="+arg)
			}
			if strings.Join(got, " ") != tt.want || stderr.String() != tt.stderr || g.optopt != tt.optopt {
				t.Errorf("got %q, stderr %q, optopt %q; want %q, %q, %q", got, stderr.String(), g.optopt, tt.want, tt.stderr, tt.optopt)
			}
		})
	}
}

func TestSplitPortalArgument(t *testing.T) {
	tests := []struct {
		arg  string
		ip   string
		port int
	}{
		{"10.0.0.1:3260", "10.0.0.1", 3260},
		{"10.0.0.1:3260,1", "10.0.0.1", 3260},
		{"10.0.0.1", "10.0.0.1", -1},
		{"10.0.0.1,1", "10.0.0.1", -1},
		{"storage:3261", "storage", 3261},
		{"storage", "storage", -1},
		{"fd00::1", "fd00::1", -1},
		{"[fd00::1]:3260", "fd00::1", 3260},
		{"[fd00::1", "", -1},
	}
	for _, tt := range tests {
		if ip, port := splitPortalArgument(tt.arg); ip != tt.ip || port != tt.port {
			t.Errorf("%q: got %q %d, want %q %d", tt.arg, ip, port, tt.ip, tt.port)
		}
	}
}

func TestParseSIDArgument(t *testing.T) {
	tests := []struct {
		arg string
		sid int
		ok  bool
	}{
		{"15", 15, true},
		{"015", 15, true},
		{" +15", 15, true},
		{"2147483647", 2147483647, true},
		{"4294967311", 15, true}, // strtol's long, truncated to an int
		{"99999999999999999999", 0, false},
		{"0", 0, false},
		{"-15", 0, false},
		{"15 ", 0, false},
		{"", 0, false},
		{"/sys/class/iscsi_session/session15", 0, false},
	}
	for _, tt := range tests {
		if sid, ok := parseSIDArgument(tt.arg); sid != tt.sid && ok || ok != tt.ok {
			t.Errorf("%q: got %d %v, want %d %v", tt.arg, sid, ok, tt.sid, tt.ok)
		}
	}
}
