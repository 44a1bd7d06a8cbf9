package suites_test

import (
	"context"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/osdr/osdr/suites"
	"github.com/osdr/osdr/testenv/hosts"
	"github.com/osdr/osdr/testenv/sim"
)

// benchLatency runs the guests' commands at a real guest's pace (30 ms a command, 250 ms more for reading a
// stamp off a volume): scaled down, the figure would measure the simulation's own cost of thousands of SSH
// commands and API calls on a shared 2-core machine (the benchmark reports it, verify_unmodelled_seconds)
// instead of how the verification schedules its checks.
const benchLatency = 1.0

// BenchmarkVerifyOf1000Guests verifies a healthy simulated cloud of 1,000 instances x 2 stamped volumes on
// 100 compute hosts, every check family, and sets the verification's wall time beside its lower bound
// (verify_ratio_to_bound): the machines' own records of what their commands took under the latency model,
// the slowest machine's back to back, or all of them shared among the verification's SSH connections if
// that is longer. BENCH_INSTANCES overrides the size (10 instances a host).
func BenchmarkVerifyOf1000Guests(b *testing.B) {
	instances := 1000
	if v, err := strconv.Atoi(os.Getenv("BENCH_INSTANCES")); err == nil && v > 0 {
		instances = v
	}
	// The cloud is built and stamped with the latency model off, as nothing of that is measured; the API
	// and database reads a verification makes take no modelled time at any scale.
	c, s := startSim(b, sim.Shape{Hosts: max(1, instances/10), Instances: instances, VolumesPerInstance: 2, Seed: 16})
	target := &suites.Target{Manifest: stampedManifest(b, c)}
	machines := s.Driver.(*hosts.Cluster)
	verify := func() time.Duration {
		b.Helper()
		// A new process's connections, as `osdr verify` opens them.
		target.Cloud = openSim(b, s)
		started := time.Now()
		report, err := suites.Verify(context.Background(), target, suites.Options{Deadline: 10 * time.Minute})
		wall := time.Since(started)
		if err != nil {
			b.Fatal(err)
		}
		if passed, failed, skipped := report.Counts(); !report.Passed() {
			b.Fatalf("the verification of a healthy cloud failed: %d passed, %d failed, %d skipped", passed, failed, skipped)
		}
		return wall
	}
	unmodelled := verify()
	if err := machines.SetLatencyScale(benchLatency); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		started := time.Now()
		wall := verify()
		b.StopTimer()
		bound, slowest, total := verifyBound(b, machines, started, suites.DefaultConnections)
		b.ReportMetric(wall.Seconds()/bound.Seconds(), "verify_ratio_to_bound")
		b.ReportMetric(wall.Seconds(), "verify_seconds")
		b.ReportMetric(bound.Seconds(), "verify_bound_seconds")
		b.ReportMetric(unmodelled.Seconds(), "verify_unmodelled_seconds")
		b.Logf("%d guests on %d hosts: verified in %.2fs; bound %.2fs (slowest machine %.2fs, all machines %.1fs over %d connections); with no modelled time %.2fs",
			instances, max(1, instances/10), wall.Seconds(), bound.Seconds(), slowest.Seconds(), total.Seconds(), suites.DefaultConnections, unmodelled.Seconds())
		b.StartTimer()
	}
}

// verifyBound is the lower bound of a verification by the machines' own records of the modelled time of
// each command run since started: the slowest machine's commands back to back, or every machine's time
// shared evenly among the connections, whichever is longer.
func verifyBound(b *testing.B, c *hosts.Cluster, started time.Time, connections int) (bound, slowest, total time.Duration) {
	b.Helper()
	add := func(history []hosts.CommandRecord, err error) {
		if err != nil {
			b.Fatal(err)
		}
		var machine time.Duration
		for _, cmd := range history {
			if cmd.At.After(started) {
				machine += cmd.Took
			}
		}
		slowest = max(slowest, machine)
		total += machine
	}
	for _, g := range c.Guests() {
		add(c.GuestCommands(g.InstanceUUID))
	}
	for _, h := range c.Hosts() {
		add(c.HostCommands(h))
	}
	return max(slowest, total/time.Duration(connections)), slowest, total
}
