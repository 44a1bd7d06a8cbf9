package iscsi

import (
	"net/netip"
	"reflect"
	"strings"
	"testing"
)

const otherIQN = "iqn.2010-10.org.openstack:volume-8d0b6c52-3e1f-4a7c-b9d2-5f6e7a8b9c0d"

// sessionBlock is what open-iscsi 2.1.11's session_info_print_tree prints for one session at -P 3 after its
// portal lines, with the printf formats of session_info.c and iface.c filled in.
func sessionBlock(sid, ifaceIP, states, devices string) string {
	return "" +
		"\t\t**********\n" +
		"\t\tInterface:\n" +
		"\t\t**********\n" +
		"\t\tIface Name: default\n" +
		"\t\tIface Transport: tcp\n" +
		"\t\tIface Initiatorname: iqn.1993-08.org.debian:01:7f3a9c2b1d4e\n" +
		"\t\tIface IPaddress: " + ifaceIP + "\n" +
		"\t\tIface HWaddress: <empty>\n" +
		"\t\tIface Netdev: <empty>\n" +
		"\t\tSID: " + sid + "\n" +
		states +
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
		"\t\tMaxXmitDataSegmentLength: 65536\n" +
		"\t\tFirstBurstLength: 65536\n" +
		"\t\tMaxBurstLength: 262144\n" +
		"\t\tImmediateData: Yes\n" +
		"\t\tInitialR2T: Yes\n" +
		"\t\tMaxOutstandingR2T: 1\n" +
		"\t\t************************\n" +
		"\t\tAttached SCSI devices:\n" +
		"\t\t************************\n" +
		devices
}

const loggedIn = "" +
	"\t\tiSCSI Connection State: LOGGED IN\n" +
	"\t\tiSCSI Session State: LOGGED_IN\n" +
	"\t\tInternal iscsid Session State: NO CHANGE\n"

// detailGolden holds, in order: a tgt volume (LUN 0 is the controller, the disk at LUN 1) with the lines
// open-iscsi 2.1.11 prints for `-m session -P 3`; a second session of the same target and portal, which iscsiadm announces with an
// empty line; an IPv6 LIO volume (disk at LUN 0) whose connection is down after a power cut, its current
// portal as the kernel writes it (uncompressed); a session whose SCSI host could not be found.
var detailGolden = "" +
	"iSCSI Transport Class version 2.0-870\n" +
	"version 2.1.11\n" +
	"Target: " + volumeIQN + " (non-flash)\n" +
	"\tCurrent Portal: 10.0.0.1:3260,1\n" +
	"\tPersistent Portal: 10.0.0.1:3260,1\n" +
	sessionBlock("15", "10.0.0.21", loggedIn, ""+
		"\t\tHost Number: 2\tState: running\n"+
		"\t\tscsi2 Channel 00 Id 0 Lun: 0\n"+
		"\t\tscsi2 Channel 00 Id 0 Lun: 1\n"+
		"\t\t\tAttached scsi disk sdb\t\tState: running\n") +
	"\n" +
	sessionBlock("16", "10.0.0.21", loggedIn, ""+
		"\t\tHost Number: 3\tState: running\n"+
		"\t\tscsi3 Channel 00 Id 0 Lun: 0\n"+
		"\t\tscsi3 Channel 00 Id 0 Lun: 1\n"+
		"\t\t\tAttached scsi disk sdc\t\tState: running\n") +
	"Target: " + otherIQN + " (non-flash)\n" +
	"\tCurrent Portal: [fd00:0000:0000:0000:0000:0000:0000:0001]:3260,1\n" +
	"\tPersistent Portal: [fd00::1]:3260,1\n" +
	sessionBlock("17", "[fd00::21]", ""+
		"\t\tiSCSI Connection State: TRANSPORT WAIT\n"+
		"\t\tiSCSI Session State: FAILED\n"+
		"\t\tInternal iscsid Session State: REOPEN\n", ""+
		"\t\tHost Number: 4\tState: running\n"+
		"\t\tscsi4 Channel 00 Id 0 Lun: 0\n"+
		"\t\t\tAttached scsi disk sdaa\t\tState: blocked\n") +
	"Target: eui.02004567A425678D (non-flash)\n" +
	"\tCurrent Portal: 10.0.0.2:3260,1\n" +
	"\tPersistent Portal: 10.0.0.3:3260,1\n" +
	sessionBlock("18", "10.0.0.21", ""+
		"\t\tiSCSI Connection State: Unknown\n"+
		"\t\tiSCSI Session State: Unknown\n"+
		"\t\tInternal iscsid Session State: Unknown\n",
		"\t\tUnavailable\n")

