package keystone

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/osdr/osdr/testenv/cloud/osapi"
)

// Handler serves Keystone's version documents and /v3/auth/tokens, every answer with its request id. Keystone
// is Flask: an unknown path is a 404 and a known path with the wrong method a 405, which net/http's mux answers
// the same way.
func (s *Service) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", s.versions)
	mux.HandleFunc("GET /v3", s.version)
	mux.HandleFunc("GET /v3/{$}", s.version)
	mux.HandleFunc("POST /v3/auth/tokens", s.issueToken)
	mux.HandleFunc("GET /v3/auth/tokens", s.showToken)
	mux.HandleFunc("DELETE /v3/auth/tokens", s.revokeToken)
	return osapi.WithRequestID(mux)
}

func (s *Service) versionDoc() map[string]any {
	return map[string]any{
		"id":      "v3.14",
		"status":  "stable",
		"updated": "2020-04-07T00:00:00Z",
		"links":   []map[string]any{{"rel": "self", "href": s.endpoints.Identity + "/"}},
		"media-types": []map[string]any{{
			"base": "application/json", "type": "application/vnd.openstack.identity-v3+json",
		}},
	}
}

func (s *Service) versions(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Location", s.endpoints.Identity+"/")
	osapi.WriteJSON(w, http.StatusMultipleChoices, map[string]any{
		"versions": map[string]any{"values": []any{s.versionDoc()}},
	})
}

func (s *Service) version(w http.ResponseWriter, _ *http.Request) {
	osapi.WriteJSON(w, http.StatusOK, map[string]any{"version": s.versionDoc()})
}

func (s *Service) issueToken(w http.ResponseWriter, r *http.Request) {
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
	tokenID, t, err := s.issue(req)
	switch {
	case errors.Is(err, errUnsupportedMethod):
		w.Header().Set("WWW-Authenticate", `Keystone uri="`+s.endpoints.Identity+`"`)
		osapi.WriteJSON(w, http.StatusUnauthorized, map[string]any{"error": map[string]any{
			"code": http.StatusUnauthorized, "title": "Unauthorized", "message": err.Error(),
			"identity": map[string]any{"methods": []string{
				"external", "password", "token", "oauth1", "mapped", "application_credential"}},
		}})
		return
	case err != nil:
		osapi.WriteUnauthorized(w, s.endpoints.Identity)
		return
	}
	w.Header().Set("X-Subject-Token", tokenID)
	osapi.WriteJSON(w, http.StatusCreated, s.body(t))
}

func (s *Service) showToken(w http.ResponseWriter, r *http.Request) {
	if _, ok := s.lookup(r.Header.Get("X-Auth-Token")); !ok {
		osapi.WriteUnauthorized(w, s.endpoints.Identity)
		return
	}
	subject := r.Header.Get("X-Subject-Token")
	t, ok := s.lookup(subject)
	if !ok {
		osapi.WriteKeystoneError(w, http.StatusNotFound, "Could not find token: "+subject+".")
		return
	}
	w.Header().Set("X-Subject-Token", subject)
	osapi.WriteJSON(w, http.StatusOK, s.body(t))
}

func (s *Service) revokeToken(w http.ResponseWriter, r *http.Request) {
	if _, ok := s.lookup(r.Header.Get("X-Auth-Token")); !ok {
		osapi.WriteUnauthorized(w, s.endpoints.Identity)
		return
	}
	subject := r.Header.Get("X-Subject-Token")
	if _, ok := s.lookup(subject); !ok {
		osapi.WriteKeystoneError(w, http.StatusNotFound, "Could not find token: "+subject+".")
		return
	}
	s.revoke(subject)
	w.WriteHeader(http.StatusNoContent)
}

// decodeInto parses a JSON request body into a struct.
func decodeInto(r *http.Request, v any) error {
	if err := json.NewDecoder(r.Body).Decode(v); err != nil {
		return fmt.Errorf("decode the request body: %w", err)
	}
	return nil
}
