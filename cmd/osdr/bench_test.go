package main

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/osdr/osdr/testenv"
	"github.com/osdr/osdr/testenv/sim"
)

// BenchmarkRecoveryVersusTheGuidesSequence recovers a larger simulated cloud with the latency model on, once
// as osdr does (instances independently, --concurrency 8) and once as the guide's procedure runs (one
// instance at a time), and reports both times and their ratio. Run with `make bench`.
func BenchmarkRecoveryVersusTheGuidesSequence(b *testing.B) {
	shape := sim.Shape{Hosts: 4, Instances: 16, VolumesPerInstance: 2, Seed: 41}
	const latency = 0.02 // a real cloud's operation times, scaled down 50×
	measure := func(concurrency string) time.Duration {
		dir := b.TempDir()
		s, err := sim.Start(context.Background(), sim.Options{StateDir: dir, Shape: shape, Server: testenv.SharedServer(b), LatencyScale: latency})
		if err != nil {
			b.Fatal(err)
		}
		defer s.Close(context.Background())
		if err := s.PowerCut(context.Background(), nil, false); err != nil {
			b.Fatal(err)
		}
		env, err := s.Env()
		if err != nil {
			b.Fatal(err)
		}
		cmd := exec.Command(osdrBinary, "recover", "--all", "--concurrency", concurrency, "--api-rate", "0")
		cmd.Env = os.Environ()
		for k, v := range env {
			cmd.Env = append(cmd.Env, k+"="+v)
		}
		start := time.Now()
		out, err := cmd.CombinedOutput()
		elapsed := time.Since(start)
		if err != nil || !strings.Contains(string(out), "16 recovered, 0 failed") {
			b.Fatalf("recover --concurrency %s: %v\n%s", concurrency, err, out)
		}
		return elapsed
	}
	for b.Loop() {
		osdrTime := measure("8")
		guideTime := measure("1")
		b.ReportMetric(osdrTime.Seconds(), "osdr-s")
		b.ReportMetric(guideTime.Seconds(), "guide-sequential-s")
		b.ReportMetric(guideTime.Seconds()/osdrTime.Seconds(), "speedup")
	}
}
