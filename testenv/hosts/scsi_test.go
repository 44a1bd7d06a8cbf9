package hosts

import (
	"testing"

	"github.com/osdr/osdr/testenv/virt"
)

// A guest on the scsi bus sees its disks as sdX (major 8, 16 minors apart), its root sda, and mounts its fstab
// volume at /dev/sdb; a virtio guest's names stay vdX.
func TestSCSIGuestNamesItsDisksSdX(t *testing.T) {
	c := newCluster(t, HostOptions{})
	ctx := testContext(t)
	must(t, c.AddGuest(ctx, GuestSpec{InstanceUUID: inst1, DiskBus: "scsi", Fstab: []FstabEntry{{Device: "/dev/sdb", MountPoint: "/data"}}}))
	must(t, c.PowerOn(ctx, domain1(), []virt.VolumeConnection{volume(volA, "/dev/sdb")}))
	waitStage(t, c, inst1, StageUp)
	for _, tc := range []struct {
		command string
		want    want
	}{
		{"lsblk", want{stdout: "" +
			"NAME   MAJ:MIN RM  SIZE RO TYPE MOUNTPOINTS\n" +
			"sda      8:0    0    1G  0 disk \n" +
			"└─sda1   8:1    0 1023M  0 part /\n" +
			"sdb      8:16   0    1G  0 disk /data\n"}},
		{"test -b /dev/sdb", want{}},
		{"test -b /dev/vdb", want{exit: 1}},
	} {
		check(t, tc.command, onGuest(t, c, inst1, tc.command), tc.want)
	}
	if err := c.AddGuest(ctx, GuestSpec{InstanceUUID: inst2, DiskBus: "ide"}); err == nil {
		t.Error("a guest on an unknown bus was accepted")
	}
	if err := c.AddGuest(ctx, GuestSpec{InstanceUUID: inst2, DiskBus: "scsi", Fstab: []FstabEntry{{Device: "/dev/sda", MountPoint: "/data"}}}); err == nil {
		t.Error("an fstab entry on the scsi guest's root disk was accepted")
	}
}
