package iscsi

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

// TestExitCodesMatchIscsiErrH pins every constant to its number in include/iscsi_err.h and its message to
// usr/iscsi_err.c.
func TestExitCodesMatchIscsiErrH(t *testing.T) {
	for _, tt := range []struct {
		code    ExitCode
		number  int
		message string
	}{
		{ExitOK, 0, "success"},
		{ExitGeneric, 1, "unknown error"},
		{ExitSessionNotFound, 2, "session not found"},
		{ExitLogin, 5, "encountered iSCSI login failure"},
		{ExitIDBM, 6, "encountered iSCSI database failure"},
		{ExitInvalidArg, 7, "invalid parameter"},
		{ExitTransportTimeout, 8, "connection timed out"},
		{ExitLogout, 10, "encountered iSCSI logout failure"},
		{ExitAccess, 13, "daemon access denied"},
		{ExitSessionExists, 15, "session exists"},
		{ExitISCSIDComm, 18, "could not communicate to iscsid"},
		{ExitISCSIDNotConnected, 20, "could not connect to iscsid"},
		{ExitNoObjectsFound, 21, "no objects found"},
		{ExitSysfsLookup, 22, "sysfs lookup failure"},
		{ExitLoginAuthFailed, 24, "iSCSI login failed due to authorization failure"},
		{ExitBusy, 28, "device or resource in use"},
		{ExitAgain, 29, "operation failed but retry may succeed"},
		{ExitSessionNotConnected, 32, "target likely not connected"},
		{ExitRequestTimedOut, 33, "iscsid request timed out"},
		{ExitCode(12), 12, "iSCSI driver not found. Please make sure it is loaded, and retry the operation"},
		{ExitCode(34), 34, "not an iscsiadm exit code"},
		{ExitCode(127), 127, "not an iscsiadm exit code"},
		{ExitCode(-1), -1, "not an iscsiadm exit code"},
	} {
		if int(tt.code) != tt.number || tt.code.String() != tt.message {
			t.Errorf("code %d %q, want %d %q", int(tt.code), tt.code, tt.number, tt.message)
		}
	}
}

func TestExitErrorClassification(t *testing.T) {
	logout, err := Logout(SID{15})
	if err != nil {
		t.Fatal(err)
	}
	// What open-iscsi 2.1.11 prints for a sid it has no session for (read from its source): exit 22.
	const unknownSID = "iscsiadm: could not read session targetname: 5\niscsiadm: Could not get session info for sid 15\n"
	type helper struct {
		name string
		is   func(error) bool
	}
	helpers := []helper{
		{"IsNoObjects", IsNoObjects},
		{"IsSessionNotFound", IsSessionNotFound},
		{"IsSessionExists", IsSessionExists},
		{"IsISCSIDUnreachable", IsISCSIDUnreachable},
		{"IsRetryable", IsRetryable},
	}
	tests := []struct {
		name   string
		exit   int
		stderr string
		want   string // the one helper that must say yes; "" for none
	}{
		{"no matching sessions", 21, "iscsiadm: No matching sessions found\n", "IsNoObjects"},
		{"unknown sid", 22, unknownSID, "IsSessionNotFound"},
		{"other sysfs failure", 22, "iscsiadm: could not read session targetname: 5\n", ""},
		{"session not found", 2, "", "IsSessionNotFound"},
		{"invalid sid", 1, "iscsiadm: abc is an invalid session ID or path\n", ""},
		{"already logged in", 15, "iscsiadm: default: 1 session requested, but 1 already present.\n", "IsSessionExists"},
		{"iscsid comm", 18, "", "IsISCSIDUnreachable"},
		{"iscsid not connected", 20, "", "IsISCSIDUnreachable"},
		{"busy", 28, "", "IsRetryable"},
		{"again", 29, "", "IsRetryable"},
		{"request timed out", 33, "", "IsRetryable"},
		{"logout failed", 10, "iscsiadm: Could not logout of [sid: 15, target: " + volumeIQN +
			", portal: 10.0.0.1,3260].\niscsiadm: initiator reported error (10 - encountered iSCSI logout failure)\n", ""},
		{"auth", 24, "", ""},
		{"not iscsiadm", 127, "sh: iscsiadm: command not found\n", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := logout.Check(tt.exit, tt.stderr)
			wrapped := fmt.Errorf("logout session 15 on compute-1: %w", err)
			if code, ok := CodeOf(wrapped); !ok || int(code) != tt.exit {
				t.Fatalf("CodeOf = %d, %v; want %d", code, ok, tt.exit)
			}
			for _, h := range helpers {
				if got := h.is(wrapped); got != (h.name == tt.want) {
					t.Errorf("%s = %v", h.name, got)
				}
			}
			msg := err.Error()
			if !strings.Contains(msg, "iscsiadm -m session -u -r 15 exited with status "+fmt.Sprint(tt.exit)) ||
				!strings.Contains(msg, strings.ReplaceAll(strings.TrimSpace(tt.stderr), "\n", "; ")) {
				t.Errorf("Error() = %q: want the command, the status and the stderr", msg)
			}
		})
	}
	if err := logout.Check(0, "anything"); err != nil {
		t.Fatalf("Check(0) = %v", err)
	}
	for _, h := range helpers {
		if h.is(nil) || h.is(errors.New("exit status 21")) {
			t.Errorf("%s says yes to an error that is no *ExitError", h.name)
		}
	}
	if _, ok := CodeOf(errors.New("x")); ok {
		t.Error("CodeOf found a code in a plain error")
	}
}
