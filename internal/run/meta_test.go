package run

import (
	"os"
	"slices"
	"testing"
	"time"
)

const keystone = "https://keystone.example.net:5000/v3"

// newRunAt makes a run that began at a time on a cloud and ended in a status (StatusRunning: never ended).
func newRunAt(t *testing.T, s Store, kind Kind, at time.Time, cloud string, status Status) Run {
	t.Helper()
	r, err := s.newAt(kind, at)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.writeMeta(Meta{ID: r.ID, Kind: kind, Cloud: cloud, Started: at, Status: StatusRunning}); err != nil {
		t.Fatal(err)
	}
	if status != StatusRunning {
		if err := r.End(status, 3, "done\nsecond line"); err != nil {
			t.Fatal(err)
		}
	}
	return r
}

func TestARunRecordsHowItEnded(t *testing.T) {
	s := Store{Dir: t.TempDir()}
	r, err := s.New(KindRecovery)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Begin(keystone); err != nil {
		t.Fatal(err)
	}
	if m, _ := r.ReadMeta(); m.Status != StatusRunning || m.Cloud != keystone || m.Started.IsZero() {
		t.Fatalf("after Begin: %+v", m)
	}
	if err := r.End(StatusPartial, 4, "1 of 4 instance(s) failed\nstack"); err != nil {
		t.Fatal(err)
	}
	m, err := r.ReadMeta()
	if err != nil || m.Status != StatusPartial || m.Instances != 4 || m.Detail != "1 of 4 instance(s) failed" || m.Ended.IsZero() || m.Dir != r.Dir {
		t.Fatalf("after End: %+v, %v", m, err)
	}
	// A run made before runs kept a record is still listed, by its id.
	old := Run{ID: "20261125T081500Z-recovery-3fa9c2", Kind: KindRecovery, Dir: s.path("20261125T081500Z-recovery-3fa9c2")}
	if err := os.Mkdir(old.Dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if m, err := old.ReadMeta(); err != nil || m.Status != StatusUnknown || m.Started.IsZero() {
		t.Errorf("a run without a record: %+v, %v", m, err)
	}
}

func TestLatestPicksTheNewestRunOfThisCloudInAStatus(t *testing.T) {
	s := Store{Dir: t.TempDir()}
	t0 := time.Date(2026, 11, 25, 3, 0, 0, 0, time.UTC)
	newRunAt(t, s, KindSnapshot, t0, keystone, StatusSucceeded)
	want := newRunAt(t, s, KindSnapshot, t0.Add(time.Hour), "HTTPS://Keystone.example.net:5000/v3/", StatusSucceeded)
	newRunAt(t, s, KindSnapshot, t0.Add(2*time.Hour), keystone, StatusFailed)
	newRunAt(t, s, KindSnapshot, t0.Add(3*time.Hour), "https://other.example.net:5000/v3", StatusSucceeded)
	if got, err := s.Latest(KindSnapshot, keystone, StatusSucceeded); err != nil || got.ID != want.ID {
		t.Errorf("latest snapshot = %+v, %v; want %s", got, err, want.ID)
	}
	unfinished := newRunAt(t, s, KindRecovery, t0, keystone, StatusRunning)
	newRunAt(t, s, KindRecovery, t0.Add(time.Hour), keystone, StatusSucceeded)
	if got, err := s.Latest(KindRecovery, keystone, StatusRunning); err != nil || got.ID != unfinished.ID {
		t.Errorf("latest unfinished recovery = %+v, %v; want %s", got, err, unfinished.ID)
	}
	if _, err := s.Latest(KindRecovery, "https://nowhere.example.net", StatusRunning); err == nil {
		t.Error("a run of another cloud was picked")
	}
}

func TestPruneSparesUnfinishedRunsAndEachCloudsNewestSnapshot(t *testing.T) {
	s := Store{Dir: t.TempDir()}
	now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	day := 24 * time.Hour
	oldSnapshot := newRunAt(t, s, KindSnapshot, now.Add(-30*day), keystone, StatusSucceeded)
	newestOfOther := newRunAt(t, s, KindSnapshot, now.Add(-29*day), "https://other.example.net:5000/v3", StatusSucceeded)
	unfinished := newRunAt(t, s, KindRecovery, now.Add(-20*day), keystone, StatusRunning)
	oldDrill := newRunAt(t, s, KindDrill, now.Add(-10*day), keystone, StatusFailed)
	newestSnapshot := newRunAt(t, s, KindSnapshot, now.Add(-9*day), keystone, StatusSucceeded)
	recent := newRunAt(t, s, KindDrill, now.Add(-time.Hour), keystone, StatusSucceeded)

	plan, err := s.Prune(0, 7*day, now, true)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, m := range plan {
		ids = append(ids, m.ID)
	}
	if want := []string{oldDrill.ID, oldSnapshot.ID}; !slices.Equal(ids, want) {
		t.Fatalf("prune --older-than 7d would remove %v, want %v", ids, want)
	}
	if _, err := os.Stat(oldDrill.Dir); err != nil {
		t.Fatal("a dry run removed something")
	}
	if _, err := s.Prune(0, 7*day, now, false); err != nil {
		t.Fatal(err)
	}
	for _, kept := range []Run{newestOfOther, unfinished, newestSnapshot, recent} {
		if _, err := os.Stat(kept.Dir); err != nil {
			t.Errorf("run %s was removed", kept.ID)
		}
	}
	for _, gone := range []Run{oldDrill, oldSnapshot} {
		if _, err := os.Stat(gone.Dir); !os.IsNotExist(err) {
			t.Errorf("run %s is still there", gone.ID)
		}
	}
	if plan, _ := s.Prune(1, 0, now, true); len(plan) != 0 {
		t.Errorf("prune --keep 1 would remove %v: everything left is spared or the newest", plan)
	}
}
