package main

import (
	"strings"
	"testing"
)

// A number or duration out of range is refused before anything is contacted, naming the flag and the range;
// nothing is clamped.
func TestOutOfRangeNumbersAreRefusedNamingTheFlag(t *testing.T) {
	t.Setenv("OS_CLOUD", "")
	t.Setenv("OS_AUTH_URL", "")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"recover", "--all", "--concurrency", "0"}, "--concurrency 0 is out of range: it must be between 1 and 65536"},
		{[]string{"recover", "--all", "--concurrency", "-3"}, "--concurrency -3 is out of range"},
		{[]string{"recover", "--all", "--api-rate", "-1"}, "--api-rate -1 is out of range: it must be between 0 and"},
		{[]string{"recover", "--all", "--reboot-timeout", "-5s"}, "--reboot-timeout -5s is out of range: it must be between 1s and 24h0m0s"},
		{[]string{"recover", "--all", "--attach-timeout", "0s"}, "--attach-timeout 0s is out of range"},
		{[]string{"recover", "--all", "--guest-timeout", "48h"}, "--guest-timeout 48h0m0s is out of range"},
		{[]string{"verify", "--manifest", "m.json", "--deadline", "-5m"}, "--deadline -5m0s is out of range"},
		{[]string{"inject", "iscsi-session", "--host", "compute-1", "--max-hosts", "0"}, "--max-hosts 0 is out of range"},
		{[]string{"inject", "iscsi-session", "--host", "compute-1", "--max-sessions", "-1"}, "--max-sessions -1 is out of range"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			_, errOut, code := osdr(t, tc.args...)
			if code != exitFailure || !strings.Contains(errOut, tc.want) {
				t.Errorf("exit %d, stderr %q; want exit %d and %q", code, errOut, exitFailure, tc.want)
			}
		})
	}
}
