package recover

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/osdr/osdr/internal/durable"
	"github.com/osdr/osdr/internal/run"
	"github.com/osdr/osdr/internal/settings"
)

// Step names the guide's steps as the journal records them.
type Step string

const (
	StepSnapshot    Step = "snapshot"     // 1: the manifest
	StepDBClean     Step = "db-clean"     // 2
	StepReboot      Step = "reboot"       // 3: HARD reboot, once
	StepReattach    Step = "reattach"     // 4: per volume
	StepGuestReboot Step = "guest-reboot" // 5: from inside the guest
	// StepProve is the minimal strategy's check, after the reboot, that every volume came back: Nova and
	// Cinder agree, and the compute host has the session logged in and the disk present.
	StepProve Step = "prove"
)

// Phase is where an action stands. An intent is written, and fsync'ed, before the action starts: after a
// crash an intent without an outcome means "this may have happened", which for a reboot means "do not do it
// again".
type Phase string

const (
	PhaseIntent  Phase = "intent"
	PhaseDone    Phase = "done"
	PhaseFailed  Phase = "failed"
	PhaseSkipped Phase = "skipped"
	PhaseUndone  Phase = "undone" // step 2 rolled back by undo-db
)

// Entry is one journal line.
type Entry struct {
	Seq      int       `json:"seq"`
	Time     time.Time `json:"time"`
	Step     Step      `json:"step"`
	Phase    Phase     `json:"phase"`
	Instance string    `json:"instance,omitempty"`
	Volume   string    `json:"volume,omitempty"`
	Detail   string    `json:"detail,omitempty"`
	// BootID is the guest's boot id before a guest reboot, recorded with its intent.
	BootID string `json:"boot_id,omitempty"`
	// VMStateBefore is the server's vm_state when a reboot's intent was recorded.
	VMStateBefore string `json:"vm_state_before,omitempty"`
	// Actions is, with a reboot's intent, where Nova's record of the server's actions stood before the reboot
	// was sent; nil when it could not be read.
	Actions *ActionMark `json:"actions,omitempty"`
	// Strategy is, on the entry that records the manifest, the strategy the run was planned with: a resume
	// goes on with it and refuses another.
	Strategy Strategy `json:"strategy,omitempty"`
	// Rows is, on a database clean's done entry, how many rows it changed.
	Rows int64 `json:"rows,omitempty"`
}

// ActionMark splits a server's instance actions into those before a reboot was sent and those after.
type ActionMark struct {
	// NewestRequestID is the request id of the newest action then; empty when the server had none.
	NewestRequestID string `json:"newest_request_id"`
}

// errCorruptJournal means a line other than the last is damaged: the journal cannot be trusted to resume from.
var errCorruptJournal = errors.New("corrupt journal")

// journal is the append-only, fsync'ed record of a recovery; a resumed run reads it to know what happened.
type journal struct {
	mu      sync.Mutex
	synced  *sync.Cond // broadcast when an fsync ends
	f       *os.File
	entries []Entry
	// written and durable count the bytes written to the file and those an fsync has made durable: appends
	// made while an fsync runs share the next one (group commit), so a thousand instances recovered at once
	// do not queue behind a thousand fsyncs.
	written, durable int64
	syncing          bool
	// broken is set by a failed write or fsync: what is on disk past the last durable byte is unknown, so
	// nothing more is appended.
	broken error
	// afterAppend, when set, runs after each durable append: the crash points of the kill tests.
	afterAppend func(Entry)
	// The lookups of a recovery of thousands of instances must not scan a journal of tens of thousands of
	// entries each: lastAt and firstAt index the entries by what the lookups ask for.
	lastAt  map[entryKey]int
	firstAt map[phaseKey]int
}

// entryKey is what last looks entries up by, and phaseKey what first does.
type entryKey struct {
	step             Step
	instance, volume string
}

type phaseKey struct {
	entryKey
	phase Phase
}

// index records entry i in the lookups; called for every entry, in order.
func (j *journal) index(i int) {
	e := j.entries[i]
	k := entryKey{e.Step, e.Instance, e.Volume}
	j.lastAt[k] = i
	if _, ok := j.firstAt[phaseKey{k, e.Phase}]; !ok {
		j.firstAt[phaseKey{k, e.Phase}] = i
	}
}

