package iscsi

import (
	"net/netip"
	"reflect"
	"strings"
	"testing"
)

// factsSessionLine is a line of `iscsiadm -m session` on open-iscsi 2.1.11 (format `%s: [%u] %s:%d,%d %s (%s)`)
// for a Cinder LVM volume, byte for byte.
const factsSessionLine = "tcp: [15] 10.0.0.1:3260,1 " + volumeIQN + " (non-flash)"

func TestParseSessions(t *testing.T) {
	v4 := netip.MustParseAddr("10.0.0.1")
	tests := []struct {
		name   string
		stdout string
		want   []Session
	}{
		{"none", "", []Session{}},
		{"facts example", factsSessionLine + "\n", []Session{
			{Transport: "tcp", SID: SID{15}, Portal: Portal{v4, 3260}, TPGT: 1, IQN: volumeIQN},
		}},
		{"last newline missing", factsSessionLine, []Session{
			{Transport: "tcp", SID: SID{15}, Portal: Portal{v4, 3260}, TPGT: 1, IQN: volumeIQN},
		}},
		{"several, IPv6 bracketed, flash, unknown transport", "" +
			"tcp: [1] 10.0.0.1:3260,1 iqn.2010-10.org.openstack:volume-a (non-flash)\n" +
			"tcp: [2] [fd00::1]:3260,1 iqn.2010-10.org.openstack:volume-b (non-flash)\n" +
			"iser: [3] 192.168.10.20:860,2 eui.02004567A425678D (non-flash)\n" +
			"qla4xxx: [4] 10.0.0.9:3260,-1 naa.52004567BA64678D (flash)\n" +
			"<empty>: [2147483647] [fd00::2]:3260,65535 iqn.2003-01.org.linux-iscsi.h:sn.1 (non-flash)\n" +
			"tcp: [6] ::ffff:10.0.0.1:3260,1 iqn.2010-10.org.openstack:volume-c (non-flash)\n",
			[]Session{
				{"tcp", SID{1}, Portal{v4, 3260}, 1, "iqn.2010-10.org.openstack:volume-a", false},
				{"tcp", SID{2}, Portal{netip.MustParseAddr("fd00::1"), 3260}, 1, "iqn.2010-10.org.openstack:volume-b", false},
				{"iser", SID{3}, Portal{netip.MustParseAddr("192.168.10.20"), 860}, 2, "eui.02004567A425678D", false},
				{"qla4xxx", SID{4}, Portal{netip.MustParseAddr("10.0.0.9"), 3260}, -1, "naa.52004567BA64678D", true},
				{"", SID{2147483647}, Portal{netip.MustParseAddr("fd00::2"), 3260}, 65535, "iqn.2003-01.org.linux-iscsi.h:sn.1", false},
				{"tcp", SID{6}, Portal{netip.MustParseAddr("::ffff:10.0.0.1"), 3260}, 1, "iqn.2010-10.org.openstack:volume-c", false},
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseSessions(tt.stdout)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("ParseSessions = %+v\nwant %+v", got, tt.want)
			}
			// What was read writes back byte for byte.
			var lines []string
			for _, s := range got {
				lines = append(lines, s.String())
			}
			if back := strings.Join(lines, "\n"); back != strings.TrimSuffix(tt.stdout, "\n") {
				t.Fatalf("String() wrote back\n%s\nwant\n%s", back, tt.stdout)
			}
		})
	}
}

func TestParseSessionsRefusesWhatItCannotRead(t *testing.T) {
	ok := factsSessionLine + "\n"
	tests := []struct {
		name, stdout, wantInError string
	}{
		{"empty line", ok + "\n" + ok, "line 2 is empty"},
		{"lone newline", "\n", "line 1 is empty"},
		{"CRLF", factsSessionLine + "\r\n", `line 1 "tcp: [15]`},
		{"stderr text on stdout", ok + "iscsiadm: No active sessions.\n", "line 2"},
		{"sid 0", "tcp: [0] 10.0.0.1:3260,1 " + volumeIQN + " (non-flash)\n", "session id"},
		{"sid beyond int", "tcp: [2147483648] 10.0.0.1:3260,1 " + volumeIQN + " (non-flash)\n", "session id"},
		{"sid with leading zero", "tcp: [015] 10.0.0.1:3260,1 " + volumeIQN + " (non-flash)\n", "session id"},
		{"duplicate sid", ok + ok, "sid 15 already listed on line 1"},
		{"no tpgt", "tcp: [15] 10.0.0.1:3260 " + volumeIQN + " (non-flash)\n", "portal,tpgt"},
		{"tpgt out of range", "tcp: [15] 10.0.0.1:3260,-2 " + volumeIQN + " (non-flash)\n", "portal group tag"},
		{"port -1", "tcp: [15] 10.0.0.1:-1,1 " + volumeIQN + " (non-flash)\n", "port"},
		{"IPv6 unbracketed", "tcp: [15] fd00::1:3260,1 " + volumeIQN + " (non-flash)\n", "dotted address"},
		{"IPv4 bracketed", "tcp: [15] [10.0.0.1]:3260,1 " + volumeIQN + " (non-flash)\n", "without dots"},
		{"host name", "tcp: [15] storage.example:3260,1 " + volumeIQN + " (non-flash)\n", "not an IP address"},
		{"zone", "tcp: [15] [fe80::1%eth0]:3260,1 " + volumeIQN + " (non-flash)\n", "zone"},
		{"bad target name", "tcp: [15] 10.0.0.1:3260,1 volume-1 (non-flash)\n", "iSCSI name"},
		{"flash word", "tcp: [15] 10.0.0.1:3260,1 " + volumeIQN + " (Non-Flash)\n", "(non-flash)"},
		{"trailing space", factsSessionLine + " \n", "(non-flash)"},
		{"double space", "tcp: [15]  10.0.0.1:3260,1 " + volumeIQN + " (non-flash)\n", "line 1"},
		{"bad transport", "t cp: [15] 10.0.0.1:3260,1 " + volumeIQN + " (non-flash)\n", "transport"},
		{"empty transport", ": [15] 10.0.0.1:3260,1 " + volumeIQN + " (non-flash)\n", "transport"},
		{"truncated", "tcp: [15] 10.0.0.1:3260,1 " + volumeIQN + "\n", "nothing after the target name"},
		{"-P 1 output", "Target: " + volumeIQN + " (non-flash)\n", "line 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseSessions(tt.stdout)
			if err == nil {
				t.Fatalf("ParseSessions accepted %q as %+v", tt.stdout, got)
			}
			if !strings.Contains(err.Error(), tt.wantInError) {
				t.Fatalf("error %q does not contain %q", err, tt.wantInError)
			}
		})
	}
}

