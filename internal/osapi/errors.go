package osapi

import (
	"context"
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
	// Transient: 5xx, a timeout or a dropped connection. The request may or may not have taken effect: a
	// caller re-reads the real state before it sends a non-idempotent request again.
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
	if err == nil {
		return Permanent
	}
	var status gophercloud.ErrUnexpectedResponseCode
	if errors.As(err, &status) {
		switch {
		case status.Actual == http.StatusConflict:
			return Conflict
		case status.Actual >= 500, status.Actual == http.StatusRequestTimeout, status.Actual == http.StatusTooManyRequests:
			return Transient
		default:
			return Permanent
		}
	}
	if errors.Is(err, context.Canceled) {
		return Permanent
	}
	var netErr net.Error
	switch {
	case errors.As(err, &netErr), errors.Is(err, context.DeadlineExceeded), errors.Is(err, io.EOF),
		errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.ECONNREFUSED):
		return Transient
	}
	return Permanent
}

// IsNotFound reports a 404.
func IsNotFound(err error) bool { return gophercloud.ResponseCodeIs(err, http.StatusNotFound) }
