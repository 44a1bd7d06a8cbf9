package drills

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/osdr/osdr/internal/settings"
)

// largeDrill is a drill that names every one of instances instances by id and by name and every one of hosts
// compute hosts: the largest drill file of a cloud of that size, the estimate MaxDrillFileBytes is made from.
func largeDrill(instances, hosts int) string {
	var b strings.Builder
	fmt.Fprintf(&b, `apiVersion: osdr.dev/v1
kind: Drill
name: quarterly-whole-region
description: Power loss of the whole region, every instance named.
cloud: {osCloud: staging}
guards:
  staging: true
  allowedEndpoints: ["https://keystone.region-one.dc1.cloud.example.internal:5000/v3"]
  maxHosts: %d
  maxInstances: %d
  maxVolumes: %d
faults: [{kind: iscsi-session}]
targets:
  instances:
`, hosts, instances, 2*instances)
	for i := range instances {
		fmt.Fprintf(&b, "    - %08x-0b7a-4f7e-9a55-%012x\n", i, i*7919)
	}
	b.WriteString("  names:\n")
	for i := range instances {
		fmt.Fprintf(&b, "    - project-%04d-application-server-%06d\n", i%9999, i)
	}
	b.WriteString("  hosts:\n")
	for i := range hosts {
		fmt.Fprintf(&b, "    - compute-r%03d-u%02d.az%d.dc1.cloud.example.internal\n", i/40, i%40, i%3+1)
	}
	return b.String()
}

func TestDrillFileLimitFitsALargeCloud(t *testing.T) {
	drill := largeDrill(50_000, 10_000)
	t.Logf("a drill naming 50,000 instances twice and 10,000 hosts: %d bytes", len(drill))
	if 4*len(drill) > settings.MaxDrillFileBytes {
		t.Errorf("a drill naming 50,000 instances is %d bytes; MaxDrillFileBytes %d is less than four times that", len(drill), settings.MaxDrillFileBytes)
	}
	// The estimate is only worth its shape: a sample of it must be a drill osdr reads.
	if d, err := Parse("sample.yaml", []byte(largeDrill(50, 10)), kinds); err != nil || len(d.Targets.Instances) != 50 || len(d.Targets.Hosts) != 10 {
		t.Fatalf("Parse of the sample: %v", err)
	}
}

func TestDrillFileSizeLimit(t *testing.T) {
	raw, err := os.ReadFile("testdata/valid.yaml")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "drill.yaml")
	if err := os.WriteFile(path, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	size := strconv.Itoa(len(raw))
	t.Setenv(settings.EnvMaxDrillFileBytes, size)
	if _, err := Load(path, kinds); err != nil {
		t.Fatalf("a drill file at the limit: %v", err)
	}
	t.Setenv(settings.EnvMaxDrillFileBytes, "100")
	_, err = Load(path, kinds)
	if !errors.Is(err, settings.ErrFileTooLarge) {
		t.Fatalf("a drill file over the limit: %v, want settings.ErrFileTooLarge", err)
	}
	for _, want := range []string{path, "is " + size + " bytes, over the limit of 100 bytes", "$" + settings.EnvMaxDrillFileBytes} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
}
