package run

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"
)

// Kind says what a run did; it is part of the run id.
type Kind string

const (
	KindSnapshot Kind = "snapshot"
	KindRecovery Kind = "recovery"
	KindInject   Kind = "inject"
	KindDrill    Kind = "drill"
)

const (
	// Runs hold manifests and database backups (rows with host names, IQNs, and so on): owner only.
	dirMode = 0o700
	// Milliseconds, so that runs started in the same second (a drill and the run after it was killed) still
	// sort by start time.
	idTimestamp = "20060102T150405.000Z"
	// Run ids osdr made before they had milliseconds; Find still takes them, for --resume and undo-db.
	secondsIDTimestamp = "20060102T150405Z"
)

// ErrInvalidID is wrapped when a run id is not one osdr makes; the check also keeps an id from naming a path
// outside the runs directory.
var ErrInvalidID = errors.New("invalid run id")

var (
	kindPattern = regexp.MustCompile(`^[a-z][a-z0-9]*(-[a-z0-9]+)*$`)
	idPattern   = regexp.MustCompile(`^([0-9]{8}T[0-9]{6}(?:\.[0-9]{3})?Z)-([a-z][a-z0-9]*(?:-[a-z0-9]+)*)-([0-9a-f]{6})$`)
)

// Store is the runs directory, holding one directory per run.
type Store struct {
	Dir string
	// Source says where Dir was set (a flag, a variable, the default), for messages.
	Source string
}

// Run is one run's directory. Its id sorts by start time: 20261125T081500.042Z-recovery-3fa9c2.
type Run struct {
	ID   string
	Kind Kind
	Dir  string
}

// New creates the directory of a new run.
func (s Store) New(kind Kind) (Run, error) {
	return s.newAt(kind, time.Now())
}

func (s Store) newAt(kind Kind, now time.Time) (Run, error) {
	if !kindPattern.MatchString(string(kind)) {
		return Run{}, fmt.Errorf("new run: kind %q is not lowercase words joined by dashes", kind)
	}
	suffix := make([]byte, 3)
	if _, err := rand.Read(suffix); err != nil {
		return Run{}, fmt.Errorf("new %s run: random id suffix: %w", kind, err)
	}
	id := fmt.Sprintf("%s-%s-%s", now.UTC().Format(idTimestamp), kind, hex.EncodeToString(suffix))
	if err := os.MkdirAll(s.Dir, dirMode); err != nil {
		return Run{}, fmt.Errorf("new %s run: create the runs directory: %w", kind, err)
	}
	dir := filepath.Join(s.Dir, id)
	// Mkdir, not MkdirAll: an existing directory is another run's, never to be shared.
	if err := os.Mkdir(dir, dirMode); err != nil {
		return Run{}, fmt.Errorf("new %s run: %w", kind, err)
	}
	return Run{ID: id, Kind: kind, Dir: dir}, nil
}

// Find finds an existing run by id, for --resume, undo and reports.
func (s Store) Find(id string) (Run, error) {
	kind, err := parseID(id)
	if err != nil {
		return Run{}, fmt.Errorf("find run %q: %w", id, err)
	}
	dir := filepath.Join(s.Dir, id)
	// Lstat: a symlink could lead a resumed run to write outside the runs directory.
	info, err := os.Lstat(dir)
	if err != nil {
		return Run{}, fmt.Errorf("find run %s in %s: %w", id, s.Dir, err)
	}
	if !info.IsDir() {
		return Run{}, fmt.Errorf("find run %s: %s is not a directory", id, dir)
	}
	return Run{ID: id, Kind: kind, Dir: dir}, nil
}

func parseID(id string) (Kind, error) {
	match := idPattern.FindStringSubmatch(id)
	if match == nil {
		return "", fmt.Errorf("%w: want <UTC time>-<kind>-<6 hex digits>, e.g. 20261125T081500.042Z-recovery-3fa9c2", ErrInvalidID)
	}
	layout := idTimestamp
	if !strings.Contains(match[1], ".") {
		layout = secondsIDTimestamp
	}
	if _, err := time.Parse(layout, match[1]); err != nil {
		return "", fmt.Errorf("%w: %v", ErrInvalidID, err)
	}
	return Kind(match[2]), nil
}

// List returns the runs of a kind, newest first; entries that are not run directories are ignored. A runs
// directory that does not exist yet holds no runs.
func (s Store) List(kind Kind) ([]Run, error) {
	entries, err := os.ReadDir(s.Dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list runs in %s: %w", s.Dir, err)
	}
	var out []Run
	for _, ent := range entries {
		if !ent.IsDir() {
			continue
		}
		if k, err := parseID(ent.Name()); err != nil || k != kind {
			continue
		}
		out = append(out, Run{ID: ent.Name(), Kind: kind, Dir: filepath.Join(s.Dir, ent.Name())})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID > out[j].ID })
	return out, nil
}

// String names the runs directory and where it was set.
func (s Store) String() string { return fmt.Sprintf("%s (%s)", s.Dir, s.Source) }
