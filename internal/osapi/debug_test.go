package osapi

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gophercloud/gophercloud/v2"
)

// answer is a canned response; the debug transport is tested on what it writes, not on a network.
type answer struct {
	status int
	header http.Header
	body   string
}

func (a answer) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Body != nil {
		_, _ = io.Copy(io.Discard, req.Body)
		req.Body.Close()
	}
	return &http.Response{
		Status: fmt.Sprintf("%d %s", a.status, http.StatusText(a.status)), StatusCode: a.status, Header: a.header, Request: req,
		Body: io.NopCloser(strings.NewReader(a.body)),
	}, nil
}

const (
	fernetToken = "gAAAAABpQ0y3Lh2b8d0m-Yq8cF1mZp5oJ2dJx9wq0Lrj5kT3nV6sA1bC4eF7gH0iJ2kL5mN8oP1qR4sT7uV0wX3yZ6"
	appSecret   = "Zx8vQ2-app-cred-secret-4Lp"
	chapUser    = "XhqC9Bn2wVbVAtQ7ipsK"
	chapPass    = "rPpyyuAhSWGPbgAV"
	discoUser   = "Tm3kD8vLq1ZpW6yRb0Ha"
	discoPass   = "Qw9eRt5yUi2oPa7sDf4g"
	cephKey     = "AQDxPQhlAAAAABAAz1b6rDl8mX3o9nP2qR5sT7=="
)

