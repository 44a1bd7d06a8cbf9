package hosts

import (
	"slices"
	"strings"
	"testing"

	"github.com/osdr/osdr/internal/iscsi"
)

// twoSessions is a host that has been up a while: domain 1 holds volume A through session 15 and volume B
// through session 16, as in the Operations Guide's example.
func twoSessions(t *testing.T, opts HostOptions) *Cluster {
	t.Helper()
	c := newCluster(t, opts)
	ctx := testContext(t)
	must(t, c.PowerOn(ctx, domain1(), nil))
	burnSIDs(t, c, domain1(), 14)
	must(t, c.AttachVolume(ctx, domain1(), volume(volA, "/dev/vdb")))
	must(t, c.AttachVolume(ctx, domain1(), volume(volB, "/dev/vdc")))
	if got := sids(t, c); !slices.Equal(got, []int{15, 16}) {
		t.Fatalf("sids %v, want [15 16]", got)
	}
	return c
}

var (
	listA = "tcp: [15] 10.0.0.1:3260,1 " + iqnOf(volA) + " (non-flash)\n"
	listB = "tcp: [16] 10.0.0.1:3260,1 " + iqnOf(volB) + " (non-flash)\n"
)

// sessionTree is one session at -P 3, with the printf formats of open-iscsi 2.1.11's session_info.c and
// iface.c filled in: tgt's controller at LUN 0 and the volume's disk at LUN 1.
func sessionTree(sid, volumeID, scsiHost, disk string) string {
	return "" +
		"Target: " + iqnOf(volumeID) + " (non-flash)\n" +
		"\tCurrent Portal: 10.0.0.1:3260,1\n" +
		"\tPersistent Portal: 10.0.0.1:3260,1\n" +
		"\t\t**********\n" +
		"\t\tInterface:\n" +
		"\t\t**********\n" +
		"\t\tIface Name: default\n" +
		"\t\tIface Transport: tcp\n" +
		"\t\tIface Initiatorname: iqn.1993-08.org.debian:01:7f3a9c2b1d4e\n" +
		"\t\tIface IPaddress: 10.0.0.21\n" +
		"\t\tIface HWaddress: <empty>\n" +
		"\t\tIface Netdev: <empty>\n" +
		"\t\tSID: " + sid + "\n" +
		"\t\tiSCSI Connection State: LOGGED IN\n" +
		"\t\tiSCSI Session State: LOGGED_IN\n" +
		"\t\tInternal iscsid Session State: NO CHANGE\n" +
		"\t\t*********\n" +
		"\t\tTimeouts:\n" +
		"\t\t*********\n" +
		"\t\tRecovery Timeout: 120\n" +
		"\t\tTarget Reset Timeout: 30\n" +
		"\t\tLUN Reset Timeout: 30\n" +
		"\t\tAbort Timeout: 15\n" +
		"\t\t*****\n" +
		"\t\tCHAP:\n" +
		"\t\t*****\n" +
		"\t\tusername: <empty>\n" +
		"\t\tpassword: ********\n" +
		"\t\tusername_in: <empty>\n" +
		"\t\tpassword_in: ********\n" +
		"\t\t************************\n" +
		"\t\tNegotiated iSCSI params:\n" +
		"\t\t************************\n" +
		"\t\tHeaderDigest: None\n" +
		"\t\tDataDigest: None\n" +
		"\t\tMaxRecvDataSegmentLength: 262144\n" +
		"\t\tMaxXmitDataSegmentLength: 8192\n" +
		"\t\tFirstBurstLength: 65536\n" +
		"\t\tMaxBurstLength: 262144\n" +
		"\t\tImmediateData: Yes\n" +
		"\t\tInitialR2T: Yes\n" +
		"\t\tMaxOutstandingR2T: 1\n" +
		"\t\t************************\n" +
		"\t\tAttached SCSI devices:\n" +
		"\t\t************************\n" +
		"\t\tHost Number: " + scsiHost + "\tState: running\n" +
		"\t\tscsi" + scsiHost + " Channel 00 Id 0 Lun: 0\n" +
		"\t\tscsi" + scsiHost + " Channel 00 Id 0 Lun: 1\n" +
		"\t\t\tAttached scsi disk " + disk + "\t\tState: running\n"
}

