package drills

import (
	"context"
	"fmt"
	"io"

	"github.com/osdr/osdr/inject"
	"github.com/osdr/osdr/recover"
)

// Plan shows what the drill would do on the cloud as it is now, changing nothing: the guards' verdict, the
// targets and their blast radius, every fault command per host, and the volumes the recovery will bring back.
func (r *Runner) Plan(ctx context.Context, w io.Writer) error {
	if err := r.checkGuards(); err != nil {
		return err
	}
	authURL, region := r.Cloud.Endpoint()
	fmt.Fprintf(w, "Drill %s on %s (%s): guards pass\n", r.Drill.Name, authURL, region)
	m, err := recover.Snapshot(ctx, r.Cloud, r.Drill.Targets.Scope(), recover.SnapshotOptions{})
	if err != nil {
		return err
	}
	hosts, instances, volumes := blastRadius(m)
	fmt.Fprintf(w, "Targets: %d instance(s) on %d host(s), %d iSCSI data volume(s)\n", instances, hosts, volumes)
	if err := r.Drill.Guards.CheckBlastRadius(hosts, instances, volumes); err != nil {
		return err
	}
	faults, err := r.Drill.faults()
	if err != nil {
		return err
	}
	var ids []string
	for _, in := range m.Instances {
		ids = append(ids, in.ID)
	}
	actions, err := inject.PlanFaults(ctx, r.Cloud, faults, Selection(m, recover.Selection{Instances: ids}), r.Drill.Guards.limits())
	if err != nil {
		return err
	}
	fmt.Fprintln(w, "Faults:")
	for _, a := range actions {
		fmt.Fprintf(w, "  on %s: %s   (restore: %s)\n", a.Host, a.Command, a.Restore)
	}
	fmt.Fprintln(w, "Then: observe the fault, recover the targets with the guide's procedure (osdr recover --instance for each), verify, report.")
	for _, in := range m.Instances {
		fmt.Fprintf(w, "  instance %s (%s) on %s:", in.ID, in.Name, in.Host)
		for _, a := range m.DataAttachments(in.ID) {
			fmt.Fprintf(w, " %s at %s;", a.VolumeID, a.Device)
		}
		fmt.Fprintln(w)
	}
	return nil
}
