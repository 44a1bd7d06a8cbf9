package osapi

import (
	"testing"
	"time"
)

func TestParseISOTime(t *testing.T) {
	at := time.Date(2026, 12, 2, 13, 4, 5, 0, time.UTC)
	for _, tc := range []struct {
		in   string
		want time.Time
	}{
		{"2026-12-02T13:04:05Z", at},
		{"2026-12-02T13:04:05", at},
		{"2026-12-02T13:04:05.250000", at.Add(250 * time.Millisecond)},
		{"2026-12-02T14:04:05+01:00", at},
		{"2026-12-02 13:04:05", at},
		{"2026-12-02T13:04", at.Add(-5 * time.Second)},
		{"2026-12-02", time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC)},
	} {
		got, err := ParseISOTime(tc.in)
		if err != nil || !got.Equal(tc.want) || got.Location() != time.UTC {
			t.Errorf("%q: %v %v, want %v", tc.in, got, err, tc.want)
		}
	}
	for _, bad := range []string{"", "yesterday", "2026-13-02T00:00:00", "1733146800", "2026-12-02T25:00:00Z"} {
		if got, err := ParseISOTime(bad); err == nil {
			t.Errorf("%q read as %v", bad, got)
		}
	}
}
