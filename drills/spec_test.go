package drills

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/osdr/osdr/inject"
)

var kinds = inject.Kinds()

func TestValidDrillLoads(t *testing.T) {
	d, err := Load("testdata/valid.yaml", kinds)
	if err != nil {
		t.Fatal(err)
	}
	if d.Name != "weekly-compute-1" || d.Recovery.Timeout.Duration != 30*time.Minute || d.Verification.Deadline.Duration != 5*time.Minute || len(d.Faults) != 2 {
		t.Errorf("drill = %+v", d)
	}
}

func TestInvalidDrillsSayWhatIsWrong(t *testing.T) {
	valid, err := os.ReadFile("testdata/valid.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name        string
		from, to    string
		wantProblem string
	}{
		{"not staging", "staging: true", "staging: false", "guards.staging: must be true"},
		{"no endpoints", `allowedEndpoints: ["https://keystone.staging.example.net:5000/v3"]`, "allowedEndpoints: []", "guards.allowedEndpoints: list"},
		{"relative endpoint", "https://keystone.staging.example.net:5000/v3", "keystone/v3", "is not an absolute URL"},
		{"unbounded blast radius", "maxVolumes: 10", "maxVolumes: 0", "guards.maxVolumes 0 is out of range: it must be between 1 and"},
		{"negative concurrency", "concurrency: 4", "concurrency: -3", "recovery.concurrency -3 is out of range: it must be between 1 and 1024"},
		{"negative API rate", "apiRate: 5", "apiRate: -1", "recovery.apiRate -1 is out of range"},
		{"negative recovery timeout", "timeout: 30m", "timeout: -5s", "recovery.timeout -5s is out of range: it must be between 1s and 24h0m0s"},
		{"negative verification deadline", "deadline: 5m", "deadline: -5m", "verification.deadline -5m0s is out of range"},
		{"unknown fault", "kind: guest-destroy", "kind: nova-volume-detach", `faults[1].kind: "nova-volume-detach" is not a fault osdr knows`},
		{"no targets", "  hosts: [compute-1]", "  hosts: []", "targets: select instances"},
		{"bad guest reboot policy", "guestReboot: fstab", "guestReboot: sometimes", `recovery.guestReboot: "sometimes"`},
		{"bad duration", "timeout: 30m", "timeout: half an hour", "want a Go duration"},
		{"unknown field (typo)", "maxHosts: 1", "maxHost: 1", `unknown field "maxHost"`},
		{"wrong version", "apiVersion: osdr.dev/v1", "apiVersion: v2", `apiVersion: "v2"`},
		{"malformed YAML", "kind: Drill", "kind: [Drill", "yaml"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			raw := strings.Replace(string(valid), tc.from, tc.to, 1)
			if raw == string(valid) {
				t.Fatalf("test does not change the file: %q not found", tc.from)
			}
			_, err := Parse("drill.yaml", []byte(raw), kinds)
			var verr *ValidationError
			if !errors.As(err, &verr) {
				t.Fatalf("err = %v, want a ValidationError", err)
			}
			if !strings.Contains(err.Error(), tc.wantProblem) {
				t.Errorf("error does not mention %q:\n%v", tc.wantProblem, err)
			}
		})
	}
}

func TestGuardsRefuseAnythingButTheAllowedStagingCloud(t *testing.T) {
	g := Guards{Staging: true, AllowedEndpoints: []string{"https://Keystone.staging.example.net:5000/v3/"}, AllowedRegions: []string{"RegionOne"}, MaxHosts: 1, MaxInstances: 2, MaxVolumes: 3}
	for _, tc := range []struct {
		url, region string
		ok          bool
	}{
		{"https://keystone.staging.example.net:5000/v3", "RegionOne", true},
		{"https://keystone.prod.example.net:5000/v3", "RegionOne", false},
		{"https://keystone.staging.example.net:5000/v3", "RegionTwo", false},
	} {
		err := g.CheckEndpoint(tc.url, tc.region)
		if (err == nil) != tc.ok || (err != nil && !errors.Is(err, ErrGuard)) {
			t.Errorf("CheckEndpoint(%s, %s) = %v, want ok=%v", tc.url, tc.region, err, tc.ok)
		}
	}
	notStaging := g
	notStaging.Staging = false
	if err := notStaging.CheckEndpoint("https://keystone.staging.example.net:5000/v3", "RegionOne"); !errors.Is(err, ErrGuard) {
		t.Errorf("a drill not marked staging ran: %v", err)
	}
	if err := g.CheckBlastRadius(1, 2, 3); err != nil {
		t.Errorf("within limits: %v", err)
	}
	if err := g.CheckBlastRadius(2, 3, 3); !errors.Is(err, ErrGuard) || !strings.Contains(err.Error(), "2 hosts > maxHosts 1") || !strings.Contains(err.Error(), "3 instances > maxInstances 2") {
		t.Errorf("over the limits: %v", err)
	}
}

// The examples shipped for users must stay valid drills.
func TestExampleDrillsAreValid(t *testing.T) {
	paths, err := filepath.Glob("../examples/drills/*.yaml")
	if err != nil || len(paths) == 0 {
		t.Fatalf("no example drills found: %v", err)
	}
	for _, p := range paths {
		if _, err := Load(p, kinds); err != nil {
			t.Errorf("%s: %v", p, err)
		}
	}
}
