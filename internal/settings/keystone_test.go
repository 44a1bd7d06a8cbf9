package settings

import (
	"encoding/json"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
)

// authRequest is the part of a Keystone v3 POST /v3/auth/tokens body the tests look at.
type authRequest struct {
	Auth struct {
		Identity struct {
			Methods  []string `json:"methods"`
			Password struct {
				User struct {
					ID       string `json:"id"`
					Name     string `json:"name"`
					Password string `json:"password"`
					Domain   struct {
						ID   string `json:"id"`
						Name string `json:"name"`
					} `json:"domain"`
				} `json:"user"`
			} `json:"password"`
			ApplicationCredential struct {
				ID     string `json:"id"`
				Secret string `json:"secret"`
			} `json:"application_credential"`
		} `json:"identity"`
		Scope struct {
			Project struct {
				ID     string `json:"id"`
				Name   string `json:"name"`
				Domain struct {
					ID   string `json:"id"`
					Name string `json:"name"`
				} `json:"domain"`
			} `json:"project"`
		} `json:"scope"`
	} `json:"auth"`
}

// fakeKeystone answers POST /v3/auth/tokens like the captured Zed Keystone: 201, X-Subject-Token and the token
// with its catalog when the password or application credential secret matches, else Keystone's 401.
type fakeKeystone struct {
	server *httptest.Server
	secret string
	body   []byte

	mu       sync.Mutex
	requests []authRequest
}

func newFakeKeystone(t *testing.T, secret string, tlsServer bool) *fakeKeystone {
	t.Helper()
	k := &fakeKeystone{secret: secret, body: catalogBody(t)}
	handler := http.NewServeMux()
	handler.HandleFunc("POST /v3/auth/tokens", k.issueToken)
	k.server = httptest.NewUnstartedServer(handler)
	// The handshakes a test makes fail on purpose; the server need not log them.
	k.server.Config.ErrorLog = log.New(io.Discard, "", 0)
	if tlsServer {
		k.server.StartTLS()
	} else {
		k.server.Start()
	}
	t.Cleanup(k.server.Close)
	return k
}

// URL is the Keystone auth URL as clouds.yaml and openrc files write it.
func (k *fakeKeystone) URL() string { return k.server.URL + "/v3" }

func (k *fakeKeystone) issueToken(w http.ResponseWriter, r *http.Request) {
	var req authRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	k.mu.Lock()
	k.requests = append(k.requests, req)
	k.mu.Unlock()
	identity := req.Auth.Identity
	if identity.Password.User.Password != k.secret && identity.ApplicationCredential.Secret != k.secret {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = w.Write([]byte(`{"error": {"code": 401, "message": "The request you have made requires authentication.", "title": "Unauthorized"}}`))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Subject-Token", "gAAAAABfake-fernet-token")
	w.WriteHeader(http.StatusCreated)
	_, _ = w.Write(k.body)
}

func (k *fakeKeystone) Requests() []authRequest {
	k.mu.Lock()
	defer k.mu.Unlock()
	return append([]authRequest(nil), k.requests...)
}

// catalogBody is the captured token response, with every internal endpoint moved to port 1xxxx so that a test
// can tell which interface was chosen (the capture has the same URL on all three).
func catalogBody(t *testing.T) []byte {
	t.Helper()
	raw, err := os.ReadFile("testdata/keystone_token_response.json")
	if err != nil {
		t.Fatal(err)
	}
	var capture struct {
		Body map[string]any `json:"body"`
	}
	if err := json.Unmarshal(raw, &capture); err != nil {
		t.Fatal(err)
	}
	for _, service := range capture.Body["token"].(map[string]any)["catalog"].([]any) {
		for _, endpoint := range service.(map[string]any)["endpoints"].([]any) {
			endpoint := endpoint.(map[string]any)
			if endpoint["interface"] == "internal" {
				endpoint["url"] = strings.Replace(endpoint["url"].(string), "127.0.0.1:", "127.0.0.1:1", 1)
			}
		}
	}
	body, err := json.Marshal(capture.Body)
	if err != nil {
		t.Fatal(err)
	}
	return body
}
