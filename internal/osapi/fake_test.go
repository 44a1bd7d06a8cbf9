package osapi

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack"
)

const (
	testProject  = "d00ca05326dd493190682fa4363830ba" // the captured cloud's admin project
	testPassword = "s3cr3t-keystone-pa55"
	serverID     = "6774a0c9-a063-4cbd-aa55-298277b09aba" // first server of the servers capture
	volumeID     = "07199f7e-b83b-4c3d-a2da-e0df7fa40a40" // first volume of the volumes capture
	requestID    = "req-5c5e5c8a-7b6e-4c43-9c6b-3b1d0c9e2f10"
)

// fault is how the fake answers a request instead of the service: a status with the body the real stack sends
// for it, a request held without an answer, or a connection closed before or halfway through the answer.
type fault string

const (
	noFault      fault = ""
	fault500     fault = "500"      // the service's own internal error
	fault503     fault = "503"      // haproxy with no backend up
	fault429     fault = "429"      // the rate-limit middleware, Retry-After 0
	fault408     fault = "408"      // haproxy's timeout http-request
	faultHang    fault = "hang"     // held until the client gives up
	faultDrop    fault = "drop"     // closed before any answer
	faultMidBody fault = "mid-body" // closed halfway through a 200's body
	fault404     fault = "404"      // the service's itemNotFound
	fault401     fault = "401"      // keystonemiddleware refusing the token
)

// fakeCloud is Keystone v3, Nova and Cinder on three loopback servers, answering with the captured Zed cloud's
// documents. faultFor decides, for each request, whether it fails and how; requests records them all.
type fakeCloud struct {
	keystone, nova, cinder *httptest.Server
	done                   chan struct{}

	mu       sync.Mutex
	faultFor func(r *http.Request) fault
	requests []string // "GET /v2.1/servers/detail"
	tokens   int      // tokens issued; the last one is the only one Nova and Cinder accept
	pageSize int      // servers and volumes per page; 0: all on one
}

func newFakeCloud(t *testing.T) *fakeCloud {
	t.Helper()
	f := &fakeCloud{done: make(chan struct{})}
	f.keystone = f.serve(t, f.keystoneHandler(t))
	f.nova = f.serve(t, f.novaHandler(t))
	f.cinder = f.serve(t, f.cinderHandler(t))
	// Held requests return once the test ends, so the servers can close.
	t.Cleanup(func() { close(f.done) })
	return f
}

func (f *fakeCloud) serve(t *testing.T, h http.Handler) *httptest.Server {
	s := httptest.NewUnstartedServer(f.faulty(h))
	// Dropped connections are what the tests want; the server need not log them.
	s.Config.ErrorLog = log.New(io.Discard, "", 0)
	s.Start()
	t.Cleanup(s.Close)
	return s
}

// setFaults replaces the fault plan; nil answers everything.
func (f *fakeCloud) setFaults(plan func(r *http.Request) fault) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.faultFor = plan
}

// failFirst fails the first n requests whose "METHOD path" has prefix with kind, then answers them.
func (f *fakeCloud) failFirst(n int, prefix string, kind fault) {
	seen := 0
	f.setFaults(func(r *http.Request) fault {
		if !strings.HasPrefix(r.Method+" "+r.URL.Path, prefix) {
			return noFault
		}
		seen++
		if seen <= n {
			return kind
		}
		return noFault
	})
}

// count is how many requests had "METHOD path" starting with prefix.
func (f *fakeCloud) count(prefix string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, r := range f.requests {
		if strings.HasPrefix(r, prefix) {
			n++
		}
	}
	return n
}

// expireTokens makes Nova and Cinder refuse every token issued so far, as when a token outlives its hour.
func (f *fakeCloud) expireTokens() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.tokens++
}

func (f *fakeCloud) currentToken() string {
	return fmt.Sprintf("gAAAAABfake-fernet-token-%d", f.tokens)
}

func (f *fakeCloud) faulty(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		f.requests = append(f.requests, r.Method+" "+r.URL.Path)
		kind := noFault
		if f.faultFor != nil {
			kind = f.faultFor(r)
		}
		f.mu.Unlock()
		switch kind {
		case noFault, faultMidBody:
		case faultHang:
			select {
			case <-r.Context().Done():
			case <-f.done:
			}
			dropConnection(w)
			return
		case faultDrop:
			dropConnection(w)
			return
		default:
			writeFault(w, r, kind)
			return
		}
		if kind == faultMidBody {
			w = &breakingWriter{ResponseWriter: w}
		}
		next.ServeHTTP(w, r)
	})
}

