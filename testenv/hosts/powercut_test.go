package hosts

import (
	"errors"
	"slices"
	"testing"

	"github.com/osdr/osdr/testenv/virt"
)

func TestPowerCut(t *testing.T) {
	tests := []struct {
		after AfterPowerCut
		state virt.PowerState
		list  string
	}{
		{DomainsShutOff, virt.Shutdown, "" +
			" Id   Name                State\n" +
			"------------------------------------\n" +
			" -    instance-00000001   shut off\n" +
			" -    instance-00000002   shut off\n" +
			"\n"},
		{DomainsLost, virt.NoState, " Id   Name   State\n--------------------\n\n"},
	}
	for _, tt := range tests {
		t.Run(tt.after.String(), func(t *testing.T) {
			c := twoSessions(t, HostOptions{})
			ctx := testContext(t)
			must(t, c.AddHost(ctx, "compute-2", HostOptions{}))
			other := virt.Domain{Host: "compute-2", Name: "instance-00000002", InstanceUUID: inst2}
			must(t, c.PowerOn(ctx, other, []virt.VolumeConnection{volume(volC, "/dev/vdb")}))
			must(t, c.PowerCut(ctx, tt.after, hostName))

			check(t, "sessions", onHost(t, c, "iscsiadm -m session"), want{stderr: "iscsiadm: No active sessions.\n", exit: 21})
			if tt.after == DomainsShutOff {
				// compute-1 had no second domain: make the listing show the ordering of shut-off domains
				must(t, c.PowerOn(ctx, domain2Here(), nil))
				must(t, c.PowerOff(ctx, domain2Here()))
			}
			check(t, "virsh", onHost(t, c, "virsh list --all"), want{stdout: tt.list})
			if state, err := c.PowerState(ctx, domain1()); err != nil || state != tt.state {
				t.Errorf("power state %d, %v; want %d", state, err, tt.state)
			}
			if stage := guestStage(t, c, inst1); stage != StageOff {
				t.Errorf("guest %s", stage)
			}
			if state, _ := c.PowerState(ctx, other); state != virt.Running {
				t.Errorf("compute-2 was cut too: %d", state)
			}
			// The node records survived: a login by hand works, and the kernel counts sessions from 1 again.
			check(t, "login", onHost(t, c, "iscsiadm -m node -T "+iqnOf(volA)+" -p "+portal+" --login"),
				want{stdout: "Login to [iface: default, target: " + iqnOf(volA) + ", portal: 10.0.0.1,3260] successful.\n"})
			check(t, "sessions", onHost(t, c, "iscsiadm -m session"),
				want{stdout: "tcp: [1] 10.0.0.1:3260,1 " + iqnOf(volA) + " (non-flash)\n"})
			// A hard reboot (destroy, which finds nothing to do or no domain, then power on) brings the guest
			// back with its volumes.
			if err := c.PowerOff(ctx, domain1()); tt.after == DomainsLost && !errors.Is(err, virt.ErrNoDomain) || tt.after == DomainsShutOff && err != nil {
				t.Errorf("power off after the cut: %v", err)
			}
			must(t, c.PowerOn(ctx, domain1(), []virt.VolumeConnection{volume(volA, "/dev/vdb"), volume(volB, "/dev/vdc")}))
			if got := sids(t, c); !slices.Equal(got, []int{1, 2}) {
				t.Errorf("sids %v", got)
			}
			waitStage(t, c, inst1, StageUp)
		})
	}
}

// domain2Here is instance 2's domain name on compute-1, for listing a second shut-off domain.
func domain2Here() virt.Domain {
	return virt.Domain{Host: hostName, Name: "instance-00000002", InstanceUUID: "66666666-7777-4888-9999-bbbbbbbbbbbb"}
}

func TestPowerCutRefusesUnknownHosts(t *testing.T) {
	c := twoSessions(t, HostOptions{})
	err := c.PowerCut(testContext(t), DomainsLost, hostName, "compute-9")
	if !errors.Is(err, ErrUnknownHost) {
		t.Fatalf("power cut: %v", err)
	}
	if got := sids(t, c); !slices.Equal(got, []int{15, 16}) {
		t.Errorf("sessions changed: %v", got)
	}
}

func TestResumeGuestsOnBoot(t *testing.T) {
	c := newCluster(t, HostOptions{})
	must(t, c.AddHost(testContext(t), "compute-2", HostOptions{ResumeGuestsStateOnHostBoot: true}))
	for host, want := range map[string]bool{hostName: false, "compute-2": true} {
		if got, err := c.ResumeGuestsOnBoot(host); err != nil || got != want {
			t.Errorf("%s: %v, %v", host, got, err)
		}
	}
	if _, err := c.ResumeGuestsOnBoot("compute-9"); !errors.Is(err, ErrUnknownHost) {
		t.Errorf("unknown host: %v", err)
	}
}
