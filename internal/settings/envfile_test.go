package settings

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// sourceEnvFile loads path the way the documentation says to, in a bash started with an empty environment, and
// returns the contract's variables it then holds.
func sourceEnvFile(t *testing.T, path string) map[string]string {
	t.Helper()
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skip("no bash to source osdr.env with")
	}
	script := `set -a; . "$1"; set +a; shift; for name in "$@"; do if [ -n "${!name+set}" ]; then printf '%s=%s\0' "$name" "${!name}"; fi; done`
	cmd := exec.Command(bash, append([]string{"-c", script, "bash", path}, EnvNames()...)...)
	cmd.Env = []string{}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("source %s: %v: %s", path, err, stderr.String())
	}
	env := map[string]string{}
	for _, pair := range strings.Split(strings.TrimSuffix(string(out), "\x00"), "\x00") {
		if name, value, ok := strings.Cut(pair, "="); ok {
			env[name] = value
		}
	}
	return env
}

func TestEnvFileRoundTrip(t *testing.T) {
	dir := t.TempDir()
	inventory := writeFile(t, dir, "inventory with space.yaml", "hosts: {compute-1: {address: 127.0.0.1, port: 2201}}\n", 0o600)
	values := map[string]string{
		EnvOSAuthURL:           "http://127.0.0.1:5000/v3",
		EnvOSUsername:          "admin",
		EnvOSPassword:          `it's "a" $PATH` + "`id`\\ \n pa55",
		EnvOSProjectName:       "admin",
		EnvOSUserDomainName:    "Default",
		EnvOSProjectDomainName: "Default",
		EnvOSRegionName:        "RegionOne",
		EnvCinderDBDSN:         `cinder:p'w$x@tcp(127.0.0.1:3306)/cinder`,
		EnvNovaDBDSN:           "nova:n0va@tcp(127.0.0.1:3306)/nova_cell0,nova:n0va@tcp(127.0.0.1:3306)/nova",
		EnvInventory:           inventory,
		EnvSSHKey:              filepath.Join(dir, "id_ed25519"),
		EnvSSHUser:             "root",
		EnvKnownHosts:          filepath.Join(dir, "known_hosts"),
		EnvRunsDir:             filepath.Join(dir, "runs"),
	}
	path := filepath.Join(dir, "osdr.env")
	if err := WriteEnvFile(path, values); err != nil {
		t.Fatal(err)
	}
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if perm := info.Mode().Perm(); perm != 0o600 {
		t.Errorf("osdr.env mode = %04o, want 0600", perm)
	}
	sourced := sourceEnvFile(t, path)
	for name, want := range values {
		if got := sourced[name]; got != want {
			t.Errorf("%s after sourcing = %q, want %q", name, got, want)
		}
	}
	if len(sourced) != len(values) {
		t.Errorf("sourcing set %d contract variables, want %d: %v", len(sourced), len(values), sourced)
	}

	s := mustResolve(t, nil, sourced)
	cinder, err := s.Databases.Cinder()
	if err != nil {
		t.Fatal(err)
	}
	if cinder.Config().Passwd != `p'w$x` {
		t.Errorf("Cinder password after the round trip = %q", cinder.Config().Passwd)
	}
	if cells, err := s.Databases.NovaCells(); err != nil || len(cells) != 2 {
		t.Errorf("Nova cells after the round trip = %v, %v; want 2", cells, err)
	}
	if host, _ := s.Machines.Host("compute-1"); host.Port != 2201 || host.KeyFile != values[EnvSSHKey] {
		t.Errorf("compute-1 after the round trip = %+v", host)
	}
	if s.Cloud.AuthURL() != values[EnvOSAuthURL] || s.Runs.Dir != values[EnvRunsDir] {
		t.Errorf("settings after the round trip: %s", s)
	}
}

func TestRenderEnv(t *testing.T) {
	got, err := RenderEnv(map[string]string{EnvRunsDir: "/srv/osdr-runs", EnvOSCloud: "staging", EnvSSHUser: "", EnvInventory: "/a b/inv.yaml"})
	if err != nil {
		t.Fatal(err)
	}
	// Contract order, plain values unquoted, empty ones left out.
	want := "OS_CLOUD=staging\nOSDR_INVENTORY='/a b/inv.yaml'\nOSDR_RUNS_DIR=/srv/osdr-runs\n"
	if body := got[strings.Index(got, "\n")+1:]; body != want {
		t.Errorf("RenderEnv body =\n%s\nwant\n%s", body, want)
	}
	if !strings.HasPrefix(got, "#") {
		t.Errorf("RenderEnv = %q, want a comment line first", got)
	}
}

func TestRenderEnvRefuses(t *testing.T) {
	tests := []struct {
		name   string
		values map[string]string
		want   string
	}{
		{"name outside the contract", map[string]string{"OSDR_NEW_THING": "x", EnvOSCloud: "staging"}, "OSDR_NEW_THING not in the settings contract"},
		{"NUL byte", map[string]string{EnvOSPassword: "a\x00b"}, "OS_PASSWORD holds a NUL byte"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := RenderEnv(tt.values); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("RenderEnv error = %v, want one containing %q", err, tt.want)
			}
		})
	}
}

func TestEnvNamesAreUnique(t *testing.T) {
	seen := map[string]bool{}
	for _, name := range EnvNames() {
		if seen[name] {
			t.Errorf("%s is listed twice", name)
		}
		seen[name] = true
	}
}
