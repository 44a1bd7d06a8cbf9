package osapi

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

// Object is a decoded JSON object that keeps its keys in document order, because the services quote
// offending objects back as Python dicts, which keep that order.
type Object struct {
	Keys   []string
	Values map[string]any
}

// Get is the value of key and whether the object has it.
func (o Object) Get(key string) (any, bool) {
	v, ok := o.Values[key]
	return v, ok
}

// DecodeBody parses a JSON request body into generic values (jsonObject, []any, string, json.Number, bool,
// nil), as the Python services do before validating.
func DecodeBody(r *http.Request) (any, error) {
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
		obj := Object{Values: map[string]any{}}
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
			if _, dup := obj.Values[key]; !dup {
				obj.Keys = append(obj.Keys, key)
			}
			obj.Values[key] = v
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
func actionName(body any, parseErr error) (string, *Error) {
	if parseErr != nil {
		return "", BadRequest(MsgMalformedBody)
	}
	switch b := body.(type) {
	case Object:
		if len(b.Keys) != 1 {
			return "", BadRequest(MsgMalformedBody)
		}
		return b.Keys[0], nil
	case []any:
		if len(b) != 1 {
			return "", BadRequest(MsgMalformedBody)
		}
	case string:
		if len([]rune(b)) != 1 {
			return "", BadRequest(MsgMalformedBody)
		}
	}
	return "", NotFound(MsgResourceNotFound)
}

// InvalidInput is the message both services' JSON-schema validation gives for a field that fails.
func InvalidInput(field string, value any, problem string) *Error {
	return BadRequest("Invalid input for field/attribute %s. Value: %s. %s", field, pyStr(value), problem)
}

// UnexpectedKeys is jsonschema's additionalProperties message for an object's keys outside allowed, or "".
func UnexpectedKeys(obj Object, allowed ...string) string {
	var extras []string
	for _, k := range obj.Keys {
		if !slices.Contains(allowed, k) {
			extras = append(extras, PyRepr(k))
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
	return PyRepr(v)
}

// PyRepr renders a decoded JSON value as Python's repr().
func PyRepr(v any) string {
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
			parts[i] = PyRepr(e)
		}
		return "[" + strings.Join(parts, ", ") + "]"
	case Object:
		parts := make([]string, len(x.Keys))
		for i, k := range x.Keys {
			parts[i] = PyRepr(k) + ": " + PyRepr(x.Values[k])
		}
		return "{" + strings.Join(parts, ", ") + "}"
	default:
		return fmt.Sprint(x)
	}
}

// PyTruthy is Python's truth value of a decoded JSON value.
func PyTruthy(v any) bool {
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
	case Object:
		return len(x.Keys) > 0
	}
	return true
}
