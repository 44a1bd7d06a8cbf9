package settings

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestRunsDirPrecedence(t *testing.T) {
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"default", nil, nil, "osdr-runs"},
		{"environment", nil, map[string]string{EnvRunsDir: "/var/lib/osdr"}, "/var/lib/osdr"},
		{"flag over environment", []string{"--runs-dir", "/srv/runs"}, map[string]string{EnvRunsDir: "/var/lib/osdr"}, "/srv/runs"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := mustResolve(t, tt.args, tt.env).Runs.Dir; got != tt.want {
				t.Errorf("runs dir = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestNewRunAndFindRun(t *testing.T) {
	runs := Runs{Dir: filepath.Join(t.TempDir(), "osdr-runs")}
	run, err := runs.NewRun("undo-db")
	if err != nil {
		t.Fatal(err)
	}
	if !runIDPattern.MatchString(run.ID) || run.Kind != "undo-db" || run.Dir != filepath.Join(runs.Dir, run.ID) {
		t.Errorf("run = %+v", run)
	}
	for _, dir := range []string{runs.Dir, run.Dir} {
		info, err := os.Stat(dir)
		if err != nil {
			t.Fatal(err)
		}
		if perm := info.Mode().Perm(); perm&0o077 != 0 {
			t.Errorf("%s has mode %04o, want owner only", dir, perm)
		}
	}
	found, err := runs.FindRun(run.ID)
	if err != nil {
		t.Fatalf("FindRun(%s): %v", run.ID, err)
	}
	if found != run {
		t.Errorf("FindRun = %+v, want %+v", found, run)
	}
	again, err := runs.NewRun("undo-db")
	if err != nil {
		t.Fatal(err)
	}
	if again.ID == run.ID {
		t.Errorf("two runs got the same id %s", run.ID)
	}
}

func TestRunIDsSortByStartTime(t *testing.T) {
	runs := Runs{Dir: t.TempDir()}
	start := time.Date(2026, 11, 25, 8, 15, 0, 0, time.FixedZone("CET", 3600))
	var ids []string
	// Within one second too: a killed drill and the run that restores it often start in the same second,
	// and "drill" sorts before "recovery" whatever the random suffixes say.
	for i, kind := range []string{"snapshot", "recovery", "drill", "drill", "recovery", "injection"} {
		run, err := runs.newRun(kind, start.Add(time.Duration(i)*300*time.Millisecond))
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, run.ID)
	}
	if !slices.IsSorted(ids) {
		t.Errorf("ids %q are not in start order", ids)
	}
	if !strings.HasPrefix(ids[0], "20261125T071500.000Z-snapshot-") {
		t.Errorf("id %s does not start with the UTC start time", ids[0])
	}
	for _, id := range ids {
		if _, err := runs.FindRun(id); err != nil {
			t.Errorf("FindRun(%q): %v", id, err)
		}
	}
}

// Runs made before ids had milliseconds are still found, so an upgrade never strands a run to resume.
func TestFindRunTakesIDsInSeconds(t *testing.T) {
	runs := Runs{Dir: t.TempDir()}
	id := "20261125T081500Z-recovery-3fa9c2"
	if err := os.Mkdir(filepath.Join(runs.Dir, id), 0o700); err != nil {
		t.Fatal(err)
	}
	if run, err := runs.FindRun(id); err != nil || run.Kind != "recovery" {
		t.Errorf("FindRun(%q) = %+v, %v", id, run, err)
	}
}

func TestNewRunRefusesBadKinds(t *testing.T) {
	runs := Runs{Dir: t.TempDir()}
	for _, kind := range []string{"", "Recovery", "../x", "a/b", "-x", "x-", "a--b", "drill 1"} {
		if run, err := runs.NewRun(kind); err == nil {
			t.Errorf("NewRun(%q) = %+v, want an error", kind, run)
		}
	}
}

func TestFindRunRefusesIDsThatAreNotRunIDs(t *testing.T) {
	base := t.TempDir()
	runs := Runs{Dir: filepath.Join(base, "runs")}
	if err := os.MkdirAll(runs.Dir, 0o700); err != nil {
		t.Fatal(err)
	}
	// A directory the traversals below would reach if the id were used as a path.
	if err := os.Mkdir(filepath.Join(base, "20261125T081500Z-recovery-3fa9c2"), 0o700); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{
		"",
		"..",
		"../20261125T081500Z-recovery-3fa9c2",
		"20261125T081500Z-recovery-3fa9c2/..",
		"20261125T081500Z-recovery-3fa9c2/../../etc",
		"/etc/passwd",
		"20261125T081500Z-recovery-3FA9C2",
		"20261125T081500Z-recovery-3fa9c",
		"20261325T081500Z-recovery-3fa9c2",
		"20261125T081500-recovery-3fa9c2",
		"20261125T081500.04Z-recovery-3fa9c2",
		"20261125T081500.042-recovery-3fa9c2",
		"20261125T081500Z-Recovery-3fa9c2",
		"20261125T081500Z-recovery-3fa9c2\n",
	} {
		if _, err := runs.FindRun(id); !errors.Is(err, ErrInvalidRunID) {
			t.Errorf("FindRun(%q) error = %v, want ErrInvalidRunID", id, err)
		}
	}
}

func TestFindRunMissingOrNotADirectory(t *testing.T) {
	runs := Runs{Dir: t.TempDir()}
	if _, err := runs.FindRun("20261125T081500Z-recovery-3fa9c2"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("FindRun of a missing run: error = %v, want fs.ErrNotExist", err)
	}
	elsewhere := t.TempDir()
	if err := os.Symlink(elsewhere, filepath.Join(runs.Dir, "20261125T081500Z-drill-000000")); err != nil {
		t.Fatal(err)
	}
	if _, err := runs.FindRun("20261125T081500Z-drill-000000"); err == nil || !strings.Contains(err.Error(), "not a directory") {
		t.Errorf("FindRun of a symlink: error = %v, want it refused", err)
	}
}
