package hosts

import (
	"regexp"
	"slices"
	"testing"
	"time"

	"github.com/osdr/osdr/testenv/virt"
)

var dataFstab = []FstabEntry{{Device: "/dev/vdb", MountPoint: "/data"}}

// guestWithData is instance 1 booted with volume A at /dev/vdb, mounted at /data by its fstab.
func guestWithData(t *testing.T, spec GuestSpec) *Cluster {
	t.Helper()
	c := newCluster(t, HostOptions{})
	ctx := testContext(t)
	spec.InstanceUUID = inst1
	spec.Fstab = dataFstab
	must(t, c.AddGuest(ctx, spec))
	must(t, c.PowerOn(ctx, domain1(), []virt.VolumeConnection{volume(volA, "/dev/vdb")}))
	info := waitStage(t, c, inst1, StageUp)
	if !slices.Equal(info.Mounted, []string{"/data"}) {
		t.Fatalf("mounted %v", info.Mounted)
	}
	return c
}

func TestGuestCommands(t *testing.T) {
	c := guestWithData(t, GuestSpec{})
	must(t, c.AttachVolume(testContext(t), domain1(), volume(volB, "/dev/vdc")))
	info, err := c.Guest(inst1)
	must(t, err)
	denied := want{stderr: "bash: line 1: /data/osdr-stamp: Permission denied\n", exit: 1}
	tests := []struct {
		command string
		want    want
	}{
		{"cat /proc/sys/kernel/random/boot_id", want{stdout: info.BootID + "\n"}},
		{"lsblk", want{stdout: "" +
			"NAME   MAJ:MIN RM  SIZE RO TYPE MOUNTPOINTS\n" +
			"vda    252:0    0    1G  0 disk \n" +
			"└─vda1 252:1    0 1023M  0 part /\n" +
			"vdb    252:16   0    1G  0 disk /data\n" +
			"vdc    252:32   0    1G  0 disk \n"}},
		{"lsblk -dno NAME", want{stdout: "vda\nvdb\nvdc\n"}},
		{"lsblk -d -o NAME,MOUNTPOINT /dev/vdb", want{stdout: "NAME MOUNTPOINT\nvdb  /data\n"}},
		{"lsblk /dev/vdd", want{stderr: "lsblk: /dev/vdd: not a block device\n", exit: 32}},
		{"lsblk -n /dev/vdd /dev/vdc", want{stdout: "vdc  252:32   0    1G  0 disk \n", stderr: "lsblk: /dev/vdd: not a block device\n", exit: 64}},
		{"lsblk -f", want{stderr: "osdr-sim: lsblk -f is not simulated (only -d -n -o NAME,MAJ:MIN,RM,SIZE,RO,TYPE,MOUNTPOINT(S))\n", exit: 1}},
		{"test -b /dev/vdb", want{}},
		{"test -b /dev/vdc", want{}},
		{"test -b /dev/vdd", want{exit: 1}},
		{"[ -d /data ]", want{}},
		{"mount", want{stdout: "" +
			"sysfs on /sys type sysfs (rw,nosuid,nodev,noexec,relatime)\n" +
			"proc on /proc type proc (rw,nosuid,nodev,noexec,relatime)\n" +
			"udev on /dev type devtmpfs (rw,nosuid,relatime,size=475192k,nr_inodes=118798,mode=755,inode64)\n" +
			"devpts on /dev/pts type devpts (rw,nosuid,noexec,relatime,gid=5,mode=620,ptmxmode=000)\n" +
			"tmpfs on /run type tmpfs (rw,nosuid,nodev,noexec,relatime,size=99504k,mode=755,inode64)\n" +
			"/dev/vda1 on / type ext4 (rw,relatime,discard,errors=remount-ro)\n" +
			"/dev/vdb on /data type ext4 (rw,relatime)\n"}},
		{"cat /etc/fstab", want{stdout: "" +
			"LABEL=cloudimg-rootfs\t/\text4\tdiscard,errors=remount-ro\t0 1\n" +
			"/dev/vdb\t/data\text4\tdefaults\t0 2\n"}},
		{"cat /data/osdr-stamp", want{stderr: "cat: /data/osdr-stamp: No such file or directory\n", exit: 1}},
		{"cat /data", want{stderr: "cat: /data: Is a directory\n", exit: 1}},
		{"echo X > /data/osdr-stamp", denied},
		{"sh -c 'echo X > /data/osdr-stamp'", want{stderr: "sh: 1: cannot create /data/osdr-stamp: Permission denied\n", exit: 2}},
		{"sudo echo X > /data/osdr-stamp", denied},
		{"sudo sh -c 'echo stamp-1 > /data/osdr-stamp' && cat /data/osdr-stamp", want{stdout: "stamp-1\n"}},
		{"sudo sh -c 'echo a > /data/log; echo b >> /data/log' && cat /data/log", want{stdout: "a\nb\n"}},
		{"sudo sh -c 'echo X > /data/sub/file'", want{stderr: "sh: 1: cannot create /data/sub/file: No such file or directory\n", exit: 2}},
		{"echo note > /tmp/note && cat /tmp/note", want{stdout: "note\n"}},
		{"echo note > note && cat /home/ubuntu/note", want{stdout: "note\n"}},
		{"cat /nowhere/file", want{stderr: "cat: /nowhere/file: No such file or directory\n", exit: 1}},
		{"cat /dev/vdb", want{stderr: "cat: /dev/vdb: Permission denied\n", exit: 1}},
		{"cat /proc/cpuinfo", want{stderr: "cat: /proc/cpuinfo: osdr-sim: this file is not simulated\n", exit: 1}},
		{"reboot", want{stderr: rebootDenied, exit: 1}},
		{"shutdown -h now", want{stderr: "osdr-sim: shutdown -h now: only `shutdown -r now` is simulated\n", exit: 1}},
		{"iscsiadm -m session", want{stderr: "bash: line 1: iscsiadm: command not found\n", exit: 127}},
	}
	for _, tt := range tests {
		check(t, tt.command, onGuest(t, c, inst1, tt.command), tt.want)
	}
	uptime := onGuest(t, c, inst1, "cat /proc/uptime")
	if !regexp.MustCompile(`^\d+\.\d\d \d+\.\d\d\n$`).Match(uptime.stdout) {
		t.Errorf("/proc/uptime: %q", uptime.stdout)
	}
	if files := c.VolumeFiles(volA); string(files["osdr-stamp"]) != "stamp-1\n" || string(files["log"]) != "a\nb\n" {
		t.Errorf("volume A holds %q", files)
	}
}

