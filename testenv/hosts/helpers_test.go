package hosts

import (
	"context"
	"testing"
	"time"

	"github.com/osdr/osdr/testenv/virt"
)

const (
	hostName  = "compute-1"
	portal    = "10.0.0.1:3260"
	initiator = "iqn.1993-08.org.debian:01:7f3a9c2b1d4e"

	volA = "5a1f2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"
	volB = "8d0b6c52-3e1f-4a7c-b9d2-5f6e7a8b9c0d"
	volC = "0c9d8e7f-6a5b-4c3d-8e2f-1a0b9c8d7e6f"

	inst1 = "11111111-2222-4333-8444-555555555555"
	inst2 = "66666666-7777-4888-9999-aaaaaaaaaaaa"
)

func iqnOf(volumeID string) string { return "iqn.2010-10.org.openstack:volume-" + volumeID }

// volume is the connection info Cinder's LVM/tgt driver hands out: the volume at LUN 1.
func volume(volumeID, device string) virt.VolumeConnection {
	return virt.VolumeConnection{VolumeID: volumeID, Device: device, IQN: iqnOf(volumeID), Portal: portal, LUN: 1}
}

func domain1() virt.Domain {
	return virt.Domain{Host: hostName, Name: "instance-00000001", InstanceUUID: inst1}
}

func domain2() virt.Domain {
	return virt.Domain{Host: hostName, Name: "instance-00000002", InstanceUUID: inst2}
}

// testContext ends with the test, and after at most 20 seconds.
func testContext(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// newCluster is a cluster with one compute host, not started.
func newCluster(t *testing.T, opts HostOptions) *Cluster {
	t.Helper()
	c, err := New()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if opts.IP == "" {
		opts.IP = "10.0.0.21"
	}
	if opts.InitiatorName == "" {
		opts.InitiatorName = initiator
	}
	if err := c.AddHost(testContext(t), hostName, opts); err != nil {
		t.Fatal(err)
	}
	return c
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// onHost runs a command line on the host as sshd would hand it over, without SSH.
func onHost(t *testing.T, c *Cluster, command string) commandResult {
	t.Helper()
	c.mu.Lock()
	h := c.hosts[hostName]
	c.mu.Unlock()
	return c.runOnHost(h, command)
}

// onGuest runs a command line in the guest without SSH; the guest must be up.
func onGuest(t *testing.T, c *Cluster, instance, command string) commandResult {
	t.Helper()
	c.mu.Lock()
	g := c.guests[instance]
	c.mu.Unlock()
	return c.runOnGuest(g, command)
}

type want struct {
	stdout, stderr string
	exit           int
}

func check(t *testing.T, command string, got commandResult, w want) {
	t.Helper()
	if got.drop {
		t.Fatalf("%s: the connection dropped", command)
	}
	if string(got.stdout) != w.stdout || string(got.stderr) != w.stderr || got.exit != w.exit {
		t.Errorf("%s:\n got stdout %q\n     stderr %q\n     exit %d\nwant stdout %q\n     stderr %q\n     exit %d",
			command, got.stdout, got.stderr, got.exit, w.stdout, w.stderr, w.exit)
	}
}

func sessions(t *testing.T, c *Cluster) []Session {
	t.Helper()
	s, err := c.Sessions(hostName)
	must(t, err)
	return s
}

func sids(t *testing.T, c *Cluster) []int {
	t.Helper()
	var out []int
	for _, s := range sessions(t, c) {
		out = append(out, s.SID)
	}
	return out
}

// burnSIDs attaches and detaches a throwaway volume n times, so that the next session gets sid n+1 on a
// fresh host, as on a host that has been up for a while.
func burnSIDs(t *testing.T, c *Cluster, d virt.Domain, n int) {
	t.Helper()
	ctx := testContext(t)
	for range n {
		must(t, c.AttachVolume(ctx, d, volume(volC, "/dev/vdz")))
		must(t, c.DetachVolume(ctx, d, volC))
	}
}

func guestStage(t *testing.T, c *Cluster, instance string) Stage {
	t.Helper()
	info, err := c.Guest(instance)
	must(t, err)
	return info.Stage
}

func waitStage(t *testing.T, c *Cluster, instance string, stage Stage) GuestInfo {
	t.Helper()
	info, err := c.WaitGuest(testContext(t), instance, func(g GuestInfo) bool { return g.Stage == stage })
	if err != nil {
		t.Fatalf("guest %s never reached %s: %v", instance, stage, err)
	}
	return info
}
