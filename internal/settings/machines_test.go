package settings

import (
	"errors"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/osdr/osdr/internal/sshx"
)

const inventoryYAML = `defaults: {user: root, key: /keys/id_ed25519, known_hosts: /keys/known_hosts, port: 2222}
hosts:
  compute-1: {address: 127.0.0.1, port: 2201, user: admin, key: keys/compute-1, jump: {address: bastion, port: 2022, user: ops, key: /k/bastion}}
  compute-2: {address: 127.0.0.1}
guests:
  6f7e3b1c-0b7a-4f7e-9a55-3d3c0a1b2c3d: {address: 127.0.0.1, port: 2301, user: cloud-user}
`

func TestInventoryEndpoints(t *testing.T) {
	dir := t.TempDir()
	inventory := writeFile(t, dir, "inventory.yaml", inventoryYAML, 0o600)
	s := mustResolve(t, []string{"--" + FlagInventory, inventory}, nil)
	m := s.Machines
	tests := []struct {
		name      string
		endpoint  func() (sshx.Endpoint, error)
		want      sshx.Endpoint
		wantNoJmp bool
	}{
		{
			name:     "host entry with a jump host, relative key beside the inventory",
			endpoint: func() (sshx.Endpoint, error) { return m.Host("compute-1") },
			want: sshx.Endpoint{Name: "compute-1", Address: "127.0.0.1", Port: 2201, User: "admin", KeyFile: filepath.Join(dir, "keys/compute-1"),
				Jump: &sshx.Endpoint{Name: "bastion", Address: "bastion", Port: 2022, User: "ops", KeyFile: "/k/bastion"}},
		},
		{
			name:     "host entry filled from the inventory defaults",
			endpoint: func() (sshx.Endpoint, error) { return m.Host("compute-2") },
			want:     sshx.Endpoint{Name: "compute-2", Address: "127.0.0.1", Port: 2222, User: "root", KeyFile: "/keys/id_ed25519"},
		},
		{
			name:     "host without an entry: its name",
			endpoint: func() (sshx.Endpoint, error) { return m.Host("compute-9") },
			want:     sshx.Endpoint{Name: "compute-9", Address: "compute-9", Port: 2222, User: "root", KeyFile: "/keys/id_ed25519"},
		},
		{
			name: "guest entry",
			endpoint: func() (sshx.Endpoint, error) {
				return m.Guest("6f7e3b1c-0b7a-4f7e-9a55-3d3c0a1b2c3d", []string{"10.0.0.5"})
			},
			want: sshx.Endpoint{Name: "6f7e3b1c-0b7a-4f7e-9a55-3d3c0a1b2c3d", Address: "127.0.0.1", Port: 2301, User: "cloud-user", KeyFile: "/keys/id_ed25519"},
		},
		{
			name:     "guest without an entry: its first address",
			endpoint: func() (sshx.Endpoint, error) { return m.Guest("0c2d", []string{"", "10.0.0.7", "10.0.0.8"}) },
			want:     sshx.Endpoint{Name: "0c2d", Address: "10.0.0.7", Port: 2222, User: "root", KeyFile: "/keys/id_ed25519"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.endpoint()
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("endpoint = %+v (jump %+v), want %+v (jump %+v)", got, got.Jump, tt.want, tt.want.Jump)
			}
		})
	}
	want := sshx.Config{KnownHostsFile: "/keys/known_hosts", DefaultKeyFile: "/keys/id_ed25519", DefaultUser: "root"}
	if got := m.SSHConfig(); !reflect.DeepEqual(got, want) {
		t.Errorf("SSHConfig = %+v, want %+v", got, want)
	}
}

func TestEndpointsWithoutInventory(t *testing.T) {
	m := mustResolve(t, nil, nil).Machines
	host, err := m.Host("compute-1")
	if err != nil {
		t.Fatal(err)
	}
	if want := (sshx.Endpoint{Name: "compute-1", Address: "compute-1", Port: 22}); !reflect.DeepEqual(host, want) {
		t.Errorf("Host = %+v, want %+v", host, want)
	}
	guest, err := m.Guest("0c2d", []string{"192.0.2.10"})
	if err != nil {
		t.Fatal(err)
	}
	if want := (sshx.Endpoint{Name: "0c2d", Address: "192.0.2.10", Port: 22}); !reflect.DeepEqual(guest, want) {
		t.Errorf("Guest = %+v, want %+v", guest, want)
	}
	if _, err := m.Guest("0c2d", nil); !errors.Is(err, ErrNoAddress) {
		t.Errorf("Guest without addresses: error = %v, want ErrNoAddress", err)
	}
	if _, err := m.Host(""); err == nil {
		t.Error("Host(\"\") succeeded, want an error")
	}
	if cfg := m.SSHConfig(); cfg.InsecureIgnoreHostKeys {
		t.Error("host keys are skipped by default")
	}
}

