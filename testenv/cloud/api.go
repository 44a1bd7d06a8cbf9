package cloud

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/osdr/osdr/testenv/cloud/model"
)

// apiRequest is an authenticated Nova or Cinder request with its negotiated microversion.
type apiRequest struct {
	*http.Request
	token   *token
	version Microversion
}

// apiHandler serves one route; a returned *apiError becomes the service's fault body, any other error a 500.
type apiHandler func(w http.ResponseWriter, r *apiRequest) error

// endpoint is a route's handler and the operation it is, which fault rules name; a POST .../action route
// leaves op empty: its operation is the action its body names.
type endpoint struct {
	op string
	h  apiHandler
}

// serviceAPI is what differs between the Nova and Cinder request pipelines.
type serviceAPI struct {
	name          string // "compute" or "volume"
	pathPrefix    string // where keystonemiddleware starts guarding
	negotiate     func(http.Header) (Microversion, *apiError)
	versionHeader func(w http.ResponseWriter, v Microversion)
	internalError string
}

func (c *Cloud) novaService() serviceAPI {
	return serviceAPI{
		name:       "compute",
		pathPrefix: "/v2.1/",
		negotiate: func(h http.Header) (Microversion, *apiError) {
			return computeVersion(h, c.profile.ComputeMaxVersion)
		},
		versionHeader: func(w http.ResponseWriter, v Microversion) {
			w.Header().Set(headerAPIVersion, "compute "+v.String())
			w.Header().Set(headerNovaLegacyVersion, v.String())
			w.Header().Add("Vary", headerAPIVersion)
			w.Header().Add("Vary", headerNovaLegacyVersion)
		},
		internalError: novaUnexpected("oslo_db.exception.DBError").message,
	}
}

func (c *Cloud) cinderService() serviceAPI {
	return serviceAPI{
		name:       "volume",
		pathPrefix: "/v3/",
		negotiate: func(h http.Header) (Microversion, *apiError) {
			return volumeVersion(h, c.profile.VolumeMaxVersion)
		},
		versionHeader: func(w http.ResponseWriter, v Microversion) {
			w.Header().Set(headerAPIVersion, "volume "+v.String())
			w.Header().Add("Vary", headerAPIVersion)
		},
		internalError: "The server has either erred or is incapable of performing the requested operation.",
	}
}

// novaUnexpected is Nova's answer to an exception it did not expect: a 500 naming the exception's class.
func novaUnexpected(class string) *apiError {
	return &apiError{http.StatusInternalServerError, "Unexpected API Error. Please report this at " +
		"http://bugs.launchpad.net/nova/ and attach the Nova API log if possible.\n<class '" + class + "'>"}
}

// authenticate is keystonemiddleware: the request's token must be live and project-scoped.
func (c *Cloud) authenticate(w http.ResponseWriter, r *http.Request) (*token, bool) {
	t, ok := c.identity.validate(r.Header.Get("X-Auth-Token"))
	if !ok || t.projectID == "" {
		writeUnauthorized(w, c.identityRoot)
		return nil, false
	}
	return t, true
}

// route wraps a handler in the service's pipeline: request id, token check, microversion negotiation, then
// the fault drawn for the operation, struck before the handler runs or after it has answered.
func (c *Cloud) route(svc serviceAPI, e endpoint) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requestID := c.setRequestID(svc, w)
		t, ok := c.authenticate(w, r)
		if !ok {
			return
		}
		r = r.WithContext(withCaller(r.Context(), caller{requestID: requestID, userID: t.userID, projectID: t.projectID}))
		v, verr := svc.negotiate(r.Header)
		if verr != nil {
			writeFault(w, verr)
			return
		}
		svc.versionHeader(w, v)
		op := e.op
		if op == "" {
			op = peekAction(r)
		}
		f := c.faults.Draw(op)
		r = r.WithContext(context.WithValue(r.Context(), faultKey{}, f))
		if f.Phase == FaultBefore {
			if r.Method != http.MethodGet {
				c.audit.add(AuditEntry{Time: time.Now().UTC(), Caller: t.userName, Service: svc.name, Operation: op,
					Target: r.PathValue("id"), Status: f.Status(), Fault: f.String()})
			}
			c.failRequest(svc, w, r, f)
			return
		}
		out := http.ResponseWriter(w)
		if f.Phase == FaultAfter {
			out = newBufferedResponse()
		}
		if err := e.h(out, &apiRequest{Request: r, token: t, version: v}); err != nil {
			c.writeAPIError(svc, out, r, err)
		}
		if f.Phase == FaultAfter {
			c.failRequest(svc, w, r, f)
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
	body, parseErr := decodeBody(peek)
	name, aerr := actionName(body, parseErr)
	if aerr != nil {
		return "action"
	}
	return name
}