// openJournal opens (or creates) the run's journal and reads what it holds. A torn last line, the trace of a
// crash in the middle of a write, is dropped and the file truncated to the last whole line.
func openJournal(rn run.Run) (*journal, error) {
	path := rn.Journal()
	if err := checkJournalFile(path); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open journal: %w", err)
	}
	entries, good, err := readJournal(f)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if err := f.Truncate(good); err != nil {
		f.Close()
		return nil, fmt.Errorf("truncate torn journal line: %w", err)
	}
	if _, err := f.Seek(good, 0); err != nil {
		f.Close()
		return nil, fmt.Errorf("seek journal: %w", err)
	}
	if err := durable.SyncDir(filepath.Dir(path)); err != nil {
		f.Close()
		return nil, fmt.Errorf("sync run directory: %w", err)
	}
	j := &journal{f: f, entries: entries, written: good, durable: good, lastAt: map[entryKey]int{}, firstAt: map[phaseKey]int{}}
	j.synced = sync.NewCond(&j.mu)
	for i := range entries {
		j.index(i)
	}
	return j, nil
}

// Each line is `<crc32 of the JSON, 8 hex digits> <JSON>`, so a partly written line is recognised. A journal
// over settings.JournalLimit is refused before it is read.
func readJournal(f *os.File) ([]Entry, int64, error) {
	raw, err := settings.JournalLimit.ReadOpened(f)
	if err != nil {
		return nil, 0, err
	}
	return parseJournal(raw)
}

// parseJournal reads a journal's content: its entries and the length of the whole lines that hold them.
func parseJournal(raw []byte) ([]Entry, int64, error) {
	var entries []Entry
	var good int64
	lines := bytes.SplitAfter(raw, []byte("\n"))
	for i, line := range lines {
		if len(line) == 0 {
			continue
		}
		// Only a last line the crash cut short is torn: a whole line (its newline written) that does not check
		// was damaged after it was made durable, and may be a reboot's intent.
		torn := i == len(lines)-1 && line[len(line)-1] != '\n'
		e, ok := parseJournalLine(line)
		if !ok {
			if torn {
				break
			}
			return nil, 0, fmt.Errorf("%w: line %d is damaged", errCorruptJournal, i+1)
		}
		if !knownSteps[e.Step] || !knownPhases[e.Phase] {
			return nil, 0, fmt.Errorf("%w: line %d has step %q and phase %q, which this osdr does not write", errCorruptJournal, i+1, e.Step, e.Phase)
		}
		if e.Seq != len(entries)+1 {
			return nil, 0, fmt.Errorf("%w: line %d has sequence %d, want %d", errCorruptJournal, i+1, e.Seq, len(entries)+1)
		}
		entries = append(entries, e)
		good += int64(len(line))
	}
	return entries, good, nil
}

// knownSteps and knownPhases are what this osdr writes: a journal naming others was written by another
// program, and resuming from it would skip or repeat steps it cannot read.
var (
	knownSteps  = map[Step]bool{StepSnapshot: true, StepDBClean: true, StepReboot: true, StepReattach: true, StepGuestReboot: true, StepProve: true}
	knownPhases = map[Phase]bool{PhaseIntent: true, PhaseDone: true, PhaseFailed: true, PhaseSkipped: true, PhaseUndone: true}
)

// checkJournalFile refuses a journal that is not a regular file. A journal is truncated to its last whole line
// and appended to: through a symbolic link that would be done to whatever file it points at, with the rights
// of an operator who runs osdr as root.
func checkJournalFile(path string) error {
	if info, err := os.Lstat(path); err == nil && !info.Mode().IsRegular() {
		return fmt.Errorf("%w: %s is a %s, not a file osdr wrote; nothing was read from or written to it", errCorruptJournal, path, kindOf(info.Mode()))
	}
	return nil
}

// kindOf names what a file that is not a regular file is, for messages.
func kindOf(mode os.FileMode) string {
	switch {
	case mode&os.ModeSymlink != 0:
		return "symbolic link"
	case mode.IsDir():
		return "directory"
	}
	return "special file"
}

func journalLine(e Entry) ([]byte, error) {
	body, err := json.Marshal(e)
	if err != nil {
		return nil, fmt.Errorf("encode journal entry: %w", err)
	}
	return fmt.Appendf(nil, "%08x %s\n", crc32.ChecksumIEEE(body), body), nil
}

