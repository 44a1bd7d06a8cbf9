package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/osdr/osdr/recover"
	"github.com/osdr/osdr/testenv"
	"github.com/osdr/osdr/testenv/sim"
)

// benchLatency scales the latency model's real-cloud durations (a HARD reboot's tens of seconds, an attach's
// few) down, so a bench of 1,000 instances runs in minutes while every wait still waits on something.
const benchLatency = 0.05

// benchAPIRate is osdr's default API rate scaled like the latencies.
var benchAPIRate = strconv.Itoa(int(defaultAPIRate / benchLatency))

// benchSim starts a simulated cloud for a benchmark, with the latency model on, and cuts every host's power.
func benchSim(b *testing.B, shape sim.Shape) *sim.Sim {
	b.Helper()
	s, _ := benchSimAfterSnapshot(b, shape, false)
	return s
}

// benchSimAfterSnapshot starts a simulated cloud, takes the scheduled snapshot an operator recovers from when
// snapshot is set (its manifest's path is returned), and cuts every host's power.
func benchSimAfterSnapshot(b *testing.B, shape sim.Shape, snapshot bool) (*sim.Sim, string) {
	b.Helper()
	s, err := sim.Start(context.Background(), sim.Options{StateDir: b.TempDir(), Shape: shape, Server: testenv.SharedServer(b), LatencyScale: benchLatency})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close(context.Background()) })
	var manifest string
	if snapshot {
		r := benchOsdr(b, s, "snapshot", "--all", "-o", "json")
		if r.Manifest == nil {
			b.Fatalf("the snapshot wrote no manifest: %+v", r.Result)
		}
		manifest = r.Manifest.Path
	}
	if err := s.PowerCut(context.Background(), nil, false); err != nil {
		b.Fatal(err)
	}
	return s, manifest
}

// recovery is what a benchmark reads of one `osdr recover -o json`.
type recovery struct {
	Result
	Wall   time.Duration
	MaxRSS int64 // bytes
}

// benchRecover runs `osdr recover --all` against the sim.
func benchRecover(b *testing.B, s *sim.Sim, args ...string) recovery {
	b.Helper()
	// A guest that cannot boot (its fstab names a volume a stuck attach never brought) fails within a scaled
	// guest timeout, not the real one's 15 minutes; the floor leaves room for the sim's own work under load.
	guestTimeout := max(2*time.Minute, time.Duration(float64(recover.DefaultExecOptions.GuestTimeout)*benchLatency))
	r := benchOsdr(b, s, append([]string{"recover", "--all", "-o", "json", "--guest-timeout", guestTimeout.String()}, args...)...)
	if r.Timing == nil {
		b.Fatalf("osdr recover %v: no timing in the result %+v", args, r.Result)
	}
	return r
}

// benchOsdr runs the osdr binary against the sim and reads its JSON result and peak memory.
func benchOsdr(b *testing.B, s *sim.Sim, args ...string) recovery {
	b.Helper()
	env, err := s.Env()
	if err != nil {
		b.Fatal(err)
	}
	cmd := exec.Command(osdrBinary, args...)
	cmd.Env = append(os.Environ(), envList(env)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err = cmd.Run()
	r := recovery{Wall: time.Since(start)}
	lines := bytes.Split(bytes.TrimSpace(stdout.Bytes()), []byte("\n"))
	// Exit 3 is a partial recovery: the result says which instances failed, and the caller judges.
	var exit *exec.ExitError
	partial := errors.As(err, &exit) && exit.ExitCode() == 3
	if jerr := json.Unmarshal(lines[len(lines)-1], &r.Result); jerr != nil || err != nil && !partial {
		b.Fatalf("osdr %v: %v (result: %v)\n%s", args, err, jerr, tail(stderr.Bytes()))
	}
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		r.MaxRSS = ru.Maxrss * 1024 // Linux reports kilobytes
	}
	return r
}

// tail is the end of what a command printed, enough to say why it failed.
func tail(out []byte) []byte {
	if len(out) > 4000 {
		return out[len(out)-4000:]
	}
	return out
}

// expectSucceeded fails a benchmark whose recovery left an instance unrecovered: its times would not be a
// recovery's.
func expectSucceeded(b *testing.B, r recovery) {
	b.Helper()
	if r.Status != "succeeded" {
		for _, in := range r.Instances {
			if in.Outcome != "recovered" {
				b.Logf("%s (%s): %s: %s", in.ID, in.Name, in.Outcome, in.Error)
			}
		}
		b.Fatalf("the recovery ended %s", r.Status)
	}
}

// benchInstances is how many instances the recovery benchmark recovers: 1,000 (the figure's), or
// BENCH_INSTANCES to try the harness at another size.
func benchInstances(b *testing.B, def int) int {
	if v, err := strconv.Atoi(os.Getenv("BENCH_INSTANCES")); err == nil && v > 0 {
		b.Logf("BENCH_INSTANCES=%d: the figures are not the 1,000-instance ones", v)
		return v
	}
	return def
}

