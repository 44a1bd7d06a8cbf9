package osapi

import (
	"context"
	"errors"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gophercloud/gophercloud/v2"
)

func TestReadsRetryTransientFailures(t *testing.T) {
	kinds := []fault{fault500, fault503, fault408, fault429, faultHang, faultDrop, faultMidBody}
	for _, kind := range kinds {
		for i, named := range reads(nil) {
			t.Run(string(kind)+"/"+named.name, func(t *testing.T) {
				f := newFakeCloud(t)
				c, _ := f.client(t, Options{RequestTimeout: 200 * time.Millisecond})
				r := reads(c)[i]
				f.failFirst(2, r.prefix, kind)
				if err := r.read(t.Context()); err != nil {
					t.Fatalf("read failed: %v", err)
				}
				if n := f.count(r.prefix); n != 3 {
					t.Errorf("%d requests, want 3: two failures and the answer", n)
				}
			})
		}
	}
}

// TestReadsSurviveAFlakyCloud is the scenario: 20% of all answers are 5xx, on every call, the login,
// the version documents and every page of the listings included. The listings come one item a page, as a cloud of 100,000
// volumes does a thousand at a time: a retry takes the failed page again, not the whole listing.
func TestReadsSurviveAFlakyCloud(t *testing.T) {
	f := newFakeCloud(t)
	f.pageSize = 1
	var mu sync.Mutex
	rng := rand.New(rand.NewPCG(20, 5))
	failures := 0
	f.setFaults(func(r *http.Request) fault {
		mu.Lock()
		defer mu.Unlock()
		if rng.Float64() < 0.2 {
			failures++
			return []fault{fault500, fault503}[rng.IntN(2)]
		}
		return noFault
	})
	c, _ := f.client(t, Options{})
	for round := range 10 {
		for _, r := range reads(c) {
			if err := r.read(t.Context()); err != nil {
				t.Fatalf("round %d: %s failed: %v", round, r.name, err)
			}
		}
	}
	if failures < 20 {
		t.Errorf("only %d answers failed; the test did not test much", failures)
	}
}

func TestPermanentFailuresAreNotRetried(t *testing.T) {
	f := newFakeCloud(t)
	c, _ := f.client(t, Options{})
	_, err := c.GetServer(t.Context(), "0b1e0c6c-0000-4000-8000-000000000000")
	if !IsNotFound(err) || Classify(err) != Permanent {
		t.Fatalf("error = %v, want a permanent 404", err)
	}
	if want := "show server 0b1e0c6c-0000-4000-8000-000000000000: "; !strings.HasPrefix(err.Error(), want) || !strings.Contains(err.Error(), "could not be found") {
		t.Errorf("error %q, want it to start %q and carry Nova's message", err, want)
	}
	if n := f.count("GET /v2.1/servers/0b1e0c6c"); n != 1 {
		t.Errorf("%d requests for a 404, want 1", n)
	}
}

func TestWritesAreSentOnce(t *testing.T) {
	for _, kind := range []fault{fault500, fault503, fault429, faultHang, faultDrop} {
		t.Run(string(kind), func(t *testing.T) {
			f := newFakeCloud(t)
			c, _ := f.client(t, Options{RequestTimeout: 200 * time.Millisecond})
			f.setFaults(func(r *http.Request) fault {
				if r.Method == http.MethodPost && r.URL.Path != "/v3/auth/tokens" {
					return kind
				}
				return noFault
			})
			writes := []struct {
				prefix string
				write  func() error
			}{
				{"POST /v2.1/servers/" + serverID + "/action", func() error { _, err := c.RebootHard(t.Context(), serverID); return err }},
				{"POST /v2.1/servers/" + serverID + "/os-volume_attachments", func() error {
					_, err := c.AttachVolume(t.Context(), serverID, volumeID, "/dev/sdb")
					return err
				}},
			}
			for _, w := range writes {
				err := w.write()
				if Classify(err) != Transient {
					t.Errorf("%s: error %v is %s, want transient", w.prefix, err, Classify(err))
				}
				if n := f.count(w.prefix); n != 1 {
					t.Errorf("%s sent %d times, want once", w.prefix, n)
				}
			}
		})
	}
}

