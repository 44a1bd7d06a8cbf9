package recover

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"
)

// Scope says which instances (and, with Volumes, which of their volumes) a snapshot, recovery, fault or
// verification covers: the union of what each field names, resolved against a manifest. A recovery of the
// whole cloud has to be asked for (All), never implied by an empty selection. It is the one place --all,
// --instance, --host, --volume and a drill's targets are resolved.
type Scope struct {
	All       bool     `json:"all,omitempty"`
	Instances []string `json:"instances,omitempty"`
	Names     []string `json:"names,omitempty"`
	Tags      []string `json:"tags,omitempty"`
	Hosts     []string `json:"hosts,omitempty"`
	// Volumes selects attached volumes, and their instances with only those volumes.
	Volumes []string `json:"volumes,omitempty"`
}

// errEmptyScope means no instance was selected: nothing is done.
var errEmptyScope = errors.New("empty scope")

// Validate checks that something is selected, and not both everything and something.
func (s Scope) Validate() error {
	named := len(s.Instances) + len(s.Names) + len(s.Tags) + len(s.Hosts) + len(s.Volumes)
	switch {
	case !s.All && named == 0:
		return fmt.Errorf("%w: name --instance ID, --host H or --all", errEmptyScope)
	case s.All && named > 0:
		return errors.New("--all selects every instance: name no instance, host or volume with it")
	}
	return nil
}

// Selection is a scope resolved against a manifest.
type Selection struct {
	// Instances are the selected instance ids, sorted.
	Instances []string
	// Only limits an instance to some of its volumes (a scope naming volumes); an instance absent from it
	// keeps all of them.
	Only map[string]map[string]bool
}

// Select returns the ids of the manifest's instances in scope, sorted.
func (s Scope) Select(m *Manifest) ([]string, error) {
	sel, err := s.Resolve(m)
	return sel.Instances, err
}

// Resolve resolves the scope against a manifest. Anything named that the manifest does not know is an error
// naming it: a typo must never shrink the scope silently.
func (s Scope) Resolve(m *Manifest) (Selection, error) {
	if err := s.Validate(); err != nil {
		return Selection{}, err
	}
	whole := map[string]bool{}
	for _, pick := range []func(*Manifest) ([]string, error){s.all, s.byID, s.byName, s.byTag, s.byHost} {
		ids, err := pick(m)
		if err != nil {
			return Selection{}, err
		}
		for _, id := range ids {
			whole[id] = true
		}
	}
	only, err := s.byVolume(m)
	if err != nil {
		return Selection{}, err
	}
	sel := Selection{Only: map[string]map[string]bool{}}
	for id := range whole {
		sel.Instances = append(sel.Instances, id)
	}
	for id, vols := range only {
		if !whole[id] {
			sel.Instances = append(sel.Instances, id)
			sel.Only[id] = vols
		}
	}
	if len(sel.Instances) == 0 {
		return Selection{}, fmt.Errorf("%w: the manifest lists no instances", errEmptyScope)
	}
	sort.Strings(sel.Instances)
	return sel, nil
}

// instancesWhere returns the ids of the manifest's instances that match.
func instancesWhere(m *Manifest, match func(Instance) bool) []string {
	var ids []string
	for _, in := range m.Instances {
		if match(in) {
			ids = append(ids, in.ID)
		}
	}
	return ids
}

func (s Scope) all(m *Manifest) ([]string, error) {
	if !s.All {
		return nil, nil
	}
	return instancesWhere(m, func(Instance) bool { return true }), nil
}

func (s Scope) byID(m *Manifest) ([]string, error) {
	for _, id := range s.Instances {
		if _, ok := m.Instance(id); !ok {
			return nil, fmt.Errorf("unknown instance %s: not in the manifest", quoted(id))
		}
	}
	return s.Instances, nil
}

func (s Scope) byName(m *Manifest) ([]string, error) {
	var out []string
	for _, name := range s.Names {
		found := instancesWhere(m, func(in Instance) bool { return in.Name == name })
		switch len(found) {
		case 0:
			return nil, fmt.Errorf("no instance is named %s", quoted(name))
		case 1:
			out = append(out, found[0])
		default:
			return nil, fmt.Errorf("%d instances are named %s (%v): use their ids", len(found), quoted(name), found)
		}
	}
	return out, nil
}

func (s Scope) byTag(m *Manifest) ([]string, error) {
	var out []string
	for _, tag := range s.Tags {
		found := instancesWhere(m, func(in Instance) bool { return slices.Contains(in.Tags, tag) })
		if len(found) == 0 {
			return nil, fmt.Errorf("no instance has tag %s", quoted(tag))
		}
		out = append(out, found...)
	}
	return out, nil
}

func (s Scope) byHost(m *Manifest) ([]string, error) {
	var out []string
	for _, h := range s.Hosts {
		found := instancesWhere(m, func(in Instance) bool { return in.Host == h })
		if len(found) == 0 {
			return nil, fmt.Errorf("unknown host %s: no instance of the manifest runs there", quoted(h))
		}
		out = append(out, found...)
	}
	return out, nil
}

// byVolume maps each instance a named volume is attached to, to the named volumes on it.
func (s Scope) byVolume(m *Manifest) (map[string]map[string]bool, error) {
	only := map[string]map[string]bool{}
	for _, v := range s.Volumes {
		found := false
		for _, a := range m.Attachments {
			if a.VolumeID != v {
				continue
			}
			found = true
			if only[a.InstanceID] == nil {
				only[a.InstanceID] = map[string]bool{}
			}
			only[a.InstanceID][v] = true
		}
		if !found {
			return nil, fmt.Errorf("volume %s is unknown or not attached to any instance", v)
		}
	}
	return only, nil
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

// quoted is how a name the operator typed is repeated in an error: quoted, so that a terminal escape in it is
// shown instead of acting on the operator's terminal, and cut, so that a megabyte of it does not fill the
// screen.
func quoted(name string) string {
	const most = 80
	if len(name) > most {
		return strconv.Quote(name[:most]) + "…"
	}
	return strconv.Quote(name)
}
