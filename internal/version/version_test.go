package version

import (
	"runtime"
	"runtime/debug"
	"testing"
)

func TestStampedValuesWinOverWhatTheToolchainRecorded(t *testing.T) {
	checkout := &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "(devel)"}, Settings: []debug.BuildSetting{
		{Key: "vcs.revision", Value: "0daa6920f1"}, {Key: "vcs.time", Value: "2026-11-25T03:00:00Z"}, {Key: "vcs.modified", Value: "false"},
	}}
	dirty := &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "(devel)"}, Settings: []debug.BuildSetting{
		{Key: "vcs.revision", Value: "0daa6920f1"}, {Key: "vcs.modified", Value: "true"},
	}}
	installed := &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "v0.1.0"}}
	for _, tc := range []struct {
		name    string
		stamped Info
		bi      *debug.BuildInfo
		want    Info
	}{
		{"stamped by the Makefile", Info{Version: "v0.2.0", Commit: "abc", Date: "2026-12-01T00:00:00Z"}, checkout,
			Info{Version: "v0.2.0", Commit: "abc", Date: "2026-12-01T00:00:00Z", GoVersion: "go1.26.8"}},
		{"built in a checkout", Info{}, checkout, Info{Version: "devel", Commit: "0daa6920f1", Date: "2026-11-25T03:00:00Z", GoVersion: "go1.26.8"}},
		{"built with uncommitted changes", Info{}, dirty, Info{Version: "devel", Commit: "0daa6920f1-dirty", GoVersion: "go1.26.8"}},
		{"go install of a tag", Info{}, installed, Info{Version: "v0.1.0", GoVersion: "go1.26.8"}},
		{"only the version stamped", Info{Version: "v0.2.0"}, checkout, Info{Version: "v0.2.0", Commit: "0daa6920f1", Date: "2026-11-25T03:00:00Z", GoVersion: "go1.26.8"}},
		{"no build information", Info{}, nil, Info{Version: "devel", GoVersion: runtime.Version()}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := resolve(tc.stamped, tc.bi); got != tc.want {
				t.Errorf("resolve = %+v, want %+v", got, tc.want)
			}
		})
	}
}

// A test binary carries build information, so Get names at least the Go version it was built with.
func TestGetNamesTheRunningBinary(t *testing.T) {
	got := Get()
	if got.GoVersion != runtime.Version() || got.Version == "" {
		t.Errorf("Get() = %+v", got)
	}
}
