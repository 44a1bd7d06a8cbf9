package testtool

import (
	"os/exec"
	"runtime"
	"testing"
)

func TestPathFindsAnInstalledCommand(t *testing.T) {
	want, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go on PATH")
	}
	if got := Path(t, "go", "golang-go"); got != want {
		t.Errorf("Path(go) = %q, want %q", got, want)
	}
}

// Whether a missing tool skips or fails depends on CI, so it is checked on a stand-in for testing.T.
func TestAMissingCommandSkipsOutsideCIAndFailsUnderCI(t *testing.T) {
	for _, tc := range []struct {
		ci         string
		wantFailed bool
	}{{"", false}, {"true", true}} {
		t.Run("CI="+tc.ci, func(t *testing.T) {
			t.Setenv("CI", tc.ci)
			rec := &recorder{TB: t}
			done := make(chan struct{})
			go func() {
				defer close(done)
				Path(rec, "osdr-no-such-command", "osdr-no-such-package")
			}()
			<-done
			if rec.failed != tc.wantFailed || rec.skipped == tc.wantFailed {
				t.Errorf("failed=%v skipped=%v, want failed=%v", rec.failed, rec.skipped, tc.wantFailed)
			}
		})
	}
}

// recorder notes Fatalf and Skipf instead of ending the test; both end the goroutine that calls them, as
// the real ones do.
type recorder struct {
	testing.TB
	failed, skipped bool
}

func (r *recorder) Helper() {}
func (r *recorder) Fatalf(string, ...any) {
	r.failed = true
	runtime.Goexit()
}
func (r *recorder) Skipf(string, ...any) {
	r.skipped = true
	runtime.Goexit()
}
