package iscsi

import (
	"strings"
	"testing"
)

func TestProbeOpensOneConnectionWithinItsTimeout(t *testing.T) {
	for _, tc := range []struct{ portal, want string }{
		{"10.0.0.5:3260", "timeout 5 bash -c ': </dev/tcp/10.0.0.5/3260'"},
		{"[fd00::5]:3261", "timeout 5 bash -c ': </dev/tcp/fd00::5/3261'"},
		{"[::ffff:10.0.0.7]:3260", "timeout 5 bash -c ': </dev/tcp/10.0.0.7/3260'"},
	} {
		p, err := ParsePortal(tc.portal)
		if err != nil {
			t.Fatal(err)
		}
		if got := Probe(p); got != tc.want {
			t.Errorf("Probe(%s) = %q, want %q", tc.portal, got, tc.want)
		}
	}
}

func TestProbeResults(t *testing.T) {
	p, _ := ParsePortal("10.0.0.5:3260")
	for _, tc := range []struct {
		exit   int
		stderr string
		want   string // "" for success
	}{
		{0, "", ""},
		{124, "", "did not accept a connection within 5s"},
		{1, "bash: connect: Connection refused\nbash: line 1: /dev/tcp/10.0.0.5/3260: Connection refused\n", `refused or unreachable (exit 1: "bash: connect: Connection refused")`},
	} {
		err := ProbeResult(p, tc.exit, tc.stderr)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("exit %d: %v", tc.exit, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("exit %d: %v, want %q", tc.exit, err, tc.want)
		}
	}
}
