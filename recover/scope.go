package recover

import (
	"errors"
	"fmt"
	"sort"
)

// Scope says which instances a snapshot or recovery covers. Exactly one of its fields is set: a recovery of
// the whole cloud has to be asked for (--all), never implied by an empty selection.
type Scope struct {
	All       bool     `json:"all,omitempty"`
	Hosts     []string `json:"hosts,omitempty"`
	Instances []string `json:"instances,omitempty"`
}

// ErrEmptyScope means no instance was selected: nothing is done.
var ErrEmptyScope = errors.New("empty scope")

// Validate checks that exactly one kind of selection is made.
func (s Scope) Validate() error {
	kinds := 0
	if s.All {
		kinds++
	}
	if len(s.Hosts) > 0 {
		kinds++
	}
	if len(s.Instances) > 0 {
		kinds++
	}
	switch kinds {
	case 0:
		return fmt.Errorf("%w: name --instance ID, --host H or --all", ErrEmptyScope)
	case 1:
		return nil
	default:
		return errors.New("choose one of --instance, --host and --all")
	}
}

// Select returns the ids of the manifest's instances in scope, sorted. An instance or host the manifest does not
// know is an error naming it: a typo must never shrink the scope silently.
func (s Scope) Select(m *Manifest) ([]string, error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	var ids []string
	switch {
	case s.All:
		for _, in := range m.Instances {
			ids = append(ids, in.ID)
		}
	case len(s.Instances) > 0:
		for _, id := range s.Instances {
			if _, ok := m.Instance(id); !ok {
				return nil, fmt.Errorf("unknown instance %s: not in the manifest", id)
			}
			ids = append(ids, id)
		}
	default:
		for _, h := range s.Hosts {
			found := false
			for _, in := range m.Instances {
				if in.Host == h {
					ids = append(ids, in.ID)
					found = true
				}
			}
			if !found {
				return nil, fmt.Errorf("unknown host %s: no instance of the manifest runs there", h)
			}
		}
	}
	if len(ids) == 0 {
		return nil, fmt.Errorf("%w: the manifest lists no instances", ErrEmptyScope)
	}
	sort.Strings(ids)
	return dedupe(ids), nil
}

func dedupe(sorted []string) []string {
	out := sorted[:0]
	for i, s := range sorted {
		if i == 0 || s != sorted[i-1] {
			out = append(out, s)
		}
	}
	return out
}
