package cloud

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/osdr/osdr/testenv/cloud/osapi"
	"github.com/osdr/osdr/testenv/cloud/store"
)

// Keystone's token lifetime default ([token] expiration = 3600).
const tokenLifetime = time.Hour

const (
	defaultDomainID   = "default"
	defaultDomainName = "Default"
)

// Credentials name the cloud's admin account, as clouds.yaml or an openrc would carry them.
type Credentials struct {
	UserID, UserName string
	Password         string
	ProjectID        string
	ProjectName      string
	DomainName       string // of both the user and the project
}

type role struct{ id, name string }

type catalogEndpoint struct{ id, iface, url string }

type catalogService struct {
	id, name, kind string
	endpoints      []catalogEndpoint
}

// token is one issued Keystone token.
type token struct {
	userID, userName string
	projectID        string // empty for an unscoped token
	projectName      string
	roles            []role
	methods          []string
	auditID          string
	issuedAt         time.Time
	expiresAt        time.Time
}

// identity is Keystone: one admin user holding admin (with its implied member and reader) on one project, the
// service catalog, and the tokens issued so far.
type identity struct {
	admin   Credentials
	region  string
	roles   []role
	catalog []catalogService
	// authURI is the identity listener without /v3, where keystonemiddleware sends clients to authenticate.
	authURI string
	ids     *store.IDs

	mu     sync.Mutex
	tokens map[string]*token
}

func newIdentity(ids *store.IDs, admin Credentials, region string) *identity {
	return &identity{
		admin:  admin,
		region: region,
		roles: []role{
			{ids.Hex32(), "member"}, {ids.Hex32(), "admin"}, {ids.Hex32(), "reader"},
		},
		ids:    ids,
		tokens: map[string]*token{},
	}
}

// setCatalog fills the service catalog once the listeners' URLs are known: versioned URLs, as a real
// deployment registers them, so clients need no discovery round trip.
func (id *identity) setCatalog(e Endpoints) {
	id.authURI = strings.TrimSuffix(e.Identity, "/v3")
	service := func(name, kind, url string) catalogService {
		s := catalogService{id: id.ids.Hex32(), name: name, kind: kind}
		for _, iface := range []string{"public", "internal", "admin"} {
			s.endpoints = append(s.endpoints, catalogEndpoint{id.ids.Hex32(), iface, url})
		}
		return s
	}
	id.catalog = []catalogService{
		service("keystone", "identity", e.Identity+"/"),
		service("nova", "compute", e.Compute),
		service("cinderv3", "volumev3", e.Volume),
		service("cinder", "block-storage", e.Volume),
		service("glance", "image", e.Image),
	}
}

// Validate is keystonemiddleware's token validation: what the services learn of a live token.
func (id *identity) Validate(tokenID string) (osapi.Token, bool) {
	t, ok := id.lookup(tokenID)
	if !ok {
		return osapi.Token{}, false
	}
	return osapi.Token{UserID: t.userID, UserName: t.userName, ProjectID: t.projectID}, true
}

// AuthURI is where keystonemiddleware sends a client without a valid token.
func (id *identity) AuthURI() string { return id.authURI }

// lookup returns the live token tokenID names.
func (id *identity) lookup(tokenID string) (*token, bool) {
	if tokenID == "" {
		return nil, false
	}
	id.mu.Lock()
	defer id.mu.Unlock()
	t, ok := id.tokens[tokenID]
	if !ok || time.Now().After(t.expiresAt) {
		return nil, false
	}
	return t, true
}

// errUnauthorized is every credential or scope problem: Keystone answers all of them with the same 401 so a
// caller learns nothing about which part was wrong.
var errUnauthorized = errors.New(osapi.MsgAuthRequired)

// errUnsupportedMethod is an auth method Keystone does not know.
var errUnsupportedMethod = errors.New("Attempted to authenticate with an unsupported method.")

type authRequest struct {
	Auth *struct {
		Identity *struct {
			Methods  []string `json:"methods"`
			Password *struct {
				User userRef `json:"user"`
			} `json:"password"`
			Token *struct {
				ID string `json:"id"`
			} `json:"token"`
		} `json:"identity"`
		Scope *struct {
			Project *projectRef `json:"project"`
		} `json:"scope"`
	} `json:"auth"`
}

type domainRef struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

type userRef struct {
	ID       string     `json:"id"`
	Name     string     `json:"name"`
	Domain   *domainRef `json:"domain"`
	Password string     `json:"password"`
}

