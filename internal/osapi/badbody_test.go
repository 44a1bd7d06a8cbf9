package osapi

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestBadAPIBodiesAreErrorsOfTheCall: every read given a body that is not what Nova or Cinder sends (none,
// not JSON, the wrong shape, a number past every type, a flood) fails with an error that names the call,
// repeats neither the body's escapes nor a megabyte of it, never panics, and sends no request that changes
// state. This is the API-body family of cmd/osdr's table of bad inputs, tested at the client: the simulated
// cloud answers only as the real services do.
func TestBadAPIBodiesAreErrorsOfTheCall(t *testing.T) {
	bodies := []struct{ class, name, body string }{
		{"missing", "an empty body", ""},
		{"malformed", "JSON cut short", `{"servers": [{"id": "6774a0c9`},
		{"malformed", "a proxy's HTML page", "<html><body><h1>Welcome</h1></body></html>"},
		{"out of range", "a list where an object goes", `[1, 2, 3]`},
		{"oversized", "a number past every type", `{"servers": 1e999, "server": 1e999, "volumes": 1e999, "volume": 1e999, "services": 1e999, "instanceActions": 1e999, "instanceAction": 1e999, "volumeAttachments": 1e999}`},
		{"oversized", "nesting a megabyte deep", strings.Repeat("[", 1<<20)},
		{"hostile", "escapes where JSON goes", "\x1b[2J\x1b]0;pwned\x07"},
	}
	f := newFakeCloud(t)
	c, _ := f.client(t, Options{})
	for _, read := range reads(c) {
		for _, b := range bodies {
			t.Run(read.name+"/"+b.class+"/"+b.name, func(t *testing.T) {
				changesBefore := f.count("POST") + f.count("PUT") + f.count("DELETE")
				f.setFaults(func(r *http.Request) fault {
					if strings.HasPrefix(r.Method+" "+r.URL.Path, read.prefix) {
						return bodyFault(b.body)
					}
					return noFault
				})
				defer f.setFaults(nil)
				ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
				defer cancel()
				err := read.read(ctx)
				if err == nil {
					t.Fatal("the read succeeded, want an error")
				}
				if !strings.Contains(err.Error(), read.name) {
					t.Errorf("the error %q does not name the call %q", err, read.name)
				}
				if strings.ContainsRune(err.Error(), 0x1b) || len(err.Error()) > 4096 {
					t.Errorf("the error repeats the body (%d bytes): %.300q", len(err.Error()), err)
				}
				if changes := f.count("POST") + f.count("PUT") + f.count("DELETE") - changesBefore; changes != 0 {
					t.Errorf("%d request(s) that change state were sent", changes)
				}
			})
		}
	}
}
