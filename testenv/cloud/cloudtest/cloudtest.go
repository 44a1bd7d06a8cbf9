package cloudtest

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack"

	"github.com/osdr/osdr/testenv"
	"github.com/osdr/osdr/testenv/cloud"
	"github.com/osdr/osdr/testenv/virt"
)

// Fixture is a started cloud on fresh databases.
type Fixture struct {
	Cloud        *cloud.Cloud
	Nova, Cinder *sql.DB
	Driver       virt.Driver
}

// New starts a cloud on two fresh databases, the Cinder one in the profile's schema; cfg's DSNs are
// filled in, a nil Driver is a virt.Fake.
func New(t *testing.T, cfg cloud.Config) *Fixture {
	t.Helper()
	profile, err := cloud.LookupProfile(cfg.Profile)
	if err != nil {
		t.Fatal(err)
	}
	cinder, cinderDSN := testenv.MySQLWithSchema(t, profile.CinderSchema)
	nova, novaDSN := testenv.MySQLWithSchema(t, testenv.SchemaNova)
	cfg.CinderDSN, cfg.NovaDSN = cinderDSN, novaDSN
	if cfg.Driver == nil {
		cfg.Driver = virt.NewFake()
	}
	// The cloud outlives the test body until its cleanup closes it: its background work must neither hang off
	// t.Context (cancelled as the test ends) nor log through t after the test is over.
	var logMu sync.Mutex
	ended := false
	cfg.Logf = func(format string, args ...any) {
		logMu.Lock()
		defer logMu.Unlock()
		if !ended {
			t.Logf(format, args...)
		}
	}
	t.Cleanup(func() {
		logMu.Lock()
		ended = true
		logMu.Unlock()
	})
	ctx := context.Background()
	c, err := cloud.New(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := c.Close(ctx); err != nil {
			t.Errorf("close the cloud: %v", err)
		}
	})
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	return &Fixture{Cloud: c, Nova: nova, Cinder: cinder, Driver: cfg.Driver}
}

// StandardTopology is two compute hosts, an active server with an iSCSI data volume and two addresses, a
// stopped server booted from a volume with a data volume, and an active server on the second host.
func StandardTopology() cloud.Topology {
	return cloud.Topology{
		Hosts: []cloud.Host{{Name: "compute-1", IP: "192.0.2.11"}, {Name: "compute-2", IP: "192.0.2.12"}},
		Instances: []cloud.Instance{
			{Name: "vm1", Host: "compute-1", Addresses: []cloud.Address{
				{Network: "private", Addr: "10.0.0.5"}, {Network: "private", Addr: "172.24.4.20", Floating: true},
			}, Volumes: []cloud.Volume{{Name: "vm1-data", SizeGB: 2}}},
			{Name: "vm2", Host: "compute-1", State: cloud.StateStopped, Volumes: []cloud.Volume{
				{Name: "vm2-boot", Boot: true, SizeGB: 10}, {Name: "vm2-data", Backend: cloud.BackendRBD},
			}},
			{Name: "vm3", Host: "compute-2", Volumes: []cloud.Volume{{Name: "vm3-data", Backend: cloud.BackendNFS, Multiattach: true}}},
		},
	}
}

