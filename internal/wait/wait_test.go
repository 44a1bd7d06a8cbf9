package wait

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

var fast = Polling{First: time.Millisecond, Max: 2 * time.Millisecond}

func TestUntil(t *testing.T) {
	boom := errors.New("boom")
	for _, tc := range []struct {
		name    string
		cond    func(n int) (bool, string, error)
		wantErr func(error) bool
		minRuns int
	}{
		{"holds on the third look", func(n int) (bool, string, error) { return n >= 3, "", nil }, func(err error) bool { return err == nil }, 3},
		{"a failure to look is retried", func(n int) (bool, string, error) {
			if n < 3 {
				return false, "", Retry(errors.New("503"))
			}
			return true, "", nil
		}, func(err error) bool { return err == nil }, 3},
		{"an error ends the wait at once", func(int) (bool, string, error) { return false, "", boom }, func(err error) bool { return errors.Is(err, boom) }, 1},
		{"never holds: a timeout naming what was seen", func(int) (bool, string, error) { return false, "SHUTOFF", nil }, func(err error) bool {
			var te *TimeoutError
			return errors.As(err, &te) && te.Last == "SHUTOFF" && strings.Contains(err.Error(), "server ACTIVE")
		}, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := 0
			err := Until(context.Background(), "server ACTIVE", 50*time.Millisecond, fast, func(context.Context) (bool, string, error) {
				n++
				return tc.cond(n)
			})
			if !tc.wantErr(err) {
				t.Errorf("err = %v", err)
			}
			if n < tc.minRuns {
				t.Errorf("condition checked %d times, want at least %d", n, tc.minRuns)
			}
		})
	}
}

func TestUntilStopsWithTheContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	err := Until(ctx, "guest answers", time.Hour, fast, func(context.Context) (bool, string, error) {
		cancel()
		return false, "", nil
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
}
