package osapi

import (
	"database/sql"
	"net/http"
	"strings"
)

// NaiveTime is how oslo serializes a zone-less datetime.
const NaiveTime = "2006-01-02T15:04:05.000000"

// BaseURL is the scheme and host a request came in on, which the services build their links from.
func BaseURL(r *http.Request) string { return "http://" + r.Host }

// BoolParam parses a query flag as oslo's strutils.bool_from_string(strict=True) does.
func BoolParam(v string) (bool, bool) {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "1", "t", "true", "on", "y", "yes":
		return true, true
	case "0", "f", "false", "off", "n", "no":
		return false, true
	}
	return false, false
}

// Link is one entry of a resource's links.
func Link(rel, href string) map[string]any { return map[string]any{"rel": rel, "href": href} }

// TimeOrNil, NullString and NullInt render a nullable column as the views show it: null when NULL.
func TimeOrNil(t sql.NullTime, layout string) any {
	if !t.Valid {
		return nil
	}
	return t.Time.Format(layout)
}

func NullString(s sql.NullString) any {
	if !s.Valid {
		return nil
	}
	return s.String
}

func NullInt(n sql.NullInt64) any {
	if !n.Valid {
		return nil
	}
	return n.Int64
}