func TestGuestReboot(t *testing.T) {
	tests := []string{"sudo shutdown -r now", "sudo reboot", "sudo systemctl reboot", "sudo sh -c 'sync && shutdown -r now'"}
	for _, command := range tests {
		t.Run(command, func(t *testing.T) {
			c := guestWithData(t, GuestSpec{BootDelay: time.Millisecond})
			before := waitStage(t, c, inst1, StageUp).BootID
			if result := onGuest(t, c, inst1, command); !result.drop {
				t.Fatalf("%s reported exit %d without dropping the connection", command, result.exit)
			}
			after := waitStage(t, c, inst1, StageUp)
			if after.BootID == before {
				t.Error("the boot id did not change")
			}
			if !slices.Equal(after.Mounted, []string{"/data"}) {
				t.Errorf("mounted %v after the reboot", after.Mounted)
			}
			history, err := c.GuestCommands(inst1)
			must(t, err)
			if len(history) != 1 || !history[0].Dropped {
				t.Errorf("history %+v", history)
			}
		})
	}
}

// TestGuestBootBehaviour: what each image does when its fstab volume is missing at boot, and once it is
// attached.
func TestGuestBootBehaviour(t *testing.T) {
	tests := []struct {
		boot        Boot
		wait        time.Duration
		held        Stage
		goesOnAlone bool // without the volume
	}{
		{BootSkips, 0, StageUp, true},
		{BootPlymouth, 0, StagePlymouth, false},
		{BootCloudInit, time.Hour, StageCloudInit, false},
		{BootCloudInit, time.Millisecond, StageCloudInit, true},
	}
	for _, tt := range tests {
		t.Run(tt.boot.String()+"/"+tt.wait.String(), func(t *testing.T) {
			c := newCluster(t, HostOptions{})
			ctx := testContext(t)
			must(t, c.AddGuest(ctx, GuestSpec{InstanceUUID: inst1, Boot: tt.boot, Fstab: dataFstab, CloudInitWait: tt.wait}))
			must(t, c.PowerOn(ctx, domain1(), nil))
			info, err := c.Guest(inst1)
			must(t, err)
			if info.Stage != tt.held && !(tt.goesOnAlone && info.Stage == StageUp) {
				t.Fatalf("stage %s after power-on, want %s", info.Stage, tt.held)
			}
			if tt.goesOnAlone {
				up := waitStage(t, c, inst1, StageUp)
				if len(up.Mounted) != 0 {
					t.Errorf("mounted %v without the volume", up.Mounted)
				}
				check(t, "mount point on the root disk", onGuest(t, c, inst1, "test -d /data && lsblk -dno NAME"), want{stdout: "vda\n"})
				must(t, c.AttachVolume(ctx, domain1(), volume(volA, "/dev/vdb")))
				if after, _ := c.Guest(inst1); len(after.Mounted) != 0 || after.BootID != up.BootID {
					t.Errorf("a booted guest mounted the attached volume or rebooted: %+v", after)
				}
				check(t, "sees the volume", onGuest(t, c, inst1, "lsblk -dno NAME"), want{stdout: "vda\nvdb\n"})
				return
			}
			must(t, c.AttachVolume(ctx, domain1(), volume(volA, "/dev/vdb")))
			up := waitStage(t, c, inst1, StageUp)
			if !slices.Equal(up.Mounted, []string{"/data"}) || up.BootID != info.BootID {
				t.Errorf("after the attach: %+v, boot id was %s", up, info.BootID)
			}
		})
	}
}

