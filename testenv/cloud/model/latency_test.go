package model

import (
	"math"
	"slices"
	"testing"
	"time"
)

// Durations are drawn log-normally around each operation's median from the seed, so one seed repeats them, and
// the scale multiplies them; scale 0 is instant.
func TestLatencyDraws(t *testing.T) {
	draw := func(scale float64, seed int64) []time.Duration {
		l := NewLatency(scale, seed)
		out := make([]time.Duration, 1001)
		for i := range out {
			out[i] = l.Duration(OpAttach)
		}
		return out
	}
	one, again, double := draw(1, 42), draw(1, 42), draw(2, 42)
	if !slices.Equal(one, again) {
		t.Error("one seed drew different durations")
	}
	for i := range one {
		if math.Abs(float64(double[i])-2*float64(one[i])) > 2 {
			t.Fatalf("draw %d: %v at scale 2, %v at scale 1", i, double[i], one[i])
		}
	}
	sorted := slices.Sorted(slices.Values(one))
	if median := sorted[len(sorted)/2]; median < medians[OpAttach]*85/100 || median > medians[OpAttach]*115/100 {
		t.Errorf("median %v, want about %v", median, medians[OpAttach])
	}
	if d := NewLatency(0, 42).Duration(OpReboot); d != 0 {
		t.Errorf("scale 0 drew %v", d)
	}
}