func TestSSHDefaultsPrecedence(t *testing.T) {
	inventory := writeFile(t, t.TempDir(), "inventory.yaml", inventoryYAML, 0o600)
	env := map[string]string{EnvInventory: inventory, EnvSSHUser: "env-user", EnvSSHKey: "/env/key", EnvKnownHosts: "/env/known_hosts"}
	tests := []struct {
		name     string
		args     []string
		env      map[string]string
		wantUser string
		wantKey  string
		wantKH   string
	}{
		{"inventory defaults", nil, map[string]string{EnvInventory: inventory}, "root", "/keys/id_ed25519", "/keys/known_hosts"},
		{"environment over the inventory", nil, env, "env-user", "/env/key", "/env/known_hosts"},
		{"flags over the environment", []string{"--ssh-user", "flag-user", "--ssh-key", "/flag/key", "--known-hosts", "/flag/known_hosts"}, env, "flag-user", "/flag/key", "/flag/known_hosts"},
		{"nothing given", nil, nil, "", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := mustResolve(t, tt.args, tt.env).Machines
			cfg := m.SSHConfig()
			if cfg.DefaultUser != tt.wantUser || cfg.DefaultKeyFile != tt.wantKey || cfg.KnownHostsFile != tt.wantKH {
				t.Errorf("SSHConfig = %+v, want user %q key %q known_hosts %q", cfg, tt.wantUser, tt.wantKey, tt.wantKH)
			}
			host, err := m.Host("compute-9")
			if err != nil {
				t.Fatal(err)
			}
			if host.User != tt.wantUser || host.KeyFile != tt.wantKey {
				t.Errorf("Host = %+v, want user %q key %q", host, tt.wantUser, tt.wantKey)
			}
			// An entry's own user and key win over every default.
			if entry, _ := m.Host("compute-1"); tt.env[EnvInventory] != "" && entry.User != "admin" {
				t.Errorf("compute-1 user = %q, want its entry's admin", entry.User)
			}
		})
	}
}

func TestInventoryPathPrecedence(t *testing.T) {
	dir := t.TempDir()
	fromFlag := writeFile(t, dir, "flag.yaml", "hosts: {compute-1: {address: 127.0.0.1}}\n", 0o600)
	fromEnv := writeFile(t, dir, "env.yaml", "hosts: {compute-1: {address: 127.0.0.2}}\n", 0o600)
	m := mustResolve(t, []string{"--inventory", fromFlag}, map[string]string{EnvInventory: fromEnv}).Machines
	if host, _ := m.Host("compute-1"); host.Address != "127.0.0.1" {
		t.Errorf("compute-1 address = %q, want the --inventory file's 127.0.0.1", host.Address)
	}
	if !strings.Contains(m.String(), "--inventory") {
		t.Errorf("Machines = %q, want it to name --inventory", m)
	}
}

func TestInsecureHostKeysOnlyByFlag(t *testing.T) {
	s := mustResolve(t, []string{"--" + FlagInsecureIgnoreHostKeys}, nil)
	if !s.Machines.SSHConfig().InsecureIgnoreHostKeys {
		t.Fatal("--insecure-ignore-host-keys did not turn host key verification off")
	}
	if !slices.ContainsFunc(s.Warnings, func(w string) bool { return strings.Contains(w, "not verified") }) {
		t.Errorf("warnings %q do not say host keys are not verified", s.Warnings)
	}
	if !strings.Contains(s.Machines.String(), "NOT verified") {
		t.Errorf("Machines = %q, want it to say host keys are not verified", s.Machines)
	}
}

func TestInventoryErrors(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name    string
		content string
		want    []string
	}{
		{"malformed YAML", "hosts:\n  compute-1: {address: [\n", []string{"line"}},
		{"unknown top-level field", "host:\n  compute-1: {address: x}\n", []string{"top level", `unknown field "host"`}},
		{"unknown defaults field", "defaults: {usr: root}\n", []string{"defaults", `unknown field "usr"`}},
		{"unknown host field", "hosts:\n  compute-1: {adress: 127.0.0.1}\n", []string{"hosts.compute-1", `unknown field "adress"`}},
		{"jump host with a jump", "hosts:\n  compute-1: {jump: {address: b, jump: {address: c}}}\n", []string{"hosts.compute-1: jump:", "no jump of its own"}},
		{"unknown guest field", "guests:\n  0c2d: {address: x, password: hunter2}\n", []string{"guests.0c2d", `unknown field "password"`}},
		{"wrong type", "hosts:\n  compute-1: {port: ssh}\n", []string{"hosts.compute-1", `field "port"`}},
		{"port out of range", "hosts:\n  compute-1: {port: 70000}\n", []string{"hosts.compute-1", "port 70000"}},
		{"unknown jump field", "hosts:\n  compute-1: {jump: {address: b, prot: 22}}\n", []string{"hosts.compute-1", `unknown field "prot"`}},
		{"jump without address", "hosts:\n  compute-1: {jump: {user: ops}}\n", []string{"hosts.compute-1: jump: address is required"}},
		{"tilde path", "defaults: {key: ~/.ssh/id_ed25519}\n", []string{"defaults", "~ is not expanded"}},
		{"duplicate host", "hosts:\n  compute-1: {address: a}\n  compute-1: {address: b}\n", []string{`"compute-1" already set`}},
		{"every problem at once", "hosts:\n  a: {adress: x}\n  b: {port: -1}\n", []string{"hosts.a", "hosts.b"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeFile(t, dir, strings.ReplaceAll(tt.name, " ", "-")+".yaml", tt.content, 0o600)
			_, err := resolveWith(t, nil, map[string]string{EnvInventory: path})
			if err == nil {
				t.Fatal("Resolve succeeded, want an error")
			}
			for _, want := range append([]string{"$" + EnvInventory + "=" + path}, tt.want...) {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not contain %q", err, want)
				}
			}
		})
	}
	t.Run("missing file", func(t *testing.T) {
		_, err := resolveWith(t, []string{"--inventory", filepath.Join(dir, "none.yaml")}, nil)
		if err == nil || !strings.Contains(err.Error(), "--inventory") || !strings.Contains(err.Error(), "no such file") {
			t.Errorf("error = %v, want one naming --inventory and the missing file", err)
		}
	})
	t.Run("empty file is an empty inventory", func(t *testing.T) {
		path := writeFile(t, dir, "empty.yaml", "", 0o600)
		m := mustResolve(t, nil, map[string]string{EnvInventory: path}).Machines
		if host, _ := m.Host("compute-1"); host.Address != "compute-1" {
			t.Errorf("Host = %+v, want compute-1 by name", host)
		}
	})
}
