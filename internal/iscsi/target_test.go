package iscsi

import (
	"net/netip"
	"strings"
	"testing"
)

func TestCheckName(t *testing.T) {
	valid := []string{
		volumeIQN,
		"iqn.2010-10.org.openstack",
		"iqn.2003-01.org.linux-iscsi.host.x8664:sn.4b3f20f1c2a8",
		"iqn.1992-08.com.netapp:sn.0123456789:vs.3",
		"iqn.2000-01.com.synology:DiskStation.Target-1.abc",
		"iqn.1993-08.org.debian:01:abcdef12345",
		"eui.02004567A425678D",
		"naa.52004567BA64678D",
		"naa.6001405a1b2c3d4e5f60718293a4b5c6",
		"iqn.2010-10.org.openstack:" + strings.Repeat("a", maxNameLen-len("iqn.2010-10.org.openstack:")),
	}
	for _, name := range valid {
		if err := CheckName(name); err != nil {
			t.Errorf("CheckName(%q) = %v, want nil", name, err)
		}
	}
	invalid := []string{
		"",
		"iqn",
		"iqn.",
		"IQN.2010-10.org.openstack:volume-1",
		"iqn.10-10.org.openstack:volume-1",
		"iqn.2010-13.org.openstack:volume-1",
		"iqn.2010-00.org.openstack:volume-1",
		"iqn.2010-1a.org.openstack:volume-1",
		"iqn.2010_10.org.openstack:volume-1",
		"iqn.2010-10",
		"iqn.2010-10.",
		"iqn.2010-10.org..openstack",
		"iqn.2010-10.org.openstack.",
		"iqn.2010-10.org.openstack:",
		"iqn.2010-10.:volume-1",
		"iqn.2010-10.org.open_stack:volume-1",
		"iqn.2010-10.org.openstack:volume 1",
		"iqn.2010-10.org.openstack:volume-1;reboot",
		"iqn.2010-10.org.openstack:volume-$(reboot)",
		"iqn.2010-10.org.openstack:volume-`id`",
		"iqn.2010-10.org.openstack:volume-1'",
		"iqn.2010-10.org.openstack:volume-1\n",
		"iqn.2010-10.org.openstack:volume-1\x00",
		"iqn.2010-10.org.openstack:volume_1",
		"iqn.2010-10.org.openstack:volumé",
		"iqn.2010-10.org.openstack:*",
		"-u",
		"eui.02004567A425678",
		"eui.02004567A425678DD",
		"eui.02004567A425678G",
		"naa.52004567BA64678D0",
		"naa.6001405a1b2c3d4e5f60718293a4b5c",
		"iqn.2010-10.org.openstack:" + strings.Repeat("a", maxNameLen-len("iqn.2010-10.org.openstack:")+1),
	}
	for _, name := range invalid {
		if err := CheckName(name); err == nil {
			t.Errorf("CheckName(%q) = nil, want an error", name)
		}
	}
}

func TestParsePortal(t *testing.T) {
	v4 := netip.MustParseAddr("10.0.0.1")
	v6 := netip.MustParseAddr("fd00::1")
	valid := []struct {
		in   string
		want Portal
		text string
	}{
		{"10.0.0.1:3260", Portal{v4, 3260}, "10.0.0.1:3260"},
		{"10.0.0.1", Portal{v4, 3260}, "10.0.0.1:3260"},
		{"10.0.0.1:860", Portal{v4, 860}, "10.0.0.1:860"},
		{"10.0.0.1:65535", Portal{v4, 65535}, "10.0.0.1:65535"},
		{"[fd00::1]:3260", Portal{v6, 3260}, "[fd00::1]:3260"},
		{"[fd00::1]", Portal{v6, 3260}, "[fd00::1]:3260"},
		{"[fd00:0000:0000:0000:0000:0000:0000:0001]:3260", Portal{v6, 3260}, "[fd00::1]:3260"},
		{"[::ffff:10.0.0.1]:3260", Portal{netip.MustParseAddr("::ffff:10.0.0.1"), 3260}, "[::ffff:10.0.0.1]:3260"},
	}
	for _, tt := range valid {
		got, err := ParsePortal(tt.in)
		if err != nil || got != tt.want || got.String() != tt.text {
			t.Errorf("ParsePortal(%q) = %v (%s), %v; want %v (%s)", tt.in, got, got, err, tt.want, tt.text)
		}
	}
	invalid := []string{
		"",
		":3260",
		"fd00::1",
		"fd00::1:3260",
		"::1",
		"10.0.0.1:",
		"10.0.0.1:0",
		"10.0.0.1:65536",
		"10.0.0.1:03260",
		"10.0.0.1:+3260",
		"10.0.0.1:-1",
		"10.0.0.1:3260 ",
		"10.0.0.1:3260;reboot",
		"010.0.0.1:3260",
		"10.0.0:3260",
		"storage.example.com:3260",
		"[10.0.0.1]:3260",
		"[fd00::1]3260",
		"[fd00::1]:",
		"[fd00::1",
		"[[fd00::1]]:3260",
		"[fe80::1%eth0]:3260",
		"0.0.0.0:3260",
		"[::]:3260",
		"224.0.0.1:3260",
		"-p",
	}
	for _, in := range invalid {
		if got, err := ParsePortal(in); err == nil {
			t.Errorf("ParsePortal(%q) = %v, want an error", in, got)
		}
	}
}

func TestTargetConstructors(t *testing.T) {
	target, err := ParseTarget(volumeIQN, "[fd00::1]")
	if err != nil {
		t.Fatal(err)
	}
	if target.IQN() != volumeIQN || target.Portal() != (Portal{netip.MustParseAddr("fd00::1"), 3260}) {
		t.Fatalf("ParseTarget = %v %v", target.IQN(), target.Portal())
	}
	good := Portal{netip.MustParseAddr("10.0.0.1"), 3260}
	for _, tt := range []struct {
		iqn    string
		portal Portal
	}{
		{"", good},
		{"iqn.2010-10.org.openstack:a b", good},
		{volumeIQN, Portal{}},
		{volumeIQN, Portal{IP: good.IP}},
		{volumeIQN, Portal{netip.MustParseAddr("fe80::1%eth0"), 3260}},
		{volumeIQN, Portal{netip.IPv4Unspecified(), 3260}},
	} {
		if target, err := NewTarget(tt.iqn, tt.portal); err == nil {
			t.Errorf("NewTarget(%q, %v) = %v, want an error", tt.iqn, tt.portal, target)
		}
	}
	if _, err := ParseTarget(volumeIQN, "fd00::1"); err == nil || !strings.Contains(err.Error(), "brackets") {
		t.Errorf("ParseTarget with a bare IPv6 portal: %v, want an error about brackets", err)
	}
}
