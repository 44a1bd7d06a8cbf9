package drills

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/osdr/osdr/inject"
	"github.com/osdr/osdr/recover"
)

// Plan is what a drill would do on the cloud as it is now.
type Plan struct {
	Drill     string            `json:"drill"`
	Cloud     string            `json:"cloud"`
	Region    string            `json:"region,omitempty"`
	Hosts     int               `json:"hosts"`
	Instances []PlannedInstance `json:"instances"`
	// Faults are the exact commands per host, with the session ids resolved now.
	Faults []inject.Action `json:"faults"`
}

// PlannedInstance is one target and the data volumes the recovery will bring back.
type PlannedInstance struct {
	ID      string   `json:"id"`
	Name    string   `json:"name"`
	Host    string   `json:"host"`
	Volumes []string `json:"volumes"` // "volume-id at /dev/vdb"
}

// Plan works out what the drill would do on the cloud as it is now, changing nothing: the guards' verdict,
// the targets and their blast radius, every fault command per host, and the volumes the recovery will
// bring back.
func (r *Runner) Plan(ctx context.Context) (*Plan, error) {
	if err := r.checkGuards(); err != nil {
		return nil, err
	}
	authURL, region := r.Cloud.Endpoint()
	m, err := recover.Snapshot(ctx, r.Cloud, r.Drill.Targets.Scope(), recover.SnapshotOptions{})
	if err != nil {
		return nil, err
	}
	hosts, instances, volumes := blastRadius(m)
	if err := r.Drill.Guards.CheckBlastRadius(hosts, instances, volumes); err != nil {
		return nil, err
	}
	faults, err := r.Drill.faults()
	if err != nil {
		return nil, err
	}
	p := &Plan{Drill: r.Drill.Name, Cloud: authURL, Region: region, Hosts: hosts}
	var ids []string
	for _, in := range m.Instances {
		ids = append(ids, in.ID)
		pi := PlannedInstance{ID: in.ID, Name: in.Name, Host: in.Host}
		for _, a := range m.DataAttachments(in.ID) {
			pi.Volumes = append(pi.Volumes, a.VolumeID+" at "+a.Device)
		}
		p.Instances = append(p.Instances, pi)
	}
	if p.Faults, err = inject.PlanFaults(ctx, r.Cloud, faults, Selection(m, recover.Selection{Instances: ids}), r.Drill.Guards.limits()); err != nil {
		return nil, err
	}
	return p, nil
}

// WriteText renders the plan for people.
func (p *Plan) WriteText(w io.Writer) error {
	var b strings.Builder
	volumes := 0
	for _, in := range p.Instances {
		volumes += len(in.Volumes)
	}
	fmt.Fprintf(&b, "Drill %s on %s (%s): guards pass\n", p.Drill, p.Cloud, p.Region)
	fmt.Fprintf(&b, "Targets: %d instance(s) on %d host(s), %d iSCSI data volume(s)\n", len(p.Instances), p.Hosts, volumes)
	fmt.Fprintln(&b, "Faults:")
	for _, a := range p.Faults {
		fmt.Fprintf(&b, "  on %s: %s   (restore: %s)\n", a.Host, a.Command, a.Restore)
	}
	fmt.Fprintln(&b, "Then: observe the fault, recover the targets with the guide's procedure (osdr recover --instance for each), verify, report.")
	for _, in := range p.Instances {
		fmt.Fprintf(&b, "  instance %s (%s) on %s: %s\n", in.ID, in.Name, in.Host, strings.Join(in.Volumes, "; "))
	}
	_, err := io.WriteString(w, b.String())
	return err
}
