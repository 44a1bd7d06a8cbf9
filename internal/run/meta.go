package run

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/osdr/osdr/internal/durable"
)

// Status is where a run stands. A run that never reached its end (killed, crashed, or still going) stays
// StatusRunning: that is what "unfinished" means to --resume latest and to prune.
type Status string

const (
	StatusRunning   Status = "running"
	StatusSucceeded Status = "succeeded"
	StatusPartial   Status = "partial" // some instances recovered, some did not
	StatusFailed    Status = "failed"
	StatusUnknown   Status = "unknown" // a run from before runs recorded their status
)

// Meta is what every run records about itself in run.json, for run history: the command that made it,
// the cloud it ran on, when, how it ended, and how many instances it covered.
type Meta struct {
	ID        string    `json:"id"`
	Kind      Kind      `json:"kind"`
	Cloud     string    `json:"cloud,omitempty"` // the Keystone URL; empty when the run did not name one
	Started   time.Time `json:"started"`
	Ended     time.Time `json:"ended,omitzero"`
	Status    Status    `json:"status"`
	Instances int       `json:"instances,omitempty"`
	// Detail is one line on how it ended: the error, or what was done.
	Detail string `json:"detail,omitempty"`
	// Dir is where the run is; not stored, filled in when read.
	Dir string `json:"-"`
}

const metaFile = "run.json"

func (r Run) metaPath() string { return r.path(metaFile) }

// Begin records that the run started on a cloud.
func (r Run) Begin(cloud string) error {
	return r.writeMeta(Meta{ID: r.ID, Kind: r.Kind, Cloud: cloud, Started: time.Now().UTC(), Status: StatusRunning})
}

// End records how the run ended. A run with no record yet (it began before runs recorded one) gets one.
func (r Run) End(status Status, instances int, detail string) error {
	m, err := r.ReadMeta()
	if err != nil {
		return err
	}
	m.Ended, m.Status, m.Instances, m.Detail = time.Now().UTC(), status, instances, firstLine(detail)
	return r.writeMeta(m)
}

func (r Run) writeMeta(m Meta) error {
	raw, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return fmt.Errorf("encode the record of run %s: %w", r.ID, err)
	}
	if err := durable.WriteFile(r.metaPath(), append(raw, '\n'), 0o600); err != nil {
		return fmt.Errorf("write the record of run %s: %w", r.ID, err)
	}
	return nil
}

// ReadMeta reads the run's record of itself; a run from before runs kept one is described from its id.
func (r Run) ReadMeta() (Meta, error) {
	raw, err := os.ReadFile(r.metaPath())
	if errors.Is(err, os.ErrNotExist) {
		started, _ := startOf(r.ID)
		return Meta{ID: r.ID, Kind: r.Kind, Started: started, Status: StatusUnknown, Dir: r.Dir}, nil
	}
	if err != nil {
		return Meta{}, fmt.Errorf("read the record of run %s: %w", r.ID, err)
	}
	var m Meta
	if err := json.Unmarshal(raw, &m); err != nil {
		return Meta{}, fmt.Errorf("parse the record of run %s (%s): %w", r.ID, r.metaPath(), err)
	}
	m.Dir = r.Dir
	return m, nil
}

func startOf(id string) (time.Time, error) {
	stamp, _, _ := strings.Cut(id, "-")
	for _, layout := range []string{idTimestamp, secondsIDTimestamp} {
		if t, err := time.Parse(layout, stamp); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("%w: %s", ErrInvalidID, id)
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}

// History lists the records of every run of the given kinds (all kinds when none), newest first.
func (s Store) History(kinds ...Kind) ([]Meta, error) {
	entries, err := os.ReadDir(s.Dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list runs in %s: %w", s.Dir, err)
	}
	var out []Meta
	for _, ent := range entries {
		kind, err := parseID(ent.Name())
		if err != nil || !ent.IsDir() || (len(kinds) > 0 && !contains(kinds, kind)) {
			continue
		}
		m, err := Run{ID: ent.Name(), Kind: kind, Dir: s.path(ent.Name())}.ReadMeta()
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID > out[j].ID })
	return out, nil
}

func contains(kinds []Kind, k Kind) bool {
	for _, x := range kinds {
		if x == k {
			return true
		}
	}
	return false
}

func (s Store) path(id string) string { return filepath.Join(s.Dir, id) }

// ErrNoRun means no run matched "latest".
var ErrNoRun = errors.New("no such run")

// Latest finds the newest run of a kind on a cloud (its Keystone URL) in a status: `--manifest latest`
// takes the newest successful snapshot, `--resume latest` the newest unfinished recovery.
func (s Store) Latest(kind Kind, cloud string, status Status) (Run, error) {
	history, err := s.History(kind)
	if err != nil {
		return Run{}, err
	}
	for _, m := range history {
		if m.Status == status && SameCloud(m.Cloud, cloud) {
			return Run{ID: m.ID, Kind: m.Kind, Dir: m.Dir}, nil
		}
	}
	return Run{}, fmt.Errorf("%w: no %s run of %s on %s in %s", ErrNoRun, status, kind, orNamed(cloud), s.Dir)
}

func orNamed(cloud string) string {
	if cloud == "" {
		return "an unnamed cloud"
	}
	return cloud
}

// SameCloud compares Keystone URLs the way Keystone serves them: scheme and host case-insensitive, no
// trailing slash. An empty URL matches nothing.
func SameCloud(a, b string) bool {
	return a != "" && b != "" && normalizeURL(a) == normalizeURL(b)
}

func normalizeURL(s string) string {
	s = strings.TrimRight(s, "/")
	scheme, rest, ok := strings.Cut(s, "://")
	if !ok {
		return s
	}
	host, path, _ := strings.Cut(rest, "/")
	if path != "" {
		path = "/" + path
	}
	return strings.ToLower(scheme) + "://" + strings.ToLower(host) + path
}

// Prune removes finished runs that are both beyond the keep newest (0: no count limit) and older than
// olderThan (0: no age limit), never an unfinished run (one may be resumed) nor the newest successful
// snapshot of each cloud (the best evidence for a real recovery). With dryRun it only says what it would
// remove. It returns the runs removed (or to remove).
func (s Store) Prune(keep int, olderThan time.Duration, now time.Time, dryRun bool) ([]Meta, error) {
	history, err := s.History()
	if err != nil {
		return nil, err
	}
	newestSnapshot := map[string]bool{}
	var doomed []Meta
	for i, m := range history {
		if m.Kind == KindSnapshot && m.Status == StatusSucceeded && !newestSnapshot[normalizeURL(m.Cloud)] {
			newestSnapshot[normalizeURL(m.Cloud)] = true
			continue
		}
		if m.Status == StatusRunning || (keep > 0 && i < keep) || (olderThan > 0 && now.Sub(m.Started) < olderThan) {
			continue
		}
		doomed = append(doomed, m)
	}
	if dryRun {
		return doomed, nil
	}
	for _, m := range doomed {
		if err := os.RemoveAll(m.Dir); err != nil {
			return nil, fmt.Errorf("remove run %s: %w", m.ID, err)
		}
	}
	return doomed, nil
}
