package osapi

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cenkalti/backoff/v5"
	"golang.org/x/time/rate"
)

const (
	// DefaultRequestTimeout bounds one HTTP exchange, answer body included. A proxy in front of the APIs
	// (kolla's and OpenStack-Ansible's haproxy close a silent backend after 60 s) would have cut the request
	// by then anyway, and a listing of 1000 servers, Nova's page size, answers well within it.
	DefaultRequestTimeout = 60 * time.Second
	// DefaultRetryWindow is how long a read keeps retrying transient failures: long enough for an API service
	// (or the database or message queue behind it) to restart while the cloud comes back from a power loss,
	// short enough that a step whose API stays down fails with the reason instead of looking hung.
	DefaultRetryWindow = 2 * time.Minute
	// NoRetries, as Options.RetryWindow, makes every read a single attempt.
	NoRetries time.Duration = -1
)

// The waits between attempts double from firstRetryWait up to maxRetryWait, each drawn uniformly from
// [0, 2×interval] (full jitter): hundreds of workers that failed together must not come back together.
const (
	firstRetryWait = 250 * time.Millisecond
	maxRetryWait   = 8 * time.Second
)

// Transport carries every request osdr sends to the cloud, Keystone's included: it holds the rate limit, gives
// each attempt its own timeout, and retries reads and logins that failed transiently. Requests that change
// state are sent once: after a 5xx, a timeout or a dropped connection they may have taken effect, and only
// the caller can tell by reading the state back.
//
// A provider client is built with it before it authenticates, so that gophercloud's re-authentication, which
// copies the provider's HTTP client at the first login, goes through the same Transport; New then sets its
// rate, timeout and retry window.
type Transport struct {
	base   http.RoundTripper
	policy atomic.Pointer[policy]
	// sent counts the attempts that reached the network, reads and changes apart: what a recovery cost the
	// control plane, retries included.
	reads, changes atomic.Int64
}

// Requests is how many requests a Transport sent, every attempt of a retried read counted.
type Requests struct {
	Reads   int64 `json:"reads"`   // GET and HEAD, Keystone logins
	Changes int64 `json:"changes"` // everything else: reboots, attaches, …
}

// Total is every request sent.
func (r Requests) Total() int64 { return r.Reads + r.Changes }

// Sub is what was sent between two counts.
func (r Requests) Sub(earlier Requests) Requests {
	return Requests{Reads: r.Reads - earlier.Reads, Changes: r.Changes - earlier.Changes}
}

// Requests is what the Transport has sent so far.
func (t *Transport) Requests() Requests {
	return Requests{Reads: t.reads.Load(), Changes: t.changes.Load()}
}

// policy is what Options decide; a Transport swaps it whole, so requests under way keep the one they started
// with.
type policy struct {
	limiter *rate.Limiter // nil: unlimited
	timeout time.Duration
	window  time.Duration // NoRetries: one attempt
	// firstWait and maxWait shape the backoff between attempts.
	firstWait, maxWait time.Duration
}

// NewTransport wraps base (nil: http.DefaultTransport) with the defaults: no rate limit, DefaultRequestTimeout
// and DefaultRetryWindow. With a non-nil debug, every attempt is logged there, secrets redacted.
func NewTransport(base http.RoundTripper, debug io.Writer) *Transport {
	if base == nil {
		base = http.DefaultTransport
	}
	if debug != nil {
		base = &debugTransport{base: base, out: debug}
	}
	t := &Transport{base: base}
	p, _ := newPolicy(Options{}) // the zero Options are valid
	t.policy.Store(p)
	return t
}

func newPolicy(opts Options) (*policy, error) {
	p := &policy{timeout: opts.RequestTimeout, window: opts.RetryWindow, firstWait: firstRetryWait, maxWait: maxRetryWait}
	switch {
	case p.timeout < 0:
		return nil, fmt.Errorf("request timeout %v is negative", p.timeout)
	case p.timeout == 0:
		p.timeout = DefaultRequestTimeout
	}
	switch {
	case p.window < 0:
		p.window = NoRetries
	case p.window == 0:
		p.window = DefaultRetryWindow
	}
	if opts.RatePerSecond > 0 {
		p.limiter = rate.NewLimiter(rate.Limit(opts.RatePerSecond), max(1, opts.Burst))
	}
	return p, nil
}

// RoundTrip sends req, retrying a read until it succeeds, fails permanently, its context ends or the retry
// window runs out. A read that kept answering a transient status is returned with that last answer, so the
// caller's error is the service's own.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	p := t.policy.Load()
	if req.GetBody != nil && req.Body != nil {
		// Attempts send copies from GetBody; the original is closed here, as a RoundTripper must.
		defer req.Body.Close()
	}
	if p.window == NoRetries || !retryable(req) {
		resp, err := t.attempt(req, p)
		attemptsOf(req.Context()).record(1, 0, resp, err)
		return resp, err
	}
	ctx := req.Context()
	start, attempts := time.Now(), 0
	resp, err := backoff.Retry(ctx, func() (*http.Response, error) {
		attempts++
		resp, err := t.attempt(req, p)
		switch {
		case err != nil && Classify(err) != Transient:
			return nil, backoff.Permanent(err)
		case err != nil:
			return nil, err
		case transientStatus(resp.StatusCode):
			return resp, retryAfter(resp)
		}
		return resp, nil
	}, backoff.WithBackOff(p.backoff()), backoff.WithMaxElapsedTime(p.window))
	switch {
	case err == nil:
	case resp != nil && ctx.Err() == nil:
		// The window ran out on a transient status: the service's last answer is what the caller reports.
		err = nil
	default:
		resp = nil
	}
	attemptsOf(ctx).record(attempts, time.Since(start), resp, err)
	return resp, err
}

