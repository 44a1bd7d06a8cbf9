package cloud

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack"

	"github.com/osdr/osdr/testenv"
	"github.com/osdr/osdr/testenv/virt"
)

func TestMain(m *testing.M) { os.Exit(testenv.Main(m)) }

// fixture is a started cloud on fresh databases.
type fixture struct {
	cloud        *Cloud
	nova, cinder *sql.DB
	driver       virt.Driver
}

// newFixture starts a cloud on two fresh databases, the Cinder one in the profile's schema; cfg's DSNs are
// filled in, a nil Driver is a virt.Fake.
func newFixture(t *testing.T, cfg Config) *fixture {
	t.Helper()
	profile, err := LookupProfile(cfg.Profile)
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
	c, err := New(ctx, cfg)
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
	return &fixture{cloud: c, nova: nova, cinder: cinder, driver: cfg.Driver}
}

// standardTopology is two compute hosts, an active server with an iSCSI data volume and two addresses, a
// stopped server booted from a volume with a data volume, and an active server on the second host.
func standardTopology() Topology {
	return Topology{
		Hosts: []Host{{Name: "compute-1", IP: "192.0.2.11"}, {Name: "compute-2", IP: "192.0.2.12"}},
		Instances: []Instance{
			{Name: "vm1", Host: "compute-1", Addresses: []Address{
				{Network: "private", Addr: "10.0.0.5"}, {Network: "private", Addr: "172.24.4.20", Floating: true},
			}, Volumes: []Volume{{Name: "vm1-data", SizeGB: 2}}},
			{Name: "vm2", Host: "compute-1", State: StateStopped, Volumes: []Volume{
				{Name: "vm2-boot", Boot: true, SizeGB: 10}, {Name: "vm2-data", Backend: BackendRBD},
			}},
			{Name: "vm3", Host: "compute-2", Volumes: []Volume{{Name: "vm3-data", Backend: BackendNFS, Multiattach: true}}},
		},
	}
}

func (f *fixture) provision(t *testing.T, topo Topology) Topology {
	t.Helper()
	out, err := f.cloud.Provision(t.Context(), topo)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func (f *fixture) provider(t *testing.T) *gophercloud.ProviderClient {
	t.Helper()
	admin := f.cloud.Admin()
	pc, err := openstack.AuthenticatedClient(t.Context(), gophercloud.AuthOptions{
		IdentityEndpoint: f.cloud.Endpoints().Identity,
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

func (f *fixture) compute(t *testing.T, microversion string) *gophercloud.ServiceClient {
	t.Helper()
	c, err := openstack.NewComputeV2(f.provider(t), gophercloud.EndpointOpts{Region: "RegionOne"})
	if err != nil {
		t.Fatal(err)
	}
	c.Microversion = microversion
	return c
}

func (f *fixture) volume(t *testing.T, microversion string) *gophercloud.ServiceClient {
	t.Helper()
	c, err := openstack.NewBlockStorageV3(f.provider(t), gophercloud.EndpointOpts{Region: "RegionOne"})
	if err != nil {
		t.Fatal(err)
	}
	c.Microversion = microversion
	return c
}

// token returns a token scoped to the admin project.
func (f *fixture) token(t *testing.T) string {
	t.Helper()
	return f.provider(t).Token()
}

// response is a raw HTTP answer, for the cases where the exact status, headers and body matter.
type response struct {
	status int
	header http.Header
	body   []byte
}

// json decodes the body into a generic value.
func (r response) json(t *testing.T) any {
	t.Helper()
	var v any
	if err := json.Unmarshal(r.body, &v); err != nil {
		t.Fatalf("decode %q: %v", r.body, err)
	}
	return v
}

// request sends one request; headers are name/value pairs.
func request(t *testing.T, method, url, body string, headers ...string) response {
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
	return response{status: resp.StatusCode, header: resp.Header, body: b}
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

func execSQL(t *testing.T, db *sql.DB, query string, args ...any) {
	t.Helper()
	if _, err := db.ExecContext(t.Context(), query, args...); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
}

// settle waits until every cast the API made has been carried out by nova-compute.
func (f *fixture) settle() { f.cloud.compute.wait() }

// instanceState is an instances row's state columns; a NULL task_state reads as "".
type instanceState struct {
	vm, task string
	power    int
}

func (f *fixture) state(t *testing.T, uuid string) instanceState {
	t.Helper()
	var s instanceState
	var task sql.NullString
	if err := f.nova.QueryRowContext(t.Context(), "SELECT vm_state, task_state, power_state FROM instances WHERE uuid = ?",
		uuid).Scan(&s.vm, &task, &s.power); err != nil {
		t.Fatal(err)
	}
	s.task = task.String
	return s
}

// wantAPIError checks that a gophercloud call was answered with the status and exactly the body given.
func wantAPIError(t *testing.T, err error, status int, body string) {
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

// wantBody checks a raw response's status and exact JSON body.
func wantBody(t *testing.T, r response, status int, body string) {
	t.Helper()
	if r.status != status {
		t.Errorf("status %d, want %d (%s)", r.status, status, r.body)
	}
	if diff := cmp.Diff(mustJSON(t, body), r.json(t)); diff != "" {
		t.Errorf("body (-want +got):\n%s", diff)
	}
}

// serverJSON is GET /servers/{id} at a microversion, as a generic document.
func (f *fixture) serverJSON(t *testing.T, uuid, microversion string) map[string]any {
	t.Helper()
	r := request(t, "GET", f.cloud.Endpoints().Compute+"/servers/"+uuid, "", "X-Auth-Token", f.token(t),
		"OpenStack-API-Version", "compute "+microversion)
	if r.status != 200 {
		t.Fatalf("show %s: %d %s", uuid, r.status, r.body)
	}
	return r.json(t).(map[string]any)["server"].(map[string]any)
}

// cmpAny diffs two decoded JSON values.
func cmpAny(want, got any) string { return cmp.Diff(want, got) }

// cmpJSON diffs a literal JSON document with a decoded value.
func cmpJSON(t *testing.T, want string, got any) string {
	t.Helper()
	return cmp.Diff(mustJSON(t, want), got)
}