const banner = "iSCSI Transport Class version 2.0-870\nversion 2.1.11\n"

func TestIscsiadmGolden(t *testing.T) {
	tests := []struct {
		name    string
		command string
		want    want
		// sids after the command
		sids []int
	}{
		{"list", "iscsiadm -m session", want{stdout: listA + listB}, []int{15, 16}},
		{"list with long options", "iscsiadm --mode=session", want{stdout: listA + listB}, []int{15, 16}},
		{"list detail", "iscsiadm -m session -P 3",
			want{stdout: banner + sessionTree("15", volA, "16", "sdb") + sessionTree("16", volB, "17", "sdc")}, []int{15, 16}},
		{"detail of one session", "iscsiadm -m session -r 16 -P 3",
			want{stdout: banner + sessionTree("16", volB, "17", "sdc")}, []int{15, 16}},
		{"detail level 1", "iscsiadm -m session -P 1 -r 15",
			want{stdout: strings.Split(sessionTree("15", volA, "16", "sdb"), "\t\t*********\n\t\tTimeouts:")[0]}, []int{15, 16}},
		{"invalid info level", "iscsiadm -m session -P 4",
			want{stderr: "iscsiadm: Invalid info level 4. Try 0 - 3.\n", exit: 7}, []int{15, 16}},
		{"logout one", "iscsiadm -m session -u -r 15", want{stdout: "" +
			"Logging out of session [sid: 15, target: " + iqnOf(volA) + ", portal: 10.0.0.1,3260]\n" +
			"Logout of [sid: 15, target: " + iqnOf(volA) + ", portal: 10.0.0.1,3260] successful.\n"}, []int{16}},
		{"logout one, sid first", "iscsiadm -m session -r 16 --logout", want{stdout: "" +
			"Logging out of session [sid: 16, target: " + iqnOf(volB) + ", portal: 10.0.0.1,3260]\n" +
			"Logout of [sid: 16, target: " + iqnOf(volB) + ", portal: 10.0.0.1,3260] successful.\n"}, []int{15}},
		{"logout every session without -r", "iscsiadm -m session -u", want{stdout: "" +
			"Logging out of session [sid: 15, target: " + iqnOf(volA) + ", portal: 10.0.0.1,3260]\n" +
			"Logging out of session [sid: 16, target: " + iqnOf(volB) + ", portal: 10.0.0.1,3260]\n" +
			"Logout of [sid: 15, target: " + iqnOf(volA) + ", portal: 10.0.0.1,3260] successful.\n" +
			"Logout of [sid: 16, target: " + iqnOf(volB) + ", portal: 10.0.0.1,3260] successful.\n"}, nil},
		{"unknown sid", "iscsiadm -m session -u -r 17", want{stderr: "" +
			"iscsiadm: could not read session targetname: 5\n" +
			"iscsiadm: Could not get session info for sid 17\n", exit: 22}, []int{15, 16}},
		{"sid as strtol reads it", "iscsiadm -m session -u -r ' +17'", want{stderr: "" +
			"iscsiadm: could not read session targetname: 5\n" +
			"iscsiadm: Could not get session info for sid 17\n", exit: 22}, []int{15, 16}},
		{"sid zero", "iscsiadm -m session -u -r 0",
			want{stderr: "iscsiadm: 0 is an invalid session ID or path\n", exit: 1}, []int{15, 16}},
		{"negative sid", "iscsiadm -m session -u -r -15",
			want{stderr: "iscsiadm: -15 is an invalid session ID or path\n", exit: 1}, []int{15, 16}},
		{"non-numeric sid", "iscsiadm -m session -u -r 15x",
			want{stderr: "iscsiadm: 15x is an invalid session ID or path\n", exit: 1}, []int{15, 16}},
		{"empty sid", "iscsiadm -m session -u -r ''",
			want{stderr: "iscsiadm:  is an invalid session ID or path\n", exit: 1}, []int{15, 16}},
		{"missing sid", "iscsiadm -m session -u -r", want{stderr: "" +
			"iscsiadm: option requires an argument -- 'r'\n" +
			"iscsiadm: session mode: option '-r' is not allowed/supported\n", exit: 7}, []int{15, 16}},
		// 2.1.11 prints getopt's optopt, which getopt leaves alone for an option it knows.
		{"option of another mode", "iscsiadm -m session -u -T " + iqnOf(volA),
			want{stderr: "iscsiadm: session mode: option '-\x00' is not allowed/supported\n", exit: 7}, []int{15, 16}},
		{"invalid option", "iscsiadm -m session -u -z", want{stderr: "" +
			"iscsiadm: invalid option -- 'z'\n" +
			"iscsiadm: session mode: option '-z' is not allowed/supported\n", exit: 7}, []int{15, 16}},
		{"invalid option before the mode", "iscsiadm -z -m session -u", want{stderr: "" +
			"iscsiadm: invalid option -- 'z'\n" +
			"iscsiadm: invalid option -- 'z'\n" +
			"iscsiadm: session mode: option '-z' is not allowed/supported\n", exit: 7}, []int{15, 16}},
		{"unknown long option", "iscsiadm -m session --logoff", want{stderr: "" +
			"iscsiadm: unrecognized option '--logoff'\n" +
			"iscsiadm: session mode: option '-\x00' is not allowed/supported\n", exit: 7}, []int{15, 16}},
		{"ambiguous long option", "iscsiadm -m session --log", want{stderr: "" +
			"iscsiadm: option '--log' is ambiguous; possibilities: '--login' '--loginall' '--logout' '--logoutall'\n" +
			"iscsiadm: session mode: option '-\x00' is not allowed/supported\n", exit: 7}, []int{15, 16}},
		{"unknown mode", "iscsiadm -m sessions -u",
			want{stderr: "iscsiadm: sessions mode is unkonwn/unsupported\n", exit: 7}, []int{15, 16}},
		{"no mode", "iscsiadm -u", want{stderr: "" +
			"iscsiadm: no mode specified\n" +
			"Try `iscsiadm --help' for more information.\n", exit: 7}, []int{15, 16}},
		{"no mode, invalid option", "iscsiadm -u -y", want{stderr: "" +
			"iscsiadm: invalid option -- 'y'\n" +
			"iscsiadm: unrecognized character 'y'\n", exit: 7}, []int{15, 16}},
		{"logout with an operation", "iscsiadm -m session -u -o delete",
			want{stderr: "iscsiadm: Invalid parameters. Login/logout and op passed in\n", exit: 7}, []int{15, 16}},
		{"unknown operation", "iscsiadm -m session -u -o remove",
			want{stderr: "iscsiadm: can not recognize operation: 'remove'\n", exit: 7}, []int{15, 16}},
		{"version", "iscsiadm -V", want{stdout: "iscsiadm version 2.1.11\n"}, []int{15, 16}},
		{"by path", "/usr/sbin/iscsiadm -m session", want{stdout: listA + listB}, []int{15, 16}},
		{"not simulated", "iscsiadm -m session -R",
			want{stderr: "osdr-sim: iscsiadm: -R is not simulated (simulated: -m session [-P N] [-r SID] [-u], -m node -T IQN -p PORTAL --login)\n", exit: 1},
			[]int{15, 16}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := twoSessions(t, HostOptions{})
			check(t, tt.command, onHost(t, c, tt.command), tt.want)
			if got := sids(t, c); !slices.Equal(got, tt.sids) {
				t.Errorf("sids after %q: %v, want %v", tt.command, got, tt.sids)
			}
		})
	}
}

