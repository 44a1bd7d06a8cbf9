package recover

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	"github.com/osdr/osdr/internal/cloud"
	"github.com/osdr/osdr/internal/durable"
	"github.com/osdr/osdr/internal/run"
	"github.com/osdr/osdr/internal/settings"
)

// manifestFormat is the version of the manifest file format this build writes. Format 1 (before the cloud's
// identity recorded its databases' own identities) is still read: its Cinder database by address only, its
// Nova databases unknown.
const manifestFormat = 2

// Manifest is step 1 of the guide: the instance-to-volume relationship as it stood before the loss, the
// evidence every later step works from. Once the database is cleaned it cannot be taken again.
type Manifest struct {
	Format    int        `json:"format"`
	RunID     string     `json:"run_id"`
	TakenAt   time.Time  `json:"taken_at"`
	Cloud     CloudID    `json:"cloud"`
	Source    string     `json:"source"` // "api+db" (cross-checked) or "db" (--from-db, APIs down)
	Instances []Instance `json:"instances"`
	// Attachments holds one entry per volume per instance (a multiattach volume has several).
	Attachments []Attachment `json:"attachments"`
	// Warnings record disagreements found while taking the manifest (API versus database, Nova versus Cinder).
	Warnings []string `json:"warnings,omitempty"`
	// Stamps are integrity markers written through guests before the fault (volume id → stamp).
	Stamps map[string]Stamp `json:"stamps,omitempty"`

	// index answers Instance and AttachmentsOf without a scan: a recovery of 10,000 instances asks them
	// for every instance and volume.
	index atomic.Pointer[manifestIndex]
}

// manifestIndex is built from the manifest as it was: it is rebuilt when the instances or attachments were
// replaced or appended to since.
type manifestIndex struct {
	instances  []Instance
	atts       []Attachment
	byID       map[string]int
	byInstance map[string][]int // attachment positions, device order
}

func (m *Manifest) lookup() *manifestIndex {
	if ix := m.index.Load(); ix != nil && sameSlice(ix.instances, m.Instances) && sameSlice(ix.atts, m.Attachments) {
		return ix
	}
	ix := &manifestIndex{instances: m.Instances, atts: m.Attachments, byID: make(map[string]int, len(m.Instances)), byInstance: map[string][]int{}}
	for i, in := range m.Instances {
		if _, dup := ix.byID[in.ID]; !dup {
			ix.byID[in.ID] = i
		}
	}
	for i, a := range m.Attachments {
		ix.byInstance[a.InstanceID] = append(ix.byInstance[a.InstanceID], i)
	}
	for _, positions := range ix.byInstance {
		sort.SliceStable(positions, func(x, y int) bool { return m.Attachments[positions[x]].Device < m.Attachments[positions[y]].Device })
	}
	m.index.Store(ix)
	return ix
}

// sameSlice says whether two slices are the same memory, so an index built from one still describes the
// other. Elements reordered in place are not seen: Normalize, which sorts, drops the index itself.
func sameSlice[T any](a, b []T) bool {
	return len(a) == len(b) && (len(a) == 0 || &a[0] == &b[0])
}

// CloudID names the cloud a manifest belongs to, so a manifest from another cloud is refused, and the Cinder
// schema flavour found when it was taken.
type CloudID struct {
	cloud.Identity
	CinderSchema string `json:"cinder_schema,omitempty"`
}

// Instance is one server as it stood before the loss.
type Instance struct {
	ID         string   `json:"id"`
	Name       string   `json:"name"`
	Host       string   `json:"host"`
	DomainName string   `json:"domain_name"` // OS-EXT-SRV-ATTR:instance_name
	Cell       int      `json:"cell"`        // index into the Nova DSNs
	VMState    string   `json:"vm_state"`
	PowerState int      `json:"power_state"`
	TaskState  string   `json:"task_state,omitempty"`
	Status     string   `json:"status,omitempty"`
	Tags       []string `json:"tags,omitempty"`
	// Addresses maps network name to the instance's IP addresses, first fixed address first.
	Addresses map[string][]string `json:"addresses,omitempty"`
}