type projectRef struct {
	ID     string     `json:"id"`
	Name   string     `json:"name"`
	Domain *domainRef `json:"domain"`
}

func inDefaultDomain(d *domainRef) bool {
	return d != nil && (d.ID == defaultDomainID || (d.ID == "" && d.Name == defaultDomainName))
}

// issue authenticates a POST /v3/auth/tokens request and returns the new token and its id.
func (id *identity) issue(req authRequest) (string, *token, error) {
	ident := req.Auth.Identity
	t := &token{methods: ident.Methods, auditID: newAuditID()}
	switch {
	case slices.Equal(ident.Methods, []string{"password"}) && ident.Password != nil:
		u := ident.Password.User
		byID := u.ID != "" && u.ID == id.admin.UserID
		byName := u.ID == "" && u.Name == id.admin.UserName && inDefaultDomain(u.Domain)
		if !(byID || byName) || u.Password != id.admin.Password {
			return "", nil, errUnauthorized
		}
	case slices.Equal(ident.Methods, []string{"token"}) && ident.Token != nil:
		if _, ok := id.lookup(ident.Token.ID); !ok {
			return "", nil, errUnauthorized
		}
	default:
		return "", nil, errUnsupportedMethod
	}
	t.userID, t.userName = id.admin.UserID, id.admin.UserName
	if req.Auth.Scope != nil && req.Auth.Scope.Project != nil {
		p := req.Auth.Scope.Project
		byID := p.ID != "" && p.ID == id.admin.ProjectID
		byName := p.ID == "" && p.Name == id.admin.ProjectName && inDefaultDomain(p.Domain)
		if !byID && !byName {
			return "", nil, errUnauthorized
		}
		t.projectID, t.projectName, t.roles = id.admin.ProjectID, id.admin.ProjectName, id.roles
	}
	t.issuedAt = time.Now().UTC().Truncate(time.Second)
	t.expiresAt = t.issuedAt.Add(tokenLifetime)
	tokenID := newToken()
	id.mu.Lock()
	id.tokens[tokenID] = t
	id.mu.Unlock()
	return tokenID, t, nil
}

func (id *identity) revoke(tokenID string) {
	id.mu.Lock()
	defer id.mu.Unlock()
	delete(id.tokens, tokenID)
}

const keystoneTime = "2006-01-02T15:04:05.000000Z"

// body renders a token as Keystone's POST/GET /v3/auth/tokens answer it.
func (id *identity) body(t *token) map[string]any {
	domain := map[string]any{"id": defaultDomainID, "name": defaultDomainName}
	body := map[string]any{
		"audit_ids":  []string{t.auditID},
		"methods":    t.methods,
		"expires_at": t.expiresAt.Format(keystoneTime),
		"issued_at":  t.issuedAt.Format(keystoneTime),
		"user": map[string]any{
			"domain": domain, "id": t.userID, "name": t.userName, "password_expires_at": nil,
		},
	}
	if t.projectID == "" {
		return map[string]any{"token": body}
	}
	body["is_domain"] = false
	body["project"] = map[string]any{"domain": domain, "id": t.projectID, "name": t.projectName}
	roles := make([]map[string]any, len(t.roles))
	for i, r := range t.roles {
		roles[i] = map[string]any{"id": r.id, "name": r.name}
	}
	body["roles"] = roles
	catalog := make([]map[string]any, len(id.catalog))
	for i, s := range id.catalog {
		endpoints := make([]map[string]any, len(s.endpoints))
		for j, e := range s.endpoints {
			endpoints[j] = map[string]any{
				"id": e.id, "interface": e.iface, "region": id.region, "region_id": id.region, "url": e.url,
			}
		}
		catalog[i] = map[string]any{"endpoints": endpoints, "id": s.id, "name": s.name, "type": s.kind}
	}
	body["catalog"] = catalog
	return map[string]any{"token": body}
}

// keystoneHandler serves Keystone's version documents and /v3/auth/tokens. Keystone is Flask: an unknown path
// is a 404 and a known path with the wrong method a 405, which net/http's mux answers the same way.
func (c *Cloud) keystoneHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", c.keystoneVersions)
	mux.HandleFunc("GET /v3", c.keystoneVersion)
	mux.HandleFunc("GET /v3/{$}", c.keystoneVersion)
	mux.HandleFunc("POST /v3/auth/tokens", c.issueToken)
	mux.HandleFunc("GET /v3/auth/tokens", c.showToken)
	mux.HandleFunc("DELETE /v3/auth/tokens", c.revokeToken)
	return mux
}