// TestIscsiadm2_1_8Messages: before 2.1.11 iscsiadm worded its command line errors differently.
func TestIscsiadm2_1_8Messages(t *testing.T) {
	tests := []struct {
		command string
		want    want
	}{
		{"iscsiadm -m session -u -T " + iqnOf(volA), want{stderr: "iscsiadm: session mode: option '-T' is not allowed/supported\n", exit: 7}},
		{"iscsiadm -m session -z", want{stderr: "" +
			"iscsiadm: invalid option -- 'z'\n" +
			"iscsiadm: session mode: option '-?' is not allowed/supported\n", exit: 7}},
		{"iscsiadm -m discoverydb -u", want{stderr: "iscsiadm: discovery mode: option '-u' is not allowed/supported\n", exit: 7}},
		{"iscsiadm -m sessions", want{stderr: "iscsiadm: mode -1 is not yet supported\n", exit: 7}},
		{"iscsiadm -u", want{stderr: "Try `iscsiadm --help' for more information.\n", exit: 7}},
		{"iscsiadm --version", want{stdout: "iscsiadm version 2.1.8\n"}},
	}
	for _, tt := range tests {
		c := twoSessions(t, HostOptions{OpenISCSI: OpenISCSI2_1_8})
		check(t, tt.command, onHost(t, c, tt.command), tt.want)
		if got := sids(t, c); !slices.Equal(got, []int{15, 16}) {
			t.Errorf("sids after %q: %v", tt.command, got)
		}
	}
}

