package suites

import (
	"reflect"
	"testing"
)

func TestFstabMountPointsAndMountedAt(t *testing.T) {
	fstab := `# /etc/fstab: static file system information.
UUID=0b1e-1 / ext4 errors=remount-ro 0 1
/dev/vdb /data ext4 defaults,nofail 0 2
/dev/vdc1   /srv/db xfs defaults 0 2
/dev/vdd none swap sw 0 0
/dev/vde /backup ext4 noauto 0 2
`
	if got, want := fstabMountPoints(fstab), []string{"/", "/data", "/srv/db"}; !reflect.DeepEqual(got, want) {
		t.Errorf("fstabMountPoints = %v, want %v", got, want)
	}
	mount := `/dev/vda1 on / type ext4 (rw,relatime)
/dev/vdb on /data type ext4 (rw,relatime)
proc on /proc type proc (rw,nosuid,nodev,noexec,relatime)
`
	for mp, want := range map[string]bool{"/": true, "/data": true, "/srv/db": false, "/dat": false} {
		if got := mountedAt(mount, mp); got != want {
			t.Errorf("mountedAt(%q) = %v, want %v", mp, got, want)
		}
	}
}
