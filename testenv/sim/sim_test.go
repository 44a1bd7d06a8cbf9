package sim

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/osdr/osdr/internal/osapi"
	"github.com/osdr/osdr/internal/settings"
	"github.com/osdr/osdr/testenv"
)

func TestMain(m *testing.M) { os.Exit(testenv.Main(m)) }

// StartForTest starts a simulated cloud on the test process's real MariaDB, closed when t ends.
func startForTest(t *testing.T, profile string, shape Shape) *Sim {
	t.Helper()
	ctx := context.Background()
	s, err := Start(ctx, Options{StateDir: t.TempDir(), Profile: profile, Shape: shape, Server: testenv.SharedServer(t), Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close(context.Background()) })
	return s
}

func TestStateFilesPointEveryCommandAtTheSim(t *testing.T) {
	s := startForTest(t, "", Shape{Hosts: 2, Instances: 3, VolumesPerInstance: 2, Seed: 7})
	raw, err := os.ReadFile(s.path(FileSimJSON))
	if err != nil {
		t.Fatal(err)
	}
	var d Description
	if err := json.Unmarshal(raw, &d); err != nil {
		t.Fatal(err)
	}
	if d.Identity != s.Cloud.Endpoints().Identity || d.Profile != "2024.1" || d.Database != string(testenv.KindContainer) && d.Database != string(testenv.KindDSN) {
		t.Errorf("sim.json = %+v", d)
	}
	for _, name := range []string{FileCloudsYAML, FileOpenRC, FileEnv, FileInventory, FileSimJSON} {
		info, err := os.Stat(s.path(name))
		if err != nil {
			t.Fatal(err)
		}
		if info.Mode().Perm() != 0o600 {
			t.Errorf("%s has mode %v: it holds a password", name, info.Mode().Perm())
		}
	}
	// `set -a; . osdr.env` and the settings contract resolve to this cloud, with no other flag.
	out, err := exec.Command("bash", "-c", "set -a; . "+s.path(FileEnv)+"; env").Output()
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]string{}
	for _, line := range strings.Split(string(out), "\n") {
		if k, v, ok := strings.Cut(line, "="); ok {
			env[k] = v
		}
	}
	got, err := (&settings.Flags{}).Resolve(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if got.Cloud.AuthURL() != d.Identity || got.Runs.Dir != filepath.Join(filepath.Dir(d.RunsDir), DirRuns) {
		t.Errorf("settings from osdr.env: %s", got)
	}
	provider, _, err := got.Cloud.Connect(context.Background())
	if err != nil || provider.TokenID == "" {
		t.Fatalf("authenticate with osdr.env: %v", err)
	}
}

// The demo runs with neither Docker nor MySQL: the control plane's SQL must work on the embedded server.
func TestTheSimRunsOnTheEmbeddedServer(t *testing.T) {
	ctx := context.Background()
	srv, err := testenv.StartServer(ctx, testenv.ServerOptions{EmbeddedOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close(ctx) })
	s, err := Start(ctx, Options{StateDir: t.TempDir(), Shape: DefaultShape, Server: srv, Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close(ctx) })
	api := apiOf(t, s)
	if err := s.PowerCut(ctx, nil, true); err != nil {
		t.Fatal(err)
	}
	servers, err := api.ListServers(ctx, "")
	if err != nil || len(servers) != DefaultShape.Instances {
		t.Fatalf("list servers: %d, %v", len(servers), err)
	}
	volumes, err := api.ListVolumes(ctx)
	if err != nil || len(volumes) != DefaultShape.Instances*(1+DefaultShape.VolumesPerInstance) {
		t.Fatalf("list volumes: %d, %v", len(volumes), err)
	}
	if _, err := api.ListVolumeAttachments(ctx, servers[0].ID); err != nil {
		t.Fatal(err)
	}
}

// A cloud bigger than a listing's page (osapi_max_limit, 1000 by default) is read whole: Nova's and Cinder's
// full pages link to the next one, and Cinder's attachments listing, which never links, is paged by marker.
// Two items a page make every listing page here.
func TestEveryListingIsReadWholeAcrossPages(t *testing.T) {
	ctx := context.Background()
	shape := Shape{Hosts: 2, Instances: 5, VolumesPerInstance: 2, Seed: 11}
	s, err := Start(ctx, Options{StateDir: t.TempDir(), Shape: shape, Server: testenv.SharedServer(t), MaxLimit: 2, Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close(ctx) })
	api := apiOf(t, s)
	epoch := time.Unix(0, 0)
	volumes := shape.Instances * (1 + shape.VolumesPerInstance) // each boots from a volume
	for _, c := range []struct {
		what string
		want int
		read func() (int, error)
	}{
		{"servers", shape.Instances, func() (int, error) { return lenOf(api.ListServers(ctx, "")) }},
		{"servers changed since 1970", shape.Instances, func() (int, error) { return lenOf(api.ListServersChangedSince(ctx, epoch)) }},
		{"volumes", volumes, func() (int, error) { return lenOf(api.ListVolumes(ctx)) }},
		{"volumes changed since 1970", volumes, func() (int, error) { return lenOf(api.ListVolumesChangedSince(ctx, epoch)) }},
		{"attachments", volumes, func() (int, error) { m, err := api.ListAttachmentTargets(ctx); return len(m), err }},
	} {
		got, err := c.read()
		if err != nil || got != c.want {
			t.Errorf("%s: read %d (%v), the cloud has %d", c.what, got, err, c.want)
		}
	}
}

func lenOf[T any](list []T, err error) (int, error) { return len(list), err }

// apiOf is osdr's API client for the sim, opened from its settings as an operator's osdr opens it.
func apiOf(t *testing.T, s *Sim) *osapi.Client {
	t.Helper()
	env, err := s.Env()
	if err != nil {
		t.Fatal(err)
	}
	got, err := (&settings.Flags{}).Resolve(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	provider, eo, err := got.Cloud.Connect(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	api, err := osapi.New(t.Context(), provider, eo, osapi.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return api
}
