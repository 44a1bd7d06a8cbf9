package osapi

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"syscall"

	"github.com/gophercloud/gophercloud/v2"
)

// Class says what a caller may do after an API error.
type Class int

const (
	// Permanent: the request is wrong (400, 401, 403, 404, ...). Retrying cannot help.
	Permanent Class = iota
	// Transient: 5xx, 408, 429, a timeout, a refused or dropped connection, or Keystone failing so while the
	// token was renewed. The request may or may not have taken effect: a caller re-reads the real state before
	// it sends a non-idempotent request again.
	Transient
	// Conflict: 409, the resource is busy (a task runs) or in the wrong state; waiting may help.
	Conflict
)

func (c Class) String() string {
	switch c {
	case Transient:
		return "transient"
	case Conflict:
		return "conflict"
	default:
		return "permanent"
	}
}

// Classify sorts an error from this package or gophercloud.
func Classify(err error) Class {
	var status gophercloud.ErrUnexpectedResponseCode
	var reauth *gophercloud.ErrUnableToReauthenticate
	switch {
	case err == nil:
		return Permanent
	case errors.As(err, &status):
		if status.Actual == http.StatusConflict {
			return Conflict
		}
		if transientStatus(status.Actual) {
			return Transient
		}
		return Permanent
	case errors.As(err, &reauth):
		// The token expired and Keystone could not give a new one: as lasting as Keystone's own failure.
		return Classify(reauth.ErrReauth)
	case transientFailure(err):
		return Transient
	}
	return Permanent
}

// transientFailure tells the failures of the network or of a server going away, after which the same request
// may succeed, from those that will repeat (a certificate the server will keep presenting, a malformed URL).
func transientFailure(err error) bool {
	var netErr net.Error
	var certificate *tls.CertificateVerificationError
	switch {
	case errors.Is(err, context.Canceled), errors.As(err, &certificate):
		return false
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNABORTED),
		errors.Is(err, syscall.EPIPE), errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH):
		return true
	}
	return errors.As(err, &netErr) && netErr.Timeout()
}

// IsNotFound reports a 404.
func IsNotFound(err error) bool { return gophercloud.ResponseCodeIs(err, http.StatusNotFound) }
