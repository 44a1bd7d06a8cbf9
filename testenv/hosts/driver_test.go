package hosts

import (
	"errors"
	"slices"
	"testing"

	"github.com/osdr/osdr/testenv/virt"
)

func TestDriverErrors(t *testing.T) {
	c := twoDomains(t)
	ctx := testContext(t)
	missing := virt.Domain{Host: hostName, Name: "instance-0000000f", InstanceUUID: "ffffffff-2222-4333-8444-555555555555"}
	wrongUUID := domain1()
	wrongUUID.InstanceUUID = inst2
	unknownHost := domain1()
	unknownHost.Host = "compute-9"
	tests := []struct {
		name string
		call func() error
		want error
	}{
		{"power on a running domain", func() error { return c.PowerOn(ctx, domain1(), nil) }, ErrDomainRunning},
		{"power on, unknown host", func() error { return c.PowerOn(ctx, unknownHost, nil) }, ErrUnknownHost},
		{"power off, no domain", func() error { return c.PowerOff(ctx, missing) }, virt.ErrNoDomain},
		{"power off, another instance's domain", func() error { return c.PowerOff(ctx, wrongUUID) }, virt.ErrNoDomain},
		{"attach, no domain", func() error { return c.AttachVolume(ctx, missing, volume(volB, "/dev/vdc")) }, virt.ErrNoDomain},
		{"detach, no domain", func() error { return c.DetachVolume(ctx, missing, volA) }, virt.ErrNoDomain},
		{"power state, unknown host", func() error { _, err := c.PowerState(ctx, unknownHost); return err }, ErrUnknownHost},
	}
	for _, tt := range tests {
		if err := tt.call(); !errors.Is(err, tt.want) {
			t.Errorf("%s: %v, want %v", tt.name, err, tt.want)
		}
	}
	malformed := []struct {
		name string
		call func() error
	}{
		{"attach the same volume twice", func() error { return c.AttachVolume(ctx, domain1(), volume(volA, "/dev/vdc")) }},
		{"attach at a used device", func() error { return c.AttachVolume(ctx, domain1(), volume(volB, "/dev/vdb")) }},
		{"attach at no device", func() error { return c.AttachVolume(ctx, domain1(), volume(volB, "")) }},
		{"attach an IPv6 portal", func() error {
			v := volume(volB, "/dev/vdc")
			v.Portal = "[fd00::1]:3260"
			return c.AttachVolume(ctx, domain1(), v)
		}},
		{"power on with one volume twice", func() error {
			return c.PowerOn(ctx, domain2(), []virt.VolumeConnection{volume(volB, "/dev/vdb"), volume(volB, "/dev/vdc")})
		}},
		{"detach a volume the host never saw", func() error { return c.DetachVolume(ctx, domain1(), volB) }},
	}
	for _, tt := range malformed {
		if err := tt.call(); err == nil {
			t.Errorf("%s: no error", tt.name)
		}
	}
	if got := sids(t, c); !slices.Equal(got, []int{1}) {
		t.Errorf("refused calls changed the sessions: %v", got)
	}
	if state, err := c.PowerState(ctx, missing); err != nil || state != virt.NoState {
		t.Errorf("power state of a missing domain: %d, %v", state, err)
	}
	must(t, c.PowerOff(ctx, domain2())) // already shut off: nothing to do
}

// TestDetachLogsOutThatSessionOnly: os-brick's disconnect logs out of the volume's own session and deletes
// its node record, so that a login by hand finds nothing.
func TestDetachLogsOutThatSessionOnly(t *testing.T) {
	c := twoSessions(t, HostOptions{})
	ctx := testContext(t)
	must(t, c.DetachVolume(ctx, domain1(), volA))
	got := sessions(t, c)
	if len(got) != 1 || got[0].SID != 16 || got[0].VolumeID != volB {
		t.Fatalf("sessions %+v", got)
	}
	check(t, "login", onHost(t, c, "iscsiadm -m node -T "+iqnOf(volA)+" -p "+portal+" --login"),
		want{stderr: "iscsiadm: No records found\n", exit: 21})
	domains, err := c.Domains(hostName)
	must(t, err)
	if len(domains[0].Disks) != 1 || domains[0].Disks[0].VolumeID != volB || !domains[0].Disks[0].Connected {
		t.Errorf("disks %+v", domains[0].Disks)
	}
}

