package recover

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/osdr/osdr/internal/cloud"
	"github.com/osdr/osdr/internal/run"
)

func sampleManifest() *Manifest {
	return &Manifest{
		RunID:   "20261125T081500Z-snapshot-abc123",
		TakenAt: time.Date(2026, 11, 25, 8, 15, 0, 0, time.UTC),
		Cloud:   CloudID{Identity: cloud.Identity{AuthURL: "http://127.0.0.1:5000/v3", Region: "RegionOne"}, CinderSchema: "modern"},
		Source:  "api+db",
		Instances: []Instance{
			{ID: instB, Name: "vm2", Host: "compute-1", VMState: "active", PowerState: 1},
			{ID: instA, Name: "vm1", Host: "compute-1", VMState: "stopped", PowerState: 4},
		},
		Attachments: []Attachment{
			{VolumeID: "v2", InstanceID: instA, Device: "/dev/vdc", DriverVolumeType: "iscsi"},
			{VolumeID: "v1", InstanceID: instA, Device: "/dev/vdb", DriverVolumeType: "iscsi", BootIndex: intp(0)},
		},
	}
}

func TestManifestRoundTripsAndIsNormalised(t *testing.T) {
	dir := t.TempDir()
	path, err := WriteManifest(run.Run{Dir: dir}, sampleManifest())
	if err != nil {
		t.Fatal(err)
	}
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if info.Mode().Perm() != 0o600 {
		t.Errorf("manifest mode = %v, want 0600", info.Mode().Perm())
	}
	got, err := ReadManifest(path)
	if err != nil {
		t.Fatal(err)
	}
	if got.Instances[0].ID != instA || got.Attachments[0].Device != "/dev/vdb" {
		t.Errorf("manifest not in canonical order: %+v", got)
	}
	if !got.Attachments[0].IsBoot() || got.Attachments[1].IsBoot() {
		t.Errorf("boot index lost in the round trip")
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("run dir holds %d entries after the write, want only the manifest (no temporary files)", len(entries))
	}
}

func TestReadManifestRefusesAnythingAltered(t *testing.T) {
	dir := t.TempDir()
	path, err := WriteManifest(run.Run{Dir: dir}, sampleManifest())
	if err != nil {
		t.Fatal(err)
	}
	original, _ := os.ReadFile(path)
	for name, mutate := range map[string]func(string) string{
		"device changed":   func(s string) string { return strings.Replace(s, "/dev/vdc", "/dev/vdx", 1) },
		"truncated":        func(s string) string { return s[:len(s)/2] },
		"checksum removed": func(s string) string { return strings.Replace(s, `"sha256"`, `"sha"`, 1) },
		"not json":         func(string) string { return "instance volume device\n" },
		"empty":            func(string) string { return "" },
	} {
		t.Run(name, func(t *testing.T) {
			p := run.Run{Dir: t.TempDir()}.Manifest()
			if err := os.WriteFile(p, []byte(mutate(string(original))), 0o600); err != nil {
				t.Fatal(err)
			}
			if _, err := ReadManifest(p); !errors.Is(err, errCorruptManifest) {
				t.Fatalf("ReadManifest = %v, want errCorruptManifest", err)
			}
		})
	}
}

// Manifests written before format 2 named the Cinder database by address and nothing of Nova: they are read,
// and their identity is partial, never a match.
func TestAFormat1ManifestReadsAsAPartialIdentity(t *testing.T) {
	body := `{"format":1,"run_id":"20261125T081500Z-snapshot-abc123","taken_at":"2026-11-25T08:15:00Z",` +
		`"cloud":{"auth_url":"http://127.0.0.1:5000/v3","region":"RegionOne","cinder_db":"127.0.0.1:3306/cinder","cinder_schema":"modern"},` +
		`"source":"api+db","instances":[{"id":"` + instA + `","name":"vm1","host":"compute-1","domain_name":"instance-00000001","cell":0,"vm_state":"active","power_state":1}],` +
		`"attachments":[]}`
	sum := sha256.Sum256([]byte(body))
	path := filepath.Join(t.TempDir(), "manifest.json")
	if err := os.WriteFile(path, []byte(`{"manifest":`+body+`,"sha256":"`+hex.EncodeToString(sum[:])+`"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	m, err := ReadManifest(path)
	if err != nil {
		t.Fatal(err)
	}
	want := cloud.Identity{AuthURL: "http://127.0.0.1:5000/v3", Region: "RegionOne", Cinder: &cloud.Database{Address: "127.0.0.1:3306", Schema: "cinder"}}
	if !reflect.DeepEqual(m.Cloud.Identity, want) || m.Cloud.CinderSchema != "modern" || len(m.Instances) != 1 {
		t.Fatalf("read %+v", m)
	}
	now := want
	now.Nova = []cloud.Database{{Address: "127.0.0.1:3306", Schema: "nova"}}
	if err := cloud.Compare(m.Cloud.Identity, now).Err(false); !errors.Is(err, cloud.ErrPartialIdentity) {
		t.Errorf("a format-1 manifest compared with its own cloud: %v, want a partial identity", err)
	}
}

// The manifest's lookups see every way its lists are built: appended to, replaced, normalized.
func TestManifestLookupsFollowTheManifest(t *testing.T) {
	m := &Manifest{}
	if _, ok := m.Instance("a"); ok {
		t.Fatal("an empty manifest has an instance")
	}
	m.Instances = append(m.Instances, Instance{ID: "b", Host: "h2"}, Instance{ID: "a", Host: "h1"})
	m.Attachments = append(m.Attachments, Attachment{InstanceID: "a", VolumeID: "v2", Device: "/dev/vdc"}, Attachment{InstanceID: "a", VolumeID: "v1", Device: "/dev/vdb"})
	if in, ok := m.Instance("a"); !ok || in.Host != "h1" {
		t.Errorf("Instance(a) = %+v, %v", in, ok)
	}
	if got := m.AttachmentsOf("a"); len(got) != 2 || got[0].VolumeID != "v1" {
		t.Errorf("AttachmentsOf(a) = %+v, want device order", got)
	}
	m.Normalize()
	if in, ok := m.Instance("b"); !ok || in.Host != "h2" {
		t.Errorf("after Normalize, Instance(b) = %+v, %v", in, ok)
	}
	m.restrict([]string{"b"})
	if _, ok := m.Instance("a"); ok || len(m.AttachmentsOf("a")) != 0 {
		t.Error("after restrict, instance a is still found")
	}
	m.Attachments = append(m.Attachments, Attachment{InstanceID: "b", VolumeID: "v3", Device: "/dev/vdb"})
	if got := m.AttachmentsOf("b"); len(got) != 1 || got[0].VolumeID != "v3" {
		t.Errorf("after an append, AttachmentsOf(b) = %+v", got)
	}
}
