package settings

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
)

// largeInventory is the inventory of a cloud of hosts compute hosts and as many guests, every field of every
// entry set with long values: the estimate MaxInventoryBytes is made from.
func largeInventory(hosts int) string {
	var b strings.Builder
	b.WriteString("defaults: {user: osdr-recovery, key: /etc/osdr/keys/default.ed25519, known_hosts: /etc/osdr/known_hosts, port: 22}\nhosts:\n")
	host := func(i int) string {
		return fmt.Sprintf("compute-r%03d-u%02d.az%d.dc1.cloud.example.internal", i/40, i%40, i%3+1)
	}
	for i := range hosts {
		fmt.Fprintf(&b, "  %s:\n    address: 10.%d.%d.%d\n    port: 2222\n    user: osdr-recovery\n    key: /etc/osdr/keys/compute-r%03d-u%02d.ed25519\n",
			host(i), 120+i/65000, i/250%250, i%250+1, i/40, i%40)
		fmt.Fprintf(&b, "    jump: {address: bastion-az%d.dc1.cloud.example.internal, port: 2222, user: osdr-jump, key: /etc/osdr/keys/bastion-az%d.ed25519}\n", i%3+1, i%3+1)
	}
	b.WriteString("guests:\n")
	for i := range hosts {
		fmt.Fprintf(&b, "  %08x-0b7a-4f7e-9a55-3d3c0a1b2c3d:\n    address: 2001:db8:%04x:%04x:f816:3eff:fe%02x:%04x\n    port: 22\n    user: cloud-user-%03d\n",
			i, i%9999, i%7777, i%255, i%9999, i%100)
		fmt.Fprintf(&b, "    key: /etc/osdr/keys/projects/%032x.ed25519\n    jump: {address: %s, port: 2222, user: osdr-recovery, key: /etc/osdr/keys/compute.ed25519}\n", i*7919, host(i))
	}
	return b.String()
}

// largeNovaDSNFile holds one long DSN per cell.
func largeNovaDSNFile(cells int) string {
	var b strings.Builder
	for i := range cells {
		fmt.Fprintf(&b, "nova:%s@tcp(nova-cell%04d-db.dc1.cloud.example.internal:3306)/nova_cell%04d?charset=utf8mb4&tls=preferred&timeout=30s&readTimeout=60s\n",
			strings.Repeat("p", 64), i, i)
	}
	return b.String()
}

func TestLimitsFitALargeCloud(t *testing.T) {
	inventory := largeInventory(10_000)
	if 4*len(inventory) > MaxInventoryBytes {
		t.Errorf("the inventory of 10,000 hosts and guests is %d bytes; MaxInventoryBytes %d is less than four times that", len(inventory), MaxInventoryBytes)
	}
	dsns := largeNovaDSNFile(1_000)
	if 4*len(dsns) > MaxDSNFileBytes {
		t.Errorf("the DSNs of 1,000 cells are %d bytes; MaxDSNFileBytes %d is less than four times that", len(dsns), MaxDSNFileBytes)
	}
	t.Logf("inventory %d bytes, DSN file %d bytes", len(inventory), len(dsns))
	// The estimate is only worth its shape: a sample of it must be an inventory and a DSN file osdr reads.
	dir := t.TempDir()
	s := mustResolve(t, []string{
		"--" + FlagInventory, writeFile(t, dir, "inventory.yaml", largeInventory(50), 0o600),
		"--" + FlagNovaDBDSNFile, writeFile(t, dir, "nova.dsn", largeNovaDSNFile(50), 0o600),
	}, nil)
	if cells, err := s.Databases.NovaCells(); err != nil || len(cells) != 50 {
		t.Errorf("NovaCells = %d, %v; want 50", len(cells), err)
	}
	if !strings.Contains(s.Machines.String(), "50 hosts, 50 guests") {
		t.Errorf("Machines = %s, want 50 hosts and 50 guests", s.Machines)
	}
}

func TestFileSizeLimits(t *testing.T) {
	dir := t.TempDir()
	inventory := writeFile(t, dir, "inventory.yaml", inventoryYAML, 0o600)
	size := strconv.Itoa(len(inventoryYAML))
	dsnFile := writeFile(t, dir, "cinder.dsn", cinderDSN, 0o600)
	dsnSize := strconv.Itoa(len(cinderDSN))
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want []string // in the refusal; none: accepted
	}{
		{"inventory within the default", []string{"--inventory", inventory}, nil, nil},
		{"inventory at the limit", []string{"--inventory", inventory}, map[string]string{EnvMaxInventoryBytes: size}, nil},
		{"inventory over the limit", []string{"--inventory", inventory}, map[string]string{EnvMaxInventoryBytes: "100"},
			[]string{"inventory (--inventory=" + inventory + ")", "the file is " + size + " bytes, over the limit of 100 bytes", "$" + EnvMaxInventoryBytes}},
		{"DSN file at the limit", []string{"--" + FlagCinderDBDSNFile, dsnFile}, map[string]string{EnvMaxDSNFileBytes: dsnSize}, nil},
		{"DSN file over the limit", nil, map[string]string{EnvCinderDBDSNFile: dsnFile, EnvMaxDSNFileBytes: "20"},
			[]string{"$" + EnvCinderDBDSNFile + "=" + dsnFile, "the file is " + dsnSize + " bytes, over the limit of 20 bytes", "$" + EnvMaxDSNFileBytes}},
		{"a limit that is no number", nil, map[string]string{EnvMaxInventoryBytes: "32MiB"}, []string{"$" + EnvMaxInventoryBytes, `"32MiB" is not a positive number of bytes`}},
		{"a limit of nothing", nil, map[string]string{EnvMaxDSNFileBytes: "0"}, []string{"$" + EnvMaxDSNFileBytes, `"0"`}},
		{"a manifest limit that is no number, reported with the settings", nil, map[string]string{EnvMaxManifestBytes: "1e9"}, []string{"$" + EnvMaxManifestBytes, `"1e9" is not a positive number of bytes`}},
		{"a negative journal limit", nil, map[string]string{EnvMaxJournalBytes: "-1"}, []string{"$" + EnvMaxJournalBytes, `"-1"`}},
		{"a drill file limit past int64", nil, map[string]string{EnvMaxDrillFileBytes: "99999999999999999999"}, []string{"$" + EnvMaxDrillFileBytes}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if len(tt.want) == 0 {
				mustResolve(t, tt.args, tt.env)
				return
			}
			refused(t, tt.args, tt.env, tt.want...)
		})
	}
}