func (c *Cloud) keystoneVersionDoc() map[string]any {
	return map[string]any{
		"id":      "v3.14",
		"status":  "stable",
		"updated": "2020-04-07T00:00:00Z",
		"links":   []map[string]any{{"rel": "self", "href": c.endpoints.Identity + "/"}},
		"media-types": []map[string]any{{
			"base": "application/json", "type": "application/vnd.openstack.identity-v3+json",
		}},
	}
}

func (c *Cloud) keystoneVersions(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Location", c.endpoints.Identity+"/")
	osapi.WriteJSON(w, http.StatusMultipleChoices, map[string]any{
		"versions": map[string]any{"values": []any{c.keystoneVersionDoc()}},
	})
}

func (c *Cloud) keystoneVersion(w http.ResponseWriter, _ *http.Request) {
	osapi.WriteJSON(w, http.StatusOK, map[string]any{"version": c.keystoneVersionDoc()})
}

func (c *Cloud) issueToken(w http.ResponseWriter, r *http.Request) {
	var req authRequest
	// Keystone reads the body leniently (get_json(silent=True)): unparsable JSON is an empty request.
	_ = decodeInto(r, &req)
	switch {
	case req.Auth == nil || req.Auth.Identity == nil:
		osapi.WriteKeystoneError(w, http.StatusBadRequest, "'identity' is a required property")
		return
	case req.Auth.Identity.Methods == nil:
		osapi.WriteKeystoneError(w, http.StatusBadRequest, "Invalid input for field 'identity': 'methods' is a required property")
		return
	}
	tokenID, t, err := c.identity.issue(req)
	switch {
	case errors.Is(err, errUnsupportedMethod):
		w.Header().Set("WWW-Authenticate", `Keystone uri="`+c.endpoints.Identity+`"`)
		osapi.WriteJSON(w, http.StatusUnauthorized, map[string]any{"error": map[string]any{
			"code": http.StatusUnauthorized, "title": "Unauthorized", "message": err.Error(),
			"identity": map[string]any{"methods": []string{
				"external", "password", "token", "oauth1", "mapped", "application_credential"}},
		}})
		return
	case err != nil:
		osapi.WriteUnauthorized(w, c.endpoints.Identity)
		return
	}
	w.Header().Set("X-Subject-Token", tokenID)
	osapi.WriteJSON(w, http.StatusCreated, c.identity.body(t))
}

func (c *Cloud) showToken(w http.ResponseWriter, r *http.Request) {
	if _, ok := c.identity.lookup(r.Header.Get("X-Auth-Token")); !ok {
		osapi.WriteUnauthorized(w, c.endpoints.Identity)
		return
	}
	subject := r.Header.Get("X-Subject-Token")
	t, ok := c.identity.lookup(subject)
	if !ok {
		osapi.WriteKeystoneError(w, http.StatusNotFound, "Could not find token: "+subject+".")
		return
	}
	w.Header().Set("X-Subject-Token", subject)
	osapi.WriteJSON(w, http.StatusOK, c.identity.body(t))
}

func (c *Cloud) revokeToken(w http.ResponseWriter, r *http.Request) {
	if _, ok := c.identity.lookup(r.Header.Get("X-Auth-Token")); !ok {
		osapi.WriteUnauthorized(w, c.endpoints.Identity)
		return
	}
	subject := r.Header.Get("X-Subject-Token")
	if _, ok := c.identity.lookup(subject); !ok {
		osapi.WriteKeystoneError(w, http.StatusNotFound, "Could not find token: "+subject+".")
		return
	}
	c.identity.revoke(subject)
	w.WriteHeader(http.StatusNoContent)
}

// newToken returns an opaque token shaped like a Fernet token, always from the system's secure source.
func newToken() string {
	b := make([]byte, 140)
	_, _ = rand.Read(b)
	return "gAAAAA" + base64.RawURLEncoding.EncodeToString(b)
}

// newAuditID is a token's audit id (16 random bytes, URL-safe base64 without padding); like the token it is
// per request, so it does not come from the seeded ids.
func newAuditID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// decodeInto parses a JSON request body into a struct.
func decodeInto(r *http.Request, v any) error {
	if err := json.NewDecoder(r.Body).Decode(v); err != nil {
		return fmt.Errorf("decode the request body: %w", err)
	}
	return nil
}