// retryable are the requests that change nothing: reads, and Keystone logins, which only issue another token.
// A login is retried so that a token renewed while Keystone restarts does not fail the read that needed it.
func retryable(req *http.Request) bool {
	switch req.Method {
	case http.MethodGet, http.MethodHead:
		return true
	case http.MethodPost:
		return strings.HasSuffix(req.URL.Path, "/v3/auth/tokens") && req.GetBody != nil
	}
	return false
}

// attempt sends req once: it waits its turn at the rate limit (every attempt counts), then gets the whole answer
// within the request timeout. The body is read here, so that a connection dropped or stalled halfway through is
// a failed attempt rather than a broken read later.
func (t *Transport) attempt(req *http.Request, p *policy) (*http.Response, error) {
	ctx := req.Context()
	if p.limiter != nil {
		if err := p.limiter.Wait(ctx); err != nil {
			return nil, fmt.Errorf("API rate limit: %w", err)
		}
	}
	attemptCtx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	send := req.Clone(attemptCtx)
	if req.GetBody != nil && req.Body != nil && req.Body != http.NoBody {
		// Every attempt sends the body whole; the first one has already read req.Body.
		body, err := req.GetBody()
		if err != nil {
			return nil, err
		}
		send.Body = body
	}
	if retryable(req) {
		t.reads.Add(1)
	} else {
		t.changes.Add(1)
	}
	resp, err := t.base.RoundTrip(send)
	if err != nil {
		return nil, p.explain(ctx, err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, p.explain(ctx, fmt.Errorf("the answer broke off: %w", err))
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	return resp, nil
}

// explain says when an attempt ended on its own timeout rather than its caller's context.
func (p *policy) explain(ctx context.Context, err error) error {
	if ctx.Err() == nil && errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("no answer within %v: %w", p.timeout, err)
	}
	return err
}

func (p *policy) backoff() backoff.BackOff {
	return &backoff.ExponentialBackOff{
		InitialInterval:     p.firstWait,
		RandomizationFactor: 1,
		Multiplier:          2,
		MaxInterval:         p.maxWait,
	}
}

// transientStatus are the answers after which the same read may well succeed.
func transientStatus(code int) bool {
	return code >= http.StatusInternalServerError || code == http.StatusRequestTimeout || code == http.StatusTooManyRequests
}

// errTransientStatus marks an attempt answered with a transient status; the answer itself is what the caller
// finally gets.
var errTransientStatus = errors.New("transient status")

// retryAfter honours the delay a 429 or 503 asks for, in seconds (the only form OpenStack's services and
// haproxy send); it still counts against the retry window. "Retry-After: 0" gets the usual backoff: taken at
// its word, a service that keeps saying it would be asked again at once, as fast as the network allows.
func retryAfter(resp *http.Response) error {
	if seconds, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && seconds > 0 {
		return backoff.RetryAfter(seconds)
	}
	return errTransientStatus
}

// attemptLog notes how the last request of one API call went, so that the call's error can say how hard it
// tried. It travels in the request's context, as net/http/httptrace's hooks do.
type attemptLog struct {
	mu       sync.Mutex
	attempts int
	elapsed  time.Duration
	failure  string // how the last attempt failed: its status or error; empty when it succeeded
}

type attemptLogKey struct{}

func withAttemptLog(ctx context.Context) (context.Context, *attemptLog) {
	log := &attemptLog{}
	return context.WithValue(ctx, attemptLogKey{}, log), log
}

// attemptsOf is nil outside an API call of this package; recording on nil does nothing.
func attemptsOf(ctx context.Context) *attemptLog {
	log, _ := ctx.Value(attemptLogKey{}).(*attemptLog)
	return log
}

func (l *attemptLog) record(attempts int, elapsed time.Duration, resp *http.Response, err error) {
	if l == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.attempts, l.elapsed, l.failure = attempts, elapsed, ""
	switch {
	case err != nil:
		l.failure = err.Error()
	case resp.StatusCode >= http.StatusBadRequest:
		l.failure = resp.Status
	}
}

// lastFailure is how the last request failed, or "".
func (l *attemptLog) lastFailure() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.failure
}

// note is empty for a request sent once, else " (N attempts in D)".
func (l *attemptLog) note() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.attempts < 2 {
		return ""
	}
	return fmt.Sprintf(" (%d attempts in %v)", l.attempts, l.elapsed.Round(time.Millisecond))
}

// call runs one API call of this package, its errors saying what it was doing and, when its failing request
// was retried, how often.
func call[T any](ctx context.Context, what string, do func(context.Context) (T, error)) (T, error) {
	ctx, log := withAttemptLog(ctx)
	v, err := do(ctx)
	if err != nil {
		return v, fmt.Errorf("%s%s: %w", what, log.note(), err)
	}
	return v, nil
}
