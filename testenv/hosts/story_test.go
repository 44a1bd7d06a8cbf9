package hosts

import (
	"errors"
	"testing"

	"golang.org/x/crypto/ssh"

	"github.com/osdr/osdr/testenv/virt"
)

// TestSeedStory is the Operations Guide's disaster on the machines, over SSH (the databases are the control
// plane's): after the power loss no iSCSI session is left and no guest answers; restarting the instances
// brings up the image that skips its missing volume and holds the other at plymouth; reattaching the volumes
// lets that one continue by itself; a reboot from inside mounts the volume in the first. The data written
// before the loss is intact.
func TestSeedStory(t *testing.T) {
	c := newCluster(t, HostOptions{})
	ctx := testContext(t)
	must(t, c.AddGuest(ctx, GuestSpec{InstanceUUID: inst1, Boot: BootPlymouth, Fstab: dataFstab}))
	must(t, c.AddGuest(ctx, GuestSpec{InstanceUUID: inst2, Boot: BootSkips, Fstab: dataFstab}))
	must(t, c.Start(ctx))
	must(t, c.PowerOn(ctx, domain1(), []virt.VolumeConnection{volume(volA, "/dev/vdb")}))
	must(t, c.PowerOn(ctx, domain2(), []virt.VolumeConnection{volume(volB, "/dev/vdb")}))
	s := clientOf(t, c)
	guest := func(instance string) *ssh.Client { return s.connect(t, s.endpointOf(t, instance)) }
	runOK := func(client *ssh.Client, command string) string {
		t.Helper()
		stdout, stderr, exit, err := runSSH(t, client, command)
		if err != nil || exit != 0 {
			t.Fatalf("%s: exit %d, stderr %q, %v", command, exit, stderr, err)
		}
		return stdout
	}
	runOK(guest(inst1), "sudo sh -c 'echo before-1 > /data/osdr-stamp'")
	runOK(guest(inst2), "sudo sh -c 'echo before-2 > /data/osdr-stamp'")

	must(t, c.PowerCut(ctx, DomainsShutOff))

	host := s.connect(t, s.hostEndpoint(t))
	if _, stderr, exit, err := runSSH(t, host, "iscsiadm -m session"); err != nil || exit != 21 || stderr != "iscsiadm: No active sessions.\n" {
		t.Errorf("sessions after the loss: exit %d, %q, %v", exit, stderr, err)
	}
	if list := runOK(host, "virsh list --all"); list != ""+
		" Id   Name                State\n"+
		"------------------------------------\n"+
		" -    instance-00000001   shut off\n"+
		" -    instance-00000002   shut off\n\n" {
		t.Errorf("virsh list --all:\n%s", list)
	}
	for _, instance := range []string{inst1, inst2} {
		ep := s.endpointOf(t, instance)
		if client, err := s.dial(ep, ep.User, s.signer); err == nil {
			client.Close()
			t.Errorf("guest %s answers after the power loss", instance)
		}
	}

	// Restart the instances: a hard reboot each, their volumes no longer in Nova's block device mappings.
	for _, d := range []virt.Domain{domain1(), domain2()} {
		must(t, c.PowerOff(ctx, d))
		must(t, c.PowerOn(ctx, d, nil))
	}
	held := waitStage(t, c, inst1, StagePlymouth)
	waitStage(t, c, inst2, StageUp)
	if got := runOK(guest(inst2), "lsblk -dno NAME"); got != "vda\n" {
		t.Errorf("the skipping guest sees %q", got)
	}

	// Reattach: the guest held at plymouth continues its boot by itself; the other sees the volume.
	must(t, c.AttachVolume(ctx, domain1(), volume(volA, "/dev/vdb")))
	must(t, c.AttachVolume(ctx, domain2(), volume(volB, "/dev/vdb")))
	continued := waitStage(t, c, inst1, StageUp)
	if continued.BootID != held.BootID {
		t.Error("the plymouth guest rebooted instead of continuing")
	}
	if got := runOK(guest(inst1), "cat /data/osdr-stamp"); got != "before-1\n" {
		t.Errorf("guest 1 reads %q", got)
	}
	if _, stderr, exit, _ := runSSH(t, guest(inst2), "cat /data/osdr-stamp"); exit != 1 || stderr != "cat: /data/osdr-stamp: No such file or directory\n" {
		t.Errorf("guest 2 before its reboot: exit %d, %q", exit, stderr)
	}

	// SSH into the instance and reboot it from inside.
	_, _, _, err := runSSH(t, guest(inst2), "sudo shutdown -r now")
	var missing *ssh.ExitMissingError
	if !errors.As(err, &missing) {
		t.Fatalf("shutdown -r now: %v", err)
	}
	waitStage(t, c, inst2, StageUp)
	if got := runOK(guest(inst2), "cat /data/osdr-stamp"); got != "before-2\n" {
		t.Errorf("guest 2 reads %q", got)
	}
	if got := runOK(host, "iscsiadm -m session"); got != ""+
		"tcp: [1] 10.0.0.1:3260,1 "+iqnOf(volA)+" (non-flash)\n"+
		"tcp: [2] 10.0.0.1:3260,1 "+iqnOf(volB)+" (non-flash)\n" {
		t.Errorf("sessions after the recovery:\n%s", got)
	}
}
