package drills

import (
	"context"
	"fmt"
	"io"

	"github.com/osdr/osdr/inject"
	"github.com/osdr/osdr/recover"
)

// Plan shows what the drill would do on the cloud as it is now, changing nothing: the guards' verdict, the
// targets and their blast radius, every fault command per host, and the recovery's plan for the targets.
func (r *Runner) Plan(ctx context.Context, w io.Writer) error {
	if err := r.Drill.Guards.CheckEndpoint(r.Env.AuthURL, r.Env.Region); err != nil {
		return err
	}
	fmt.Fprintf(w, "Drill %s on %s (%s): guards pass\n", r.Drill.Name, r.Env.AuthURL, r.Env.Region)
	m, err := recover.Snapshot(ctx, r.Env.API, r.Env.DBs, recover.Scope{All: true})
	if err != nil {
		return err
	}
	targets, err := resolveTargets(m, r.Drill.Targets)
	if err != nil {
		return err
	}
	hosts, instances, volumes := blastRadius(m, targets)
	fmt.Fprintf(w, "Targets: %d instance(s) on %d host(s), %d iSCSI data volume(s)\n", instances, hosts, volumes)
	if err := r.Drill.Guards.CheckBlastRadius(hosts, instances, volumes); err != nil {
		return err
	}
	var faults []inject.Fault
	for _, f := range r.Drill.Faults {
		fault, err := inject.Lookup(f.Kind)
		if err != nil {
			return err
		}
		faults = append(faults, fault)
	}
	g := r.Drill.Guards
	actions, err := inject.PlanFaults(ctx, r.Env.Hosts, faults, selection(m, targets), inject.Limits{MaxHosts: g.MaxHosts, MaxInstances: g.MaxInstances, MaxSessions: g.MaxVolumes})
	if err != nil {
		return err
	}
	fmt.Fprintln(w, "Faults:")
	for _, a := range actions {
		fmt.Fprintf(w, "  on %s: %s   (restore: %s)\n", a.Host, a.Command, a.Restore)
	}
	fmt.Fprintln(w, "Then: observe the fault, recover the targets with the guide's procedure (osdr recover --instance for each), verify, report.")
	m.Restrict(targets)
	for _, in := range m.Instances {
		fmt.Fprintf(w, "  instance %s (%s) on %s:", in.ID, in.Name, in.Host)
		for _, a := range m.AttachmentsOf(in.ID) {
			if !a.IsBoot() && a.DriverVolumeType == "iscsi" {
				fmt.Fprintf(w, " %s at %s;", a.VolumeID, a.Device)
			}
		}
		fmt.Fprintln(w)
	}
	return nil
}
