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
		l, err := NewLatency(scale, seed, nil)
		if err != nil {
			t.Fatal(err)
		}
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
	if l, _ := NewLatency(0, 42, nil); l.Duration(OpReboot) != 0 {
		t.Error("scale 0 drew a duration")
	}
}

// A configured median replaces the model's for that operation only; the API answers at once unless given one.
func TestLatencyOverrides(t *testing.T) {
	median := func(l *Latency, op Operation) time.Duration {
		out := make([]time.Duration, 1001)
		for i := range out {
			out[i] = l.Duration(op)
		}
		slices.Sort(out)
		return out[len(out)/2]
	}
	near := func(got, want time.Duration) bool { return got >= want*85/100 && got <= want*115/100 }
	plain, err := NewLatency(1, 7, nil)
	if err != nil {
		t.Fatal(err)
	}
	if d := plain.Duration(OpAPI); d != 0 {
		t.Errorf("the API took %v with no latency configured", d)
	}
	l, err := NewLatency(0.5, 7, map[Operation]time.Duration{OpReboot: 90 * time.Second, OpAPI: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	for op, want := range map[Operation]time.Duration{OpReboot: 45 * time.Second, OpAPI: 100 * time.Millisecond, OpAttach: Median(OpAttach) / 2} {
		if got := median(l, op); !near(got, want) {
			t.Errorf("%s: median %v, want about %v", op, got, want)
		}
	}
	for _, tc := range []struct {
		scale    float64
		override map[Operation]time.Duration
		want     string
	}{
		{-1, nil, "latency scale -1 is negative"},
		{1, map[Operation]time.Duration{"resize": time.Second}, `latency of "resize": no such operation`},
		{1, map[Operation]time.Duration{OpDetach: -time.Second}, "latency of detach: -1s is negative"},
	} {
		if _, err := NewLatency(tc.scale, 1, tc.override); err == nil || err.Error() != tc.want {
			t.Errorf("NewLatency(%v, %v): %v, want %q", tc.scale, tc.override, err, tc.want)
		}
	}
}
