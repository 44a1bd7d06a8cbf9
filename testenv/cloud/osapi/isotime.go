package osapi

import (
	"errors"
	"time"
)

// isoLayouts are the ISO 8601 forms oslo.utils' parse_isotime (the iso8601 library) reads that clients send: a
// date and time with or without seconds, fractions and an offset, or a bare date.
var isoLayouts = []string{
	time.RFC3339Nano,
	"2006-01-02T15:04:05.999999999",
	"2006-01-02T15:04Z07:00",
	"2006-01-02T15:04",
	"2006-01-02 15:04:05.999999999Z07:00",
	"2006-01-02 15:04:05.999999999",
	"2006-01-02",
}

// ParseISOTime is oslo.utils' parse_isotime followed by normalize_time, as Nova's changes-since and Cinder's
// time comparison filters read a time: a time without an offset is UTC, one with an offset is turned into UTC.
func ParseISOTime(s string) (time.Time, error) {
	for _, layout := range isoLayouts {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, errors.New("not an ISO 8601 time")
}
