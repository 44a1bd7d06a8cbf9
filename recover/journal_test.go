package recover

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"testing"

	"github.com/osdr/osdr/internal/run"
)

func TestJournalSurvivesACrashAtAnyByte(t *testing.T) {
	dir := t.TempDir()
	j, err := openJournal(run.Run{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	entries := []Entry{
		{Step: StepDBClean, Phase: PhaseIntent},
		{Step: StepDBClean, Phase: PhaseDone},
		{Step: StepReboot, Phase: PhaseIntent, Instance: instA},
	}
	for _, e := range entries {
		if _, err := j.append(e); err != nil {
			t.Fatal(err)
		}
	}
	j.close()
	full, err := os.ReadFile(run.Run{Dir: dir}.Journal())
	if err != nil {
		t.Fatal(err)
	}
	lineEnds := []int{}
	for i, b := range full {
		if b == '\n' {
			lineEnds = append(lineEnds, i+1)
		}
	}
	// Cut the file at every byte, as a crash mid-write would: whole lines survive, a torn one is dropped.
	for cut := 0; cut <= len(full); cut++ {
		whole := 0
		for _, end := range lineEnds {
			if end <= cut {
				whole++
			}
		}
		d := t.TempDir()
		if err := os.WriteFile(run.Run{Dir: d}.Journal(), full[:cut], 0o600); err != nil {
			t.Fatal(err)
		}
		j, err := openJournal(run.Run{Dir: d})
		if err != nil {
			t.Fatalf("cut at %d: %v", cut, err)
		}
		if got := len(j.all()); got != whole {
			t.Fatalf("cut at %d: %d entries, want %d", cut, got, whole)
		}
		// The run goes on appending after the torn line is gone.
		if _, err := j.append(Entry{Step: StepReattach, Phase: PhaseIntent, Instance: instA, Volume: "v1"}); err != nil {
			t.Fatal(err)
		}
		j.close()
		again, err := ReadJournal(run.Run{Dir: d})
		if err != nil || len(again) != whole+1 {
			t.Fatalf("cut at %d: reread %d entries (%v), want %d", cut, len(again), err, whole+1)
		}
	}
}

func TestJournalRefusesDamageBeforeTheLastLine(t *testing.T) {
	dir := t.TempDir()
	j, _ := openJournal(run.Run{Dir: dir})
	j.append(Entry{Step: StepDBClean, Phase: PhaseIntent})
	j.append(Entry{Step: StepDBClean, Phase: PhaseDone})
	j.close()
	path := run.Run{Dir: dir}.Journal()
	raw, _ := os.ReadFile(path)
	raw[12] ^= 0x01 // a flipped bit in the first line
	os.WriteFile(path, raw, 0o600)
	if _, err := openJournal(run.Run{Dir: dir}); !errors.Is(err, errCorruptJournal) {
		t.Fatalf("openJournal = %v, want errCorruptJournal", err)
	}
}

func TestAnIntendedRebootIsNeverRepeated(t *testing.T) {
	for _, tc := range []struct {
		name   string
		phases []Phase
		want   bool
	}{
		{"never asked", nil, false},
		{"intent only (crash during the call)", []Phase{PhaseIntent}, true},
		{"done", []Phase{PhaseIntent, PhaseDone}, true},
		{"refused by Nova", []Phase{PhaseIntent, PhaseFailed}, true},
		{"skipped (already running)", []Phase{PhaseSkipped}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			j, _ := openJournal(run.Run{Dir: dir})
			for _, p := range tc.phases {
				j.append(Entry{Step: StepReboot, Phase: p, Instance: instA})
			}
			j.close()
			j, err := openJournal(run.Run{Dir: dir})
			if err != nil {
				t.Fatal(err)
			}
			defer j.close()
			if got := j.rebootRequested(instA); got != tc.want {
				t.Errorf("RebootRequested = %v, want %v", got, tc.want)
			}
			if j.rebootRequested(instB) {
				t.Errorf("another instance counts as rebooted")
			}
		})
	}
}

// Appends from many goroutines at once share fsyncs, and each still returns only once its entry is durable:
// every entry is on disk, once, in sequence order.
func TestConcurrentAppendsAreDurableAndShareFsyncs(t *testing.T) {
	dir := t.TempDir()
	j, err := openJournal(run.Run{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	const writers, each = 32, 50
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				if _, err := j.append(Entry{Step: StepReattach, Phase: PhaseIntent, Instance: fmt.Sprintf("inst-%d", w), Volume: fmt.Sprintf("v-%d", i)}); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	j.close()
	entries, err := ReadJournal(run.Run{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != writers*each {
		t.Fatalf("%d entries on disk, want %d", len(entries), writers*each)
	}
	seen := map[string]bool{}
	for i, e := range entries {
		if e.Seq != i+1 {
			t.Fatalf("entry %d has sequence %d", i, e.Seq)
		}
		seen[e.Instance+"/"+e.Volume] = true
	}
	if len(seen) != writers*each {
		t.Errorf("%d distinct entries, want %d", len(seen), writers*each)
	}
}

// BenchmarkJournalAppend measures appends from 64 goroutines, as a recovery at --concurrency 64 makes them.
func BenchmarkJournalAppend(b *testing.B) {
	j, err := openJournal(run.Run{Dir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	defer j.close()
	b.SetParallelism(32) // × GOMAXPROCS goroutines
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := j.append(Entry{Step: StepReboot, Phase: PhaseIntent, Instance: "aaaaaaaa-0000-4000-8000-000000000001"}); err != nil {
				b.Error(err)
			}
		}
	})
}
