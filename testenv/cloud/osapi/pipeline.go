package osapi

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/osdr/osdr/testenv/cloud/model"
)

// Request is an authenticated Nova or Cinder request with its negotiated microversion.
type Request struct {
	*http.Request
	Token   Token
	Version Microversion
}

// Handler serves one route; a returned *Error becomes the service's fault body, any other error a 500.
type Handler func(w http.ResponseWriter, r *Request) error

// Endpoint is a route's handler and the operation it is, which fault rules name; a POST .../action route
// leaves Op empty: its operation is the action its body names.
type Endpoint struct {
	Op    string
	Serve Handler
}

// Token is what keystonemiddleware passes on of a validated token.
type Token struct {
	UserID, UserName string
	ProjectID        string // empty for an unscoped token
}

// Tokens is the identity service as keystonemiddleware asks it.
type Tokens interface {
	// Validate returns the live token tokenID names.
	Validate(tokenID string) (Token, bool)
	// AuthURI is where a client without a valid token is sent to authenticate (www_authenticate_uri).
	AuthURI() string
}

// Pipeline is what every API service's requests pass through besides the service itself: keystonemiddleware,
// the faults injected into requests, and the audit log.
type Pipeline struct {
	Tokens Tokens
	Faults *model.Faults
	// Latency, when set, is how long the service takes to answer a request (model.OpAPI).
	Latency *model.Latency
	Audit   *AuditLog
	// Closing is closed when the cloud shuts down: requests a fault holds are let go.
	Closing <-chan struct{}
	Logf    func(format string, args ...any)
}

// Service is one API service's WSGI layer on the pipeline: what differs between Nova's and Cinder's.
type Service struct {
	*Pipeline
	Name          string // "compute" or "volume", as the audit log names the service
	PathPrefix    string // where keystonemiddleware starts guarding
	Negotiate     func(http.Header) (Microversion, *Error)
	VersionHeader func(w http.ResponseWriter, v Microversion)
	InternalError string // the message of the service's 500
}

// Authenticate is keystonemiddleware: the request's token must be live and project-scoped.
func (p *Pipeline) Authenticate(w http.ResponseWriter, r *http.Request) (Token, bool) {
	t, ok := p.Tokens.Validate(r.Header.Get("X-Auth-Token"))
	if !ok || t.ProjectID == "" {
		WriteUnauthorized(w, p.Tokens.AuthURI())
		return Token{}, false
	}
	return t, true
}

// Route wraps a handler in the service's pipeline: request id, token check, microversion negotiation, then
// the fault drawn for the operation, struck before the handler runs or after it has answered.
func (svc Service) Route(e Endpoint) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requestID := svc.setRequestID(w)
		t, ok := svc.Authenticate(w, r)
		if !ok {
			return
		}
		r = r.WithContext(withCaller(r.Context(), Caller{RequestID: requestID, UserID: t.UserID, ProjectID: t.ProjectID}))
		v, verr := svc.Negotiate(r.Header)
		if verr != nil {
			WriteFault(w, verr)
			return
		}
		svc.VersionHeader(w, v)
		if svc.Latency != nil {
			if err := model.Sleep(r.Context(), svc.Latency.Duration(model.OpAPI)); err != nil {
				return // the client gave up
			}
		}
		op := e.Op
		if op == "" {
			op = peekAction(r)
		}
		f := svc.Faults.Draw(op)
		r = r.WithContext(context.WithValue(r.Context(), faultKey{}, f))
		if f.Phase == model.FaultBefore {
			if r.Method != http.MethodGet {
				svc.Audit.Add(AuditEntry{Time: time.Now().UTC(), Caller: t.UserName, Service: svc.Name, Operation: op,
					Target: r.PathValue("id"), Status: f.Status(), Fault: f.String()})
			}
			svc.failRequest(w, r, f)
			return
		}
		out := http.ResponseWriter(w)
		if f.Phase == model.FaultAfter {
			out = newBufferedResponse()
		}
		if err := e.Serve(out, &Request{Request: r, Token: t, Version: v}); err != nil {
			svc.WriteError(out, r, err)
		}
		if f.Phase == model.FaultAfter {
			svc.failRequest(w, r, f)
		}
	})
}

// peekAction names the action a POST .../action body carries, leaving the body to the handler.
func peekAction(r *http.Request) string {
	raw, err := io.ReadAll(r.Body)
	r.Body = io.NopCloser(bytes.NewReader(raw))
	if err != nil {
		return "action"
	}
	peek := r.Clone(r.Context())
	peek.Body = io.NopCloser(bytes.NewReader(raw))
	body, parseErr := DecodeBody(peek)
	name, aerr := actionName(body, parseErr)
	if aerr != nil {
		return "action"
	}
	return name
}

// RouteNotFound answers what no route matches; under the versioned prefix the token is checked first, as
// keystonemiddleware runs before the router.
func (svc Service) RouteNotFound() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		svc.setRequestID(w)
		if strings.HasPrefix(r.URL.Path, svc.PathPrefix) {
			if _, ok := svc.Authenticate(w, r); !ok {
				return
			}
		}
		svc.Logf("%s: no route for %s %s", svc.Name, r.Method, r.URL)
		writeRouteNotFound(w)
	})
}

