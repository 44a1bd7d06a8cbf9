package suites

import (
	"context"
	"fmt"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/osdr/osdr/internal/iscsi"
	"github.com/osdr/osdr/recover"
)

// Labels of the spec families; `--label-filter` selects among them.
const (
	LabelAttachments  = "attachments"
	LabelStates       = "states"
	LabelReachability = "reachability"
	LabelIntegrity    = "integrity"
)

// current is the target of this process's one suite run. Ginkgo builds its spec tree from package-level
// declarations when RunSpecs is called, so the target has to be in place before that; Run and the go test
// entry point set it once.
var current *Target

var _ = Describe("Volume attachments", Label(LabelAttachments), func() {
	for _, a := range current.attachments() {
		It(fmt.Sprintf("volume %s is back on instance %s at %s", a.VolumeID, a.InstanceID, a.Device), func(ctx SpecContext) {
			DeferCleanup(attachDiagnostics, a.InstanceID, a.VolumeID)
			Eventually(ctx, func(g Gomega) {
				v, err := current.Cloud.GetVolume(ctx, a.VolumeID)
				g.Expect(err).NotTo(HaveOccurred(), "show volume %s", a.VolumeID)
				g.Expect(v.Status).To(Equal("in-use"), "Cinder status of volume %s (instance %s)", a.VolumeID, a.InstanceID)
				var onInstance []string
				for _, att := range v.Attachments {
					if att.ServerID == a.InstanceID {
						onInstance = append(onInstance, att.Device)
					}
				}
				g.Expect(onInstance).To(ConsistOf(a.Device), "Cinder attachments of volume %s to instance %s", a.VolumeID, a.InstanceID)

				atts, err := current.Cloud.ListVolumeAttachments(ctx, a.InstanceID)
				g.Expect(err).NotTo(HaveOccurred(), "list Nova volume attachments of %s", a.InstanceID)
				var devices []string
				for _, att := range atts {
					if att.VolumeID == a.VolumeID {
						devices = append(devices, att.Device)
					}
				}
				g.Expect(devices).To(ConsistOf(a.Device), "Nova attachments of volume %s on instance %s", a.VolumeID, a.InstanceID)
			}).WithTimeout(current.deadline()).WithPolling(time.Second).Should(Succeed())

			inst, _ := current.Manifest.Instance(a.InstanceID)
			if current.Hosts != nil && a.IQN != "" {
				// Cinder and Nova keep saying in-use after a power loss: only the host shows whether the data
				// path is really up.
				Eventually(ctx, func(g Gomega) {
					r, err := current.Hosts.RunOnHost(ctx, inst.Host, iscsi.ListSessions().String())
					g.Expect(err).NotTo(HaveOccurred(), "list iSCSI sessions on %s", inst.Host)
					sessions, err := iscsi.SessionsFromResult(r.Stdout, r.Stderr, r.ExitCode)
					g.Expect(err).NotTo(HaveOccurred(), "read iSCSI sessions on %s", inst.Host)
					var iqns []string
					for _, s := range sessions {
						iqns = append(iqns, s.IQN)
					}
					g.Expect(iqns).To(ContainElement(a.IQN), "host %s has no iSCSI session for volume %s of instance %s", inst.Host, a.VolumeID, a.InstanceID)
				}).WithTimeout(current.deadline()).WithPolling(time.Second).Should(Succeed())
			}
			if current.DBs == nil {
				return
			}
			schema, err := recover.DetectCinderSchema(ctx, current.DBs.Cinder)
			Expect(err).NotTo(HaveOccurred())
			var live int
			if schema == recover.SchemaLegacy {
				// The nova-volume-era row holds the attachment itself: attached, to some instance.
				Expect(current.DBs.Cinder.QueryRowContext(ctx, `SELECT COUNT(*) FROM volumes
					WHERE deleted=0 AND attach_status='attached' AND instance_id<>0 AND id=?`, a.VolumeID).Scan(&live)).To(Succeed())
			} else {
				Expect(current.DBs.Cinder.QueryRowContext(ctx, `SELECT COUNT(*) FROM volume_attachment
					WHERE deleted=0 AND attach_status<>'detached' AND volume_id=? AND instance_uuid=?`, a.VolumeID, a.InstanceID).Scan(&live)).To(Succeed())
			}
			Expect(live).To(Equal(1), "live Cinder attachment rows of volume %s on instance %s (stale or duplicate)", a.VolumeID, a.InstanceID)
			if inst.Cell < len(current.DBs.Cells) {
				Expect(current.DBs.Cells[inst.Cell].QueryRowContext(ctx, `SELECT COUNT(*) FROM block_device_mapping
					WHERE deleted=0 AND volume_id=? AND instance_uuid=?`, a.VolumeID, a.InstanceID).Scan(&live)).To(Succeed())
				Expect(live).To(Equal(1), "live Nova BDMs of volume %s on instance %s (stale or duplicate)", a.VolumeID, a.InstanceID)
			}
		})
	}
})