func TestDebugRedactsSecrets(t *testing.T) {
	tests := []struct {
		name       string
		method     string
		url        string
		header     http.Header
		body       string
		answer     answer
		secrets    []string
		wantInLog  []string
		wantNoBody bool
	}{
		{
			name:   "Keystone v3 password login",
			method: "POST", url: "http://keystone:5000/v3/auth/tokens",
			header: http.Header{"Content-Type": {"application/json"}},
			body:   `{"auth":{"identity":{"methods":["password"],"password":{"user":{"name":"admin","domain":{"name":"Default"},"password":"` + testPassword + `"}}},"scope":{"project":{"name":"admin","domain":{"name":"Default"}}}}}`,
			answer: answer{201, http.Header{"Content-Type": {"application/json"}, "X-Subject-Token": {fernetToken}},
				`{"token":{"methods":["password"],"user":{"domain":{"id":"default","name":"Default"},"id":"f0496e725281437e8913e294ce51f9bd","name":"admin","password_expires_at":null},"audit_ids":["q5R_JBF0Se2zctiiKgNFUw"],"expires_at":"2026-11-25T09:08:34.000000Z","issued_at":"2026-11-25T08:08:34.000000Z","project":{"domain":{"id":"default","name":"Default"},"id":"d00ca05326dd493190682fa4363830ba","name":"admin"},"is_domain":false,"roles":[{"id":"5e0ef1c9cd6c4a4c8d9f05e6bc7bfb2e","name":"admin"}],"catalog":[{"endpoints":[{"id":"75995731bf074a8cad93922248871c22","interface":"public","region":"RegionOne","region_id":"RegionOne","url":"http://127.0.0.1:8774/v2.1"}],"id":"2d4c2a1ef0e04c0b9d6a4dc6fbd8d0e1","type":"compute","name":"nova"}]}}`},
			secrets:   []string{testPassword, fernetToken},
			wantInLog: []string{"REQ: POST http://keystone:5000/v3/auth/tokens", `"user":{"domain":{"name":"Default"},"name":"admin","password":"***"}`, "RESP: 201 Created for POST", "X-Subject-Token: {SHA256}", `"url":"http://127.0.0.1:8774/v2.1"`, `"password_expires_at":null`},
		},
		{
			name:   "Keystone v3 application credential login",
			method: "POST", url: "http://keystone:5000/v3/auth/tokens",
			body:      `{"auth":{"identity":{"methods":["application_credential"],"application_credential":{"id":"4a1f0c9e6d7b4e5f8a9b0c1d2e3f4a5b","secret":"` + appSecret + `"}}}}`,
			answer:    answer{201, http.Header{"X-Subject-Token": {fernetToken}}, `{"token":{"methods":["application_credential"],"application_credential":{"id":"4a1f0c9e6d7b4e5f8a9b0c1d2e3f4a5b","name":"osdr","restricted":true}}}`},
			secrets:   []string{appSecret, fernetToken},
			wantInLog: []string{`"id":"4a1f0c9e6d7b4e5f8a9b0c1d2e3f4a5b"`, `"secret":"***"`, `"restricted":true`},
		},
		{
			name:   "Keystone v3 login with a token",
			method: "POST", url: "http://keystone:5000/v3/auth/tokens",
			header:    http.Header{"X-Auth-Token": {fernetToken}},
			body:      `{"auth":{"identity":{"methods":["token"],"token":{"id":"` + fernetToken + `"}},"scope":{"project":{"id":"d00ca05326dd493190682fa4363830ba"}}}}`,
			answer:    answer{201, http.Header{"X-Subject-Token": {fernetToken + "2"}}, `{"token":{"methods":["token","password"]}}`},
			secrets:   []string{fernetToken},
			wantInLog: []string{`"methods":["token"]`, `"token":{"id":"***"}`, `"project":{"id":"d00ca05326dd493190682fa4363830ba"}`, "X-Auth-Token: {SHA256}"},
		},
		{
			name:   "Keystone v2 token response",
			method: "POST", url: "http://keystone:5000/v2.0/tokens",
			body:      `{"auth":{"passwordCredentials":{"username":"admin","password":"` + testPassword + `"},"tenantName":"admin"}}`,
			answer:    answer{200, nil, `{"access":{"token":{"id":"` + fernetToken + `","expires":"2026-11-25T09:08:34Z","tenant":{"id":"d00ca05326dd493190682fa4363830ba","name":"admin"}},"user":{"id":"f0496e725281437e8913e294ce51f9bd","name":"admin"}}}`},
			secrets:   []string{testPassword, fernetToken},
			wantInLog: []string{`"tenant":{"id":"d00ca05326dd493190682fa4363830ba"`, `"expires":"2026-11-25T09:08:34Z"`},
		},
		{
			name:   "Cinder iSCSI connection_info with CHAP",
			method: "GET", url: "http://cinder:8776/v3/d00ca05326dd493190682fa4363830ba/attachments/d6f1ea06-018d-4fa2-9d91-9db233f1d2d3",
			header: http.Header{"X-Auth-Token": {fernetToken}, "Openstack-Api-Version": {"volume 3.70"}},
			answer: answer{200, http.Header{"Content-Type": {"application/json"}},
				`{"attachment":{"id":"d6f1ea06-018d-4fa2-9d91-9db233f1d2d3","status":"attached","instance":"6774a0c9-a063-4cbd-aa55-298277b09aba","volume_id":"07199f7e-b83b-4c3d-a2da-e0df7fa40a40","attach_mode":"rw","connection_info":{"driver_volume_type":"iscsi","data":{"target_discovered":false,"target_iqn":"iqn.2010-10.org.openstack:volume-07199f7e-b83b-4c3d-a2da-e0df7fa40a40","target_portal":"10.0.0.5:3260","target_lun":0,"volume_id":"07199f7e-b83b-4c3d-a2da-e0df7fa40a40","auth_method":"CHAP","auth_username":"` + chapUser + `","auth_password":"` + chapPass + `","discovery_auth_method":"CHAP","discovery_auth_username":"` + discoUser + `","discovery_auth_password":"` + discoPass + `","encrypted":false,"qos_specs":null,"access_mode":"rw","cacheable":false}}}}`},
			secrets:   []string{fernetToken, chapUser, chapPass, discoUser, discoPass},
			wantInLog: []string{`"auth_method":"CHAP"`, `"target_iqn":"iqn.2010-10.org.openstack:volume-07199f7e-b83b-4c3d-a2da-e0df7fa40a40"`, `"target_portal":"10.0.0.5:3260"`, `"target_lun":0`, "Openstack-Api-Version: volume 3.70"},
		},
		{
			name:   "Cinder RBD connection_info with a keyring",
			method: "POST", url: "http://cinder:8776/v3/d00ca05326dd493190682fa4363830ba/volumes/07199f7e-b83b-4c3d-a2da-e0df7fa40a40/action",
			body: `{"os-initialize_connection":{"connector":{"host":"compute-1","initiator":"iqn.1994-05.com.redhat:c0ffee"}}}`,
			answer: answer{200, nil,
				`{"connection_info":{"driver_volume_type":"rbd","data":{"name":"volumes/volume-07199f7e-b83b-4c3d-a2da-e0df7fa40a40","hosts":["10.0.0.11","10.0.0.12"],"ports":["6789","6789"],"auth_enabled":true,"auth_username":"cinder","secret_type":"ceph","secret_uuid":"457eb676-33da-42ec-9a8c-9293d545c337","keyring":"[client.cinder]\n\tkey = ` + cephKey + `\n"}}}`},
			secrets:   []string{cephKey},
			wantInLog: []string{`"driver_volume_type":"rbd"`, `"hosts":["10.0.0.11","10.0.0.12"]`, `"initiator":"iqn.1994-05.com.redhat:c0ffee"`},
		},
		{
			name:   "a volume's provider_auth",
			method: "GET", url: "http://cinder:8776/v3/d00ca05326dd493190682fa4363830ba/volumes/07199f7e-b83b-4c3d-a2da-e0df7fa40a40",
			answer:    answer{200, nil, `{"volume":{"id":"07199f7e-b83b-4c3d-a2da-e0df7fa40a40","provider_location":"10.0.0.5:3260,1 iqn.2010-10.org.openstack:volume-07199f7e 0","provider_auth":"CHAP ` + chapUser + ` ` + chapPass + `"}}`},
			secrets:   []string{chapUser, chapPass},
			wantInLog: []string{`"provider_location":"10.0.0.5:3260,1 iqn.2010-10.org.openstack:volume-07199f7e 0"`},
		},
		{
			name:   "Nova's adminPass and user data",
			method: "GET", url: "http://nova:8774/v2.1/servers/6774a0c9-a063-4cbd-aa55-298277b09aba",
			answer:    answer{200, nil, `{"server":{"id":"6774a0c9-a063-4cbd-aa55-298277b09aba","adminPass":"Nv4-admin-pa55","OS-EXT-SRV-ATTR:user_data":"I2Nsb3VkLWNvbmZpZwpwYXNzd29yZDogaHVudGVyMgo=","status":"ACTIVE"}}`},
			secrets:   []string{"Nv4-admin-pa55", "I2Nsb3VkLWNvbmZpZwpwYXNzd29yZDogaHVudGVyMgo="},
			wantInLog: []string{`"status":"ACTIVE"`},
		},
		{
			name:   "a body that is not JSON is not shown",
			method: "POST", url: "http://keystone:5000/v3/auth/tokens",
			header:     http.Header{"Content-Type": {"application/x-www-form-urlencoded"}},
			body:       "username=admin&password=" + testPassword,
			answer:     answer{503, http.Header{"Content-Type": {"text/html"}}, "<html><body><h1>503 Service Unavailable</h1>\nNo server is available to handle this request.\n</body></html>\n"},
			secrets:    []string{testPassword},
			wantInLog:  []string{`body: 44 bytes of "application/x-www-form-urlencoded", not JSON`, `of "text/html", not JSON`, "RESP: 503 Service Unavailable"},
			wantNoBody: true,
		},
		{
			name:   "credentials in the URL",
			method: "GET", url: "http://admin:" + testPassword + "@keystone:5000/v3",
			answer:    answer{200, nil, `{"version":{"id":"v3.14","status":"stable"}}`},
			secrets:   []string{testPassword},
			wantInLog: []string{"REQ: GET http://admin:xxxxx@keystone:5000/v3"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var log bytes.Buffer
			d := &debugTransport{base: tt.answer, out: &log}
			var body io.Reader
			if tt.body != "" {
				body = strings.NewReader(tt.body)
			}
			req, err := http.NewRequestWithContext(t.Context(), tt.method, tt.url, body)
			if err != nil {
				t.Fatal(err)
			}
			for k, v := range tt.header {
				req.Header[k] = v
			}
			resp, err := d.RoundTrip(req)
			if err != nil {
				t.Fatal(err)
			}
			got, _ := io.ReadAll(resp.Body)
			if string(got) != tt.answer.body {
				t.Errorf("the caller read %q, want the answer unchanged", got)
			}
			text := log.String()
			for _, secret := range tt.secrets {
				if strings.Contains(text, secret) {
					t.Errorf("the log shows secret %q:\n%s", secret, text)
				}
			}
			for _, want := range tt.wantInLog {
				if !strings.Contains(text, want) {
					t.Errorf("the log does not show %q:\n%s", want, text)
				}
			}
			for line := range strings.Lines(text) {
				if !strings.HasPrefix(line, debugPrefix) {
					t.Errorf("log line %q lacks the prefix %q", line, debugPrefix)
				}
			}
		})
	}
}