func TestRetriesEnd(t *testing.T) {
	tests := []struct {
		name       string
		opts       Options
		kind       fault
		cancel     bool
		wantMin    int
		wantMax    int
		wantInErr  []string
		wantClass  Class
		wantCancel bool
	}{
		{
			name: "the window runs out on a service that stays down", opts: Options{RetryWindow: 300 * time.Millisecond}, kind: fault500,
			wantMin: 3, wantMax: 1000, wantClass: Transient,
			wantInErr: []string{"show server " + serverID + " (", " attempts in ", "attempts in ", "500 instead", "oslo_db.exception.DBConnectionError"},
		},
		{
			name: "the window runs out on a service that never answers", opts: Options{RetryWindow: 300 * time.Millisecond, RequestTimeout: 100 * time.Millisecond}, kind: faultHang,
			wantMin: 2, wantMax: 4, wantClass: Transient,
			wantInErr: []string{"show server " + serverID + " (", " attempts in ", "no answer within 100ms"},
		},
		{
			name: "retries switched off", opts: Options{RetryWindow: NoRetries}, kind: fault503,
			wantMin: 1, wantMax: 1, wantClass: Transient,
			wantInErr: []string{"show server " + serverID + ": ", "503"},
		},
		{
			name: "the caller gives up", opts: Options{}, kind: fault503, cancel: true,
			wantMin: 1, wantMax: 1000, wantClass: Permanent, wantCancel: true,
			wantInErr: []string{"show server " + serverID},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeCloud(t)
			c, _ := f.client(t, tt.opts)
			prefix := "GET /v2.1/servers/" + serverID
			f.setFaults(func(r *http.Request) fault {
				if strings.HasPrefix(r.Method+" "+r.URL.Path, prefix) {
					return tt.kind
				}
				return noFault
			})
			ctx := t.Context()
			if tt.cancel {
				var cancel context.CancelFunc
				ctx, cancel = context.WithCancel(ctx)
				defer cancel()
				time.AfterFunc(50*time.Millisecond, cancel)
			}
			start := time.Now()
			_, err := c.GetServer(ctx, serverID)
			if err == nil {
				t.Fatal("GetServer succeeded")
			}
			if took := time.Since(start); took > 2*time.Second {
				t.Errorf("GetServer took %v", took)
			}
			for _, want := range tt.wantInErr {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not say %q", err, want)
				}
			}
			if got := Classify(err); got != tt.wantClass {
				t.Errorf("error %v is %s, want %s", err, got, tt.wantClass)
			}
			if tt.wantCancel && !errors.Is(err, context.Canceled) {
				t.Errorf("error %v does not wrap context.Canceled", err)
			}
			if n := f.count(prefix); n < tt.wantMin || n > tt.wantMax {
				t.Errorf("%d attempts, want %d to %d", n, tt.wantMin, tt.wantMax)
			}
		})
	}
}

func TestVersionDocumentsAreRetried(t *testing.T) {
	f := newFakeCloud(t)
	seen := map[string]int{}
	f.setFaults(func(r *http.Request) fault {
		if r.URL.Path == "/v2.1/" || r.URL.Path == "/v3/" {
			seen[r.URL.Path]++
			if seen[r.URL.Path] == 1 {
				return fault503
			}
		}
		return noFault
	})
	c, _ := f.client(t, Options{})
	if c.NovaMicroversion() != "2.93" || c.CinderMicroversion() != "3.70" {
		t.Errorf("microversions %s and %s, want the captured cloud's 2.93 and 3.70", c.NovaMicroversion(), c.CinderMicroversion())
	}
	if f.count("GET /v2.1/") < 2 || f.count("GET /v3/") < 2 {
		t.Errorf("version documents read %d and %d times, want a retry of each", f.count("GET /v2.1/"), f.count("GET /v3/"))
	}
}

func TestVersionDocumentThatNeverComes(t *testing.T) {
	f := newFakeCloud(t)
	provider := f.login(t, nil)
	f.setFaults(func(r *http.Request) fault {
		if r.URL.Path == "/v2.1/" {
			return fault503
		}
		return noFault
	})
	_, err := New(t.Context(), provider, gophercloud.EndpointOpts{}, Options{RetryWindow: NoRetries})
	want := "negotiate the Nova microversion: microversions not supported by endpoint (reading " + f.nova.URL + "/v2.1/: 503 Service Unavailable)"
	if err == nil || err.Error() != want {
		t.Errorf("New error = %v, want %q", err, want)
	}
}

