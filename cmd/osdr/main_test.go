package main

import (
	"errors"
	"testing"

	"github.com/osdr/osdr/drills"
)

// A problem in a drill file starts its line with file:line:column, the form editors and CI annotations jump
// to; every other error is marked as osdr's.
func TestErrorLinesOfFileProblemsStartWithTheirPlace(t *testing.T) {
	invalid := &drills.ValidationError{File: "drill.yaml", Problems: []drills.Problem{{Line: 4, Column: 3, Message: "guards.staging: must be true"}}}
	for _, tc := range []struct {
		err  error
		want string
	}{
		{invalid, "drill.yaml:4:3: guards.staging: must be true"},
		{errors.New("open clouds.yaml: permission denied"), "osdr: open clouds.yaml: permission denied"},
	} {
		if got := errorLine(tc.err); got != tc.want {
			t.Errorf("errorLine(%v) = %q, want %q", tc.err, got, tc.want)
		}
	}
}
