package osapi

import (
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
)

// Microversion is an API microversion such as 2.96 or 3.71.
type Microversion struct {
	Major, Minor int
}

// Both services accept exactly this shape; "2.01" or "3" are malformed.
var microversionPattern = regexp.MustCompile(`^([1-9]\d*)\.([1-9]\d*|0)$`)

// ParseMicroversion parses "MAJOR.MINOR".
func ParseMicroversion(s string) (Microversion, error) {
	m := microversionPattern.FindStringSubmatch(s)
	if m == nil {
		return Microversion{}, fmt.Errorf("microversion %q is not MAJOR.MINOR", s)
	}
	major, _ := strconv.Atoi(m[1])
	minor, _ := strconv.Atoi(m[2])
	return Microversion{major, minor}, nil
}

func (v Microversion) String() string { return fmt.Sprintf("%d.%d", v.Major, v.Minor) }

// AtLeast reports whether v is major.minor or newer.
func (v Microversion) AtLeast(major, minor int) bool {
	return v.Major > major || (v.Major == major && v.Minor >= minor)
}

func (v Microversion) within(lo, hi Microversion) bool {
	return v.AtLeast(lo.Major, lo.Minor) && hi.AtLeast(v.Major, v.Minor)
}

const (
	HeaderAPIVersion        = "OpenStack-API-Version"
	HeaderNovaLegacyVersion = "X-OpenStack-Nova-API-Version"
)

var (
	computeMinVersion = Microversion{2, 1}
	volumeMinVersion  = Microversion{3, 0}
)

// ComputeVersion negotiates a Nova request's microversion as nova/api/openstack/wsgi.py does through
// microversion_parse: the standard header's "compute" entry, else the legacy header, else 2.1.
func ComputeVersion(h http.Header, max Microversion) (Microversion, *Error) {
	requested, found := standardHeaderVersion(h, "compute")
	if !found {
		requested = strings.TrimSpace(h.Get(HeaderNovaLegacyVersion))
		found = requested != ""
	}
	if !found {
		return computeMinVersion, nil
	}
	return checkVersion(requested, computeMinVersion, max)
}

// VolumeVersion negotiates a Cinder request's microversion as cinder/api/openstack/wsgi.py does: the first
// entry of the standard header mentioning "volume", else 3.0.
func VolumeVersion(h http.Header, max Microversion) (Microversion, *Error) {
	if len(h.Values(HeaderAPIVersion)) == 0 {
		return volumeMinVersion, nil
	}
	for _, entry := range strings.Split(strings.Join(h.Values(HeaderAPIVersion), ","), ",") {
		if !strings.Contains(entry, "volume") {
			continue
		}
		fields := strings.Fields(entry)
		if len(fields) != 2 {
			break
		}
		return checkVersion(fields[1], volumeMinVersion, max)
	}
	// Cinder raises VersionNotFoundForAPIMethod here, which its fault middleware turns into a bare 400.
	return Microversion{}, &Error{http.StatusBadRequest,
		"The server could not comply with the request since it is either malformed or otherwise incorrect."}
}

// standardHeaderVersion finds "<service> <version>" in OpenStack-API-Version (comma-separated, any case).
func standardHeaderVersion(h http.Header, service string) (string, bool) {
	for _, entry := range strings.Split(strings.Join(h.Values(HeaderAPIVersion), ","), ",") {
		fields := strings.Fields(entry)
		if len(fields) == 2 && strings.EqualFold(fields[0], service) {
			return fields[1], true
		}
	}
	return "", false
}

func checkVersion(requested string, min, max Microversion) (Microversion, *Error) {
	if strings.EqualFold(requested, "latest") {
		return max, nil
	}
	v, err := ParseMicroversion(requested)
	if err != nil {
		return Microversion{}, &Error{http.StatusBadRequest, fmt.Sprintf(
			"API Version String %s is of invalid format. Must be of format MajorNum.MinorNum.", requested)}
	}
	if !v.within(min, max) {
		return Microversion{}, &Error{http.StatusNotAcceptable, fmt.Sprintf(
			"Version %s is not supported by the API. Minimum is %s and maximum is %s.", v, min, max)}
	}
	return v, nil
}