// setRequestID stamps the answer with a request id, drawn outside the seeded ids so that the number of
// requests served does not change the ids a later Provision generates.
func (svc Service) setRequestID(w http.ResponseWriter) string {
	id := newRequestID(w)
	if svc.Name == "compute" {
		w.Header().Set("X-Compute-Request-Id", id)
	}
	return id
}

// WriteError answers an *Error with the service's fault body, any other error with a 500, which it logs.
func (svc Service) WriteError(w http.ResponseWriter, r *http.Request, err error) {
	var ae *Error
	if errors.As(err, &ae) {
		WriteFault(w, ae)
		return
	}
	svc.Logf("%s: %s %s: %v", svc.Name, r.Method, r.URL, err)
	WriteFault(w, &Error{http.StatusInternalServerError, svc.InternalError})
}

// AuditedAction serves POST .../{id}/action, the one place every mutating Nova and Cinder action goes through:
// it picks the action out of the body, runs it and records the caller, action, target and answer. An action
// that succeeds is answered with status (202, or 204 for Cinder's os-complete).
func (svc Service) AuditedAction(w http.ResponseWriter, r *Request, status int,
	do func(action string, body Object) error) {
	body, parseErr := DecodeBody(r.Request)
	action, aerr := actionName(body, parseErr)
	obj, _ := body.(Object)
	svc.Audited(w, r, cmp.Or(action, "action"), actionDetail(obj, action), r.PathValue("id"),
		func(w http.ResponseWriter) {
			var err error
			if aerr != nil {
				err = aerr
			} else {
				err = do(action, obj)
			}
			if err != nil {
				svc.WriteError(w, r.Request, err)
				return
			}
			w.WriteHeader(status)
		})
}

// actionDetail is what the audit log keeps of an action's arguments: the reboot type, the requested states.
func actionDetail(body Object, action string) string {
	raw, _ := body.Get(action)
	args, ok := raw.(Object)
	if !ok {
		return ""
	}
	var parts []string
	for _, k := range []string{"type", "status", "attach_status", "migration_status", "attachment_id"} {
		if v, ok := args.Values[k].(string); ok {
			parts = append(parts, k+"="+v)
		}
	}
	return strings.Join(parts, " ")
}

type faultKey struct{}

// faultOf is the fault drawn for the request, which the audit log records.
func faultOf(ctx context.Context) model.Fault {
	f, _ := ctx.Value(faultKey{}).(model.Fault)
	return f
}

// failRequest gives the client the injected failure instead of the service's answer.
func (svc Service) failRequest(w http.ResponseWriter, r *http.Request, f model.Fault) {
	switch f.Kind {
	case model.FaultServerError:
		WriteFault(w, &Error{http.StatusInternalServerError, svc.InternalError})
	case model.FaultUnavailable:
		WriteFault(w, &Error{http.StatusServiceUnavailable,
			"The server is currently unavailable. Please try again at a later time."})
	case model.FaultTimeout:
		timer := time.NewTimer(svc.Faults.Hang())
		defer timer.Stop()
		select {
		case <-r.Context().Done():
		case <-svc.Closing:
		case <-timer.C:
		}
		dropConnection(w)
	case model.FaultDrop:
		dropConnection(w)
	}
}

// dropConnection closes the client's connection without a byte of answer.
func dropConnection(w http.ResponseWriter) {
	if conn, _, err := http.NewResponseController(w).Hijack(); err == nil {
		conn.Close()
		return
	}
	// Without hijacking (HTTP/2), aborting the handler resets the stream.
	panic(http.ErrAbortHandler)
}

// bufferedResponse keeps a handler's answer so that a fault striking after processing can replace it.
type bufferedResponse struct {
	header http.Header
	status int
	body   []byte
}

func newBufferedResponse() *bufferedResponse { return &bufferedResponse{header: http.Header{}} }

func (b *bufferedResponse) Header() http.Header { return b.header }

func (b *bufferedResponse) WriteHeader(code int) {
	if b.status == 0 {
		b.status = code
	}
}

func (b *bufferedResponse) Write(p []byte) (int, error) {
	if b.status == 0 {
		b.status = http.StatusOK
	}
	b.body = append(b.body, p...)
	return len(p), nil
}

// Caller is the request context Nova keeps on an instance action: who asked, and the request's id.
type Caller struct {
	RequestID, UserID, ProjectID string
}

type callerKey struct{}

func withCaller(ctx context.Context, c Caller) context.Context {
	return context.WithValue(ctx, callerKey{}, c)
}

// CallerOf is the caller of the request ctx belongs to; work of a service's own has none.
func CallerOf(ctx context.Context) Caller {
	c, _ := ctx.Value(callerKey{}).(Caller)
	return c
}

// newRequestID stamps an answer with a request id as oslo.middleware's RequestId does, drawn outside the seeded
// ids (see setRequestID).
func newRequestID(w http.ResponseWriter) string {
	id := "req-" + uuid.NewString()
	w.Header().Set("X-Openstack-Request-Id", id)
	return id
}

// WithRequestID gives h's answers the service's request id headers, for the routes outside Route that pass its
// request id middleware all the same (Nova's /v2.1 version document, Cinder's version list).
func (svc Service) WithRequestID(h http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		svc.setRequestID(w)
		h(w, r)
	})
}

// WithRequestID gives every answer of h a request id: Keystone's request_id middleware and Glance's context
// middleware do so for every request, version documents and errors included.
func WithRequestID(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		newRequestID(w)
		h.ServeHTTP(w, r)
	})
}
