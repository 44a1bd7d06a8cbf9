package recover

import "testing"

func TestFstabNamesAReattachedDevice(t *testing.T) {
	fstab := "# comment /dev/vdb\nUUID=abc / ext4 defaults 0 1\n/dev/vdc1 /data ext4 defaults 0 2\n/dev/vdbb /x ext4 defaults 0 2\n"
	for _, tc := range []struct {
		devices []string
		want    string
		ok      bool
	}{
		{[]string{"/dev/vdb"}, "", false},
		{[]string{"/dev/vdb", "/dev/vdc"}, "/dev/vdc", true},
	} {
		got, ok := fstabNames(fstab, tc.devices)
		if got != tc.want || ok != tc.ok {
			t.Errorf("fstabNames(%v) = %q, %v; want %q, %v", tc.devices, got, ok, tc.want, tc.ok)
		}
	}
	if dir, ok := mountPointOf("/dev/vdc1 on /data type ext4 (rw)\n", "/dev/vdc"); !ok || dir != "/data" {
		t.Errorf("mountPointOf = %q, %v", dir, ok)
	}
}