func TestIscsiadmNoSessions(t *testing.T) {
	c := newCluster(t, HostOptions{})
	check(t, "list", onHost(t, c, "iscsiadm -m session"), want{stderr: "iscsiadm: No active sessions.\n", exit: 21})
	check(t, "list detail", onHost(t, c, "iscsiadm -m session -P 3"), want{stderr: "iscsiadm: No active sessions.\n", exit: 21})
	check(t, "logout all", onHost(t, c, "iscsiadm -m session -u"), want{stderr: "iscsiadm: No matching sessions found\n", exit: 21})
}

// TestIscsiadmSysfsOrder: iscsiadm lists /sys/class/iscsi_session sorted by name, session10 before session9.
func TestIscsiadmSysfsOrder(t *testing.T) {
	c := newCluster(t, HostOptions{})
	ctx := testContext(t)
	must(t, c.PowerOn(ctx, domain1(), nil))
	burnSIDs(t, c, domain1(), 8)
	must(t, c.AttachVolume(ctx, domain1(), volume(volA, "/dev/vdb")))
	must(t, c.AttachVolume(ctx, domain1(), volume(volB, "/dev/vdc")))
	check(t, "list", onHost(t, c, "iscsiadm -m session"), want{stdout: "" +
		"tcp: [10] 10.0.0.1:3260,1 " + iqnOf(volB) + " (non-flash)\n" +
		"tcp: [9] 10.0.0.1:3260,1 " + iqnOf(volA) + " (non-flash)\n"})
}