func TestParseSessionDetail(t *testing.T) {
	v4 := Portal{netip.MustParseAddr("10.0.0.1"), 3260}
	v6 := Portal{netip.MustParseAddr("fd00::1"), 3260}
	want := []SessionDetail{
		{SID: SID{15}, IQN: volumeIQN, CurrentPortal: v4, PersistentPortal: v4, TPGT: 1,
			ConnectionState: "LOGGED IN", SessionState: "LOGGED_IN",
			Devices: []SCSIDevice{{LUN: 0}, {LUN: 1, Disk: "sdb", State: "running"}}},
		{SID: SID{16}, IQN: volumeIQN, CurrentPortal: v4, PersistentPortal: v4, TPGT: 1,
			ConnectionState: "LOGGED IN", SessionState: "LOGGED_IN",
			Devices: []SCSIDevice{{LUN: 0}, {LUN: 1, Disk: "sdc", State: "running"}}},
		{SID: SID{17}, IQN: otherIQN, CurrentPortal: v6, PersistentPortal: v6, TPGT: 1,
			ConnectionState: "TRANSPORT WAIT", SessionState: "FAILED",
			Devices: []SCSIDevice{{LUN: 0, Disk: "sdaa", State: "blocked"}}},
		{SID: SID{18}, IQN: "eui.02004567A425678D", TPGT: 1,
			CurrentPortal:    Portal{netip.MustParseAddr("10.0.0.2"), 3260},
			PersistentPortal: Portal{netip.MustParseAddr("10.0.0.3"), 3260},
			ConnectionState:  "Unknown", SessionState: "Unknown"},
	}
	for _, tt := range []struct{ name, stdout string }{
		{"golden", detailGolden},
		{"without the version banner", strings.SplitN(detailGolden, "\n", 3)[2]},
		{"without the last newline", strings.TrimSuffix(detailGolden, "\n")},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseSessionDetail(tt.stdout)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("ParseSessionDetail =\n%+v\nwant\n%+v", got, want)
			}
			if !got[0].LoggedIn() || !got[1].LoggedIn() || got[2].LoggedIn() || got[3].LoggedIn() {
				t.Fatal("LoggedIn() is wrong")
			}
		})
	}
	if got, err := ParseSessionDetail(""); err != nil || got != nil {
		t.Fatalf(`ParseSessionDetail("") = %v, %v`, got, err)
	}
}

func TestParseSessionDetailRefusesWhatItCannotPlace(t *testing.T) {
	firstTarget := "Target: " + volumeIQN + " (non-flash)\n"
	tests := []struct {
		name, old, new, wantInError string
	}{
		{"missing SID", "\t\tSID: 15\n", "", `key "iSCSI Connection State" does not belong in section "Interface:"`},
		{"missing SID and states", "\t\tSID: 15\n" + loggedIn, "", "has no SID line"},
		{"SID twice", "\t\tSID: 16\n", "\t\tSID: 15\n", "sid 15 listed twice"},
		{"SID zero", "\t\tSID: 15\n", "\t\tSID: 0\n", "session id"},
		{"missing state", "\t\tiSCSI Session State: FAILED\n", "", "state lines"},
		{"unknown state", "iSCSI Connection State: LOGGED IN", "iSCSI Connection State: LOGGED_IN",
			`unexpected iSCSI Connection State "LOGGED_IN"`},
		{"unknown interface key", "\t\tIface Netdev: <empty>\n\t\tSID: 15\n", "\t\tIface Nickname: x\n\t\tSID: 15\n", `key "Iface Nickname"`},
		{"spaces for tabs", "\tCurrent Portal: 10.0.0.1", "    Current Portal: 10.0.0.1", "line 4"},
		{"five tabs", "\t\t\tAttached scsi disk sdb", "\t\t\t\t\tAttached scsi disk sdb", "indented 5 tabs"},
		{"empty line right after Target", firstTarget + "\tCurrent Portal: 10.0.0.1:3260,1\n\tPersistent Portal: 10.0.0.1:3260,1\n",
			firstTarget + "\n", "no previous session"},
		{"no Persistent Portal", "\tPersistent Portal: 10.0.0.1:3260,1\n", "", "Persistent Portal"},
		{"Persistent Portal alone", "\tCurrent Portal: 10.0.0.1:3260,1\n", "", "not right after"},
		{"tpgt differs", "\tPersistent Portal: 10.0.0.1:3260,1\n", "\tPersistent Portal: 10.0.0.1:3260,2\n", "differs"},
		{"IPv6 unbracketed", "[fd00::1]:3260,1", "fd00::1:3260,1", "dotted address"},
		{"disk before its LUN", "\t\tscsi2 Channel 00 Id 0 Lun: 0\n\t\tscsi2 Channel 00 Id 0 Lun: 1\n",
			"", "outside a session's device list"},
		{"LUN with a sign", "scsi2 Channel 00 Id 0 Lun: 1\n", "scsi2 Channel 00 Id 0 Lun: +1\n", "Lun: L"},
		{"disk name", "disk sdb\t", "disk sd/b\t", "Attached scsi disk NAME"},
		{"host line", "Host Number: 2\tState: running", "Host Number: 2 State: running", "Host Number"},
		{"banner after a target", "\tCurrent Portal: 10.0.0.2", "version 2.1.11\n\tCurrent Portal: 10.0.0.2", "banner"},
		{"stderr on stdout", "Target: eui.", "iscsiadm: No active sessions.\nTarget: eui.", "not a banner"},
		{"target without session", "Target: eui.02004567A425678D (non-flash)\n",
			"Target: eui.02004567A425678D (non-flash)\nTarget: naa.52004567BA64678D (non-flash)\n", "no session"},
		{"bad target name", "Target: eui.02004567A425678D", "Target: eui.X", "iSCSI name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stdout := strings.Replace(detailGolden, tt.old, tt.new, 1)
			if stdout == detailGolden {
				t.Fatalf("the mutation %q -> %q does not apply", tt.old, tt.new)
			}
			got, err := ParseSessionDetail(stdout)
			if err == nil {
				t.Fatalf("accepted as %+v", got)
			}
			if !strings.Contains(err.Error(), tt.wantInError) {
				t.Fatalf("error %q does not contain %q", err, tt.wantInError)
			}
		})
	}
}

