package recover

import (
	"context"
	"strings"
	"testing"
)

// The minimal strategy calls an instance reboot-only only when every data volume's records are whole and
// agree; each way a power loss or an interrupted operation leaves them otherwise makes it stuck, and says why.
func TestClassifyFindsEveryStuckState(t *testing.T) {
	const vol = "data-1-b" // instance B's first data volume
	for _, tc := range []struct {
		name   string
		break_ func(t *testing.T, f *fixture)
		reboot bool // preflight would reboot instance B
		class  Class
		why    string
	}{
		{name: "records whole", reboot: true, class: ClassRebootOnly},
		{name: "records whole, instance kept stopped", reboot: false, class: ClassKept},
		{name: "volume attaching", reboot: true, class: ClassStuck, why: "volume data-1-b is attaching (attach_status attaching) in Cinder",
			break_: func(t *testing.T, f *fixture) {
				exec(t, f.cinder, `UPDATE volumes SET status='attaching', attach_status='attaching' WHERE id=?`, vol)
			}},
		{name: "volume detaching", reboot: true, class: ClassStuck, why: "is detaching",
			break_: func(t *testing.T, f *fixture) {
				exec(t, f.cinder, `UPDATE volumes SET status='detaching' WHERE id=?`, vol)
			}},
		{name: "volume reserved", reboot: true, class: ClassStuck, why: "is reserved",
			break_: func(t *testing.T, f *fixture) {
				exec(t, f.cinder, `UPDATE volumes SET status='reserved' WHERE id=?`, vol)
			}},
		{name: "volume error_attaching", reboot: true, class: ClassStuck, why: "is error_attaching",
			break_: func(t *testing.T, f *fixture) {
				exec(t, f.cinder, `UPDATE volumes SET status='error_attaching' WHERE id=?`, vol)
			}},
		{name: "attachment on Nova's side only", reboot: true, class: ClassStuck, why: "Cinder has no live attachment of it to this instance",
			break_: func(t *testing.T, f *fixture) {
				exec(t, f.cinder, `UPDATE volume_attachment SET deleted=1 WHERE volume_id=?`, vol)
			}},
		{name: "attachment on Cinder's side only", reboot: true, class: ClassStuck, why: "Nova has no live block device mapping of it",
			break_: func(t *testing.T, f *fixture) {
				exec(t, f.nova, `UPDATE block_device_mapping SET deleted=id WHERE volume_id=?`, vol)
			}},
		{name: "Cinder attachment still attaching", reboot: true, class: ClassStuck, why: "Cinder has an attachment in state attaching",
			break_: func(t *testing.T, f *fixture) {
				exec(t, f.cinder, `UPDATE volume_attachment SET attach_status='attaching' WHERE volume_id=?`, vol)
			}},
		{name: "two live mappings", reboot: true, class: ClassStuck, why: "Nova has 2 live block device mappings",
			break_: func(t *testing.T, f *fixture) {
				exec(t, f.nova, `INSERT INTO block_device_mapping (uuid, instance_uuid, volume_id, device_name, source_type, destination_type, deleted, delete_on_termination)
					SELECT UUID(), instance_uuid, volume_id, '/dev/vdz', source_type, destination_type, 0, 0 FROM block_device_mapping WHERE volume_id=? AND deleted=0`, vol)
			}},
		{name: "connection_info without iSCSI details", reboot: true, class: ClassStuck, why: "Nova's connection_info lacks the iSCSI target_iqn, target_portal or target_lun",
			break_: func(t *testing.T, f *fixture) {
				exec(t, f.nova, `UPDATE block_device_mapping SET connection_info='{"driver_volume_type": "iscsi", "data": {"target_portal": "127.0.0.1:3260"}}' WHERE volume_id=?`, vol)
			}},
		{name: "no connection_info", reboot: true, class: ClassStuck, why: "lacks the iSCSI target_iqn",
			break_: func(t *testing.T, f *fixture) {
				exec(t, f.nova, `UPDATE block_device_mapping SET connection_info=NULL WHERE volume_id=?`, vol)
			}},
		{name: "Nova and Cinder name other targets", reboot: true, class: ClassStuck, why: "Cinder's attachment says iqn.2010-10.org.openstack:volume-elsewhere",
			break_: func(t *testing.T, f *fixture) {
				exec(t, f.cinder, `UPDATE volume_attachment SET connection_info='{"driver_volume_type": "iscsi", "data": {"target_iqn": "iqn.2010-10.org.openstack:volume-elsewhere", "target_portal": "127.0.0.1:3260", "target_lun": 1}}' WHERE volume_id=?`, vol)
			}},
		{name: "LUN differs", reboot: true, class: ClassStuck, why: "LUN 7",
			break_: func(t *testing.T, f *fixture) {
				exec(t, f.nova, `UPDATE block_device_mapping SET connection_info=REPLACE(connection_info, '"target_lun": 1', '"target_lun": 7') WHERE volume_id=?`, vol)
			}},
		{name: "provider_location names another target", reboot: true, class: ClassStuck, why: "provider_location names iqn.2010-10.org.openstack:volume-moved",
			break_: func(t *testing.T, f *fixture) {
				exec(t, f.cinder, `UPDATE volumes SET provider_location='127.0.0.1:3260,1 iqn.2010-10.org.openstack:volume-moved 1' WHERE id=?`, vol)
			}},
		{name: "volume gone", reboot: true, class: ClassStuck, why: "Cinder has no such volume",
			break_: func(t *testing.T, f *fixture) { exec(t, f.cinder, `UPDATE volumes SET deleted=1 WHERE id=?`, vol) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newModernFixture(t)
			if tc.break_ != nil {
				tc.break_(t, f)
			}
			var decisions []decision
			for _, in := range f.manifest.Instances {
				d := decision{Instance: in, Include: true, Reboot: true}
				if in.ID == instB {
					d.Reboot = tc.reboot
					d.Reason = "stopped before the loss"
				}
				decisions = append(decisions, d)
			}
			classes, err := classify(context.Background(), f.dbs, f.manifest, decisions)
			if err != nil {
				t.Fatal(err)
			}
			got := classes[instB]
			if got.Class != tc.class || !strings.Contains(got.Why, tc.why) {
				t.Errorf("instance B is %s (%s), want %s (%s)", got.Class, got.Why, tc.class, tc.why)
			}
			// Breaking B's volume says nothing about A and C, whose records are whole.
			for _, other := range []string{instA, instC} {
				if c := classes[other]; c.Class != ClassRebootOnly {
					t.Errorf("instance %s is %s (%s), want reboot-only", other, c.Class, c.Why)
				}
			}
		})
	}
}