// Attachment is one volume attached to one instance.
type Attachment struct {
	VolumeID         string `json:"volume_id"`
	VolumeName       string `json:"volume_name,omitempty"`
	InstanceID       string `json:"instance_id"`
	Device           string `json:"device"`
	Host             string `json:"host"`
	AttachmentID     string `json:"attachment_id,omitempty"` // Cinder volume_attachment.id (modern schema)
	BDMID            int64  `json:"bdm_id,omitempty"`
	BDMUUID          string `json:"bdm_uuid,omitempty"`
	BootIndex        *int   `json:"boot_index,omitempty"`
	DriverVolumeType string `json:"driver_volume_type"`
	IQN              string `json:"iqn,omitempty"`
	Portal           string `json:"portal,omitempty"`
	LUN              int    `json:"lun,omitempty"`
	Multiattach      bool   `json:"multiattach,omitempty"`
	VolumeStatus     string `json:"volume_status"`
	AttachStatus     string `json:"attach_status"`
	// Unverifiable says why the volume's iSCSI target is not known: the cloud records none, and osdr never
	// guesses one.
	Unverifiable string `json:"unverifiable,omitempty"`
}

// Stamp is a small unique file written to a volume through its guest before the fault.
type Stamp struct {
	Path    string `json:"path"`
	Content string `json:"content"`
}

// IsBoot says whether the volume is the instance's boot volume, which the procedure leaves alone.
func (a Attachment) IsBoot() bool { return a.BootIndex != nil && *a.BootIndex == 0 }

// IsISCSIData says whether the volume is what the procedure recovers: an iSCSI data volume, whose session a
// power loss cuts. Boot volumes and other backends (RBD, NFS) are left alone.
func (a Attachment) IsISCSIData() bool { return !a.IsBoot() && a.DriverVolumeType == "iscsi" }

// Guest names the instance's guest for the machines that reach it.
func (in Instance) Guest() cloud.Guest { return cloud.Guest{ID: in.ID, Addresses: in.Addresses} }

// manifestEnvelope is the file: the manifest and a checksum over its canonical encoding.
type manifestEnvelope struct {
	Manifest json.RawMessage `json:"manifest"`
	SHA256   string          `json:"sha256"`
}

// errCorruptManifest means the file is not a manifest this build wrote, or was changed since.
var errCorruptManifest = errors.New("corrupt manifest")

// Normalize orders instances and attachments so that equal manifests encode to equal bytes.
func (m *Manifest) Normalize() {
	defer m.index.Store(nil)
	sort.Slice(m.Instances, func(i, j int) bool { return m.Instances[i].ID < m.Instances[j].ID })
	sort.Slice(m.Attachments, func(i, j int) bool {
		a, b := m.Attachments[i], m.Attachments[j]
		if a.InstanceID != b.InstanceID {
			return a.InstanceID < b.InstanceID
		}
		if a.Device != b.Device {
			return a.Device < b.Device
		}
		return a.VolumeID < b.VolumeID
	})
}

// Instance returns the manifest's instance with that id.
func (m *Manifest) Instance(id string) (Instance, bool) {
	i, ok := m.lookup().byID[id]
	if !ok {
		return Instance{}, false
	}
	return m.Instances[i], true
}

// AttachmentsOf returns the instance's attachments in device order, the order the guide reattaches in.
func (m *Manifest) AttachmentsOf(instanceID string) []Attachment {
	positions := m.lookup().byInstance[instanceID]
	out := make([]Attachment, 0, len(positions))
	for _, i := range positions {
		out = append(out, m.Attachments[i])
	}
	return out
}

// DataAttachments returns the instance's iSCSI data volumes in device order: what a fault cuts and the
// recovery brings back.
func (m *Manifest) DataAttachments(instanceID string) []Attachment {
	var out []Attachment
	for _, a := range m.AttachmentsOf(instanceID) {
		if a.IsISCSIData() {
			out = append(out, a)
		}
	}
	return out
}