func TestParseSessionDetailDoesNotEchoCHAPLines(t *testing.T) {
	stdout := strings.Replace(detailGolden, "\t\tpassword: ********\n", "\t\tpassw0rd hunter2\n", 1)
	_, err := ParseSessionDetail(stdout)
	if err == nil || strings.Contains(err.Error(), "hunter2") || !strings.Contains(err.Error(), "CHAP section") {
		t.Fatalf("error %v: want a refusal that does not show the CHAP line", err)
	}
}

func TestParseSessionDetailTargetWithoutSessionAtEnd(t *testing.T) {
	_, err := ParseSessionDetail("Target: " + volumeIQN + " (non-flash)\n")
	if err == nil || !strings.Contains(err.Error(), "has no session") {
		t.Fatalf("error %v, want one about a target without session", err)
	}
}

func TestSessionDetailsFromResult(t *testing.T) {
	got, err := SessionDetailsFromResult(detailGolden, "", 0)
	if err != nil || len(got) != 4 {
		t.Fatalf("SessionDetailsFromResult(golden) = %d sessions, %v", len(got), err)
	}
	if got, err := SessionDetailsFromResult("", "iscsiadm: No active sessions.\n", 21); err != nil || got != nil {
		t.Fatalf("no sessions: %v, %v", got, err)
	}
	_, err = SessionDetailsFromResult("", "iscsiadm: could not connect to iscsid\n", 20)
	if !IsISCSIDUnreachable(err) || !strings.Contains(err.Error(), "iscsiadm -m session -P 3") {
		t.Fatalf("exit 20: %v, want an *ExitError naming the -P 3 command", err)
	}
}

func FuzzParseSessionDetail(f *testing.F) {
	f.Add(detailGolden)
	f.Add("Target: " + volumeIQN + " (non-flash)\n\tCurrent Portal: 10.0.0.1:3260,1\n\tPersistent Portal: 10.0.0.1:3260,1\n" +
		"\t\tSID: 1\n" + loggedIn + "\t\tAttached SCSI devices:\n\t\tscsi2 Channel 00 Id 0 Lun: 1\n" +
		"\t\t\tAttached scsi disk sdb\t\tState: running\n\n\t\tSID: 2\n" + loggedIn)
	f.Fuzz(func(t *testing.T, stdout string) {
		sessions, err := ParseSessionDetail(stdout)
		if err != nil {
			return
		}
		seen := map[SID]bool{}
		for _, s := range sessions {
			if s.SID.Int() <= 0 || seen[s.SID] || CheckName(s.IQN) != nil || !s.CurrentPortal.IP.IsValid() ||
				!s.PersistentPortal.IP.IsValid() || s.ConnectionState == "" || s.SessionState == "" {
				t.Fatalf("accepted an incomplete or duplicate session %+v from %q", s, stdout)
			}
			seen[s.SID] = true
		}
	})
}