func dropConnection(w http.ResponseWriter) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	conn.Close()
}

// breakingWriter sends the status and half the body, then closes the connection.
type breakingWriter struct {
	http.ResponseWriter
	status int
}

// WriteHeader waits for the body, whose full length the answer announces.
func (b *breakingWriter) WriteHeader(status int) { b.status = status }

func (b *breakingWriter) Write(p []byte) (int, error) {
	b.Header().Set("Content-Length", strconv.Itoa(len(p)))
	b.ResponseWriter.WriteHeader(cmp.Or(b.status, http.StatusOK))
	_, _ = b.ResponseWriter.Write(p[:len(p)/2])
	_ = http.NewResponseController(b.ResponseWriter).Flush()
	panic(http.ErrAbortHandler)
}

// writeFault answers as the real stack does: Nova's and Cinder's fault bodies, haproxy's HTML page, and
// keystonemiddleware's 401.
func writeFault(w http.ResponseWriter, r *http.Request, kind fault) {
	nova := strings.HasPrefix(r.URL.Path, "/v2.1")
	switch kind {
	case fault500:
		message := "The server has either erred or is incapable of performing the requested operation."
		if nova {
			message = "Unexpected API Error. Please report this at http://bugs.launchpad.net/nova/ and attach the Nova API log if possible.\n<class 'oslo_db.exception.DBConnectionError'>"
		}
		writeJSON(w, http.StatusInternalServerError, map[string]any{"computeFault": map[string]any{"code": 500, "message": message}})
	case fault503:
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = io.WriteString(w, "<html><body><h1>503 Service Unavailable</h1>\nNo server is available to handle this request.\n</body></html>\n")
	case fault408:
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(http.StatusRequestTimeout)
		_, _ = io.WriteString(w, "<html><body><h1>408 Request Time-out</h1>\nYour browser didn't send a complete request in time.\n</body></html>\n")
	case fault429:
		w.Header().Set("Retry-After", "0")
		writeJSON(w, http.StatusTooManyRequests, map[string]any{"overLimit": map[string]any{"code": 429, "message": "This request was rate-limited.", "retryAfter": "0"}})
	case fault404:
		what := "Volume " + r.PathValue("id")
		if nova {
			what = "Instance " + r.PathValue("id")
		}
		writeJSON(w, http.StatusNotFound, map[string]any{"itemNotFound": map[string]any{"code": 404, "message": what + " could not be found."}})
	case fault401:
		writeJSON(w, http.StatusUnauthorized, map[string]any{"error": map[string]any{"code": 401, "title": "Unauthorized", "message": "The request you have made requires authentication."}})
	default:
		// bodyFault: a 200 whose body is not what the service sends.
		if body, ok := strings.CutPrefix(string(kind), bodyFaultPrefix); ok {
			w.Header().Set("Content-Type", "application/json")
			_, _ = io.WriteString(w, body)
		}
	}
}

// bodyFaultPrefix starts a fault that answers 200 with the rest of the fault as its body.
const bodyFaultPrefix = "body:"

func bodyFault(body string) fault { return fault(bodyFaultPrefix + body) }

func writeJSON(w http.ResponseWriter, status int, body any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}

func capture(t *testing.T, name string) map[string]any {
	t.Helper()
	raw, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	return doc
}

// keystoneHandler issues tokens for the admin password, with the captured catalog moved to the fake's servers.
func (f *fakeCloud) keystoneHandler(t *testing.T) http.Handler {
	captured := capture(t, "keystone_token_response.json")["body"]
	raw, err := json.Marshal(captured)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v3/auth/tokens", func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Auth struct {
				Identity struct {
					Password struct {
						User struct {
							Password string `json:"password"`
						} `json:"user"`
					} `json:"password"`
				} `json:"identity"`
			} `json:"auth"`
		}
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil || req.Auth.Identity.Password.User.Password != testPassword {
			writeFault(w, r, fault401)
			return
		}
		body := strings.NewReplacer(
			"http://127.0.0.1:5000", f.keystone.URL, "http://127.0.0.1:8774", f.nova.URL, "http://127.0.0.1:8776", f.cinder.URL,
		).Replace(string(raw))
		f.mu.Lock()
		token := f.currentToken()
		f.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Subject-Token", token)
		w.WriteHeader(http.StatusCreated)
		_, _ = io.WriteString(w, body)
	})
	return mux
}

// authenticated is keystonemiddleware: only the latest token passes.
func (f *fakeCloud) authenticated(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		ok := r.Header.Get("X-Auth-Token") == f.currentToken()
		f.mu.Unlock()
		if !ok {
			writeFault(w, r, fault401)
			return
		}
		next(w, r)
	}
}

