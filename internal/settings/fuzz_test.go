package settings

import (
	"encoding/json"
	"reflect"
	"testing"
)

// FuzzParseInventory: whatever an inventory holds, reading it returns the entries or an error, never a panic;
// an inventory it accepts, written out again, reads as the same entries.
func FuzzParseInventory(f *testing.F) {
	f.Add([]byte(inventoryYAML))
	f.Add([]byte(largeInventory(3)))
	f.Add([]byte("hosts:\n  compute-1: {address: 10.0.0.1}\n  compute-1: {address: 10.0.0.2}\n"))
	f.Add([]byte("defaults: {key: ~/.ssh/id_ed25519, port: 70000}\nguests:\n  g: {jump: {jump: {address: x}}}\n"))
	f.Add([]byte("hosts: &h {a: {address: b}}\nguests: *h\n"))
	f.Add([]byte("hosts:\n  \"\\e[31mcompute\": {address: \"../../etc/passwd\", port: -1, user: 7}\n"))
	f.Fuzz(func(t *testing.T, content []byte) {
		inv, err := parseInventory(content, "/etc/osdr")
		if err != nil {
			return
		}
		written, err := json.Marshal(map[string]any{"defaults": inv.defaults, "hosts": inv.hosts, "guests": inv.guests})
		if err != nil {
			t.Fatalf("the inventory cannot be written out: %v", err)
		}
		again, err := parseInventory(written, "/etc/osdr")
		if err != nil {
			t.Fatalf("the inventory written out does not read: %v\n%s", err, written)
		}
		// An empty section reads as an empty map, whether it was absent or written out empty.
		for _, sections := range [][2]*map[string]machineEntry{{&inv.hosts, &again.hosts}, {&inv.guests, &again.guests}} {
			if len(*sections[0]) == 0 && len(*sections[1]) == 0 {
				*sections[0], *sections[1] = nil, nil
			}
		}
		if !reflect.DeepEqual(again, inv) {
			t.Fatalf("the inventory written out reads differently:\n%+v\n%+v\n%s", inv, again, written)
		}
	})
}
