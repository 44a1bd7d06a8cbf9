package iscsi

import (
	"errors"
	"fmt"
	"strings"
)

// ExitCode is iscsiadm's exit status, from open-iscsi's include/iscsi_err.h.
type ExitCode int

// The codes osdr meets; String describes every code iscsi_err.h defines.
const (
	ExitOK                  ExitCode = 0
	ExitGeneric             ExitCode = 1 // also a non-numeric or zero -r argument
	ExitSessionNotFound     ExitCode = 2
	ExitLogin               ExitCode = 5
	ExitIDBM                ExitCode = 6 // the node database
	ExitInvalidArg          ExitCode = 7
	ExitTransportTimeout    ExitCode = 8
	ExitLogout              ExitCode = 10
	ExitAccess              ExitCode = 13 // not root
	ExitSessionExists       ExitCode = 15
	ExitISCSIDComm          ExitCode = 18
	ExitISCSIDNotConnected  ExitCode = 20 // iscsid is not running
	ExitNoObjectsFound      ExitCode = 21 // no sessions, no matching session, no node record
	ExitSysfsLookup         ExitCode = 22 // also an -r sid that names no session
	ExitLoginAuthFailed     ExitCode = 24
	ExitBusy                ExitCode = 28
	ExitAgain               ExitCode = 29
	ExitSessionNotConnected ExitCode = 32
	ExitRequestTimedOut     ExitCode = 33
)

// exitMessages is iscsi_err_msgs from usr/iscsi_err.c, the text iscsiadm itself prints as
// "initiator reported error (N - text)".
var exitMessages = [...]string{
	"success",
	"unknown error",
	"session not found",
	"no available memory",
	"encountered connection failure",
	"encountered iSCSI login failure",
	"encountered iSCSI database failure",
	"invalid parameter",
	"connection timed out",
	"internal error",
	"encountered iSCSI logout failure",
	"iSCSI PDU timed out",
	"iSCSI driver not found. Please make sure it is loaded, and retry the operation",
	"daemon access denied",
	"iSCSI driver does not support requested capability.",
	"session exists",
	"Unknown request",
	"iSNS service not supported",
	"could not communicate to iscsid",
	"encountered non-retryable iSCSI login failure",
	"could not connect to iscsid",
	"no objects found",
	"sysfs lookup failure",
	"host not found",
	"iSCSI login failed due to authorization failure",
	"iSNS query failed",
	"iSNS registration failed",
	"operation not supported",
	"device or resource in use",
	"operation failed but retry may succeed",
	"unknown discovery type",
	"child process terminated",
	"target likely not connected",
	"iscsid request timed out",
}

func (c ExitCode) String() string {
	if c >= 0 && int(c) < len(exitMessages) {
		return exitMessages[c]
	}
	return "not an iscsiadm exit code"
}

// ExitError is an iscsiadm command that exited non-zero.
type ExitError struct {
	Command Command
	Code    ExitCode
	// Stderr is everything iscsiadm wrote to stderr: its own "iscsiadm: ..." lines name the cause.
	Stderr string
}

func (e *ExitError) Error() string {
	msg := fmt.Sprintf("%s exited with status %d (%s)", e.Command, int(e.Code), e.Code)
	if stderr := strings.TrimSpace(e.Stderr); stderr != "" {
		msg += ": " + strings.ReplaceAll(stderr, "\n", "; ")
	}
	return msg
}

// Check turns the exit status of c into an error: nil for 0, else an *ExitError. Read the output of a
// command that exited 0 with the parser for that command.
func (c Command) Check(exit int, stderr string) error {
	if exit == 0 {
		return nil
	}
	return &ExitError{Command: c, Code: ExitCode(exit), Stderr: stderr}
}

// CodeOf returns the exit code of the iscsiadm run err reports, if it is (or wraps) an *ExitError.
func CodeOf(err error) (ExitCode, bool) {
	var exitErr *ExitError
	if errors.As(err, &exitErr) {
		return exitErr.Code, true
	}
	return 0, false
}

func codeIn(err error, codes ...ExitCode) bool {
	code, ok := CodeOf(err)
	if !ok {
		return false
	}
	for _, c := range codes {
		if code == c {
			return true
		}
	}
	return false
}

// IsNoObjects reports iscsiadm finding nothing to act on (exit 21): no sessions at all, no session matching a
// logout, or no node record for a login.
func IsNoObjects(err error) bool { return codeIn(err, ExitNoObjectsFound) }

// IsSessionNotFound reports a session id that names no session. open-iscsi 2.1.11 says so with exit 22 and
// "Could not get session info for sid N" (the sysfs directory is gone); exit 2 is the same verdict from iscsid.
func IsSessionNotFound(err error) bool {
	var exitErr *ExitError
	if !errors.As(err, &exitErr) {
		return false
	}
	return exitErr.Code == ExitSessionNotFound ||
		exitErr.Code == ExitSysfsLookup && strings.Contains(exitErr.Stderr, "iscsiadm: Could not get session info for sid ")
}

// IsSessionExists reports a login refused because the session is already there (exit 15).
func IsSessionExists(err error) bool { return codeIn(err, ExitSessionExists) }

// IsISCSIDUnreachable reports that iscsiadm could not talk to iscsid (exit 18 or 20), as on a host whose iscsid
// has not started again after a power cut: nothing was done.
func IsISCSIDUnreachable(err error) bool { return codeIn(err, ExitISCSIDComm, ExitISCSIDNotConnected) }

// IsRetryable reports the codes iscsiadm uses for "busy, try again" (28, 29, 33).
func IsRetryable(err error) bool { return codeIn(err, ExitBusy, ExitAgain, ExitRequestTimedOut) }