func (f *fakeCloud) novaHandler(t *testing.T) http.Handler {
	var version map[string]any
	for _, v := range capture(t, "nova_versions.json")["versions"].([]any) {
		if v.(map[string]any)["id"] == "v2.1" {
			version = v.(map[string]any)
		}
	}
	servers := capture(t, "servers_detail_mv2.93.json")["servers"].([]any)
	attachments := capture(t, "server_volume_attachments_mv2.93.json")
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v2.1/{$}", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"version": version})
	})
	mux.HandleFunc("GET /v2.1/servers/detail", f.authenticated(func(w http.ResponseWriter, r *http.Request) {
		f.writePage(w, r, "servers", servers)
	}))
	mux.HandleFunc("GET /v2.1/servers/{id}", f.authenticated(func(w http.ResponseWriter, r *http.Request) {
		for _, s := range servers {
			if s.(map[string]any)["id"] == r.PathValue("id") {
				writeJSON(w, http.StatusOK, map[string]any{"server": s})
				return
			}
		}
		writeFault(w, r, fault404)
	}))
	mux.HandleFunc("POST /v2.1/servers/{id}/action", f.authenticated(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusAccepted)
	}))
	mux.HandleFunc("GET /v2.1/servers/{id}/os-volume_attachments", f.authenticated(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, attachments)
	}))
	mux.HandleFunc("POST /v2.1/servers/{id}/os-volume_attachments", f.authenticated(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusAccepted) // 2.101+
	}))
	mux.HandleFunc("GET /v2.1/os-services", f.authenticated(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"services": []any{map[string]any{
			"id": "2b8fb0bd-4bb4-4a2b-93e6-2c8a9f4c5c41", "binary": "nova-compute", "host": "os-accept", "zone": "nova",
			"status": "enabled", "state": "down", "disabled_reason": nil, "forced_down": false, "updated_at": "2026-11-25T07:40:11.000000",
		}}})
	}))
	action := map[string]any{
		"action": "reboot", "instance_uuid": serverID, "request_id": requestID, "user_id": "f0496e725281437e8913e294ce51f9bd",
		"project_id": testProject, "start_time": "2026-11-25T08:02:11.000000", "message": nil, "updated_at": "2026-11-25T08:02:14.000000",
	}
	mux.HandleFunc("GET /v2.1/servers/{id}/os-instance-actions", f.authenticated(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"instanceActions": []any{action}})
	}))
	mux.HandleFunc("GET /v2.1/servers/{id}/os-instance-actions/{request}", f.authenticated(func(w http.ResponseWriter, r *http.Request) {
		withEvents := map[string]any{"events": []any{map[string]any{
			"event": "compute_reboot_instance", "start_time": "2026-11-25T08:02:11.000000", "finish_time": "2026-11-25T08:02:14.000000",
			"result": "Success", "traceback": nil, "host": "os-accept", "hostId": "ea5ca563ffd74c859dcb1d0400ed98e04a9efc490bde8259d3820bff",
		}}}
		for k, v := range action {
			withEvents[k] = v
		}
		writeJSON(w, http.StatusOK, map[string]any{"instanceAction": withEvents})
	}))
	return mux
}

func (f *fakeCloud) cinderHandler(t *testing.T) http.Handler {
	versions := capture(t, "cinder_versions.json")
	volumes := capture(t, "volumes_detail_mv3.70.json")["volumes"].([]any)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v3/{$}", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, versions)
	})
	mux.HandleFunc("GET /v3/{project}/volumes/detail", f.authenticated(func(w http.ResponseWriter, r *http.Request) {
		f.writePage(w, r, "volumes", volumes)
	}))
	mux.HandleFunc("GET /v3/{project}/volumes/{id}", f.authenticated(func(w http.ResponseWriter, r *http.Request) {
		for _, v := range volumes {
			if v.(map[string]any)["id"] == r.PathValue("id") {
				writeJSON(w, http.StatusOK, map[string]any{"volume": v})
				return
			}
		}
		writeFault(w, r, fault404)
	}))
	mux.HandleFunc("GET /v3/{project}/os-services", f.authenticated(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"services": []any{map[string]any{
			"binary": "cinder-volume", "host": "os-accept@lvm", "zone": "nova", "status": "enabled", "state": "up",
			"updated_at": "2026-11-25T07:40:12.000000", "disabled_reason": nil, "cluster": nil, "replication_status": "disabled",
			"active_backend_id": nil, "frozen": false, "backend_state": "up",
		}}})
	}))
	return mux
}

