package drills

import (
	"github.com/osdr/osdr/inject"
	"github.com/osdr/osdr/recover"
)

// Scope is the drill's targets as the one scope type every command resolves: the union of the ids, names,
// tags and hosts it lists.
func (t Targets) Scope() recover.Scope {
	return recover.Scope{Instances: t.Instances, Names: t.Names, Tags: t.Tags, Hosts: t.Hosts}
}

// blastRadius counts what the drill's manifest holds: hosts, instances and iSCSI data volumes.
func blastRadius(m *recover.Manifest) (hosts, instances, volumes int) {
	seenHosts := map[string]bool{}
	for _, in := range m.Instances {
		seenHosts[in.Host] = true
		volumes += len(m.DataAttachments(in.ID))
	}
	return len(seenHosts), len(m.Instances), volumes
}

// Selection is the faults' view of the selected instances of a manifest: where each runs and its iSCSI data
// volumes (only those the selection names, when it names some), and their hosts for host-wide faults.
func Selection(m *recover.Manifest, sel recover.Selection) inject.Selection {
	var out inject.Selection
	hosts := map[string]bool{}
	for _, id := range sel.Instances {
		in, _ := m.Instance(id)
		only := sel.Only[id]
		t := inject.Instance{ID: in.ID, Host: in.Host, DomainName: in.DomainName}
		for _, a := range m.AttachmentsOf(in.ID) {
			if a.IsBoot() || (only != nil && !only[a.VolumeID]) {
				continue
			}
			t.Volumes = append(t.Volumes, inject.Volume{ID: a.VolumeID, DriverVolumeType: a.DriverVolumeType, IQN: a.IQN, Portal: a.Portal})
		}
		out.Instances = append(out.Instances, t)
		if !hosts[in.Host] {
			hosts[in.Host] = true
			out.Hosts = append(out.Hosts, in.Host)
		}
	}
	return out
}

// faults looks the drill's faults up in the registry.
func (d *Drill) faults() ([]inject.Fault, error) {
	var out []inject.Fault
	for _, f := range d.Faults {
		fault, err := inject.Lookup(f.Kind)
		if err != nil {
			return nil, err
		}
		out = append(out, fault)
	}
	return out, nil
}

// limits are the guards' blast radius as the faults enforce it.
func (g Guards) limits() inject.Limits {
	return inject.Limits{MaxHosts: g.MaxHosts, MaxInstances: g.MaxInstances, MaxSessions: g.MaxVolumes}
}
