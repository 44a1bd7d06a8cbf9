// Package version says which build of osdr is running, so every report and metric names the binary that
// produced it. The Makefile stamps the version, commit and build date with -ldflags -X; an unstamped build
// (go install, go run) falls back to what the Go toolchain recorded in the binary.
package version

import (
	"cmp"
	"runtime"
	"runtime/debug"
)

// Stamped at link time:
//
//	-ldflags "-X github.com/osdr/osdr/internal/version.version=v0.1.0
//	          -X github.com/osdr/osdr/internal/version.commit=<git rev-parse HEAD>
//	          -X github.com/osdr/osdr/internal/version.date=<RFC 3339 build time>"
var version, commit, date string

// Info identifies a build of osdr.
type Info struct {
	Version   string `json:"version"`
	Commit    string `json:"commit,omitempty"`
	Date      string `json:"date,omitempty"`
	GoVersion string `json:"go_version"`
}

// Get returns the running binary's build information.
func Get() Info {
	bi, _ := debug.ReadBuildInfo()
	return resolve(Info{Version: version, Commit: commit, Date: date}, bi)
}

// unknownVersion names a build that was neither stamped nor built from a tagged module.
const unknownVersion = "devel"

// resolve prefers what the build stamped, then what the toolchain recorded (the module version of `go
// install …@v0.1.0`, the VCS revision and time of a build in a checkout), so a binary never reports less than
// it knows.
func resolve(stamped Info, bi *debug.BuildInfo) Info {
	if bi == nil {
		bi = &debug.BuildInfo{}
	}
	out := stamped
	out.GoVersion = cmp.Or(bi.GoVersion, runtime.Version())
	if v := bi.Main.Version; v != "(devel)" {
		out.Version = cmp.Or(out.Version, v)
	}
	out.Version = cmp.Or(out.Version, unknownVersion)
	var revision, modified string
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			revision = s.Value
		case "vcs.time":
			out.Date = cmp.Or(out.Date, s.Value)
		case "vcs.modified":
			modified = s.Value
		}
	}
	// A build from a checkout with uncommitted changes is not the commit it names.
	if revision != "" && modified == "true" {
		revision += "-dirty"
	}
	out.Commit = cmp.Or(out.Commit, revision)
	return out
}