// TestMultiattachKeepsTheSession: a target another domain still uses stays logged in.
func TestMultiattachKeepsTheSession(t *testing.T) {
	c := twoDomains(t)
	ctx := testContext(t)
	must(t, c.PowerOn(ctx, domain2(), []virt.VolumeConnection{volume(volA, "/dev/vdb")}))
	must(t, c.DetachVolume(ctx, domain1(), volA))
	if got := sids(t, c); !slices.Equal(got, []int{1}) {
		t.Errorf("sids %v", got)
	}
}

// TestUnexportedTarget: a hard reboot reconnects from stored connection info and fails when the storage no
// longer exports the target; an attach has Cinder export it again.
func TestUnexportedTarget(t *testing.T) {
	c := twoDomains(t)
	ctx := testContext(t)
	must(t, c.PowerCut(ctx, DomainsShutOff))
	c.SetTargetExported(iqnOf(volA), false)
	err := c.PowerOn(ctx, domain1(), []virt.VolumeConnection{volume(volA, "/dev/vdb")})
	if !errors.Is(err, ErrVolumeConnection) {
		t.Fatalf("power on: %v, want ErrVolumeConnection", err)
	}
	if state, _ := c.PowerState(ctx, domain1()); state != virt.Shutdown {
		t.Errorf("power state %d after the failed power-on", state)
	}
	must(t, c.PowerOn(ctx, domain1(), nil))
	must(t, c.AttachVolume(ctx, domain1(), volume(volA, "/dev/vdb")))
	if got := sids(t, c); !slices.Equal(got, []int{1}) {
		t.Errorf("sids %v", got)
	}
}

// TestAutomaticGuest: a domain powered on without AddGuest gets a default guest.
func TestAutomaticGuest(t *testing.T) {
	c := newCluster(t, HostOptions{})
	ctx := testContext(t)
	must(t, c.Start(ctx))
	must(t, c.PowerOn(ctx, domain1(), nil))
	info, err := c.Guest(inst1)
	must(t, err)
	if info.Stage != StageUp || info.Endpoint.User != "ubuntu" || info.Endpoint.Port == 0 || info.DomainName != "instance-00000001" {
		t.Errorf("guest %+v", info)
	}
	must(t, c.PowerOff(ctx, domain1()))
	moved := domain1()
	moved.Name = "instance-00000009"
	if err := c.PowerOn(ctx, moved, nil); err == nil {
		t.Error("the guest moved to another domain")
	}
}

// TestNetworkVolume: a volume QEMU reaches by itself (RBD, NFS: no target in its connection) needs no iSCSI
// session and does not care about the host's.
func TestNetworkVolume(t *testing.T) {
	c := newCluster(t, HostOptions{})
	ctx := testContext(t)
	must(t, c.AddGuest(ctx, GuestSpec{InstanceUUID: inst1, User: "root", Fstab: dataFstab}))
	rbd := virt.VolumeConnection{VolumeID: volB, Device: "/dev/vdb"}
	must(t, c.PowerOn(ctx, domain1(), []virt.VolumeConnection{rbd, volume(volA, "/dev/vdc")}))
	waitStage(t, c, inst1, StageUp)
	check(t, "write", onGuest(t, c, inst1, "echo on-ceph > /data/stamp"), want{})
	check(t, "logout all", onHost(t, c, "iscsiadm -m session -u"), want{stdout: "" +
		"Logging out of session [sid: 1, target: " + iqnOf(volA) + ", portal: 10.0.0.1,3260]\n" +
		"Logout of [sid: 1, target: " + iqnOf(volA) + ", portal: 10.0.0.1,3260] successful.\n"})
	check(t, "read", onGuest(t, c, inst1, "cat /data/stamp"), want{stdout: "on-ceph\n"})
	must(t, c.DetachVolume(ctx, domain1(), volB))
	check(t, "read after detach", onGuest(t, c, inst1, "cat /data/stamp"), want{stderr: "cat: /data/stamp: Input/output error\n", exit: 1})
}
