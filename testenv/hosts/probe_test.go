package hosts

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/osdr/osdr/internal/iscsi"
	"github.com/osdr/osdr/testenv/virt"
)

// downBackends is the control plane's word on its backends, with some of them down.
type downBackends map[netip.AddrPort]bool

func (d downBackends) Up(portal netip.AddrPort) bool { return !d[portal] }

// hostWithVolume is a host whose domain has volume A attached through portal: the storage answers there.
func hostWithVolume(t *testing.T) *Cluster {
	t.Helper()
	c := newCluster(t, HostOptions{})
	must(t, c.PowerOn(testContext(t), domain1(), []virt.VolumeConnection{volume(volA, "/dev/vdb")}))
	return c
}

func refused(path string) want {
	return want{stderr: "bash: connect: Connection refused\nbash: line 1: " + path + ": Connection refused\n", exit: 1}
}

// A portal probe is bash opening /dev/tcp under coreutils' timeout: it answers while the portal's backend is
// up, and is refused when the backend is down or nothing serves the address.
func TestPortalProbe(t *testing.T) {
	unsupported := func(what string) string {
		return "osdr-sim: bash: unsupported shell syntax " + what +
			" (the simulated shell runs simple commands joined by ; && || with > >> redirections)\n"
	}
	tests := []struct {
		name    string
		down    bool // the backend serving 10.0.0.1:3260 is down
		command string
		want    want
	}{
		{"live portal", false, "timeout 5 bash -c ': </dev/tcp/10.0.0.1/3260'", want{}},
		{"live portal, no timeout", false, ": </dev/tcp/10.0.0.1/3260 && echo open", want{stdout: "open\n"}},
		{"backend down", true, "timeout 5 bash -c ': </dev/tcp/10.0.0.1/3260'", refused("/dev/tcp/10.0.0.1/3260")},
		{"unknown address", false, "timeout 5 bash -c ': </dev/tcp/10.0.0.5/3260'", refused("/dev/tcp/10.0.0.5/3260")},
		{"another port of the portal's address", false, ": </dev/tcp/10.0.0.1/3261", refused("/dev/tcp/10.0.0.1/3261")},
		{"IPv4-mapped address", false, ": </dev/tcp/::ffff:10.0.0.1/3260", want{}},
		{"a refused probe stops an && list", true, ": </dev/tcp/10.0.0.1/3260 && echo open", refused("/dev/tcp/10.0.0.1/3260")},
		{"no port: a path that does not exist", false, ": </dev/tcp/10.0.0.1",
			want{stderr: "bash: line 1: /dev/tcp/10.0.0.1: No such file or directory\n", exit: 1}},
		{"0< is <", false, ": 0</dev/tcp/10.0.0.1/3260", want{}},
		{"input from /dev/null", false, "echo in </dev/null", want{stdout: "in\n"}},

		{"timeout passes the status on", false, "timeout 5 false", want{exit: 1}},
		{"timeout of a missing command", false, "timeout 5 nosuch",
			want{stderr: "timeout: failed to run command ‘nosuch’: No such file or directory\n", exit: 127}},
		{"timeout runs programs, not builtins", false, "timeout 5 :",
			want{stderr: "timeout: failed to run command ‘:’: No such file or directory\n", exit: 127}},
		{"timeout of something not a program", false, "timeout 5 /dev/sda",
			want{stderr: "timeout: failed to run command ‘/dev/sda’: Permission denied\n", exit: 126}},
		{"timeout with a bad duration", false, "timeout 5x true",
			want{stderr: "timeout: invalid time interval ‘5x’\nTry 'timeout --help' for more information.\n", exit: 125}},
		{"timeout with a negative duration", false, "timeout -- -1 true",
			want{stderr: "timeout: invalid time interval ‘-1’\nTry 'timeout --help' for more information.\n", exit: 125}},
		{"timeout without a command", false, "timeout 5", want{stderr: "Try 'timeout --help' for more information.\n", exit: 125}},
		{"timeout with an unknown option", false, "timeout -z 5 true",
			want{stderr: "timeout: invalid option -- 'z'\nTry 'timeout --help' for more information.\n", exit: 125}},
		{"timeout leaves the command's options alone", false, "timeout 1.5m --foreground true",
			want{stderr: "timeout: failed to run command ‘--foreground’: No such file or directory\n", exit: 127}},
		{"timeout's own options first", false, "timeout --foreground 0.5s echo -n x", want{stdout: "x"}},

		{"here-document", false, ": <<EOF", want{stderr: unsupported(`"<<"`), exit: 1}},
		{"process substitution", false, ": <(true)", want{stderr: unsupported(`"<("`), exit: 1}},
		{"input from a file", false, ": </etc/hosts",
			want{stderr: "osdr-sim: bash: input from /etc/hosts is not simulated (only /dev/null, and /dev/tcp/HOST/PORT in bash)\n", exit: 1}},
		{"a host name", false, ": </dev/tcp/storage/3260",
			want{stderr: "osdr-sim: bash: /dev/tcp/storage/3260 is not simulated (only /dev/tcp/IP/PORT, with a numeric address and port, from a compute host)\n", exit: 1}},
		{"a service name", false, ": </dev/tcp/10.0.0.1/iscsi-target",
			want{stderr: "osdr-sim: bash: /dev/tcp/10.0.0.1/iscsi-target is not simulated (only /dev/tcp/IP/PORT, with a numeric address and port, from a compute host)\n", exit: 1}},
		{"dash has no /dev/tcp", false, "sh -c ': </dev/tcp/10.0.0.1/3260'",
			want{stderr: "osdr-sim: sh: input from /dev/tcp/10.0.0.1/3260 is not simulated (only /dev/null, and /dev/tcp/HOST/PORT in bash)\n", exit: 1}},
		{"timeout -s", false, "timeout -s KILL 5 true",
			want{stderr: "osdr-sim: timeout: -s is not simulated (simulated: timeout [--foreground] [--preserve-status] DURATION COMMAND...)\n", exit: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := hostWithVolume(t)
			if tt.down {
				c.SetBackends(downBackends{netip.MustParseAddrPort(portal): true})
			}
			check(t, tt.command, onHost(t, c, tt.command), tt.want)
		})
	}
}