func TestIscsiadmLogin(t *testing.T) {
	loginLine := "Login to [iface: default, target: " + iqnOf(volA) + ", portal: 10.0.0.1,3260] successful.\n"
	loggingIn := "Logging in to [iface: default, target: " + iqnOf(volA) + ", portal: 10.0.0.1,3260]\n"
	login := "iscsiadm -m node -T " + iqnOf(volA) + " -p 10.0.0.1:3260 --login"
	tests := []struct {
		name     string
		release  OpenISCSI
		command  string
		exported bool
		want     want
		sids     []int
	}{
		{"2.1.11", OpenISCSI2_1_11, login, true, want{stdout: loginLine}, []int{16, 17}},
		{"2.1.8 announces the login", OpenISCSI2_1_8, login, true, want{stdout: loggingIn + loginLine}, []int{16, 17}},
		{"portal without port, short option", OpenISCSI2_1_11, "iscsiadm -m node -T " + iqnOf(volA) + " -p 10.0.0.1 -l", true,
			want{stdout: loginLine}, []int{16, 17}},
		{"target not exported", OpenISCSI2_1_11, login, false, want{stderr: "" +
			"iscsiadm: Could not login to [iface: default, target: " + iqnOf(volA) + ", portal: 10.0.0.1,3260].\n" +
			"iscsiadm: initiator reported error (19 - encountered non-retryable iSCSI login failure)\n" +
			"iscsiadm: Could not log into all portals\n", exit: 19}, []int{16}},
		{"2.1.8, target not exported", OpenISCSI2_1_8, login, false, want{stdout: loggingIn, stderr: "" +
			"iscsiadm: Could not login to [iface: default, target: " + iqnOf(volA) + ", portal: 10.0.0.1,3260].\n" +
			"iscsiadm: initiator reported error (19 - encountered non-retryable iSCSI login failure)\n" +
			"iscsiadm: Could not log into all portals\n", exit: 19}, []int{16}},
		{"no node record", OpenISCSI2_1_11, "iscsiadm -m node -T iqn.2010-10.org.openstack:volume-none -p 10.0.0.1:3260 --login", true,
			want{stderr: "iscsiadm: No records found\n", exit: 21}, []int{16}},
		{"wrong portal", OpenISCSI2_1_11, "iscsiadm -m node -T " + iqnOf(volA) + " -p 10.0.0.2:3260 --login", true,
			want{stderr: "iscsiadm: No records found\n", exit: 21}, []int{16}},
		{"login and logout", OpenISCSI2_1_11, login + " -u", true,
			want{stderr: "iscsiadm: Invalid parameters. Both login and logout passed in\n", exit: 7}, []int{16}},
		{"sid in node mode", OpenISCSI2_1_11, login + " -r 16", true,
			want{stderr: "iscsiadm: node mode: option '-\x00' is not allowed/supported\n", exit: 7}, []int{16}},
		{"2.1.8, sid in node mode", OpenISCSI2_1_8, login + " -r 16", true,
			want{stderr: "iscsiadm: node mode: option '-r' is not allowed/supported\n", exit: 7}, []int{16}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := twoSessions(t, HostOptions{OpenISCSI: tt.release})
			check(t, "logout", onHost(t, c, "iscsiadm -m session -u -r 15"), want{stdout: "" +
				"Logging out of session [sid: 15, target: " + iqnOf(volA) + ", portal: 10.0.0.1,3260]\n" +
				"Logout of [sid: 15, target: " + iqnOf(volA) + ", portal: 10.0.0.1,3260] successful.\n"})
			c.SetTargetExported(iqnOf(volA), tt.exported)
			check(t, tt.command, onHost(t, c, tt.command), tt.want)
			if got := sids(t, c); !slices.Equal(got, tt.sids) {
				t.Errorf("sids %v, want %v", got, tt.sids)
			}
		})
	}
}

func TestIscsiadmLoginTwice(t *testing.T) {
	c := twoSessions(t, HostOptions{})
	check(t, "login", onHost(t, c, "iscsiadm -m node -T "+iqnOf(volA)+" -p 10.0.0.1:3260 --login"), want{stderr: "" +
		"iscsiadm: default: 1 session requested, but 1 already present.\n" +
		"iscsiadm: Could not log into all portals\n", exit: 15})
	if got := sids(t, c); !slices.Equal(got, []int{15, 16}) {
		t.Errorf("sids %v", got)
	}
}