// WriteManifest stores m durably as the run's manifest: written to a temporary file, fsync'ed, renamed into
// place and the directory fsync'ed, so after a crash the file is either complete or absent.
func WriteManifest(rn run.Run, m *Manifest) (string, error) {
	file, err := encodeManifest(m)
	if err != nil {
		return "", err
	}
	path := rn.Manifest()
	if err := durable.WriteFile(path, file, 0o600); err != nil {
		return "", fmt.Errorf("write manifest %s: %w", path, err)
	}
	return path, nil
}

// encodeManifest is the content of m's manifest file, m normalized first.
func encodeManifest(m *Manifest) ([]byte, error) {
	m.Format = manifestFormat
	m.Normalize()
	body, err := json.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("encode manifest: %w", err)
	}
	sum := sha256.Sum256(body)
	file, err := json.MarshalIndent(manifestEnvelope{Manifest: body, SHA256: hex.EncodeToString(sum[:])}, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encode manifest: %w", err)
	}
	return append(file, '\n'), nil
}

// ReadManifest loads a manifest and verifies its checksum and format. A file over settings.ManifestLimit is
// refused before it is read.
func ReadManifest(path string) (*Manifest, error) {
	raw, err := settings.ManifestLimit.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return parseManifest(path, raw)
}

// parseManifest reads the content of the manifest file at path.
func parseManifest(path string, raw []byte) (*Manifest, error) {
	var env manifestEnvelope
	if err := json.Unmarshal(raw, &env); err != nil || len(env.Manifest) == 0 {
		return nil, fmt.Errorf("%w: %s is not a manifest file", errCorruptManifest, path)
	}
	// The checksum covers the manifest's compact encoding; indentation in the file is cosmetic.
	var compact bytes.Buffer
	if err := json.Compact(&compact, env.Manifest); err != nil {
		return nil, fmt.Errorf("%w: %s: %v", errCorruptManifest, path, err)
	}
	sum := sha256.Sum256(compact.Bytes())
	if hex.EncodeToString(sum[:]) != env.SHA256 {
		return nil, fmt.Errorf("%w: %s: checksum mismatch (the file was changed or truncated)", errCorruptManifest, path)
	}
	var format struct {
		Format int `json:"format"`
	}
	if err := json.Unmarshal(compact.Bytes(), &format); err != nil {
		return nil, fmt.Errorf("%w: %s: %v", errCorruptManifest, path, err)
	}
	switch format.Format {
	case manifestFormat:
		var m Manifest
		if err := decodeStrict(compact.Bytes(), &m); err != nil {
			return nil, fmt.Errorf("%w: %s: %v", errCorruptManifest, path, err)
		}
		return &m, nil
	case 1:
		m, err := readFormat1(compact.Bytes())
		if err != nil {
			return nil, fmt.Errorf("%w: %s: %v", errCorruptManifest, path, err)
		}
		return m, nil
	}
	return nil, fmt.Errorf("%w: %s has format %d, this osdr reads 1 and %d", errCorruptManifest, path, format.Format, manifestFormat)
}

func decodeStrict(raw []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}

// readFormat1 reads a manifest written before format 2: its cloud named the Cinder database as
// "host:port/name" and nothing of Nova's, which reads as a partial identity.
func readFormat1(raw []byte) (*Manifest, error) {
	var old struct {
		Manifest
		Cloud struct {
			AuthURL      string `json:"auth_url,omitempty"`
			Region       string `json:"region,omitempty"`
			CinderDB     string `json:"cinder_db,omitempty"`
			CinderSchema string `json:"cinder_schema,omitempty"`
		} `json:"cloud"`
	}
	if err := decodeStrict(raw, &old); err != nil {
		return nil, err
	}
	m := &old.Manifest
	m.Cloud = CloudID{Identity: cloud.Identity{AuthURL: old.Cloud.AuthURL, Region: old.Cloud.Region}, CinderSchema: old.Cloud.CinderSchema}
	if addr, schema, ok := strings.Cut(old.Cloud.CinderDB, "/"); ok {
		m.Cloud.Cinder = &cloud.Database{Address: addr, Schema: schema}
	}
	return m, nil
}