// routeNotFound answers what no route matches; under the versioned prefix the token is checked first, as
// keystonemiddleware runs before the router.
func (c *Cloud) routeNotFound(svc serviceAPI) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.setRequestID(svc, w)
		if strings.HasPrefix(r.URL.Path, svc.pathPrefix) {
			if _, ok := c.authenticate(w, r); !ok {
				return
			}
		}
		c.logf("%s: no route for %s %s", svc.name, r.Method, r.URL)
		writeRouteNotFound(w)
	})
}

// setRequestID stamps the answer with a request id, drawn outside the seeded ids so that the number of
// requests served does not change the ids a later Provision generates.
func (c *Cloud) setRequestID(svc serviceAPI, w http.ResponseWriter) string {
	id := "req-" + uuid.NewString()
	w.Header().Set("X-Openstack-Request-Id", id)
	if svc.name == "compute" {
		w.Header().Set("X-Compute-Request-Id", id)
	}
	return id
}

func (c *Cloud) writeAPIError(svc serviceAPI, w http.ResponseWriter, r *http.Request, err error) {
	var ae *apiError
	if errors.As(err, &ae) {
		writeFault(w, ae)
		return
	}
	c.logf("%s: %s %s: %v", svc.name, r.Method, r.URL, err)
	writeFault(w, &apiError{http.StatusInternalServerError, svc.internalError})
}

// auditedAction serves POST .../{id}/action, the one place every mutating Nova and Cinder action goes through:
// it picks the action out of the body, runs it and records the caller, action, target and answer. An action
// that succeeds is answered with status (202, or 204 for Cinder's os-complete).
func (c *Cloud) auditedAction(svc serviceAPI, w http.ResponseWriter, r *apiRequest, status int,
	do func(action string, body jsonObject) error) {
	body, parseErr := decodeBody(r.Request)
	action, aerr := actionName(body, parseErr)
	obj, _ := body.(jsonObject)
	c.audited(w, r, svc.name, orDefault(action, "action"), actionDetail(obj, action), r.PathValue("id"),
		func(w http.ResponseWriter) {
			var err error
			if aerr != nil {
				err = aerr
			} else {
				err = do(action, obj)
			}
			if err != nil {
				c.writeAPIError(svc, w, r.Request, err)
				return
			}
			w.WriteHeader(status)
		})
}

// actionDetail is what the audit log keeps of an action's arguments: the reboot type, the requested states.
func actionDetail(body jsonObject, action string) string {
	raw, _ := body.get(action)
	args, ok := raw.(jsonObject)
	if !ok {
		return ""
	}
	var parts []string
	for _, k := range []string{"type", "status", "attach_status", "migration_status", "attachment_id"} {
		if v, ok := args.values[k].(string); ok {
			parts = append(parts, k+"="+v)
		}
	}
	return strings.Join(parts, " ")
}

// decodeInto parses a JSON request body into a struct.
func decodeInto(r *http.Request, v any) error {
	if err := json.NewDecoder(r.Body).Decode(v); err != nil {
		return fmt.Errorf("decode the request body: %w", err)
	}
	return nil
}

type faultKey struct{}

// faultOf is the fault drawn for the request, which the audit log records.
func faultOf(ctx context.Context) model.Fault {
	f, _ := ctx.Value(faultKey{}).(model.Fault)
	return f
}

// failRequest gives the client the injected failure instead of the service's answer.
func (c *Cloud) failRequest(svc serviceAPI, w http.ResponseWriter, r *http.Request, f model.Fault) {
	switch f.Kind {
	case FaultServerError:
		writeFault(w, &apiError{http.StatusInternalServerError, svc.internalError})
	case FaultUnavailable:
		writeFault(w, &apiError{http.StatusServiceUnavailable,
			"The server is currently unavailable. Please try again at a later time."})
	case FaultTimeout:
		timer := time.NewTimer(c.faults.Hang())
		defer timer.Stop()
		select {
		case <-r.Context().Done():
		case <-c.closing:
		case <-timer.C:
		}
		dropConnection(w)
	case FaultDrop:
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