func parseJournalLine(line []byte) (Entry, bool) {
	var e Entry
	if len(line) < 10 || line[len(line)-1] != '\n' || line[8] != ' ' {
		return e, false
	}
	want, err := strconv.ParseUint(string(line[:8]), 16, 32)
	body := line[9 : len(line)-1]
	if err != nil || uint32(want) != crc32.ChecksumIEEE(body) {
		return e, false
	}
	if err := json.Unmarshal(body, &e); err != nil {
		return e, false
	}
	return e, true
}

// append writes e durably (fsync) before returning; its sequence number and time are filled in. Appends
// that arrive while an fsync runs are made durable together by the next one.
func (j *journal) append(e Entry) (Entry, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.broken != nil {
		return e, fmt.Errorf("append to journal: an earlier write failed: %w", j.broken)
	}
	e.Seq = len(j.entries) + 1
	if e.Time.IsZero() {
		e.Time = time.Now().UTC()
	}
	line, err := journalLine(e)
	if err != nil {
		return e, err
	}
	if _, err := j.f.Write(line); err != nil {
		j.broken = err
		return e, fmt.Errorf("append to journal: %w", err)
	}
	j.written += int64(len(line))
	j.entries = append(j.entries, e)
	j.index(len(j.entries) - 1)
	if err := j.waitDurable(j.written); err != nil {
		return e, fmt.Errorf("sync journal: %w", err)
	}
	if j.afterAppend != nil {
		j.afterAppend(e)
	}
	return e, nil
}

// waitDurable returns once the first upTo bytes are durable, running the fsync itself when none runs. It is
// called, and returns, with j.mu held.
func (j *journal) waitDurable(upTo int64) error {
	for j.durable < upTo {
		if j.broken != nil {
			return j.broken
		}
		if j.syncing {
			j.synced.Wait()
			continue
		}
		j.syncing = true
		target := j.written
		j.mu.Unlock()
		err := j.f.Sync()
		j.mu.Lock()
		j.syncing = false
		if err != nil {
			j.broken = err
		} else {
			j.durable = target
		}
		j.synced.Broadcast()
	}
	return nil
}

// all returns a copy of everything recorded so far.
func (j *journal) all() []Entry {
	j.mu.Lock()
	defer j.mu.Unlock()
	return append([]Entry(nil), j.entries...)
}

// len is how many entries the journal holds.
func (j *journal) len() int {
	j.mu.Lock()
	defer j.mu.Unlock()
	return len(j.entries)
}

// last returns the newest entry for the step on the instance (and volume, when given).
func (j *journal) last(step Step, instance, volume string) (Entry, bool) {
	j.mu.Lock()
	defer j.mu.Unlock()
	i, ok := j.lastAt[entryKey{step, instance, volume}]
	if !ok {
		return Entry{}, false
	}
	return j.entries[i], true
}

// first returns the oldest entry for the step and phase on the instance (and volume, when given): a reboot's
// first intent holds what was known before anything was sent.
func (j *journal) first(step Step, phase Phase, instance, volume string) (Entry, bool) {
	j.mu.Lock()
	defer j.mu.Unlock()
	i, ok := j.firstAt[phaseKey{entryKey{step, instance, volume}, phase}]
	if !ok {
		return Entry{}, false
	}
	return j.entries[i], true
}

// rebootRequested reports whether a reboot of the instance was ever intended in this run. Once true the
// instance is never rebooted again by this run, whatever the outcome was: the guide's "DO NOT reboot a second
// time", kept across crashes.
func (j *journal) rebootRequested(instance string) bool {
	_, intended := j.first(StepReboot, PhaseIntent, instance, "")
	_, done := j.first(StepReboot, PhaseDone, instance, "")
	return intended || done
}

// stepStarted reports whether any entry for the step exists.
func (j *journal) stepStarted(step Step) bool {
	j.mu.Lock()
	defer j.mu.Unlock()
	for k := range j.lastAt {
		if k.step == step {
			return true
		}
	}
	return false
}

// close closes the file; the journal's content is already durable.
func (j *journal) close() error { return j.f.Close() }

// ReadJournal reads a run's journal without opening it for writing (reports, verification).
func ReadJournal(rn run.Run) ([]Entry, error) {
	if err := checkJournalFile(rn.Journal()); err != nil {
		return nil, err
	}
	f, err := os.Open(rn.Journal())
	if err != nil {
		return nil, fmt.Errorf("open journal: %w", err)
	}
	defer f.Close()
	entries, _, err := readJournal(f)
	return entries, err
}
