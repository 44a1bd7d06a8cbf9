package inject

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/osdr/osdr/internal/run"
	"github.com/osdr/osdr/internal/sshx"
	"github.com/osdr/osdr/testenv/hosts"
	"github.com/osdr/osdr/testenv/virt"
)

// benchLatency runs the hosts' iscsiadm at a real host's pace (a logout's 300 ms, so 6 s for the slowest
// host's 20). Scaled down, the figure would measure the simulation's own cost of 2,500 SSH commands on a
// shared 2-core machine (about 4 s with no modelled time at all) instead of osdr's scheduling.
const benchLatency = 1.0

// simHosts runs commands on the simulated hosts over SSH, with the pool osdr's own commands use.
type simHosts struct {
	pool      *sshx.Pool
	endpoints map[string]sshx.Endpoint
}

func (s simHosts) RunOnHost(ctx context.Context, host, command string) (sshx.Result, error) {
	ep, ok := s.endpoints[host]
	if !ok {
		return sshx.Result{}, fmt.Errorf("no endpoint for host %s", host)
	}
	return s.pool.Run(ctx, ep, command)
}

// powerLossCloud builds hostCount simulated compute hosts, each running domains whose volumes hold
// sessionsPerHost iSCSI sessions, and the selection of a power loss of all of them.
func powerLossCloud(b *testing.B, hostCount, sessionsPerHost int) (*hosts.Cluster, simHosts, Selection) {
	b.Helper()
	ctx := context.Background()
	c, err := hosts.New()
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Close() })
	if err := c.SetLatencyScale(benchLatency); err != nil {
		b.Fatal(err)
	}
	const volumesPerDomain = 2
	var sel Selection
	n := 0
	for h := range hostCount {
		name := fmt.Sprintf("compute-%d", h+1)
		if err := c.AddHost(ctx, name, hosts.HostOptions{}); err != nil {
			b.Fatal(err)
		}
		sel.Hosts = append(sel.Hosts, name)
		for range sessionsPerHost / volumesPerDomain {
			n++
			in := Instance{ID: fmt.Sprintf("%08x-0000-4000-8000-000000000000", n), Host: name, DomainName: fmt.Sprintf("instance-%08x", n)}
			var conns []virt.VolumeConnection
			for v := range volumesPerDomain {
				id := fmt.Sprintf("%08x-%04x-4000-8000-000000000000", n, v+1)
				iqn := "iqn.2010-10.org.openstack:volume-" + id
				conns = append(conns, virt.VolumeConnection{VolumeID: id, Device: fmt.Sprintf("/dev/vd%c", 'b'+v), IQN: iqn, Portal: "10.0.0.1:3260", LUN: 1})
				in.Volumes = append(in.Volumes, Volume{ID: id, DriverVolumeType: "iscsi", IQN: iqn, Portal: "10.0.0.1:3260"})
			}
			if err := c.PowerOn(ctx, virt.Domain{Host: name, Name: in.DomainName, InstanceUUID: in.ID}, conns); err != nil {
				b.Fatal(err)
			}
			sel.Instances = append(sel.Instances, in)
		}
	}
	if err := c.Start(ctx); err != nil {
		b.Fatal(err)
	}
	files, err := c.WriteClientFiles(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	pool, err := sshx.New(sshx.Config{KnownHostsFile: files.KnownHosts, DefaultKeyFile: files.Key})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { pool.Close() })
	sh := simHosts{pool: pool, endpoints: map[string]sshx.Endpoint{}}
	for _, name := range sel.Hosts {
		ep, err := c.HostEndpoint(name)
		if err != nil {
			b.Fatal(err)
		}
		sh.endpoints[name] = sshx.Endpoint{Name: name, Address: ep.Address, Port: ep.Port, User: ep.User}
	}
	return c, sh, sel
}

// slowestHostsLogouts is the lower bound of a power loss: the host whose logouts, back to back, took longest
// by the simulation's own records of each command's modelled time since a moment.
func slowestHostsLogouts(b *testing.B, c *hosts.Cluster, since time.Time) time.Duration {
	b.Helper()
	var slowest time.Duration
	for _, name := range c.Hosts() {
		history, err := c.HostCommands(name)
		if err != nil {
			b.Fatal(err)
		}
		var total time.Duration
		for _, cmd := range history {
			if cmd.At.After(since) && strings.Contains(cmd.Command, " -u ") {
				total += cmd.Took
			}
		}
		slowest = max(slowest, total)
	}
	return slowest
}

// BenchmarkPowerLossOf50HostsBy20Sessions injects a power loss of 50 compute hosts with 20 iSCSI sessions
// each (host-power-loss: every session logged out with its own sid, every domain destroyed) through the SSH
// pool against the simulated hosts, and sets the injection's wall time beside its lower bound, the slowest
// host's logouts back to back (inject_ratio_to_bound).
func BenchmarkPowerLossOf50HostsBy20Sessions(b *testing.B) {
	const hostCount, sessionsPerHost = 50, 20
	for b.Loop() {
		b.StopTimer()
		c, sh, sel := powerLossCloud(b, hostCount, sessionsPerHost)
		ctx := context.Background()
		limits := Limits{MaxHosts: hostCount, MaxInstances: len(sel.Instances), MaxSessions: hostCount * sessionsPerHost}
		actions, err := PlanFaults(ctx, sh, []Fault{HostPowerLoss}, sel, limits)
		if err != nil {
			b.Fatal(err)
		}
		rec := NewRecord(run.Run{ID: "bench", Dir: b.TempDir()}, []string{HostPowerLoss.Name()}, limits, actions)
		b.StartTimer()
		started := time.Now()
		if err := Inject(ctx, sh, rec); err != nil {
			b.Fatal(err)
		}
		wall := time.Since(started)
		b.StopTimer()
		for _, name := range sel.Hosts {
			if left, err := c.Sessions(name); err != nil || len(left) > 0 {
				b.Fatalf("host %s still has %d sessions (%v)", name, len(left), err)
			}
		}
		bound := slowestHostsLogouts(b, c, started)
		b.ReportMetric(wall.Seconds()/bound.Seconds(), "inject_ratio_to_bound")
		b.ReportMetric(wall.Seconds(), "inject_seconds")
		b.ReportMetric(bound.Seconds(), "inject_bound_seconds")
		b.Logf("%d hosts x %d sessions: %d actions in %.2fs, bound %.2fs", hostCount, sessionsPerHost, len(actions), wall.Seconds(), bound.Seconds())
		b.StartTimer()
	}
}
