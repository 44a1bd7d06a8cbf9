package run

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

func TestNewAndFind(t *testing.T) {
	runs := Store{Dir: filepath.Join(t.TempDir(), "osdr-runs")}
	run, err := runs.New("undo-db")
	if err != nil {
		t.Fatal(err)
	}
	if !idPattern.MatchString(run.ID) || run.Kind != "undo-db" || run.Dir != filepath.Join(runs.Dir, run.ID) {
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
	found, err := runs.Find(run.ID)
	if err != nil {
		t.Fatalf("FindRun(%s): %v", run.ID, err)
	}
	if found != run {
		t.Errorf("FindRun = %+v, want %+v", found, run)
	}
	again, err := runs.New("undo-db")
	if err != nil {
		t.Fatal(err)
	}
	if again.ID == run.ID {
		t.Errorf("two runs got the same id %s", run.ID)
	}
}

func TestRunIDsSortByStartTime(t *testing.T) {
	runs := Store{Dir: t.TempDir()}
	start := time.Date(2026, 11, 25, 8, 15, 0, 0, time.FixedZone("CET", 3600))
	var ids []string
	// Within one second too: a killed drill and the run that restores it often start in the same second,
	// and "drill" sorts before "recovery" whatever the random suffixes say.
	for i, kind := range []Kind{"snapshot", "recovery", "drill", "drill", "recovery", "injection"} {
		run, err := runs.newAt(kind, start.Add(time.Duration(i)*300*time.Millisecond))
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
		if _, err := runs.Find(id); err != nil {
			t.Errorf("FindRun(%q): %v", id, err)
		}
	}
}

// Runs made before ids had milliseconds are still found, so an upgrade never strands a run to resume.
func TestFindTakesIDsInSeconds(t *testing.T) {
	runs := Store{Dir: t.TempDir()}
	id := "20261125T081500Z-recovery-3fa9c2"
	if err := os.Mkdir(filepath.Join(runs.Dir, id), 0o700); err != nil {
		t.Fatal(err)
	}
	if run, err := runs.Find(id); err != nil || run.Kind != "recovery" {
		t.Errorf("FindRun(%q) = %+v, %v", id, run, err)
	}
}

func TestNewRefusesBadKinds(t *testing.T) {
	runs := Store{Dir: t.TempDir()}
	for _, kind := range []Kind{"", "Recovery", "../x", "a/b", "-x", "x-", "a--b", "drill 1"} {
		if run, err := runs.New(kind); err == nil {
			t.Errorf("NewRun(%q) = %+v, want an error", kind, run)
		}
	}
}

func TestFindRefusesIDsThatAreNotRunIDs(t *testing.T) {
	base := t.TempDir()
	runs := Store{Dir: filepath.Join(base, "runs")}
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
		if _, err := runs.Find(id); !errors.Is(err, ErrInvalidID) {
			t.Errorf("FindRun(%q) error = %v, want ErrInvalidID", id, err)
		}
	}
}

func TestFindMissingOrNotADirectory(t *testing.T) {
	runs := Store{Dir: t.TempDir()}
	if _, err := runs.Find("20261125T081500Z-recovery-3fa9c2"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("FindRun of a missing run: error = %v, want fs.ErrNotExist", err)
	}
	elsewhere := t.TempDir()
	if err := os.Symlink(elsewhere, filepath.Join(runs.Dir, "20261125T081500Z-drill-000000")); err != nil {
		t.Fatal(err)
	}
	if _, err := runs.Find("20261125T081500Z-drill-000000"); err == nil || !strings.Contains(err.Error(), "not a directory") {
		t.Errorf("FindRun of a symlink: error = %v, want it refused", err)
	}
}

func TestListReturnsOneKindNewestFirst(t *testing.T) {
	runs := Store{Dir: t.TempDir()}
	start := time.Date(2026, 11, 25, 8, 15, 0, 0, time.UTC)
	var drills []string
	for i, kind := range []Kind{KindDrill, KindRecovery, KindDrill, KindSnapshot, KindDrill} {
		r, err := runs.newAt(kind, start.Add(time.Duration(i)*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		if kind == KindDrill {
			drills = append([]string{r.ID}, drills...)
		}
	}
	// Neither a stray file nor a directory with another name is a run.
	if err := os.WriteFile(filepath.Join(runs.Dir, "20261125T081509.000Z-drill-aaaaaa"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(runs.Dir, "drill-notes"), 0o700); err != nil {
		t.Fatal(err)
	}
	got, err := runs.List(KindDrill)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, r := range got {
		ids = append(ids, r.ID)
		if r.Kind != KindDrill || r.Dir != filepath.Join(runs.Dir, r.ID) {
			t.Errorf("listed %+v", r)
		}
	}
	if !slices.Equal(ids, drills) {
		t.Errorf("List(drill) = %q, want %q", ids, drills)
	}
	if none, err := (Store{Dir: filepath.Join(runs.Dir, "absent")}).List(KindDrill); err != nil || len(none) != 0 {
		t.Errorf("List on a runs directory not created yet = %v, %v; want nothing", none, err)
	}
}

func TestARoundIsAPrivateDirectoryOfItsRun(t *testing.T) {
	s := Store{Dir: t.TempDir()}
	rn, err := s.New(KindDrill)
	if err != nil {
		t.Fatal(err)
	}
	round, err := rn.Round("minimal")
	if err != nil {
		t.Fatal(err)
	}
	if round.ID != rn.ID || round.Kind != rn.Kind || filepath.Dir(filepath.Dir(round.Dir)) != rn.Dir {
		t.Errorf("round %+v of run %+v", round, rn)
	}
	if info, err := os.Stat(round.Dir); err != nil || info.Mode().Perm() != dirMode {
		t.Errorf("round directory: %v, %v", info, err)
	}
	if round.Journal() == rn.Journal() {
		t.Error("a round shares its run's journal")
	}
	for _, bad := range []string{"", "..", "../x", "a/b", "Guide"} {
		if _, err := rn.Round(bad); err == nil {
			t.Errorf("round %q accepted", bad)
		}
	}
}
