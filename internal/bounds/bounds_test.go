package bounds

import (
	"testing"
	"time"
)

func TestCheck(t *testing.T) {
	concurrency := Range[int]{Min: 1, Max: 1024}
	timeout := Range[time.Duration]{Min: time.Second, Max: 24 * time.Hour}
	rate := Range[float64]{Min: 0, Max: 10000}
	for _, tc := range []struct {
		name string
		err  error
		want string
	}{
		{"in range", concurrency.Check("--concurrency", 8), ""},
		{"zero", concurrency.Check("--concurrency", 0), "--concurrency 0 is out of range: it must be between 1 and 1024"},
		{"negative", concurrency.Check("--concurrency", -3), "--concurrency -3 is out of range: it must be between 1 and 1024"},
		{"negative duration", timeout.Check("recovery.timeout", -5*time.Second), "recovery.timeout -5s is out of range: it must be between 1s and 24h0m0s"},
		{"negative rate", rate.Check("--api-rate", -1), "--api-rate -1 is out of range: it must be between 0 and 10000"},
		{"the bounds themselves", timeout.Check("--reboot-timeout", 24*time.Hour), ""},
	} {
		got := ""
		if tc.err != nil {
			got = tc.err.Error()
		}
		if got != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
}
