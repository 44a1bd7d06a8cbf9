package osapi

import (
	"encoding/json"
	"fmt"
	"net/http"
)

// Error is an error a Nova or Cinder API call answers with: its status and the message of the fault body.
type Error struct {
	Code    int
	Message string
}

func (e *Error) Error() string { return fmt.Sprintf("%d: %s", e.Code, e.Message) }

// BadRequest is a 400 with the formatted message; NotFound a 404; Conflict a 409.
func BadRequest(format string, args ...any) *Error {
	return &Error{http.StatusBadRequest, fmt.Sprintf(format, args...)}
}

func NotFound(format string, args ...any) *Error {
	return &Error{http.StatusNotFound, fmt.Sprintf(format, args...)}
}

func Conflict(format string, args ...any) *Error {
	return &Error{http.StatusConflict, fmt.Sprintf(format, args...)}
}

// Nova and Cinder share webob's default explanations for the faults they raise without one.
const (
	MsgResourceNotFound = "The resource could not be found."
	MsgMalformedBody    = "Malformed request body"
	MsgAuthRequired     = "The request you have made requires authentication."
)

// faultName is the key Nova's and Cinder's Fault wraps a status in; both fall back to computeFault.
func faultName(code int) string {
	switch code {
	case http.StatusBadRequest:
		return "badRequest"
	case http.StatusUnauthorized:
		return "unauthorized"
	case http.StatusForbidden:
		return "forbidden"
	case http.StatusNotFound:
		return "itemNotFound"
	case http.StatusMethodNotAllowed:
		return "badMethod"
	case http.StatusConflict:
		return "conflictingRequest"
	case http.StatusRequestEntityTooLarge, http.StatusTooManyRequests:
		return "overLimit"
	case http.StatusUnsupportedMediaType:
		return "badMediaType"
	case http.StatusNotImplemented:
		return "notImplemented"
	case http.StatusServiceUnavailable:
		return "serviceUnavailable"
	default:
		return "computeFault"
	}
}

// WriteJSON answers status with body as JSON.
func WriteJSON(w http.ResponseWriter, status int, body any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	// The connection is the only thing that can fail here, and the client has gone with it.
	_ = json.NewEncoder(w).Encode(body)
}

// WriteFault answers e with the fault body Nova and Cinder wrap an error in.
func WriteFault(w http.ResponseWriter, e *Error) {
	WriteJSON(w, e.Code, map[string]any{faultName(e.Code): map[string]any{"code": e.Code, "message": e.Message}})
}

// writeRouteNotFound answers a URL no route matches the way Nova's and Cinder's routers do: a bare webob 404,
// not a Fault, rendered as JSON for a client that accepts it.
func writeRouteNotFound(w http.ResponseWriter) {
	WriteJSON(w, http.StatusNotFound, map[string]any{
		"code":    "404 Not Found",
		"title":   "Not Found",
		"message": MsgResourceNotFound + "<br /><br />\n\n\n",
	})
}

// WriteUnauthorized is keystonemiddleware's rejection of a request without a valid token.
func WriteUnauthorized(w http.ResponseWriter, identityRoot string) {
	w.Header().Set("WWW-Authenticate", fmt.Sprintf("Keystone uri=%q", identityRoot))
	WriteKeystoneError(w, http.StatusUnauthorized, MsgAuthRequired)
}

// WriteKeystoneError is Keystone's (and keystonemiddleware's) error body.
func WriteKeystoneError(w http.ResponseWriter, code int, message string) {
	WriteJSON(w, code, map[string]any{"error": map[string]any{
		"code": code, "title": http.StatusText(code), "message": message,
	}})
}