var _ = Describe("Instance states", Label(LabelStates), func() {
	for _, in := range current.instances() {
		running := current.expectRunning(in)
		want := "its state before the loss (" + in.VMState + ")"
		if running {
			want = "ACTIVE, power running, no task, no fault"
		}
		It(fmt.Sprintf("instance %s (%s) is %s", in.ID, in.Name, want), func(ctx SpecContext) {
			DeferCleanup(attachDiagnostics, in.ID, "")
			Eventually(ctx, func(g Gomega) {
				s, err := current.Cloud.GetServer(ctx, in.ID)
				g.Expect(err).NotTo(HaveOccurred(), "show server %s", in.ID)
				if running {
					g.Expect(s.Status).To(Equal("ACTIVE"), "status of instance %s", in.ID)
					g.Expect(s.PowerState).To(Equal(1), "power state of instance %s", in.ID)
					g.Expect(s.TaskState).To(BeEmpty(), "task state of instance %s", in.ID)
					g.Expect(s.Fault).To(BeEmpty(), "fault of instance %s", in.ID)
					return
				}
				g.Expect(s.VMState).To(Equal(in.VMState), "vm_state of instance %s", in.ID)
				g.Expect(s.TaskState).To(BeEmpty(), "task state of instance %s", in.ID)
			}).WithTimeout(current.deadline()).WithPolling(time.Second).Should(Succeed())
		})
	}
})

var _ = Describe("Guest reachability", Label(LabelReachability), func() {
	for _, in := range current.instances() {
		if !current.expectRunning(in) {
			continue
		}
		It(fmt.Sprintf("guest of instance %s (%s) answers and sees its disks and mounts", in.ID, in.Name), func(ctx SpecContext) {
			if current.Guests == nil {
				Skip("no guest access: give an inventory (OSDR_INVENTORY) and SSH key to check guests")
			}
			DeferCleanup(attachDiagnostics, in.ID, "")
			Eventually(ctx, func(g Gomega) {
				r, err := current.Guests.Run(ctx, in, recover.GuestCmdBootID)
				g.Expect(err).NotTo(HaveOccurred(), "guest of instance %s over SSH", in.ID)
				g.Expect(r.ExitCode).To(BeZero(), "boot id of the guest of instance %s", in.ID)
			}).WithTimeout(current.deadline()).WithPolling(time.Second).Should(Succeed())
			for _, a := range current.Manifest.AttachmentsOf(in.ID) {
				r, err := current.Guests.Run(ctx, in, "test -b "+a.Device)
				Expect(err).NotTo(HaveOccurred())
				Expect(r.ExitCode).To(BeZero(), "guest of instance %s has no block device %s (volume %s)", in.ID, a.Device, a.VolumeID)
			}
			fstab, err := current.Guests.Run(ctx, in, recover.GuestCmdFstab)
			Expect(err).NotTo(HaveOccurred())
			mounts, err := current.Guests.Run(ctx, in, "mount")
			Expect(err).NotTo(HaveOccurred())
			for _, mp := range fstabMountPoints(fstab.Stdout) {
				Expect(mountedAt(mounts.Stdout, mp)).To(BeTrue(), "guest of instance %s: %s is in /etc/fstab but not mounted", in.ID, mp)
			}
		})
	}
})