// osdr reads a probe's answer (iscsi.ProbeResult) the way the host gives it.
func TestPortalProbeAsOsdrReadsIt(t *testing.T) {
	for _, tt := range []struct {
		portal string
		down   bool
		want   string // "" when the portal answers
	}{
		{portal, false, ""},
		{portal, true, `refused or unreachable (exit 1: "bash: connect: Connection refused")`},
		{"10.0.0.5:3260", false, `refused or unreachable (exit 1: "bash: connect: Connection refused")`},
	} {
		c := hostWithVolume(t)
		if tt.down {
			c.SetBackends(downBackends{netip.MustParseAddrPort(portal): true})
		}
		p, err := iscsi.ParsePortal(tt.portal)
		must(t, err)
		r := onHost(t, c, iscsi.Probe(p))
		err = iscsi.ProbeResult(p, r.exit, string(r.stderr))
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("%s: %v", tt.portal, err)
		case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
			t.Errorf("%s (down %v): %v, want %q", tt.portal, tt.down, err, tt.want)
		}
	}
}

// A command runs out of timeout's time when its modelled duration passes the limit: 124, or the status of a
// program TERM ended with --preserve-status; it then took the limit, not its whole duration.
func TestTimeoutEndsWhatTakesTooLong(t *testing.T) {
	const logout = "iscsiadm -m session -u -r 1"
	for _, tt := range []struct {
		command string
		exit    int
		took    time.Duration
	}{
		{"timeout 0.001 " + logout, 124, time.Millisecond},
		{"timeout --preserve-status 0.001 " + logout, 143, time.Millisecond},
		{"timeout 1 " + logout, 0, 3 * time.Millisecond},
		{"timeout 0 " + logout, 0, 3 * time.Millisecond},
	} {
		c := hostWithVolume(t)
		must(t, c.SetLatencyScale(0.01)) // a logout takes 3 ms
		if r := onHost(t, c, tt.command); r.exit != tt.exit {
			t.Errorf("%s: exit %d, want %d (stderr %q)", tt.command, r.exit, tt.exit, r.stderr)
		}
		history, err := c.HostCommands(hostName)
		must(t, err)
		if last := history[len(history)-1]; last.Took != tt.took {
			t.Errorf("%s: took %v, want %v", tt.command, last.Took, tt.took)
		}
	}
}

// Guests reach no storage network: a probe from one is refused as not simulated.
func TestGuestsOpenNoTCPConnections(t *testing.T) {
	c := hostWithVolume(t)
	waitStage(t, c, inst1, StageUp)
	got := onGuest(t, c, inst1, ": </dev/tcp/10.0.0.1/3260")
	check(t, "probe from a guest", got, want{stderr: "osdr-sim: bash: /dev/tcp/10.0.0.1/3260 is not simulated (only /dev/tcp/IP/PORT, with a numeric address and port, from a compute host)\n", exit: 1})
}
