package osapi

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"syscall"
	"testing"

	"github.com/gophercloud/gophercloud/v2"
)

func TestClassify(t *testing.T) {
	status := func(code int) error {
		return gophercloud.ErrUnexpectedResponseCode{Method: "GET", URL: "http://nova/v2.1/servers/x", Expected: []int{200}, Actual: code}
	}
	urlErr := func(err error) error { return &url.Error{Op: "Get", URL: "http://nova/v2.1/servers/x", Err: err} }
	dial := func(errno syscall.Errno) error {
		return urlErr(&net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", errno)})
	}
	tests := []struct {
		name string
		err  error
		want Class
	}{
		{"nil", nil, Permanent},
		{"400", status(http.StatusBadRequest), Permanent},
		{"401", status(http.StatusUnauthorized), Permanent},
		{"403", status(http.StatusForbidden), Permanent},
		{"404", status(http.StatusNotFound), Permanent},
		{"409", status(http.StatusConflict), Conflict},
		{"408", status(http.StatusRequestTimeout), Transient},
		{"429", status(http.StatusTooManyRequests), Transient},
		{"500", status(http.StatusInternalServerError), Transient},
		{"502", status(http.StatusBadGateway), Transient},
		{"503", status(http.StatusServiceUnavailable), Transient},
		{"504", status(http.StatusGatewayTimeout), Transient},
		{"wrapped 503", fmt.Errorf("show server x: %w", status(http.StatusServiceUnavailable)), Transient},
		{"503 after re-authenticating", &gophercloud.ErrErrorAfterReauthentication{ErrOriginal: status(http.StatusServiceUnavailable)}, Transient},
		{"renewal refused by Keystone", &gophercloud.ErrUnableToReauthenticate{ErrOriginal: status(401), ErrReauth: status(401)}, Permanent},
		{"renewal while Keystone is down", &gophercloud.ErrUnableToReauthenticate{ErrOriginal: status(401), ErrReauth: status(503)}, Transient},
		{"renewal timed out", &gophercloud.ErrUnableToReauthenticate{ErrOriginal: status(401), ErrReauth: urlErr(context.DeadlineExceeded)}, Transient},
		{"connection refused", dial(syscall.ECONNREFUSED), Transient},
		{"connection reset", dial(syscall.ECONNRESET), Transient},
		{"no route to host", dial(syscall.EHOSTUNREACH), Transient},
		{"network unreachable", dial(syscall.ENETUNREACH), Transient},
		{"closed before an answer", urlErr(io.EOF), Transient},
		{"body broken off", urlErr(io.ErrUnexpectedEOF), Transient},
		{"request timeout", urlErr(fmt.Errorf("no answer within 1m0s: %w", context.DeadlineExceeded)), Transient},
		{"DNS timeout", urlErr(&net.DNSError{Err: "i/o timeout", Name: "keystone", IsTimeout: true}), Transient},
		{"no such host", urlErr(&net.DNSError{Err: "no such host", Name: "keystnoe", IsNotFound: true}), Permanent},
		{"canceled", urlErr(context.Canceled), Permanent},
		{"unsupported scheme", urlErr(errors.New(`unsupported protocol scheme "htp"`)), Permanent},
		{"certificate from an unknown authority", certificateError(t), Permanent},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Classify(tt.err); got != tt.want {
				t.Errorf("Classify(%v) = %s, want %s", tt.err, got, tt.want)
			}
		})
	}
}

// certificateError is what a client that does not trust the server's CA gets: retrying will not change the
// certificate.
func certificateError(t *testing.T) error {
	t.Helper()
	server := httptest.NewUnstartedServer(http.NotFoundHandler())
	server.Config.ErrorLog = log.New(io.Discard, "", 0)
	server.StartTLS()
	t.Cleanup(server.Close)
	resp, err := http.Get(server.URL)
	if err == nil {
		resp.Body.Close()
		t.Fatal("a server with an unknown CA was trusted")
	}
	return err
}
