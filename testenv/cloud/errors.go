package cloud

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
)

// apiError is an error a Nova or Cinder API call answers with: its status and the message of the fault body.
type apiError struct {
	code    int
	message string
}

func (e *apiError) Error() string { return fmt.Sprintf("%d: %s", e.code, e.message) }

func badRequest(format string, args ...any) *apiError {
	return &apiError{http.StatusBadRequest, fmt.Sprintf(format, args...)}
}

func notFound(format string, args ...any) *apiError {
	return &apiError{http.StatusNotFound, fmt.Sprintf(format, args...)}
}

func conflict(format string, args ...any) *apiError {
	return &apiError{http.StatusConflict, fmt.Sprintf(format, args...)}
}

// Nova and Cinder share webob's default explanations for the faults they raise without one.
const (
	msgResourceNotFound = "The resource could not be found."
	msgMalformedBody    = "Malformed request body"
	msgAuthRequired     = "The request you have made requires authentication."
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

func writeJSON(w http.ResponseWriter, status int, body any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	// The connection is the only thing that can fail here, and the client has gone with it.
	_ = json.NewEncoder(w).Encode(body)
}

func writeFault(w http.ResponseWriter, e *apiError) {
	writeJSON(w, e.code, map[string]any{faultName(e.code): map[string]any{"code": e.code, "message": e.message}})
}

// writeRouteNotFound answers a URL no route matches the way Nova's and Cinder's routers do: a bare webob 404,
// not a Fault, rendered as JSON for a client that accepts it.
func writeRouteNotFound(w http.ResponseWriter) {
	writeJSON(w, http.StatusNotFound, map[string]any{
		"code":    "404 Not Found",
		"title":   "Not Found",
		"message": msgResourceNotFound + "<br /><br />\n\n\n",
	})
}

// writeUnauthorized is keystonemiddleware's rejection of a request without a valid token.
func writeUnauthorized(w http.ResponseWriter, identityRoot string) {
	w.Header().Set("WWW-Authenticate", fmt.Sprintf("Keystone uri=%q", identityRoot))
	writeKeystoneError(w, http.StatusUnauthorized, msgAuthRequired)
}

// writeKeystoneError is Keystone's (and keystonemiddleware's) error body.
func writeKeystoneError(w http.ResponseWriter, code int, message string) {
	writeJSON(w, code, map[string]any{"error": map[string]any{
		"code": code, "title": http.StatusText(code), "message": message,
	}})
}

// jsonObject is a decoded JSON object that keeps its keys in document order, because the services quote
// offending objects back as Python dicts, which keep that order.
type jsonObject struct {
	keys   []string
	values map[string]any
}

func (o jsonObject) get(key string) (any, bool) {
	v, ok := o.values[key]
	return v, ok
}

// decodeBody parses a JSON request body into generic values (jsonObject, []any, string, json.Number, bool,
// nil), as the Python services do before validating.
func decodeBody(r *http.Request) (any, error) {
	dec := json.NewDecoder(r.Body)
	dec.UseNumber()
	v, err := decodeValue(dec)
	if err != nil {
		return nil, err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errors.New("trailing data after the JSON document")
	}
	return v, nil
}

func decodeValue(dec *json.Decoder) (any, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	switch tok {
	case json.Delim('{'):
		obj := jsonObject{values: map[string]any{}}
		for dec.More() {
			keyTok, err := dec.Token()
			if err != nil {
				return nil, err
			}
			key, _ := keyTok.(string)
			v, err := decodeValue(dec)
			if err != nil {
				return nil, err
			}
			if _, dup := obj.values[key]; !dup {
				obj.keys = append(obj.keys, key)
			}
			obj.values[key] = v
		}
		_, err := dec.Token()
		return obj, err
	case json.Delim('['):
		list := []any{}
		for dec.More() {
			v, err := decodeValue(dec)
			if err != nil {
				return nil, err
			}
			list = append(list, v)
		}
		_, err := dec.Token()
		return list, err
	}
	return tok, nil
}

// actionName picks the action out of a POST .../action body as action_peek does in both services: exactly one
// key, else "Malformed request body". Bodies Python cannot take len() or keys() of end in a 404.
func actionName(body any, parseErr error) (string, *apiError) {
	if parseErr != nil {
		return "", badRequest(msgMalformedBody)
	}
	switch b := body.(type) {
	case jsonObject:
		if len(b.keys) != 1 {
			return "", badRequest(msgMalformedBody)
		}
		return b.keys[0], nil
	case []any:
		if len(b) != 1 {
			return "", badRequest(msgMalformedBody)
		}
	case string:
		if len([]rune(b)) != 1 {
			return "", badRequest(msgMalformedBody)
		}
	}
	return "", notFound(msgResourceNotFound)
}

// invalidInput is the message both services' JSON-schema validation gives for a field that fails.
func invalidInput(field string, value any, problem string) *apiError {
	return badRequest("Invalid input for field/attribute %s. Value: %s. %s", field, pyStr(value), problem)
}

// unexpectedKeys is jsonschema's additionalProperties message for an object's keys outside allowed, or "".
func unexpectedKeys(obj jsonObject, allowed ...string) string {
	var extras []string
	for _, k := range obj.keys {
		if !slices.Contains(allowed, k) {
			extras = append(extras, pyRepr(k))
		}
	}
	switch len(extras) {
	case 0:
		return ""
	case 1:
		return fmt.Sprintf("Additional properties are not allowed (%s was unexpected)", extras[0])
	}
	return fmt.Sprintf("Additional properties are not allowed (%s were unexpected)", strings.Join(extras, ", "))
}

// pyStr renders a decoded JSON value as Python's str() does, which is how the services quote offending values.
func pyStr(v any) string {
	if s, ok := v.(string); ok {
		return s
	}
	return pyRepr(v)
}

// pyRepr renders a decoded JSON value as Python's repr().
func pyRepr(v any) string {
	switch x := v.(type) {
	case nil:
		return "None"
	case bool:
		if x {
			return "True"
		}
		return "False"
	case string:
		return "'" + strings.ReplaceAll(x, "'", `\'`) + "'"
	case json.Number:
		return x.String()
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case []any:
		parts := make([]string, len(x))
		for i, e := range x {
			parts[i] = pyRepr(e)
		}
		return "[" + strings.Join(parts, ", ") + "]"
	case jsonObject:
		parts := make([]string, len(x.keys))
		for i, k := range x.keys {
			parts[i] = pyRepr(k) + ": " + pyRepr(x.values[k])
		}
		return "{" + strings.Join(parts, ", ") + "}"
	default:
		return fmt.Sprint(x)
	}
}

// pyTruthy is Python's truth value of a decoded JSON value.
func pyTruthy(v any) bool {
	switch x := v.(type) {
	case nil:
		return false
	case bool:
		return x
	case string:
		return x != ""
	case json.Number:
		f, err := x.Float64()
		return err != nil || f != 0
	case []any:
		return len(x) > 0
	case jsonObject:
		return len(x.keys) > 0
	}
	return true
}
