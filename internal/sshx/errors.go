package sshx

import (
	"errors"
	"fmt"
	"strings"
)

// ErrClosed is returned by Run once the Pool has been closed.
var ErrClosed = errors.New("sshx: pool is closed")

// ErrOutputTruncated is returned by Run, together with the Result, when a stream exceeded
// Config.MaxOutputBytes: the command ran and its exit code is valid, but its output is incomplete and must not
// be parsed as if it were whole.
var ErrOutputTruncated = errors.New("command output exceeded the capture limit")

// HostKeyProblem says why a host key was refused.
type HostKeyProblem int

const (
	// HostKeyUnknown: known_hosts holds no key for the address.
	HostKeyUnknown HostKeyProblem = iota + 1
	// HostKeyChanged: known_hosts holds other keys for the address: the host was reinstalled, or the
	// connection is intercepted.
	HostKeyChanged
	// HostKeyRevoked: the presented key is marked @revoked in known_hosts.
	HostKeyRevoked
)

func (p HostKeyProblem) String() string {
	switch p {
	case HostKeyUnknown:
		return "unknown"
	case HostKeyChanged:
		return "changed"
	case HostKeyRevoked:
		return "revoked"
	}
	return fmt.Sprintf("HostKeyProblem(%d)", int(p))
}

// HostKeyError reports a host key that known_hosts does not vouch for. The connection is abandoned and never
// retried: only the operator can decide whether the new key is legitimate.
type HostKeyError struct {
	Endpoint string // the endpoint's Name
	Address  string // host:port, as looked up in known_hosts
	Problem  HostKeyProblem
	// Presented is the SHA256 fingerprint of the key the host presented.
	Presented string
	// Known lists the known_hosts entries that matched the address, as "file:line fingerprint".
	Known []string
	Err   error
}

func (e *HostKeyError) Error() string {
	switch e.Problem {
	case HostKeyUnknown:
		return fmt.Sprintf("host key of %s (%s) is not in known_hosts: the host presented %s; verify it out of band and add it",
			e.Endpoint, e.Address, e.Presented)
	case HostKeyRevoked:
		return fmt.Sprintf("host key %s of %s (%s) is revoked in known_hosts (%s)",
			e.Presented, e.Endpoint, e.Address, strings.Join(e.Known, ", "))
	default:
		return fmt.Sprintf("host key of %s (%s) does not match known_hosts (%s): the host presented %s; "+
			"it was reinstalled or the connection is intercepted, refusing to connect",
			e.Endpoint, e.Address, strings.Join(e.Known, ", "), e.Presented)
	}
}

func (e *HostKeyError) Unwrap() error { return e.Err }

// AuthError reports that the host refused every key offered.
type AuthError struct {
	Endpoint string
	Address  string
	User     string
	// Offered names where the offered keys came from: key file paths and "ssh-agent (N keys)".
	Offered []string
	Err     error
}

func (e *AuthError) Error() string {
	return fmt.Sprintf("%s (%s) refused authentication as %q with %s: %v",
		e.Endpoint, e.Address, e.User, strings.Join(e.Offered, ", "), e.Err)
}

func (e *AuthError) Unwrap() error { return e.Err }

// UnreachableError reports that no SSH connection could be made: refused, timed out, no route, no such host,
// or the connection closed before the handshake finished (a machine still booting looks like this).
type UnreachableError struct {
	Endpoint string
	Address  string
	Err      error
}

func (e *UnreachableError) Error() string {
	return fmt.Sprintf("%s (%s) is unreachable over SSH: %v", e.Endpoint, e.Address, e.Err)
}

func (e *UnreachableError) Unwrap() error { return e.Err }

// ConnectionLostError reports a command whose session ended without an exit status, because the connection
// dropped or the host went down. After `shutdown -r now` this is the expected outcome. The command may or may
// not have run to completion.
type ConnectionLostError struct {
	Endpoint string
	Address  string
	Err      error
}

func (e *ConnectionLostError) Error() string {
	return fmt.Sprintf("connection to %s (%s) was lost before the command reported an exit status: %v",
		e.Endpoint, e.Address, e.Err)
}

func (e *ConnectionLostError) Unwrap() error { return e.Err }
