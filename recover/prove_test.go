package recover

import (
	"errors"
	"strings"
	"testing"

	"github.com/osdr/osdr/internal/iscsi"
)

func TestTheHostSideOfAProofNeedsEachVolumesSessionAndRunningDisk(t *testing.T) {
	vol := func(id string, lun int) Attachment {
		return Attachment{VolumeID: id, IQN: "iqn.2010-10.org.openstack:volume-" + id, Portal: "10.0.0.5:3260", LUN: lun, DriverVolumeType: "iscsi"}
	}
	session := func(id, conn, kernel string, devices ...iscsi.SCSIDevice) iscsi.SessionDetail {
		return iscsi.SessionDetail{IQN: "iqn.2010-10.org.openstack:volume-" + id, ConnectionState: conn, SessionState: kernel, Devices: devices}
	}
	up := func(id string, devices ...iscsi.SCSIDevice) iscsi.SessionDetail {
		return session(id, iscsi.ConnectionLoggedIn, iscsi.SessionLoggedIn, devices...)
	}
	for _, tc := range []struct {
		name     string
		sessions []iscsi.SessionDetail
		disks    string // the proof, when it holds
		missing  string // what the failed proof says
	}{
		{name: "both there", disks: "sdb sdc",
			sessions: []iscsi.SessionDetail{up("a", iscsi.SCSIDevice{LUN: 1, Disk: "sdb", State: "running"}), up("b", iscsi.SCSIDevice{LUN: 0}, iscsi.SCSIDevice{LUN: 1, Disk: "sdc", State: "running"})}},
		{name: "no session", missing: "volume b: no iSCSI session of iqn.2010-10.org.openstack:volume-b on compute-1",
			sessions: []iscsi.SessionDetail{up("a", iscsi.SCSIDevice{LUN: 1, Disk: "sdb", State: "running"})}},
		{name: "session not logged in", missing: "TRANSPORT WAIT/FAILED, not logged in",
			sessions: []iscsi.SessionDetail{up("a", iscsi.SCSIDevice{LUN: 1, Disk: "sdb", State: "running"}), session("b", "TRANSPORT WAIT", "FAILED")}},
		{name: "LUN without disk", missing: "LUN 1 of iqn.2010-10.org.openstack:volume-b has no disk",
			sessions: []iscsi.SessionDetail{up("a", iscsi.SCSIDevice{LUN: 1, Disk: "sdb", State: "running"}), up("b", iscsi.SCSIDevice{LUN: 1})}},
		{name: "disk offline", missing: "disk sdc (LUN 1 of iqn.2010-10.org.openstack:volume-b) is offline",
			sessions: []iscsi.SessionDetail{up("a", iscsi.SCSIDevice{LUN: 1, Disk: "sdb", State: "running"}), up("b", iscsi.SCSIDevice{LUN: 1, Disk: "sdc", State: "offline"})}},
		{name: "other LUN only", missing: "the session of iqn.2010-10.org.openstack:volume-b exposes no LUN 1",
			sessions: []iscsi.SessionDetail{up("a", iscsi.SCSIDevice{LUN: 1, Disk: "sdb", State: "running"}), up("b", iscsi.SCSIDevice{LUN: 0})}},
		{name: "a second, healthy session of the target counts", disks: "sdb sdd",
			sessions: []iscsi.SessionDetail{up("a", iscsi.SCSIDevice{LUN: 1, Disk: "sdb", State: "running"}), session("b", "FREE", "FREE"), up("b", iscsi.SCSIDevice{LUN: 1, Disk: "sdd", State: "running"})}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			disks, err := volumesOnHost([]Attachment{vol("a", 1), vol("b", 1)}, tc.sessions, "compute-1")
			if tc.missing == "" {
				if err != nil || strings.Join(disks, " ") != tc.disks {
					t.Fatalf("got %v, %v; want disks %s", disks, err, tc.disks)
				}
				return
			}
			var failed *proofFailedError
			if !errors.As(err, &failed) || !strings.Contains(failed.why, tc.missing) {
				t.Fatalf("got %v, %v; want a failed proof saying %q", disks, err, tc.missing)
			}
		})
	}
}
