package drills

import (
	"fmt"
	"sort"

	"github.com/osdr/osdr/inject"
	"github.com/osdr/osdr/recover"
)

// resolveTargets selects the drill's instances from a manifest of the whole cloud: the union of ids, names,
// tags and hosts. A name that matches nothing is an error: a typo must never shrink a drill silently, and a
// name that matches several instances is ambiguous.
func resolveTargets(m *recover.Manifest, t Targets) ([]string, error) {
	chosen := map[string]bool{}
	for _, id := range t.Instances {
		if _, ok := m.Instance(id); !ok {
			return nil, fmt.Errorf("targets.instances: unknown instance %s", id)
		}
		chosen[id] = true
	}
	for _, name := range t.Names {
		var found []string
		for _, in := range m.Instances {
			if in.Name == name {
				found = append(found, in.ID)
			}
		}
		switch len(found) {
		case 0:
			return nil, fmt.Errorf("targets.names: no instance is named %q", name)
		case 1:
			chosen[found[0]] = true
		default:
			return nil, fmt.Errorf("targets.names: %d instances are named %q (%v): use their ids", len(found), name, found)
		}
	}
	for _, tag := range t.Tags {
		found := false
		for _, in := range m.Instances {
			for _, it := range in.Tags {
				if it == tag {
					chosen[in.ID], found = true, true
				}
			}
		}
		if !found {
			return nil, fmt.Errorf("targets.tags: no instance has tag %q", tag)
		}
	}
	for _, host := range t.Hosts {
		found := false
		for _, in := range m.Instances {
			if in.Host == host {
				chosen[in.ID], found = true, true
			}
		}
		if !found {
			return nil, fmt.Errorf("targets.hosts: no instance runs on %q", host)
		}
	}
	ids := make([]string, 0, len(chosen))
	for id := range chosen {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids, nil
}

// blastRadius counts what the drill touches: hosts, instances and iSCSI data volumes.
func blastRadius(m *recover.Manifest, ids []string) (hosts, instances, volumes int) {
	seenHosts := map[string]bool{}
	for _, id := range ids {
		in, _ := m.Instance(id)
		seenHosts[in.Host] = true
		for _, a := range m.AttachmentsOf(id) {
			if !a.IsBoot() && a.DriverVolumeType == "iscsi" {
				volumes++
			}
		}
	}
	return len(seenHosts), len(ids), volumes
}

// FaultTarget is the faults' view of one instance of a manifest: where it runs and its data volumes (only
// those in only, when only is not nil).
func FaultTarget(m *recover.Manifest, in recover.Instance, only map[string]bool) inject.Instance {
	t := inject.Instance{ID: in.ID, Host: in.Host, DomainName: in.DomainName}
	for _, a := range m.AttachmentsOf(in.ID) {
		if a.IsBoot() || (only != nil && !only[a.VolumeID]) {
			continue
		}
		t.Volumes = append(t.Volumes, inject.Volume{ID: a.VolumeID, DriverVolumeType: a.DriverVolumeType, IQN: a.IQN, Portal: a.Portal})
	}
	return t
}

// selection is the faults' view of the targets: their data volumes, and their hosts for host-wide faults.
func selection(m *recover.Manifest, ids []string) inject.Selection {
	var sel inject.Selection
	hosts := map[string]bool{}
	for _, id := range ids {
		in, _ := m.Instance(id)
		sel.Instances = append(sel.Instances, FaultTarget(m, in, nil))
		if !hosts[in.Host] {
			hosts[in.Host] = true
			sel.Hosts = append(sel.Hosts, in.Host)
		}
	}
	return sel
}
