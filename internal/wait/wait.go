package wait

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/cenkalti/backoff/v5"
)

// Polling is how often a condition is checked: from First, growing to at most Max.
type Polling struct {
	First, Max time.Duration
}

// DefaultPolling suits control-plane state (seconds to minutes to converge).
var DefaultPolling = Polling{First: 250 * time.Millisecond, Max: 5 * time.Second}

// TimeoutError means the condition did not hold before the deadline; Last is the state seen last.
type TimeoutError struct {
	What  string
	After time.Duration
	Last  string
}

func (e *TimeoutError) Error() string {
	if e.Last == "" {
		return fmt.Sprintf("%s: still not the case after %s", e.What, e.After.Round(time.Millisecond))
	}
	return fmt.Sprintf("%s: still not the case after %s (last seen: %s)", e.What, e.After.Round(time.Millisecond), e.Last)
}

// Condition reports whether the awaited state holds, and a description of what it saw for the timeout
// message. An error ends the wait unless it is wrapped in Retry (a transient failure to look).
type Condition func(ctx context.Context) (done bool, seen string, err error)

type retryable struct{ err error }

func (r retryable) Error() string { return r.err.Error() }
func (r retryable) Unwrap() error { return r.err }

// Retry marks an error from a Condition as passing: the wait goes on.
func Retry(err error) error { return retryable{err} }

var errNotYet = errors.New("not yet")

// Until polls cond until it holds, fails, the deadline passes (a *TimeoutError) or ctx ends.
func Until(ctx context.Context, what string, deadline time.Duration, p Polling, cond Condition) error {
	start := time.Now()
	b := backoff.NewExponentialBackOff()
	b.InitialInterval = p.First
	b.MaxInterval = p.Max
	var last string
	_, err := backoff.Retry(ctx, func() (struct{}, error) {
		done, seen, err := cond(ctx)
		if seen != "" {
			last = seen
		}
		var r retryable
		switch {
		case errors.As(err, &r):
			last = r.err.Error()
			return struct{}{}, err
		case err != nil:
			return struct{}{}, backoff.Permanent(err)
		case !done:
			return struct{}{}, errNotYet
		}
		return struct{}{}, nil
	}, backoff.WithBackOff(b), backoff.WithMaxElapsedTime(deadline))
	if err == nil {
		return nil
	}
	if ctx.Err() != nil {
		return fmt.Errorf("%s: %w", what, ctx.Err())
	}
	var r retryable
	if errors.Is(err, errNotYet) || errors.As(err, &r) {
		return &TimeoutError{What: what, After: time.Since(start), Last: last}
	}
	return fmt.Errorf("%s: %w", what, err)
}
