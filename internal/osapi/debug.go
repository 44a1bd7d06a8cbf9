package osapi

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"
)

// debugTransport logs every HTTP exchange, as python-openstackclient's --debug does: the request before it is
// sent, the answer (or the failure) with the time it took. Tokens and secrets are redacted by name: headers that
// carry tokens, and JSON keys that hold passwords, secrets or credentials, wherever they are nested. A body
// that is not JSON cannot be redacted by key, so only its size and type are shown.
type debugTransport struct {
	base http.RoundTripper
	mu   sync.Mutex // one exchange's lines stay together when many run at once
	out  io.Writer
}

const debugPrefix = "osdr: debug: "

func (d *debugTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	body, req, err := peekRequestBody(req)
	if err != nil {
		return nil, err
	}
	var b strings.Builder
	fmt.Fprintf(&b, "REQ: %s %s\n", req.Method, req.URL.Redacted())
	writeHeaders(&b, req.Header)
	writeBody(&b, req.Header.Get("Content-Type"), body)
	d.write(b.String())

	start := time.Now()
	resp, err := d.base.RoundTrip(req)
	b.Reset()
	if err != nil {
		fmt.Fprintf(&b, "FAIL: %s %s after %v: %v\n", req.Method, req.URL.Redacted(), time.Since(start).Round(time.Millisecond), err)
		d.write(b.String())
		return nil, err
	}
	respBody, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	fmt.Fprintf(&b, "RESP: %s for %s %s in %v\n", resp.Status, req.Method, req.URL.Redacted(), time.Since(start).Round(time.Millisecond))
	writeHeaders(&b, resp.Header)
	if err != nil {
		fmt.Fprintf(&b, "  body: broke off after %d bytes: %v\n", len(respBody), err)
	} else {
		writeBody(&b, resp.Header.Get("Content-Type"), respBody)
	}
	d.write(b.String())
	// The caller reads the same bytes, and the same failure after them, as it would have without the log.
	resp.Body = io.NopCloser(io.MultiReader(bytes.NewReader(respBody), failingReader{err}))
	return resp, nil
}

// failingReader ends a replayed body the way the original ended: io.EOF, or the error that broke it off.
type failingReader struct{ err error }

func (f failingReader) Read([]byte) (int, error) {
	if f.err == nil {
		return 0, io.EOF
	}
	return 0, f.err
}

func (d *debugTransport) write(text string) {
	var b strings.Builder
	for line := range strings.Lines(text) {
		b.WriteString(debugPrefix + line)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	_, _ = io.WriteString(d.out, b.String()) // a log that cannot be written must not fail the request
}

// peekRequestBody returns the request's body and a request that still has it to send.
func peekRequestBody(req *http.Request) ([]byte, *http.Request, error) {
	if req.Body == nil || req.Body == http.NoBody {
		return nil, req, nil
	}
	if req.GetBody != nil {
		copied, err := req.GetBody()
		if err != nil {
			return nil, nil, err
		}
		defer copied.Close()
		body, err := io.ReadAll(copied)
		return body, req, err
	}
	body, err := io.ReadAll(req.Body)
	req.Body.Close()
	if err != nil {
		return nil, nil, err
	}
	clone := req.Clone(req.Context())
	clone.Body = io.NopCloser(bytes.NewReader(body))
	return body, clone, nil
}

// tokenHeaders carry Keystone tokens or other credentials. They are shown as their SHA-256, as keystoneauth
// does, so that an operator can still tell which requests used the same token.
var tokenHeaders = []string{"X-Auth-Token", "X-Subject-Token", "X-Service-Token", "Authorization", "Proxy-Authorization", "Cookie", "Set-Cookie"}

func writeHeaders(b *strings.Builder, h http.Header) {
	for _, name := range slices.Sorted(maps.Keys(h)) {
		for _, value := range h[name] {
			if slices.Contains(tokenHeaders, http.CanonicalHeaderKey(name)) {
				value = fmt.Sprintf("{SHA256}%x", sha256.Sum256([]byte(value)))
			}
			fmt.Fprintf(b, "  %s: %s\n", name, value)
		}
	}
}

func writeBody(b *strings.Builder, contentType string, body []byte) {
	if len(body) == 0 {
		return
	}
	decoder := json.NewDecoder(bytes.NewReader(body))
	decoder.UseNumber()
	var doc any
	if err := decoder.Decode(&doc); err != nil || decoder.More() {
		fmt.Fprintf(b, "  body: %d bytes of %q, not JSON: not shown, since it cannot be redacted\n", len(body), contentType)
		return
	}
	redacted, err := json.Marshal(redactJSON(doc, ""))
	if err != nil {
		fmt.Fprintf(b, "  body: %d bytes, not shown: %v\n", len(body), err)
		return
	}
	fmt.Fprintf(b, "  body: %s\n", redacted)
}

const redacted = "***"

// secretKeyParts are the parts of JSON key names whose values are credentials: Keystone's passwords and
// application credential secrets, Cinder's CHAP credentials (auth_password, discovery_auth_password,
// provider_auth) and Ceph keyrings in connection_info, Nova's adminPass, and user data, which often carries
// passwords for cloud-init. Matching is on the lower-cased key.
var secretKeyParts = []string{"password", "secret", "passcode", "adminpass", "provider_auth", "keyring", "private_key", "user_data", "token"}

// secretKeys are whole key names that are credentials only together with a password next to them: CHAP user
// names.
var secretKeys = []string{"auth_username", "discovery_auth_username"}

func secretKey(key string) bool {
	key = strings.ToLower(key)
	return slices.Contains(secretKeys, key) || slices.ContainsFunc(secretKeyParts, func(part string) bool {
		return strings.Contains(key, part)
	})
}

// redactJSON replaces, in place, every string or number held by a secret key, at any depth. An object or list
// under a secret key is searched like any other: Keystone's "password" method holds the user's name and domain,
// which --debug is read for, beside the password itself; its "token" holds the catalog. Where a "token" object
// has an "id" (Keystone v2, or a v3 login with a token), that id is the token.
func redactJSON(doc any, parent string) any {
	switch v := doc.(type) {
	case map[string]any:
		for key, value := range v {
			switch value.(type) {
			case map[string]any, []any:
				v[key] = redactJSON(value, key)
			case string, json.Number:
				if secretKey(key) || (strings.EqualFold(parent, "token") && key == "id") {
					v[key] = redacted
				}
			}
		}
	case []any:
		for i, item := range v {
			switch item.(type) {
			case string, json.Number:
				if secretKey(parent) {
					v[i] = redacted
				}
			default:
				v[i] = redactJSON(item, parent)
			}
		}
	}
	return doc
}
