package cloud

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/google/uuid"
)

// apiRequest is an authenticated Nova or Cinder request with its negotiated microversion.
type apiRequest struct {
	*http.Request
	token   *token
	version Microversion
}

// apiHandler serves one route; a returned *apiError becomes the service's fault body, any other error a 500.
type apiHandler func(w http.ResponseWriter, r *apiRequest) error

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
		internalError: "Unexpected API Error. Please report this at http://bugs.launchpad.net/nova/ and attach " +
			"the Nova API log if possible.\n<class 'oslo_db.exception.DBError'>",
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

// authenticate is keystonemiddleware: the request's token must be live and project-scoped.
func (c *Cloud) authenticate(w http.ResponseWriter, r *http.Request) (*token, bool) {
	t, ok := c.identity.validate(r.Header.Get("X-Auth-Token"))
	if !ok || t.projectID == "" {
		writeUnauthorized(w, c.identityRoot)
		return nil, false
	}
	return t, true
}

// route wraps a handler in the service's pipeline: request id, token check, microversion negotiation.
func (c *Cloud) route(svc serviceAPI, h apiHandler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.setRequestID(svc, w)
		t, ok := c.authenticate(w, r)
		if !ok {
			return
		}
		v, verr := svc.negotiate(r.Header)
		if verr != nil {
			writeFault(w, verr)
			return
		}
		svc.versionHeader(w, v)
		if err := h(w, &apiRequest{Request: r, token: t, version: v}); err != nil {
			c.writeAPIError(svc, w, r, err)
		}
	})
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
func (c *Cloud) setRequestID(svc serviceAPI, w http.ResponseWriter) {
	id := "req-" + uuid.NewString()
	w.Header().Set("X-Openstack-Request-Id", id)
	if svc.name == "compute" {
		w.Header().Set("X-Compute-Request-Id", id)
	}
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

// auditedAction serves POST .../{id}/action, the one place every mutating Nova and Cinder call goes through:
// it picks the action out of the body, runs it and records the caller, action, target and answer.
func (c *Cloud) auditedAction(svc serviceAPI, w http.ResponseWriter, r *apiRequest,
	do func(action string, body jsonObject) error) {
	body, parseErr := decodeBody(r.Request)
	action, aerr := actionName(body, parseErr)
	obj, _ := body.(jsonObject)
	c.audited(w, r.token.userName, svc.name, orDefault(action, "action"), actionDetail(obj, action),
		r.PathValue("id"), func(w http.ResponseWriter) {
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
			w.WriteHeader(http.StatusAccepted)
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
	for _, k := range []string{"type", "status", "attach_status", "migration_status"} {
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