// writePage answers a listing as Nova and Cinder paginate it: after the marker, pageSize items, and a "next"
// link while more remain.
func (f *fakeCloud) writePage(w http.ResponseWriter, r *http.Request, key string, items []any) {
	f.mu.Lock()
	size := f.pageSize
	f.mu.Unlock()
	start := 0
	if marker := r.URL.Query().Get("marker"); marker != "" {
		for i, item := range items {
			if item.(map[string]any)["id"] == marker {
				start = i + 1
			}
		}
	}
	end := len(items)
	if size > 0 {
		end = min(start+size, len(items))
	}
	body := map[string]any{key: items[start:end]}
	if end < len(items) {
		next := *r.URL
		q := next.Query()
		q.Set("marker", items[end-1].(map[string]any)["id"].(string))
		q.Set("limit", strconv.Itoa(size))
		next.RawQuery = q.Encode()
		body[key+"_links"] = []any{map[string]any{"rel": "next", "href": "http://" + r.Host + next.String()}}
	}
	writeJSON(w, http.StatusOK, body)
}

// login authenticates as Connect does in the settings: the provider's client carries a Transport before the
// first token is asked for.
func (f *fakeCloud) login(t *testing.T, debug io.Writer) *gophercloud.ProviderClient {
	t.Helper()
	provider, err := openstack.NewClient(f.keystone.URL + "/v3")
	if err != nil {
		t.Fatal(err)
	}
	provider.HTTPClient = http.Client{Transport: NewTransport(nil, debug)}
	ao := gophercloud.AuthOptions{
		IdentityEndpoint: f.keystone.URL + "/v3", Username: "admin", Password: testPassword, DomainName: "Default",
		Scope: &gophercloud.AuthScope{ProjectName: "admin", DomainName: "Default"}, AllowReauth: true,
	}
	if err := openstack.Authenticate(t.Context(), provider, ao); err != nil {
		t.Fatalf("authenticate: %v", err)
	}
	return provider
}

// client logs in and builds a Client with opts, then shortens the waits between attempts so that tests of
// many retries stay fast; the waits' shape is the same.
func (f *fakeCloud) client(t *testing.T, opts Options) (*Client, *Transport) {
	t.Helper()
	provider := f.login(t, nil)
	c, err := New(t.Context(), provider, gophercloud.EndpointOpts{Region: "RegionOne"}, opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	transport := provider.HTTPClient.Transport.(*Transport)
	quick := *transport.policy.Load()
	quick.firstWait, quick.maxWait = time.Millisecond, 4*time.Millisecond
	transport.policy.Store(&quick)
	return c, transport
}

// reads are every read of the Client, by what its error says it was doing, with the path prefix it requests.
func reads(c *Client) []struct {
	name   string
	prefix string
	read   func(ctx context.Context) error
} {
	return []struct {
		name   string
		prefix string
		read   func(ctx context.Context) error
	}{
		{"list servers", "GET /v2.1/servers/detail", func(ctx context.Context) error { _, err := c.ListServers(ctx, ""); return err }},
		{"show server " + serverID, "GET /v2.1/servers/" + serverID, func(ctx context.Context) error { _, err := c.GetServer(ctx, serverID); return err }},
		{"list volume attachments of " + serverID, "GET /v2.1/servers/" + serverID + "/os-volume_attachments", func(ctx context.Context) error {
			_, err := c.ListVolumeAttachments(ctx, serverID)
			return err
		}},
		{"list compute services", "GET /v2.1/os-services", func(ctx context.Context) error { _, err := c.ComputeServices(ctx); return err }},
		{"list instance actions of " + serverID, "GET /v2.1/servers/" + serverID + "/os-instance-actions", func(ctx context.Context) error {
			_, err := c.ListInstanceActions(ctx, serverID)
			return err
		}},
		{"show instance action " + requestID + " of " + serverID, "GET /v2.1/servers/" + serverID + "/os-instance-actions/" + requestID, func(ctx context.Context) error {
			_, err := c.GetInstanceAction(ctx, serverID, requestID)
			return err
		}},
		{"list volumes", "GET /v3/" + testProject + "/volumes/detail", func(ctx context.Context) error { _, err := c.ListVolumes(ctx); return err }},
		{"show volume " + volumeID, "GET /v3/" + testProject + "/volumes/" + volumeID, func(ctx context.Context) error { _, err := c.GetVolume(ctx, volumeID); return err }},
		{"list volume services", "GET /v3/" + testProject + "/os-services", func(ctx context.Context) error { _, err := c.VolumeServices(ctx); return err }},
	}
}