var _ = Describe("Data integrity", Label(LabelIntegrity), func() {
	for _, a := range current.attachments() {
		stamp, ok := current.Manifest.Stamps[a.VolumeID]
		inst, _ := current.Manifest.Instance(a.InstanceID)
		It(fmt.Sprintf("the stamp written to volume %s before the fault is still there", a.VolumeID), func(ctx SpecContext) {
			if !ok {
				Skip("the manifest records no stamp for volume " + a.VolumeID + " (take it with `osdr snapshot --stamp`)")
			}
			if current.Guests == nil {
				Skip("no guest access to read the stamp")
			}
			DeferCleanup(attachDiagnostics, a.InstanceID, a.VolumeID)
			r, err := current.Guests.Run(ctx, inst, "cat "+stamp.Path)
			Expect(err).NotTo(HaveOccurred())
			Expect(r.ExitCode).To(BeZero(), "read %s on instance %s (volume %s): %s", stamp.Path, a.InstanceID, a.VolumeID, r.Stderr)
			Expect(strings.TrimSpace(r.Stdout)).To(Equal(stamp.Content), "stamp on volume %s of instance %s", a.VolumeID, a.InstanceID)
		})
	}
	for _, in := range current.instances() {
		It(fmt.Sprintf("guest of instance %s rebooted from inside got a new boot id", in.ID), func(ctx SpecContext) {
			before, rebooted := current.guestRebootedFrom(in.ID)
			if !rebooted {
				Skip("the run's journal records no guest reboot of " + in.ID)
			}
			if current.Guests == nil {
				Skip("no guest access to read the boot id")
			}
			r, err := current.Guests.Run(ctx, in, recover.GuestCmdBootID)
			Expect(err).NotTo(HaveOccurred())
			Expect(strings.TrimSpace(r.Stdout)).NotTo(Equal(before), "boot id of the guest of instance %s did not change", in.ID)
		})
	}
})

// attachDiagnostics adds what an operator needs to see to a failing spec: the server, the volume's Cinder
// attachments, the host's iSCSI sessions, and whether the guest answers.
func attachDiagnostics(ctx context.Context, instance, volume string) {
	if !CurrentSpecReport().Failed() {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	var b strings.Builder
	inst, _ := current.Manifest.Instance(instance)
	if s, err := current.Cloud.GetServer(ctx, instance); err != nil {
		fmt.Fprintf(&b, "server show %s: %v\n", instance, err)
	} else {
		fmt.Fprintf(&b, "server show %s: status=%s vm_state=%s task_state=%q power_state=%d host=%s volumes=%v fault=%q\n",
			instance, s.Status, s.VMState, s.TaskState, s.PowerState, s.Host, s.Volumes, s.Fault)
	}
	if volume != "" {
		if v, err := current.Cloud.GetVolume(ctx, volume); err != nil {
			fmt.Fprintf(&b, "volume show %s: %v\n", volume, err)
		} else {
			fmt.Fprintf(&b, "volume show %s: status=%s attachments=%+v\n", volume, v.Status, v.Attachments)
		}
	}
	if current.Hosts != nil && inst.Host != "" {
		if r, err := current.Hosts.RunOnHost(ctx, inst.Host, "iscsiadm -m session"); err != nil {
			fmt.Fprintf(&b, "iscsiadm -m session on %s: %v\n", inst.Host, err)
		} else {
			fmt.Fprintf(&b, "iscsiadm -m session on %s (exit %d):\n%s%s", inst.Host, r.ExitCode, r.Stdout, r.Stderr)
		}
	}
	if current.Guests != nil {
		if r, err := current.Guests.Run(ctx, inst, "cat /proc/uptime"); err != nil {
			fmt.Fprintf(&b, "guest of %s: unreachable: %v\n", instance, err)
		} else {
			fmt.Fprintf(&b, "guest of %s: answers, uptime %s", instance, r.Stdout)
		}
	}
	AddReportEntry("diagnostics", b.String())
}

// fstabMountPoints lists the mount points of /etc/fstab's entries that a boot mounts (not swap, not noauto).
func fstabMountPoints(fstab string) []string {
	var out []string
	for _, line := range strings.Split(fstab, "\n") {
		f := strings.Fields(line)
		if len(f) < 4 || strings.HasPrefix(f[0], "#") || f[2] == "swap" || f[1] == "none" || strings.Contains(f[3], "noauto") {
			continue
		}
		out = append(out, f[1])
	}
	return out
}

// mountedAt reports whether `mount` output lists a filesystem mounted at mp.
func mountedAt(mountOutput, mp string) bool {
	for _, line := range strings.Split(mountOutput, "\n") {
		if f := strings.Fields(line); len(f) >= 3 && f[1] == "on" && f[2] == mp {
			return true
		}
	}
	return false
}