func TestGuestBootDelay(t *testing.T) {
	c := newCluster(t, HostOptions{})
	ctx := testContext(t)
	must(t, c.AddGuest(ctx, GuestSpec{InstanceUUID: inst1, BootDelay: 20 * time.Millisecond}))
	must(t, c.PowerOn(ctx, domain1(), nil))
	if stage := guestStage(t, c, inst1); stage != StageBooting {
		t.Fatalf("stage %s right after power-on", stage)
	}
	waitStage(t, c, inst1, StageUp)
	// powered off while booting: the boot never completes
	must(t, c.PowerOff(ctx, domain1()))
	must(t, c.PowerOn(ctx, domain1(), nil))
	must(t, c.PowerOff(ctx, domain1()))
	if stage := guestStage(t, c, inst1); stage != StageOff {
		t.Fatalf("stage %s after power-off", stage)
	}
}

// TestGuestRootVolume: a guest booting from a volume whose session is gone finds no boot disk.
func TestGuestRootVolume(t *testing.T) {
	c := newCluster(t, HostOptions{})
	ctx := testContext(t)
	must(t, c.AddGuest(ctx, GuestSpec{InstanceUUID: inst1, User: "root"}))
	must(t, c.PowerOn(ctx, domain1(), []virt.VolumeConnection{volume(volA, "/dev/vda")}))
	waitStage(t, c, inst1, StageUp)
	check(t, "lsblk", onGuest(t, c, inst1, "lsblk -dno NAME"), want{stdout: "vda\n"})
	onHost(t, c, "iscsiadm -m session -u -r 1")
	onGuest(t, c, inst1, "reboot")
	waitStage(t, c, inst1, StageNoBootDisk)
	must(t, c.PowerOff(ctx, domain1()))
	must(t, c.PowerOn(ctx, domain1(), []virt.VolumeConnection{volume(volA, "/dev/vda")}))
	waitStage(t, c, inst1, StageUp)
}

func TestDataSurvivesPowerCut(t *testing.T) {
	c := guestWithData(t, GuestSpec{User: "root"})
	ctx := testContext(t)
	check(t, "write", onGuest(t, c, inst1, "echo stamp-7 > /data/osdr-stamp && sync"), want{})
	must(t, c.PowerCut(ctx, DomainsShutOff))
	if stage := guestStage(t, c, inst1); stage != StageOff {
		t.Fatalf("stage %s after the power cut", stage)
	}
	must(t, c.PowerOn(ctx, domain1(), []virt.VolumeConnection{volume(volA, "/dev/vdb")}))
	waitStage(t, c, inst1, StageUp)
	check(t, "read", onGuest(t, c, inst1, "cat /data/osdr-stamp"), want{stdout: "stamp-7\n"})
}

// A guest's command takes a session's time, and a file read off a volume its disk's time on top: each
// command's record says what it took under the latency model.
func TestGuestCommandsTakeModelledTime(t *testing.T) {
	c := guestWithData(t, GuestSpec{User: "root"})
	must(t, c.SetLatencyScale(0.01)) // a command takes 0.3 ms, a volume read 2.5 ms more
	for _, tt := range []struct {
		command string
		took    time.Duration
	}{
		{"cat /proc/sys/kernel/random/boot_id", 300 * time.Microsecond},
		{"test -b /dev/vdb", 300 * time.Microsecond},
		{"echo stamp > /data/osdr-stamp", 300 * time.Microsecond},
		{"cat /data/osdr-stamp", 2800 * time.Microsecond},
		{"cat /data/osdr-stamp /data/missing", 5300 * time.Microsecond},
		{"cat /etc/fstab && cat /data/osdr-stamp", 2800 * time.Microsecond}, // one session for the line
	} {
		onGuest(t, c, inst1, tt.command)
		history, err := c.GuestCommands(inst1)
		must(t, err)
		if last := history[len(history)-1]; last.Command != tt.command || last.Took != tt.took {
			t.Errorf("%s: recorded %q taking %v, want %v", tt.command, last.Command, last.Took, tt.took)
		}
	}
}
