package hosts

import (
	"strings"
	"testing"

	"github.com/osdr/osdr/testenv/virt"
)

// twoDomains: instance-00000001 running with volume A, instance-00000002 defined and shut off.
func twoDomains(t *testing.T) *Cluster {
	t.Helper()
	c := newCluster(t, HostOptions{})
	ctx := testContext(t)
	must(t, c.PowerOn(ctx, domain2(), nil))
	must(t, c.PowerOff(ctx, domain2()))
	must(t, c.PowerOn(ctx, domain1(), []virt.VolumeConnection{volume(volA, "/dev/vdb")}))
	return c
}

const (
	listHeader = "" +
		" Id   Name                State\n" +
		"------------------------------------\n"
	row1Running = " 2    instance-00000001   running\n"
	row2ShutOff = " -    instance-00000002   shut off\n"
)

func TestVirshGolden(t *testing.T) {
	tests := []struct {
		name    string
		command string
		want    want
		// states of domains 1 and 2 afterwards
		states [2]virt.PowerState
	}{
		{"list all", "virsh list --all", want{stdout: listHeader + row1Running + row2ShutOff + "\n"}, [2]virt.PowerState{virt.Running, virt.Shutdown}},
		{"list running", "virsh list", want{stdout: "" +
			" Id   Name                State\n" +
			"-----------------------------------\n" +
			row1Running + "\n"}, [2]virt.PowerState{virt.Running, virt.Shutdown}},
		{"list inactive", "virsh list --inactive", want{stdout: "" +
			" Id   Name                State\n" +
			"------------------------------------\n" +
			row2ShutOff + "\n"}, [2]virt.PowerState{virt.Running, virt.Shutdown}},
		{"list names", "virsh list --all --name", want{stdout: "instance-00000001\ninstance-00000002\n\n"}, [2]virt.PowerState{virt.Running, virt.Shutdown}},
		// Without the header, the Id column is only as wide as its widest id.
		{"quiet list", "virsh -q list --all", want{stdout: " 2   instance-00000001   running\n -   instance-00000002   shut off\n"},
			[2]virt.PowerState{virt.Running, virt.Shutdown}},
		{"explicit connection", "virsh -c qemu:///system list --all", want{stdout: listHeader + row1Running + row2ShutOff + "\n"}, [2]virt.PowerState{virt.Running, virt.Shutdown}},
		{"destroy", "virsh destroy instance-00000001", want{stdout: "Domain 'instance-00000001' destroyed\n\n"}, [2]virt.PowerState{virt.Shutdown, virt.Shutdown}},
		{"destroy by id", "virsh destroy 2", want{stdout: "Domain '2' destroyed\n\n"}, [2]virt.PowerState{virt.Shutdown, virt.Shutdown}},
		{"destroy by uuid", "virsh destroy " + inst1, want{stdout: "Domain '" + inst1 + "' destroyed\n\n"}, [2]virt.PowerState{virt.Shutdown, virt.Shutdown}},
		{"destroy a shut-off domain", "virsh destroy instance-00000002", want{stdout: "\n", stderr: "" +
			"error: Failed to destroy domain 'instance-00000002'\n" +
			"error: Requested operation is not valid: domain is not running\n", exit: 1}, [2]virt.PowerState{virt.Running, virt.Shutdown}},
		{"destroy an unknown domain", "virsh destroy instance-0000000f",
			want{stdout: "\n", stderr: "error: failed to get domain 'instance-0000000f'\n", exit: 1}, [2]virt.PowerState{virt.Running, virt.Shutdown}},
		{"destroy without a domain", "virsh destroy",
			want{stderr: "error: command 'destroy' requires <domain> option\n", exit: 1}, [2]virt.PowerState{virt.Running, virt.Shutdown}},
		{"destroy two domains", "virsh destroy instance-00000001 instance-00000002",
			want{stderr: "error: unexpected data 'instance-00000002'\n", exit: 1}, [2]virt.PowerState{virt.Running, virt.Shutdown}},
		{"start", "virsh start instance-00000002", want{stdout: "Domain 'instance-00000002' started\n\n"}, [2]virt.PowerState{virt.Running, virt.Running}},
		{"start with --domain", "virsh start --domain=instance-00000002", want{stdout: "Domain 'instance-00000002' started\n\n"}, [2]virt.PowerState{virt.Running, virt.Running}},
		{"start a running domain", "virsh start instance-00000001",
			want{stdout: "\n", stderr: "error: Domain is already active\n", exit: 1}, [2]virt.PowerState{virt.Running, virt.Shutdown}},
		{"start by id", "virsh start 2",
			want{stdout: "\n", stderr: "error: failed to get domain '2'\n", exit: 1}, [2]virt.PowerState{virt.Running, virt.Shutdown}},
		{"not simulated", "virsh dominfo instance-00000001", want{stderr: "osdr-sim: virsh: command \"dominfo\" is not simulated " +
			"(simulated: list [--all|--inactive] [--name], destroy DOMAIN, start DOMAIN)\n", exit: 1}, [2]virt.PowerState{virt.Running, virt.Shutdown}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := twoDomains(t)
			check(t, tt.command, onHost(t, c, tt.command), tt.want)
			for i, d := range []virt.Domain{domain1(), domain2()} {
				state, err := c.PowerState(testContext(t), d)
				must(t, err)
				if state != tt.states[i] {
					t.Errorf("%s is %d, want %d", d.Name, state, tt.states[i])
				}
			}
		})
	}
}

func TestVirshListEmpty(t *testing.T) {
	c := newCluster(t, HostOptions{})
	check(t, "list", onHost(t, c, "virsh list --all"), want{stdout: " Id   Name   State\n--------------------\n\n"})
}

// TestVirshStartWithoutSession: after the sessions are gone libvirt cannot open the disk and refuses to
// start the domain, as after a power cut.
func TestVirshStartWithoutSession(t *testing.T) {
	c := twoDomains(t)
	check(t, "destroy", onHost(t, c, "virsh destroy instance-00000001"), want{stdout: "Domain 'instance-00000001' destroyed\n\n"})
	onHost(t, c, "iscsiadm -m session -u -r 1")
	check(t, "start", onHost(t, c, "virsh start instance-00000001"), want{stdout: "\n", stderr: "" +
		"error: Failed to start domain 'instance-00000001'\n" +
		"error: Cannot access storage file '/dev/disk/by-path/ip-10.0.0.1:3260-iscsi-" + iqnOf(volA) + "-lun-1': No such file or directory\n",
		exit: 1})
	if stage := guestStage(t, c, inst1); stage != StageOff {
		t.Errorf("guest is %s", stage)
	}
}

// TestVirshDestroyStopsTheGuest: the guest goes down with its domain and boots again with it.
func TestVirshDestroyStopsTheGuest(t *testing.T) {
	c := twoDomains(t)
	before := waitStage(t, c, inst1, StageUp).BootID
	onHost(t, c, "virsh destroy instance-00000001")
	if stage := guestStage(t, c, inst1); stage != StageOff {
		t.Fatalf("guest is %s after destroy", stage)
	}
	onHost(t, c, "virsh start instance-00000001")
	after := waitStage(t, c, inst1, StageUp).BootID
	if after == before || after == "" {
		t.Errorf("boot id %q after restart, was %q", after, before)
	}
	if !strings.Contains(string(onHost(t, c, "virsh list").stdout), " 3    instance-00000001   running") {
		t.Error("the restarted domain does not have the next id")
	}
}
