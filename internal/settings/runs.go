package settings

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"
)

const (
	defaultRunsDir = "osdr-runs"
	// Runs hold manifests and database backups (rows with host names, IQNs, and so on): owner only.
	runDirMode = 0o700
	// Milliseconds, so that runs started in the same second (a drill and the run after it was killed) still
	// sort by start time.
	runIDTimestamp = "20060102T150405.000Z"
	// Run ids osdr made before they had milliseconds; FindRun still takes them, for --resume and undo-db.
	secondsRunIDTimestamp = "20060102T150405Z"
)

// ErrInvalidRunID is wrapped when a run id is not one osdr makes; the check also keeps an id from naming a
// path outside the runs directory.
var ErrInvalidRunID = errors.New("invalid run id")

var (
	runKindPattern = regexp.MustCompile(`^[a-z][a-z0-9]*(-[a-z0-9]+)*$`)
	runIDPattern   = regexp.MustCompile(`^([0-9]{8}T[0-9]{6}(?:\.[0-9]{3})?Z)-([a-z][a-z0-9]*(?:-[a-z0-9]+)*)-([0-9a-f]{6})$`)
)

// Runs is the directory holding one directory per run (snapshot, recovery, injection, drill).
type Runs struct {
	Dir    string
	source string
}

// Run is one run's directory. Its id sorts by start time: 20261125T081500.042Z-recovery-3fa9c2.
type Run struct {
	ID   string
	Kind string
	Dir  string
}

func (r *resolution) runs() Runs {
	dir, source := r.pick(r.flags.RunsDir, FlagRunsDir, EnvRunsDir)
	if dir == "" {
		return Runs{Dir: defaultRunsDir, source: "default"}
	}
	return Runs{Dir: dir, source: source}
}

// NewRun creates the directory of a new run of kind (lowercase words joined by dashes: "recovery", "undo-db").
func (r Runs) NewRun(kind string) (Run, error) {
	return r.newRun(kind, time.Now())
}

func (r Runs) newRun(kind string, now time.Time) (Run, error) {
	if !runKindPattern.MatchString(kind) {
		return Run{}, fmt.Errorf("new run: kind %q is not lowercase words joined by dashes", kind)
	}
	suffix := make([]byte, 3)
	if _, err := rand.Read(suffix); err != nil {
		return Run{}, fmt.Errorf("new %s run: random id suffix: %w", kind, err)
	}
	id := fmt.Sprintf("%s-%s-%s", now.UTC().Format(runIDTimestamp), kind, hex.EncodeToString(suffix))
	if err := os.MkdirAll(r.Dir, runDirMode); err != nil {
		return Run{}, fmt.Errorf("new %s run: create the runs directory: %w", kind, err)
	}
	dir := filepath.Join(r.Dir, id)
	// Mkdir, not MkdirAll: an existing directory is another run's, never to be shared.
	if err := os.Mkdir(dir, runDirMode); err != nil {
		return Run{}, fmt.Errorf("new %s run: %w", kind, err)
	}
	return Run{ID: id, Kind: kind, Dir: dir}, nil
}

// FindRun finds an existing run by id, for --resume and undo.
func (r Runs) FindRun(id string) (Run, error) {
	match := runIDPattern.FindStringSubmatch(id)
	if match == nil {
		return Run{}, fmt.Errorf("find run %q: %w: want <UTC time>-<kind>-<6 hex digits>, e.g. 20261125T081500.042Z-recovery-3fa9c2", id, ErrInvalidRunID)
	}
	layout := runIDTimestamp
	if !strings.Contains(match[1], ".") {
		layout = secondsRunIDTimestamp
	}
	if _, err := time.Parse(layout, match[1]); err != nil {
		return Run{}, fmt.Errorf("find run %q: %w: %v", id, ErrInvalidRunID, err)
	}
	dir := filepath.Join(r.Dir, id)
	// Lstat: a symlink could lead a resumed run to write outside the runs directory.
	info, err := os.Lstat(dir)
	if err != nil {
		return Run{}, fmt.Errorf("find run %s in %s: %w", id, r.Dir, err)
	}
	if !info.IsDir() {
		return Run{}, fmt.Errorf("find run %s: %s is not a directory", id, dir)
	}
	return Run{ID: id, Kind: match[2], Dir: dir}, nil
}

// String names the runs directory and where it was set.
func (r Runs) String() string { return fmt.Sprintf("%s (%s)", r.Dir, r.source) }