func TestSessionsFromResult(t *testing.T) {
	tests := []struct {
		name           string
		stdout, stderr string
		exit           int
		wantSessions   int
		wantCode       ExitCode // of an *ExitError; -1 for a plain error, 0 for none
	}{
		{"sessions", factsSessionLine + "\n", "", 0, 1, 0},
		{"no sessions (facts §5)", "", "iscsiadm: No active sessions.\n", 21, 0, 0},
		{"exit 21 for another reason", "", "iscsiadm: No records found\n", 21, 0, ExitNoObjectsFound},
		{"exit 21 with output", factsSessionLine + "\n", "iscsiadm: No active sessions.\n", 21, 0, ExitNoObjectsFound},
		{"iscsid down", "", "iscsiadm: can not connect to iSCSI daemon (111)!\n", 20, 0, ExitISCSIDNotConnected},
		{"exit 0 without sessions", "", "", 0, 0, -1},
		{"exit 0 with stderr", factsSessionLine + "\n", "iscsiadm: Could not read session info.\n", 0, 0, -1},
		{"exit 0 with bad output", "garbage\n", "", 0, 0, -1},
		{"command not found", "", "sh: iscsiadm: command not found\n", 127, 0, 127},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := SessionsFromResult(tt.stdout, tt.stderr, tt.exit)
			code, isExit := CodeOf(err)
			switch {
			case tt.wantCode == 0 && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tt.wantCode == -1 && (err == nil || isExit):
				t.Fatalf("error %v, want a plain error", err)
			case tt.wantCode > 0 && (!isExit || code != tt.wantCode):
				t.Fatalf("error %v, want an *ExitError with code %d", err, tt.wantCode)
			case len(got) != tt.wantSessions:
				t.Fatalf("%d sessions, want %d", len(got), tt.wantSessions)
			}
		})
	}
}

func FuzzParseSessions(f *testing.F) {
	for _, seed := range []string{
		"",
		factsSessionLine + "\n",
		"tcp: [2] [fd00::1]:3260,1 iqn.2010-10.org.openstack:volume-b (non-flash)\n",
		"tcp: [2] [fd00:0:0::0001]:3260,1 iqn.2010-10.org.openstack:volume-b (non-flash)",
		"tcp: [6] ::ffff:10.0.0.1:3260,1 iqn.2010-10.org.openstack:volume-c (non-flash)\n",
		"tcp: [7] [::ffff:a00:1]:3260,1 iqn.2010-10.org.openstack:volume-c (non-flash)\n",
		"<empty>: [4] 10.0.0.9:3260,-1 naa.52004567BA64678D (flash)\n",
		"tcp: [1] 10.0.0.1:3260,1 eui.02004567A425678D (non-flash)\ntcp: [2] 10.0.0.2:3260,1 eui.02004567A425678E (non-flash)\n",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, stdout string) {
		sessions, err := ParseSessions(stdout)
		if err != nil {
			if sessions != nil {
				t.Fatalf("sessions %+v returned with error %v", sessions, err)
			}
			return
		}
		var b strings.Builder
		onlyIPv4 := true
		for _, s := range sessions {
			onlyIPv4 = onlyIPv4 && s.Portal.IP.Is4()
			if s.SID.Int() <= 0 {
				t.Fatalf("accepted non-positive sid in %q", stdout)
			}
			if CheckName(s.IQN) != nil {
				t.Fatalf("accepted invalid target name %q", s.IQN)
			}
			b.WriteString(s.String() + "\n")
		}
		again, err := ParseSessions(b.String())
		if err != nil {
			t.Fatalf("%q parsed, but its rendering %q does not: %v", stdout, b.String(), err)
		}
		if !reflect.DeepEqual(again, sessions) {
			t.Fatalf("round trip changed the sessions:\n%+v\n%+v", sessions, again)
		}
		// Only an IPv6 spelling may differ between the input and its rendering.
		if onlyIPv4 && b.String() != stdout && b.String() != stdout+"\n" {
			t.Fatalf("rendering %q differs from IPv4-only input %q", b.String(), stdout)
		}
	})
}

func TestSessionStringOfUnknownTransport(t *testing.T) {
	s := Session{SID: SID{4}, Portal: Portal{netip.MustParseAddr("fd00::1"), 3260}, TPGT: 1, IQN: volumeIQN, Flash: true}
	if got, want := s.String(), "<empty>: [4] [fd00::1]:3260,1 "+volumeIQN+" (flash)"; got != want {
		t.Fatalf("String() = %q, want %q", got, want)
	}
}