// BenchmarkRecoveryToItsBoundAndToTheGuidesSequence recovers 1,000 instances x 2 volumes on 100 hosts with
// osdr's defaults and sets steps 3-5 beside their lower bound (recover_1000_ratio_to_bound), and beside the
// guide's procedure run one instance at a time: osdr itself with --concurrency 1 --per-host 1
// --per-backend 1 on a tenth of the cloud, its time multiplied by ten (each instance's steps take the same
// time whatever the others do, so the sequence scales linearly) (sequential_over_osdr).
func BenchmarkRecoveryToItsBoundAndToTheGuidesSequence(b *testing.B) {
	n := benchInstances(b, 1000)
	for b.Loop() {
		// The latency model runs benchLatency times a real cloud's durations; the API rate is scaled alike
		// (osdr's default 50 requests a second, ×20), so neither side of the figure is set by a budget a real
		// cloud would not have.
		fleet := benchRecover(b, benchSim(b, sim.Shape{Hosts: max(1, n/10), Instances: n, VolumesPerInstance: 2, Seed: 41}), "--api-rate", benchAPIRate)
		expectSucceeded(b, fleet)
		tenth := max(1, n/10)
		one := benchRecover(b, benchSim(b, sim.Shape{Hosts: max(1, tenth/10), Instances: tenth, VolumesPerInstance: 2, Seed: 41}),
			"--concurrency", "1", "--per-host", "1", "--per-backend", "1", "--api-rate", benchAPIRate)
		expectSucceeded(b, one)
		sequential := one.Timing.WallSeconds * float64(n) / float64(tenth)
		b.ReportMetric(fleet.Timing.Ratio, "recover_1000_ratio_to_bound")
		b.ReportMetric(fleet.Timing.WallSeconds, "recover_1000_steps_3_5_seconds")
		b.ReportMetric(fleet.Timing.BoundSeconds, "recover_1000_bound_seconds")
		b.ReportMetric(sequential/fleet.Timing.WallSeconds, "sequential_over_osdr")
		b.ReportMetric(float64(fleet.MaxRSS)/(1<<20), "recover_1000_rss_mib")
		b.Logf("%d x 2: steps 3-5 %.1fs, bound %.1fs (%s); sequential %.1fs for %d, so %.0fs for %d", n, fleet.Timing.WallSeconds,
			fleet.Timing.BoundSeconds, fleet.Timing.BoundBy, one.Timing.WallSeconds, tenth, sequential, n)
		b.Logf("per instance, median and longest: %s", stepSpread(fleet.Instances))
	}
}

// stepSpread is each step's median and longest time over the instances, for reading a bench's log.
func stepSpread(instances []InstanceOutcome) string {
	per := map[string][]float64{}
	for _, in := range instances {
		for step, secs := range in.Steps {
			per[step] = append(per[step], secs)
		}
	}
	var out []string
	for _, step := range slices.Sorted(maps.Keys(per)) {
		v := per[step]
		slices.Sort(v)
		out = append(out, fmt.Sprintf("%s %.2fs/%.2fs", step, v[len(v)/2], v[len(v)-1]))
	}
	return strings.Join(out, ", ")
}

// BenchmarkRecoveryMemoryAt10000 recovers 10,000 instances x 2 volumes and reports osdr's peak RSS
// (rss_10000_mib), without GOGC or GOMEMLIMIT set. Only with BENCH_LARGE=1.
func BenchmarkRecoveryMemoryAt10000(b *testing.B) {
	if os.Getenv("BENCH_LARGE") == "" {
		b.Skip("the 10,000-instance recovery runs with BENCH_LARGE=1")
	}
	for _, v := range []string{"GOGC", "GOMEMLIMIT"} {
		if os.Getenv(v) != "" {
			b.Fatalf("%s is set: the figure is osdr's memory with the runtime's defaults", v)
		}
	}
	for b.Loop() {
		r := benchRecover(b, benchSim(b, sim.Shape{Hosts: 100, Instances: 10000, VolumesPerInstance: 2, Seed: 43}), "--api-rate", benchAPIRate)
		expectSucceeded(b, r)
		b.ReportMetric(float64(r.MaxRSS)/(1<<20), "rss_10000_mib")
		b.ReportMetric(r.Timing.Ratio, "recover_10000_ratio_to_bound")
		b.Logf("10,000 x 2: %s, peak RSS %d MiB", fmt.Sprintf("steps 3-5 %.1fs, bound %.1fs", r.Timing.WallSeconds, r.Timing.BoundSeconds), r.MaxRSS>>20)
	}
}