// TestDebugLogsTheWholeConversation runs --debug's transport against the fake cloud: the login, the version
// documents, a read and a request that times out all show, the password and tokens nowhere.
func TestDebugLogsTheWholeConversation(t *testing.T) {
	f := newFakeCloud(t)
	var log lockedBuffer
	provider := f.login(t, &log)
	c, err := New(t.Context(), provider, gophercloud.EndpointOpts{}, Options{RequestTimeout: 100 * time.Millisecond, RetryWindow: NoRetries})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.GetServer(t.Context(), serverID); err != nil {
		t.Fatal(err)
	}
	f.failFirst(1, "GET /v3/", faultHang)
	if _, err := c.ListVolumes(t.Context()); err == nil {
		t.Fatal("ListVolumes succeeded against a Cinder that does not answer")
	}
	text := log.String()
	for _, want := range []string{
		"REQ: POST " + f.keystone.URL + "/v3/auth/tokens", `"password":"***"`, "RESP: 201 Created for POST", "X-Subject-Token: {SHA256}",
		"REQ: GET " + f.nova.URL + "/v2.1/\n", "RESP: 200 OK for GET " + f.nova.URL + "/v2.1/servers/" + serverID + " in ",
		"X-Auth-Token: {SHA256}", "Openstack-Api-Version: compute 2.93", `"host_status":"UP"`,
		"FAIL: GET " + f.cinder.URL + "/v3/" + testProject + "/volumes/detail?all_tenants=true after 10",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("the log does not show %q", want)
		}
	}
	for _, secret := range []string{testPassword, "gAAAAABfake-fernet-token"} {
		if strings.Contains(text, secret) {
			t.Errorf("the log shows %q", secret)
		}
	}
	if t.Failed() {
		t.Logf("the log:\n%s", text)
	}
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
