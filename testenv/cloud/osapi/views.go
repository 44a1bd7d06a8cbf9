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

// DefaultMaxLimit is the most items one page of a listing holds unless configured otherwise: Nova's
// [api] max_limit and Cinder's osapi_max_limit both default to 1000.
const DefaultMaxLimit = 1000

// NextLinks is a listing's collection links as Nova's and Cinder's view builders make them: a "next" link,
// the request's own URL with marker set to the page's last item, whenever the page is as full as its limit
// (the smaller of the request's limit and the service's maximum) allows; none for an empty page. A client that
// follows it until no link comes back has read the whole collection.
func NextLinks(r *Request, pageLen, limit int, lastID string) []any {
	if pageLen == 0 || pageLen < limit {
		return nil
	}
	q := r.URL.Query()
	q.Set("marker", lastID)
	return []any{Link("next", BaseURL(r.Request)+r.URL.Path+"?"+q.Encode())}
}

// WithLinks adds a listing's collection links under key, as the view builders do only when there are some.
func WithLinks(body map[string]any, key string, links []any) map[string]any {
	if len(links) > 0 {
		body[key] = links
	}
	return body
}