// Provision provisions topo, failing the test if the cloud refuses it.
func (f *Fixture) Provision(t *testing.T, topo cloud.Topology) cloud.Topology {
	t.Helper()
	out, err := f.Cloud.Provision(t.Context(), topo)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// Provider is a gophercloud client authenticated as the admin.
func (f *Fixture) Provider(t *testing.T) *gophercloud.ProviderClient {
	t.Helper()
	admin := f.Cloud.Admin()
	pc, err := openstack.AuthenticatedClient(t.Context(), gophercloud.AuthOptions{
		IdentityEndpoint: f.Cloud.Endpoints().Identity,
		Username:         admin.UserName,
		Password:         admin.Password,
		DomainName:       "Default",
		TenantName:       admin.ProjectName,
	})
	if err != nil {
		t.Fatal(err)
	}
	return pc
}

// Compute is a Nova client at a microversion.
func (f *Fixture) Compute(t *testing.T, microversion string) *gophercloud.ServiceClient {
	t.Helper()
	c, err := openstack.NewComputeV2(f.Provider(t), gophercloud.EndpointOpts{Region: "RegionOne"})
	if err != nil {
		t.Fatal(err)
	}
	c.Microversion = microversion
	return c
}

// Volume is a Cinder client at a microversion.
func (f *Fixture) Volume(t *testing.T, microversion string) *gophercloud.ServiceClient {
	t.Helper()
	c, err := openstack.NewBlockStorageV3(f.Provider(t), gophercloud.EndpointOpts{Region: "RegionOne"})
	if err != nil {
		t.Fatal(err)
	}
	c.Microversion = microversion
	return c
}

// Token returns a Token scoped to the admin project.
func (f *Fixture) Token(t *testing.T) string {
	t.Helper()
	return f.Provider(t).Token()
}

// Response is a raw HTTP answer, for the cases where the exact status, headers and body matter.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// JSON decodes the body into a generic value.
func (r Response) JSON(t *testing.T) any {
	t.Helper()
	var v any
	if err := json.Unmarshal(r.Body, &v); err != nil {
		t.Fatalf("decode %q: %v", r.Body, err)
	}
	return v
}

// Request sends one Request; headers are name/value pairs.
func Request(t *testing.T, method, url, body string, headers ...string) Response {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = bytes.NewBufferString(body)
	}
	req, err := http.NewRequestWithContext(t.Context(), method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept", "application/json")
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return Response{Status: resp.StatusCode, Header: resp.Header, Body: b}
}

// mustJSON parses a literal expected body.
func mustJSON(t *testing.T, s string) any {
	t.Helper()
	var v any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatalf("expected body %q: %v", s, err)
	}
	return v
}

// ExecSQL runs a statement, failing the test if it fails.
func ExecSQL(t *testing.T, db *sql.DB, query string, args ...any) {
	t.Helper()
	if _, err := db.ExecContext(t.Context(), query, args...); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
}

// Settle waits until every cast the API made has been carried out by nova-compute.
func (f *Fixture) Settle() { f.Cloud.Settle() }

// ServerState is an instances row's state columns; a NULL task_state reads as "".
type ServerState struct {
	VM, Task string
	Power    int
}

// State reads an instance's states.
func (f *Fixture) State(t *testing.T, uuid string) ServerState {
	t.Helper()
	var s ServerState
	var task sql.NullString
	if err := f.Nova.QueryRowContext(t.Context(), "SELECT vm_state, task_state, power_state FROM instances WHERE uuid = ?",
		uuid).Scan(&s.VM, &task, &s.Power); err != nil {
		t.Fatal(err)
	}
	s.Task = task.String
	return s
}

// WantAPIError checks that a gophercloud call was answered with the status and exactly the body given.
func WantAPIError(t *testing.T, err error, status int, body string) {
	t.Helper()
	var e gophercloud.ErrUnexpectedResponseCode
	if !errors.As(err, &e) {
		t.Fatalf("want HTTP %d %s, got %v", status, body, err)
	}
	if e.Actual != status {
		t.Errorf("status %d, want %d (%s)", e.Actual, status, e.Body)
	}
	var got any
	if err := json.Unmarshal(e.Body, &got); err != nil {
		t.Fatalf("decode %q: %v", e.Body, err)
	}
	if diff := cmp.Diff(mustJSON(t, body), got); diff != "" {
		t.Errorf("body (-want +got):\n%s", diff)
	}
}

// WantBody checks a raw response's status and exact JSON body.
func WantBody(t *testing.T, r Response, status int, body string) {
	t.Helper()
	if r.Status != status {
		t.Errorf("status %d, want %d (%s)", r.Status, status, r.Body)
	}
	if diff := cmp.Diff(mustJSON(t, body), r.JSON(t)); diff != "" {
		t.Errorf("body (-want +got):\n%s", diff)
	}
}

// ServerJSON is GET /servers/{id} at a microversion, as a generic document.
func (f *Fixture) ServerJSON(t *testing.T, uuid, microversion string) map[string]any {
	t.Helper()
	r := Request(t, "GET", f.Cloud.Endpoints().Compute+"/servers/"+uuid, "", "X-Auth-Token", f.Token(t),
		"OpenStack-API-Version", "compute "+microversion)
	if r.Status != 200 {
		t.Fatalf("show %s: %d %s", uuid, r.Status, r.Body)
	}
	return r.JSON(t).(map[string]any)["server"].(map[string]any)
}