// TestIscsiadmParsedByOsdr: osdr's own readers of iscsiadm accept every answer of the simulation.
func TestIscsiadmParsedByOsdr(t *testing.T) {
	c := twoSessions(t, HostOptions{OpenISCSI: OpenISCSI2_1_8})
	list := onHost(t, c, iscsi.ListSessions().String())
	listed, err := iscsi.SessionsFromResult(string(list.stdout), string(list.stderr), list.exit)
	must(t, err)
	if len(listed) != 2 || listed[0].SID.Int() != 15 || listed[0].IQN != iqnOf(volA) {
		t.Errorf("listed %v", listed)
	}
	detail := onHost(t, c, iscsi.ListSessionsDetail().String())
	details, err := iscsi.SessionDetailsFromResult(string(detail.stdout), string(detail.stderr), detail.exit)
	must(t, err)
	if len(details) != 2 || !details[1].LoggedIn() || details[1].Devices[1].Disk != "sdc" {
		t.Errorf("details %+v", details)
	}
	sid, err := iscsi.NewSID(15)
	must(t, err)
	logout, err := iscsi.Logout(sid)
	must(t, err)
	out := onHost(t, c, logout.String())
	must(t, logout.Check(out.exit, string(out.stderr)))
	must(t, iscsi.ParseLogout(string(out.stdout), sid, iqnOf(volA)))
	target, err := iscsi.ParseTarget(iqnOf(volA), portal)
	must(t, err)
	login, err := iscsi.Login(target)
	must(t, err)
	out = onHost(t, c, login.String())
	must(t, login.Check(out.exit, string(out.stderr)))
	must(t, iscsi.ParseLogin(string(out.stdout), target))
	none := onHost(t, newCluster(t, HostOptions{}), iscsi.ListSessions().String())
	if listed, err := iscsi.SessionsFromResult(string(none.stdout), string(none.stderr), none.exit); err != nil || len(listed) != 0 {
		t.Errorf("no sessions read as %v, %v", listed, err)
	}
}

// TestLogoutTakesTheDiskAway: the guest reads its volume through the session; logging out breaks it and
// logging in again does not mend it (QEMU holds the old device), only a restart of the domain does.
func TestLogoutTakesTheDiskAway(t *testing.T) {
	c := newCluster(t, HostOptions{})
	ctx := testContext(t)
	must(t, c.AddGuest(ctx, GuestSpec{InstanceUUID: inst1, User: "root", Fstab: []FstabEntry{{Device: "/dev/vdb", MountPoint: "/data"}}}))
	must(t, c.PowerOn(ctx, domain1(), nil))
	must(t, c.AttachVolume(ctx, domain1(), volume(volA, "/dev/vdb")))
	onGuest(t, c, inst1, "reboot")
	waitStage(t, c, inst1, StageUp)
	check(t, "write", onGuest(t, c, inst1, "echo stamp-1 > /data/osdr-stamp"), want{})
	check(t, "logout", onHost(t, c, "iscsiadm -m session -u -r 1"), want{stdout: "" +
		"Logging out of session [sid: 1, target: " + iqnOf(volA) + ", portal: 10.0.0.1,3260]\n" +
		"Logout of [sid: 1, target: " + iqnOf(volA) + ", portal: 10.0.0.1,3260] successful.\n"})
	eio := want{stderr: "cat: /data/osdr-stamp: Input/output error\n", exit: 1}
	check(t, "read", onGuest(t, c, inst1, "cat /data/osdr-stamp"), eio)
	check(t, "write", onGuest(t, c, inst1, "echo stamp-2 > /data/osdr-stamp"),
		want{stderr: "bash: line 1: /data/osdr-stamp: Input/output error\n", exit: 1})
	check(t, "still listed", onGuest(t, c, inst1, "test -b /dev/vdb"), want{})
	check(t, "login", onHost(t, c, "iscsiadm -m node -T "+iqnOf(volA)+" -p "+portal+" --login"),
		want{stdout: "Login to [iface: default, target: " + iqnOf(volA) + ", portal: 10.0.0.1,3260] successful.\n"})
	if got := sids(t, c); !slices.Equal(got, []int{2}) {
		t.Errorf("sids after login %v, want [2]", got)
	}
	check(t, "read after login", onGuest(t, c, inst1, "cat /data/osdr-stamp"), eio)
	must(t, c.PowerOff(ctx, domain1()))
	check(t, "virsh start", onHost(t, c, "virsh start instance-00000001"), want{stdout: "Domain 'instance-00000001' started\n\n"})
	waitStage(t, c, inst1, StageUp)
	check(t, "read after restart", onGuest(t, c, inst1, "cat /data/osdr-stamp"), want{stdout: "stamp-1\n"})
}