func TestRateLimitCountsEveryAttempt(t *testing.T) {
	f := newFakeCloud(t)
	const burst = 20
	// So slow a rate that no token comes back during the test: what is left of the burst counts the attempts.
	c, transport := f.client(t, Options{RatePerSecond: 1e-6, Burst: burst})
	f.failFirst(3, "GET /v2.1/servers/"+serverID, fault503)
	if _, err := c.GetServer(t.Context(), serverID); err != nil {
		t.Fatal(err)
	}
	// Two version documents, then four attempts at the server.
	if left := transport.policy.Load().limiter.Tokens(); left < burst-6-0.01 || left > burst-6+0.01 {
		t.Errorf("%.2f of %d tokens left, want %d: every attempt takes one", left, burst, burst-6)
	}
}

func TestReauthentication(t *testing.T) {
	t.Run("an expired token is renewed", func(t *testing.T) {
		f := newFakeCloud(t)
		c, _ := f.client(t, Options{})
		f.expireTokens()
		if _, err := c.GetServer(t.Context(), serverID); err != nil {
			t.Fatalf("GetServer after the token expired: %v", err)
		}
		if n := f.count("POST /v3/auth/tokens"); n != 2 {
			t.Errorf("%d token requests, want the login and one renewal", n)
		}
	})
	t.Run("a renewal Keystone does not answer at first is retried", func(t *testing.T) {
		f := newFakeCloud(t)
		c, _ := f.client(t, Options{RequestTimeout: 150 * time.Millisecond})
		f.expireTokens()
		f.failFirst(1, "POST /v3/auth/tokens", faultHang)
		if _, err := c.GetServer(t.Context(), serverID); err != nil {
			t.Fatalf("GetServer: %v", err)
		}
		if n := f.count("POST /v3/auth/tokens"); n != 3 {
			t.Errorf("%d token requests, want the login, the renewal that hung and its retry", n)
		}
	})
	t.Run("a Keystone that never answers fails the read as transient", func(t *testing.T) {
		f := newFakeCloud(t)
		c, _ := f.client(t, Options{RequestTimeout: 100 * time.Millisecond, RetryWindow: 300 * time.Millisecond})
		f.expireTokens()
		f.failFirst(1000, "POST /v3/auth/tokens", faultHang)
		start := time.Now()
		_, err := c.GetServer(t.Context(), serverID)
		if err == nil {
			t.Fatal("GetServer succeeded while Keystone hung")
		}
		if took := time.Since(start); took > 2*time.Second {
			t.Errorf("GetServer took %v, want about the retry window", took)
		}
		var reauth *gophercloud.ErrUnableToReauthenticate
		if !errors.As(err, &reauth) || Classify(err) != Transient {
			t.Errorf("error %v (%s), want a transient failure to re-authenticate", err, Classify(err))
		}
		for _, want := range []string{"show server " + serverID + " (", " attempts in ", "no answer within 100ms"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error %q does not say %q", err, want)
			}
		}
		f.setFaults(nil)
		if _, err := c.GetServer(t.Context(), serverID); err != nil {
			t.Errorf("GetServer once Keystone answers again: %v", err)
		}
	})
}

func TestOptionsRefused(t *testing.T) {
	f := newFakeCloud(t)
	provider := f.login(t, nil)
	_, err := New(t.Context(), provider, gophercloud.EndpointOpts{}, Options{RequestTimeout: -time.Second})
	if err == nil || !strings.Contains(err.Error(), "request timeout -1s is negative") {
		t.Errorf("New error = %v, want the negative timeout refused", err)
	}
}

// The client counts every attempt it sent, reads and changes apart, as the server saw them: a recovery's cost
// to the control plane is read from it.
func TestRequestsCountEveryAttemptAsTheServerSawIt(t *testing.T) {
	f := newFakeCloud(t)
	c, _ := f.client(t, Options{RequestTimeout: 200 * time.Millisecond})
	before := c.Requests()
	r := reads(c)[0]
	f.failFirst(2, r.prefix, fault503)
	if err := r.read(t.Context()); err != nil {
		t.Fatal(err)
	}
	if _, err := c.RebootHard(t.Context(), serverID); err != nil {
		t.Fatal(err)
	}
	got := c.Requests().Sub(before)
	if want := (Requests{Reads: 3, Changes: 1}); got != want {
		t.Errorf("counted %+v, want %+v (two failed reads, the answer, one reboot)", got, want)
	}
	f.mu.Lock()
	seen := int64(len(f.requests))
	f.mu.Unlock()
	if total := c.Requests().Total(); total != seen {
		t.Errorf("the client counted %d requests in all, the server saw %d", total, seen)
	}
}
