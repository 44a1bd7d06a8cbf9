package keystone

import (
	"cmp"
	"crypto/rand"
	"encoding/base64"
	"errors"
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

// Service is Keystone: one admin user holding admin (with its implied member and reader) on one project, the
// service catalog, and the tokens issued so far.
type Service struct {
	admin  Credentials
	region string
	roles  []role
	ids    *store.IDs
	// endpoints and catalog are known once the services listen (Publish).
	endpoints Endpoints
	catalog   []catalogService

	mu     sync.Mutex
	tokens map[string]*token
}

// New creates Keystone with its admin account: the user, password and project given, or admin, a generated
// password and admin.
func New(ids *store.IDs, user, password, project, region string) *Service {
	admin := Credentials{
		UserID: ids.Hex32(), UserName: cmp.Or(user, "admin"),
		Password:  cmp.Or(password, ids.Hex32()),
		ProjectID: ids.Hex32(), ProjectName: cmp.Or(project, "admin"),
		DomainName: defaultDomainName,
	}
	return &Service{
		admin:  admin,
		region: region,
		roles: []role{
			{ids.Hex32(), "member"}, {ids.Hex32(), "admin"}, {ids.Hex32(), "reader"},
		},
		ids:    ids,
		tokens: map[string]*token{},
	}
}

// Admin is the admin account's credentials.
func (s *Service) Admin() Credentials { return s.admin }

// Validate is keystonemiddleware's token validation: what the services learn of a live token.
func (s *Service) Validate(tokenID string) (osapi.Token, bool) {
	t, ok := s.lookup(tokenID)
	if !ok {
		return osapi.Token{}, false
	}
	return osapi.Token{UserID: t.userID, UserName: t.userName, ProjectID: t.projectID}, true
}

// AuthURI is where keystonemiddleware sends a client without a valid token: the identity listener without /v3.
func (s *Service) AuthURI() string { return strings.TrimSuffix(s.endpoints.Identity, "/v3") }

// lookup returns the live token tokenID names.
func (s *Service) lookup(tokenID string) (*token, bool) {
	if tokenID == "" {
		return nil, false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.tokens[tokenID]
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
func (s *Service) issue(req authRequest) (string, *token, error) {
	ident := req.Auth.Identity
	t := &token{methods: ident.Methods, auditID: newAuditID()}
	switch {
	case slices.Equal(ident.Methods, []string{"password"}) && ident.Password != nil:
		u := ident.Password.User
		byID := u.ID != "" && u.ID == s.admin.UserID
		byName := u.ID == "" && u.Name == s.admin.UserName && inDefaultDomain(u.Domain)
		if !(byID || byName) || u.Password != s.admin.Password {
			return "", nil, errUnauthorized
		}
	case slices.Equal(ident.Methods, []string{"token"}) && ident.Token != nil:
		if _, ok := s.lookup(ident.Token.ID); !ok {
			return "", nil, errUnauthorized
		}
	default:
		return "", nil, errUnsupportedMethod
	}
	t.userID, t.userName = s.admin.UserID, s.admin.UserName
	if req.Auth.Scope != nil && req.Auth.Scope.Project != nil {
		p := req.Auth.Scope.Project
		byID := p.ID != "" && p.ID == s.admin.ProjectID
		byName := p.ID == "" && p.Name == s.admin.ProjectName && inDefaultDomain(p.Domain)
		if !byID && !byName {
			return "", nil, errUnauthorized
		}
		t.projectID, t.projectName, t.roles = s.admin.ProjectID, s.admin.ProjectName, s.roles
	}
	t.issuedAt = time.Now().UTC().Truncate(time.Second)
	t.expiresAt = t.issuedAt.Add(tokenLifetime)
	tokenID := newToken()
	s.mu.Lock()
	s.tokens[tokenID] = t
	s.mu.Unlock()
	return tokenID, t, nil
}

func (s *Service) revoke(tokenID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.tokens, tokenID)
}

const keystoneTime = "2006-01-02T15:04:05.000000Z"

// body renders a token as Keystone's POST/GET /v3/auth/tokens answer it.
func (s *Service) body(t *token) map[string]any {
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
	catalog := make([]map[string]any, len(s.catalog))
	for i, svc := range s.catalog {
		endpoints := make([]map[string]any, len(svc.endpoints))
		for j, e := range svc.endpoints {
			endpoints[j] = map[string]any{
				"id": e.id, "interface": e.iface, "region": s.region, "region_id": s.region, "url": e.url,
			}
		}
		catalog[i] = map[string]any{"endpoints": endpoints, "id": svc.id, "name": svc.name, "type": svc.kind}
	}
	body["catalog"] = catalog
	return map[string]any{"token": body}
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