// CmpJSON diffs a literal JSON document with a decoded value.
func CmpJSON(t *testing.T, want string, got any) string {
	t.Helper()
	return cmp.Diff(mustJSON(t, want), got)
}

// Mapping is a block_device_mapping row of a volume.
type Mapping struct {
	ID                           int64
	UUID, Device, AttachmentID   string
	Deleted                      int64
	ConnectionInfo, Tag          string
	DeleteOnTermination, HasConn bool
}

// Mappings returns every mapping (live and deleted) of a volume on an instance, oldest first.
func (f *Fixture) Mappings(t *testing.T, instanceUUID, volumeID string) []Mapping {
	t.Helper()
	rows, err := f.Nova.QueryContext(t.Context(), `SELECT id, uuid, COALESCE(device_name, ''), COALESCE(attachment_id, ''),
		deleted, COALESCE(connection_info, ''), COALESCE(tag, ''), COALESCE(delete_on_termination, 0)
		FROM block_device_mapping WHERE instance_uuid = ? AND volume_id = ? ORDER BY id`, instanceUUID, volumeID)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []Mapping
	for rows.Next() {
		var m Mapping
		if err := rows.Scan(&m.ID, &m.UUID, &m.Device, &m.AttachmentID, &m.Deleted, &m.ConnectionInfo, &m.Tag,
			&m.DeleteOnTermination); err != nil {
			t.Fatal(err)
		}
		m.HasConn = m.ConnectionInfo != ""
		out = append(out, m)
	}
	return out
}

// Live keeps the mappings not deleted.
func Live(ms []Mapping) []Mapping {
	return slices.DeleteFunc(slices.Clone(ms), func(m Mapping) bool { return m.Deleted != 0 })
}

// VolumeRow is the Cinder volume's state columns.
func (f *Fixture) VolumeRow(t *testing.T, id string) (status, attachStatus string) {
	t.Helper()
	if err := f.Cinder.QueryRowContext(t.Context(), "SELECT status, attach_status FROM volumes WHERE id = ?", id).Scan(
		&status, &attachStatus); err != nil {
		t.Fatal(err)
	}
	return status, attachStatus
}

// CinderAttachment is a volume_attachment row.
type CinderAttachment struct {
	ID, Status, Instance, Mountpoint string
	Deleted, Detached                bool
}

// CinderAttachments returns every attachment (live and deleted) of a volume, oldest first.
func (f *Fixture) CinderAttachments(t *testing.T, volumeID string) []CinderAttachment {
	t.Helper()
	rows, err := f.Cinder.QueryContext(t.Context(), `SELECT id, attach_status, COALESCE(instance_uuid, ''),
		COALESCE(mountpoint, ''), deleted, detach_time IS NOT NULL FROM volume_attachment WHERE volume_id = ?
		ORDER BY created_at, id`, volumeID)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []CinderAttachment
	for rows.Next() {
		var a CinderAttachment
		if err := rows.Scan(&a.ID, &a.Status, &a.Instance, &a.Mountpoint, &a.Deleted, &a.Detached); err != nil {
			t.Fatal(err)
		}
		out = append(out, a)
	}
	return out
}

// VolumeDetail is GET /volumes/{id} at a microversion, as a generic document.
func VolumeDetail(t *testing.T, f *Fixture, id, microversion string) map[string]any {
	t.Helper()
	r := Request(t, "GET", f.Cloud.Endpoints().Volume+"/volumes/"+id, "", "X-Auth-Token", f.Token(t),
		"OpenStack-API-Version", "volume "+microversion)
	if r.Status != 200 {
		t.Fatalf("show volume %s: %d %s", id, r.Status, r.Body)
	}
	return r.JSON(t).(map[string]any)["volume"].(map[string]any)
}

// ReadSample reads a captured answer of the Zed cloud in the package's testdata/zed.
func ReadSample(t *testing.T, name string) any {
	t.Helper()
	b, err := os.ReadFile("testdata/zed/" + name)
	if err != nil {
		t.Fatal(err)
	}
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	return v
}
