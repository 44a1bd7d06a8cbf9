package nova_test

import (
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/servers"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/volumeattach"

	"github.com/osdr/osdr/testenv/cloud"
	"github.com/osdr/osdr/testenv/cloud/cloudtest"
	"github.com/osdr/osdr/testenv/cloud/osapi"
	"github.com/osdr/osdr/testenv/virt"
)

// legacyColumns is the nova-volume row's attachment columns; instance_id 0 reads NULL.
func legacyColumns(t *testing.T, f *cloudtest.Fixture, volumeID string) (instanceID int64, mountpoint string) {
	t.Helper()
	if err := f.Cinder.QueryRowContext(t.Context(), "SELECT COALESCE(instance_id, 0), COALESCE(mountpoint, '') "+
		"FROM volumes WHERE id = ?", volumeID).Scan(&instanceID, &mountpoint); err != nil {
		t.Fatal(err)
	}
	return instanceID, mountpoint
}

// mvAtLeast compares "MAJOR.MINOR" strings.
func mvAtLeast(v, min string) bool {
	a, _ := osapi.ParseMicroversion(v)
	b, _ := osapi.ParseMicroversion(min)
	return a.AtLeast(b.Major, b.Minor)
}

// The attachment shapes of every microversion, on every profile that serves it: Nova detaches and reattaches
// through Cinder exactly as the services write their rows, with a new attachment and a new mapping each time.
func TestAttachDetachAtEveryMicroversion(t *testing.T) {
	for _, profile := range cloud.ProfileNames() {
		t.Run(profile, func(t *testing.T) {
			t.Parallel()
			fake := virt.NewFake()
			f := cloudtest.New(t, cloud.Config{Profile: profile, Driver: fake})
			topo := f.Provision(t, cloudtest.StandardTopology())
			vm1, vol := topo.Instances[0], topo.Instances[0].Volumes[0]
			dom := virt.Domain{Host: vm1.Host, Name: "instance-00000001"}
			legacy := f.Cloud.Profile().Legacy()
			var instanceID int64
			if err := f.Nova.QueryRowContext(t.Context(), "SELECT id FROM instances WHERE uuid = ?", vm1.ID).Scan(&instanceID); err != nil {
				t.Fatal(err)
			}
			max := f.Cloud.Profile().ComputeMaxVersion.String()
			for _, mv := range []string{"2.1", "2.70", "2.79", "2.89", "2.101"} {
				if !mvAtLeast(max, mv) {
					continue
				}
				t.Run(mv, func(t *testing.T) {
					nc := f.Compute(t, mv)
					before := cloudtest.Live(f.Mappings(t, vm1.ID, vol.ID))
					if len(before) != 1 {
						t.Fatalf("live mappings before: %+v", before)
					}
					if err := volumeattach.Delete(t.Context(), nc, vm1.ID, vol.ID).ExtractErr(); err != nil {
						t.Fatal(err)
					}
					f.Settle()
					all := f.Mappings(t, vm1.ID, vol.ID)
					if got := cloudtest.Live(all); len(got) != 0 || all[len(all)-1].Deleted != all[len(all)-1].ID {
						t.Errorf("after the detach: %+v, want the mapping soft-deleted with deleted=id", all)
					}
					if status, attach := f.VolumeRow(t, vol.ID); status != "available" || attach != "detached" {
						t.Errorf("volume %s/%s after the detach", status, attach)
					}
					if legacy {
						if id, mp := legacyColumns(t, f, vol.ID); id != 0 || mp != "" {
							t.Errorf("legacy row keeps instance_id %d mountpoint %q", id, mp)
						}
					} else if atts := f.CinderAttachments(t, vol.ID); !slices.ContainsFunc(atts, func(a cloudtest.CinderAttachment) bool {
						return a.ID == before[0].AttachmentID && a.Deleted && a.Detached && a.Status == "detached"
					}) || slices.ContainsFunc(atts, func(a cloudtest.CinderAttachment) bool { return !a.Deleted }) {
						t.Errorf("Cinder attachments after the detach: %+v", atts)
					}
					if _, plugged := fake.Disks(dom)[vol.ID]; plugged {
						t.Error("the disk is still plugged")
					}

					opts := volumeattach.CreateOpts{VolumeID: vol.ID, Device: "/dev/vdb"}
					if mvAtLeast(mv, "2.49") {
						opts.Tag = "data"
					}
					if mvAtLeast(mv, "2.79") {
						opts.DeleteOnTermination = true
					}
					if mvAtLeast(mv, "2.101") {
						// gophercloud's Create accepts only 200.
						body := fmt.Sprintf(`{"volumeAttachment": {"volumeId": %q, "device": "/dev/vdb", "tag": "data",
							"delete_on_termination": true}}`, vol.ID)
						r := cloudtest.Request(t, "POST", f.Cloud.Endpoints().Compute+"/servers/"+vm1.ID+"/os-volume_attachments", body,
							"X-Auth-Token", f.Token(t), "OpenStack-API-Version", "compute "+mv)
						if r.Status != http.StatusAccepted || len(r.Body) != 0 {
							t.Fatalf("attach at %s: %d %q, want 202 with no body", mv, r.Status, r.Body)
						}
					} else {
						res := volumeattach.Create(t.Context(), nc, vm1.ID, opts)
						var created struct {
							VolumeAttachment map[string]any `json:"volumeAttachment"`
						}
						if err := res.ExtractInto(&created); err != nil {
							t.Fatal(err)
						}
						want := map[string]any{"id": vol.ID, "volumeId": vol.ID, "serverId": vm1.ID, "device": "/dev/vdb"}
						if mvAtLeast(mv, "2.70") {
							want["tag"] = "data"
						}
						if mvAtLeast(mv, "2.79") {
							want["delete_on_termination"] = true
						}
						if diff := cmp.Diff(want, created.VolumeAttachment); diff != "" {
							t.Errorf("create answer (-want +got):\n%s", diff)
						}
					}
					f.Settle()
					after := cloudtest.Live(f.Mappings(t, vm1.ID, vol.ID))
					if len(after) != 1 {
						t.Fatalf("live mappings after the attach: %+v", after)
					}
					m := after[0]
					if m.ID == before[0].ID || m.UUID == before[0].UUID || m.Device != "/dev/vdb" || !m.HasConn ||
						m.DeleteOnTermination != opts.DeleteOnTermination || m.Tag != opts.Tag {
						t.Errorf("mapping after the attach %+v, before %+v", m, before[0])
					}
					if status, attach := f.VolumeRow(t, vol.ID); status != "in-use" || attach != "attached" {
						t.Errorf("volume %s/%s after the attach", status, attach)
					}
					if legacy {
						if id, mp := legacyColumns(t, f, vol.ID); id != instanceID || mp != "/dev/vdb" || m.AttachmentID != "" {
							t.Errorf("legacy row instance_id %d (want %d) mountpoint %q, mapping attachment %q", id, instanceID, mp, m.AttachmentID)
						}
					} else {
						atts := slices.DeleteFunc(f.CinderAttachments(t, vol.ID), func(a cloudtest.CinderAttachment) bool { return a.Deleted })
						if len(atts) != 1 || atts[0].ID != m.AttachmentID || m.AttachmentID == before[0].AttachmentID ||
							atts[0].Status != "attached" || atts[0].Instance != vm1.ID || atts[0].Mountpoint != "/dev/vdb" {
							t.Errorf("live Cinder attachments %+v, mapping %+v, old attachment %s", atts, m, before[0].AttachmentID)
						}
					}
					if d, plugged := fake.Disks(dom)[vol.ID]; !plugged || d.Device != "/dev/vdb" ||
						d.IQN != "iqn.2010-10.org.openstack:volume-"+vol.ID || d.Portal != "127.0.0.1:3260" || d.LUN != 1 {
						t.Errorf("the disk plugged as %+v (%v)", d, plugged)
					}

					pages, err := volumeattach.List(nc, vm1.ID).AllPages(t.Context())
					if err != nil {
						t.Fatal(err)
					}
					var listed struct {
						VolumeAttachments []map[string]any `json:"volumeAttachments"`
					}
					if err := pages.(volumeattach.VolumeAttachmentPage).ExtractInto(&listed); err != nil {
						t.Fatal(err)
					}
					want := map[string]any{"volumeId": vol.ID, "serverId": vm1.ID, "device": "/dev/vdb"}
					if !mvAtLeast(mv, "2.89") {
						want["id"] = vol.ID
					}
					if mvAtLeast(mv, "2.70") {
						want["tag"] = "data"
					}
					if mvAtLeast(mv, "2.79") {
						want["delete_on_termination"] = true
					}
					if mvAtLeast(mv, "2.89") {
						want["bdm_uuid"] = m.UUID
						want["attachment_id"] = nil
						if !legacy {
							want["attachment_id"] = m.AttachmentID
						}
					}
					if len(listed.VolumeAttachments) != 1 {
						t.Fatalf("listed %v", listed.VolumeAttachments)
					}
					if diff := cmp.Diff(want, listed.VolumeAttachments[0]); diff != "" {
						t.Errorf("listed attachment (-want +got):\n%s", diff)
					}
					var shown struct {
						VolumeAttachment map[string]any `json:"volumeAttachment"`
					}
					if err := volumeattach.Get(t.Context(), nc, vm1.ID, vol.ID).ExtractInto(&shown); err != nil {
						t.Fatal(err)
					}
					if diff := cmp.Diff(want, shown.VolumeAttachment); diff != "" {
						t.Errorf("shown attachment (-want +got):\n%s", diff)
					}
					v := cloudtest.VolumeDetail(t, f, vol.ID, "3.0")["attachments"].([]any)
					if len(v) != 1 || v[0].(map[string]any)["server_id"] != vm1.ID || v[0].(map[string]any)["device"] != "/dev/vdb" {
						t.Errorf("Cinder shows attachments %v", v)
					}
				})
			}
		})
	}
}

var cinderRequestID = `\(HTTP 400\) \(Request-ID: req-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\)`

// Every refusal of an attach or a detach comes with Nova's status and message, a refusal Cinder makes with the
// message of Nova's cinder client, and none leaves a live mapping or a changed volume behind.
func TestAttachAndDetachRefusals(t *testing.T) {
	f := cloudtest.New(t, cloud.Config{})
	topo := f.Provision(t, cloudtest.StandardTopology())
	vm1, vm2, vm3 := topo.Instances[0], topo.Instances[1], topo.Instances[2]
	vol1, shared := vm1.Volumes[0].ID, vm3.Volumes[0].ID
	const spare = "5a5a5a5a-0000-4000-8000-000000000001"
	cloudtest.ExecSQL(t, f.Cinder, `INSERT INTO volumes (created_at, deleted, id, project_id, host, status, attach_status,
		display_name, volume_type_id, size, multiattach) VALUES (UTC_TIMESTAMP(), 0, ?, ?, 'controller@lvm#lvm',
		'available', 'detached', 'spare', 'x', 1, 0)`, spare, f.Cloud.Admin().ProjectID)
	token := f.Token(t)
	attachURL := func(server string) string {
		return f.Cloud.Endpoints().Compute + "/servers/" + server + "/os-volume_attachments"
	}
	attach := func(volumeID string) string { return fmt.Sprintf(`{"volumeAttachment": {"volumeId": %q}}`, volumeID) }
	for _, tc := range []struct {
		name         string
		nova, cinder string // SQL applied before, undone by the restore statements after
		undoNova     string
		undoCinder   string
		method, url  string
		body         string
		microversion string
		status       int
		message      string // exact, or a regular expression when it starts with ^
	}{
		{"volume attached to the instance", "", "", "", "", "POST", attachURL(vm1.ID), attach(vol1), "2.1", 400,
			"Invalid volume: volume " + vol1 + " is already attached to instances: " + vm1.ID},
		{"volume attached to another instance", "", "", "", "", "POST", attachURL(vm3.ID), attach(vol1), "2.1", 400,
			"Invalid volume: volume " + vol1 + " is already attached to instances: " + vm1.ID},
		{"multiattach volume attached to the instance", "", "", "", "", "POST", attachURL(vm3.ID), attach(shared), "2.60", 400,
			"Invalid volume: volume " + shared + " already attached"},
		{"multiattach volume before 2.60", "", "", "", "", "POST", attachURL(vm1.ID), attach(shared), "2.59", 400,
			"Multiattach volumes are only supported starting with compute API version 2.60."},
		{"volume in error", "", "UPDATE volumes SET status = 'error' WHERE id = '" + spare + "'", "",
			"UPDATE volumes SET status = 'available' WHERE id = '" + spare + "'", "POST", attachURL(vm1.ID), attach(spare), "2.1", 400,
			"^Invalid input received: Invalid volume: Volume attachments can not be created if the volume is in an error " +
				"state\\. The Volume " + spare + " currently has a status of: error  " + cinderRequestID + "$"},
		{"volume in use without a mapping", "", "UPDATE volumes SET status = 'in-use' WHERE id = '" + spare + "'", "",
			"UPDATE volumes SET status = 'available' WHERE id = '" + spare + "'", "POST", attachURL(vm1.ID), attach(spare), "2.1", 400,
			"^Invalid input received: Invalid volume: Volume " + spare + " status must be available or downloading to " +
				"reserve, but the current status is in-use\\. " + cinderRequestID + "$"},
		{"instance with a task", "UPDATE instances SET task_state = 'rebooting_hard' WHERE uuid = '" + vm1.ID + "'", "",
			"UPDATE instances SET task_state = NULL WHERE uuid = '" + vm1.ID + "'", "", "POST", attachURL(vm1.ID), attach(spare), "2.1", 409,
			"Cannot 'attach_volume' instance " + vm1.ID + " while it is in task_state rebooting_hard"},
		{"instance in error", "UPDATE instances SET vm_state = 'error' WHERE uuid = '" + vm1.ID + "'", "",
			"UPDATE instances SET vm_state = 'active' WHERE uuid = '" + vm1.ID + "'", "", "POST", attachURL(vm1.ID), attach(spare), "2.1", 409,
			"Cannot 'attach_volume' instance " + vm1.ID + " while it is in vm_state error"},
		{"shelved instance before 2.20", "UPDATE instances SET vm_state = 'shelved' WHERE uuid = '" + vm1.ID + "'", "",
			"UPDATE instances SET vm_state = 'active' WHERE uuid = '" + vm1.ID + "'", "", "POST", attachURL(vm1.ID), attach(spare), "2.19", 409,
			"Cannot 'attach_volume' instance " + vm1.ID + " while it is in vm_state shelved"},
		{"unknown volume", "", "", "", "", "POST", attachURL(vm1.ID), attach("5a5a5a5a-0000-4000-8000-00000000ffff"), "2.1", 404,
			"Volume 5a5a5a5a-0000-4000-8000-00000000ffff could not be found."},
		{"unknown server", "", "", "", "", "POST", attachURL("5a5a5a5a-0000-4000-8000-00000000eeee"), attach(spare), "2.1", 404,
			"Instance 5a5a5a5a-0000-4000-8000-00000000eeee could not be found."},
		{"volume id not a uuid", "", "", "", "", "POST", attachURL(vm1.ID), attach("nope"), "2.1", 400,
			"Invalid input for field/attribute volumeId. Value: nope. 'nope' is not a 'uuid'"},
		{"tag before 2.49", "", "", "", "", "POST", attachURL(vm1.ID),
			`{"volumeAttachment": {"volumeId": "` + spare + `", "tag": "x"}}`, "2.48", 400,
			"Invalid input for field/attribute volumeAttachment. Value: {'volumeId': '" + spare + "', 'tag': 'x'}. " +
				"Additional properties are not allowed ('tag' was unexpected)"},
		{"bad device", "", "", "", "", "POST", attachURL(vm1.ID),
			`{"volumeAttachment": {"volumeId": "` + spare + `", "device": "vdb"}}`, "2.1", 400,
			"Invalid input for field/attribute device. Value: vdb. 'vdb' does not match '(^/dev/x{0,1}[a-z]{0,1}d{0,1})([a-z]+)[0-9]*$'"},
		{"no volumeAttachment", "", "", "", "", "POST", attachURL(vm1.ID), `{"volume": {}}`, "2.1", 400,
			"'volumeAttachment' is a required property"},
		{"detach of a volume not attached", "", "", "", "", "DELETE", attachURL(vm1.ID) + "/" + spare, "", "2.1", 404,
			"Instance " + vm1.ID + " is not attached to volume " + spare},
		{"detach of the root volume", "", "", "", "", "DELETE", attachURL(vm2.ID) + "/" + vm2.Volumes[0].ID, "", "2.1", 400,
			"Cannot detach a root device volume"},
		{"detach of a volume Cinder calls available", "", "UPDATE volumes SET status = 'available' WHERE id = '" + vol1 + "'", "",
			"UPDATE volumes SET status = 'in-use' WHERE id = '" + vol1 + "'", "DELETE", attachURL(vm1.ID) + "/" + vol1, "", "2.1", 400,
			"^Invalid volume: Invalid input received: Invalid volume: Unable to detach volume\\. Volume status must be " +
				"'in-use' and attach_status must be 'attached' to detach\\. " + cinderRequestID + "$"},
		{"detach while nova-compute is down", "UPDATE services SET last_seen_up = UTC_TIMESTAMP() - INTERVAL 5 MINUTE WHERE host = 'compute-1'",
			"", "UPDATE services SET last_seen_up = UTC_TIMESTAMP() WHERE host = 'compute-1'", "", "DELETE",
			attachURL(vm1.ID) + "/" + vol1, "", "2.1", 409, "Service is unavailable at this time."},
		{"detach from an instance with a task", "UPDATE instances SET task_state = 'powering-off' WHERE uuid = '" + vm1.ID + "'", "",
			"UPDATE instances SET task_state = NULL WHERE uuid = '" + vm1.ID + "'", "", "DELETE", attachURL(vm1.ID) + "/" + vol1, "", "2.1", 409,
			"Cannot 'detach_volume' instance " + vm1.ID + " while it is in task_state powering-off"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.nova != "" {
				cloudtest.ExecSQL(t, f.Nova, tc.nova)
				defer cloudtest.ExecSQL(t, f.Nova, tc.undoNova)
			}
			if tc.cinder != "" {
				cloudtest.ExecSQL(t, f.Cinder, tc.cinder)
				defer cloudtest.ExecSQL(t, f.Cinder, tc.undoCinder)
			}
			statusBefore := map[string]string{}
			for _, id := range []string{vol1, shared, spare} {
				statusBefore[id], _ = f.VolumeRow(t, id)
			}
			r := cloudtest.Request(t, tc.method, tc.url, tc.body, "X-Auth-Token", token, "OpenStack-API-Version", "compute "+tc.microversion)
			f.Settle()
			if r.Status != tc.status {
				t.Errorf("status %d, want %d: %s", r.Status, tc.status, r.Body)
			}
			fault := r.JSON(t).(map[string]any)
			var message any
			for _, inner := range fault {
				message = inner.(map[string]any)["message"]
			}
			if strings.HasPrefix(tc.message, "^") {
				if !regexp.MustCompile(tc.message).MatchString(fmt.Sprint(message)) {
					t.Errorf("message %q does not match %s", message, tc.message)
				}
			} else if message != tc.message {
				t.Errorf("message %q, want %q", message, tc.message)
			}
			for _, id := range []string{vol1, shared, spare} {
				if status, _ := f.VolumeRow(t, id); status != statusBefore[id] {
					t.Errorf("volume %s went from %s to %s", id, statusBefore[id], status)
				}
			}
			if got := cloudtest.Live(f.Mappings(t, vm1.ID, spare)); len(got) != 0 {
				t.Errorf("a refused attach left live mappings %+v", got)
			}
			if got := cloudtest.Live(f.Mappings(t, vm1.ID, shared)); len(got) != 0 {
				t.Errorf("a refused attach left live mappings %+v", got)
			}
		})
	}
	// A mapping reserved before Cinder refused is destroyed the way Nova destroys it.
	if all := f.Mappings(t, vm1.ID, spare); len(all) != 2 || all[0].Deleted != all[0].ID || all[1].Deleted != all[1].ID {
		t.Errorf("mappings of the spare volume %+v, want the two refused by Cinder soft-deleted", all)
	}
}

// The legacy volume service reserves through the volume row, and refuses what is not available with its own
// message.
func TestLegacyReserveRefusal(t *testing.T) {
	f := cloudtest.New(t, cloud.Config{Profile: "legacy"})
	topo := f.Provision(t, cloudtest.StandardTopology())
	vm1, vol := topo.Instances[0], topo.Instances[0].Volumes[0]
	cloudtest.ExecSQL(t, f.Nova, "UPDATE block_device_mapping SET deleted = id WHERE volume_id = ?", vol.ID)
	r := cloudtest.Request(t, "POST", f.Cloud.Endpoints().Compute+"/servers/"+vm1.ID+"/os-volume_attachments",
		fmt.Sprintf(`{"volumeAttachment": {"volumeId": %q}}`, vol.ID), "X-Auth-Token", f.Token(t))
	msg := fmt.Sprint(r.JSON(t).(map[string]any)["badRequest"].(map[string]any)["message"])
	if r.Status != 400 || !regexp.MustCompile("^Invalid input received: Invalid volume: Volume status must be available "+
		"to reserve, but the status is in-use\\. "+cinderRequestID+"$").MatchString(msg) {
		t.Errorf("%d %s", r.Status, msg)
	}
}

// From 2.101 the API answers 202 before the device name and Cinder's reservation: a reservation Cinder then
// refuses is not seen by the client, and the mapping is destroyed again.
func TestAttachAt2101IsAsynchronous(t *testing.T) {
	f := cloudtest.New(t, cloud.Config{Profile: "2026.1"})
	topo := f.Provision(t, cloudtest.StandardTopology())
	vm1, vol := topo.Instances[0], topo.Instances[0].Volumes[0]
	cloudtest.ExecSQL(t, f.Nova, "UPDATE block_device_mapping SET deleted = id WHERE volume_id = ?", vol.ID)
	cloudtest.ExecSQL(t, f.Cinder, "UPDATE volumes SET status = 'error' WHERE id = ?", vol.ID)
	r := cloudtest.Request(t, "POST", f.Cloud.Endpoints().Compute+"/servers/"+vm1.ID+"/os-volume_attachments",
		fmt.Sprintf(`{"volumeAttachment": {"volumeId": %q}}`, vol.ID), "X-Auth-Token", f.Token(t),
		"OpenStack-API-Version", "compute 2.101")
	f.Settle()
	if r.Status != http.StatusAccepted || len(r.Body) != 0 {
		t.Errorf("%d %q, want 202 and no body", r.Status, r.Body)
	}
	all := f.Mappings(t, vm1.ID, vol.ID)
	if len(cloudtest.Live(all)) != 0 || len(all) != 2 || all[1].Deleted != all[1].ID {
		t.Errorf("mappings %+v, want the refused one destroyed", all)
	}
	if status, _ := f.VolumeRow(t, vol.ID); status != "error" {
		t.Errorf("volume %s", status)
	}
}

// On a real Zed (Nova 26) cloud, after the scoped Cinder clean of a volume, a HARD reboot leaves the stale mapping in
// place, so the reattach is refused with 400 until the mapping is soft-deleted; then it succeeds with a new attachment
// id and a new mapping at the same device. Nova 28 and later (2024.1) destroy the stale mapping during the reboot, so
// the reattach succeeds without touching Nova's database.
func TestReattachAfterTheScopedCinderClean(t *testing.T) {
	for _, tc := range []struct {
		profile      string
		rebootCleans bool
	}{{"zed", false}, {"2024.1", true}} {
		t.Run(tc.profile, func(t *testing.T) {
			t.Parallel()
			f := cloudtest.New(t, cloud.Config{Profile: tc.profile})
			topo := f.Provision(t, cloudtest.StandardTopology())
			vm1, vol := topo.Instances[0], topo.Instances[0].Volumes[0]
			ctx := t.Context()
			for _, stmt := range []string{
				`UPDATE volume_attachment SET attach_status='detached', deleted=1, deleted_at=UTC_TIMESTAMP(),
					detach_time=UTC_TIMESTAMP() WHERE deleted=0 AND attach_status<>'detached' AND volume_id IN (?)`,
				`UPDATE volumes SET status='available', attach_status='detached' WHERE deleted=0
					AND status<>'error_deleting' AND id IN (?)`,
				"UPDATE volume_admin_metadata SET deleted=1, deleted_at=UTC_TIMESTAMP() WHERE `key`='attached_mode' " +
					"AND deleted=0 AND volume_id IN (?)",
				"DELETE FROM workers WHERE resource_type='VOLUME' AND resource_id IN (?)",
			} {
				cloudtest.ExecSQL(t, f.Cinder, stmt, vol.ID)
			}
			c := f.Compute(t, "2.1")
			if err := servers.Reboot(ctx, c, vm1.ID, servers.RebootOpts{Type: servers.HardReboot}).ExtractErr(); err != nil {
				t.Fatal(err)
			}
			f.Settle()
			old := f.Mappings(t, vm1.ID, vol.ID)[0]
			if cleaned := len(cloudtest.Live(f.Mappings(t, vm1.ID, vol.ID))) == 0; cleaned != tc.rebootCleans {
				t.Fatalf("stale mapping removed by the reboot: %v, want %v", cleaned, tc.rebootCleans)
			}
			reattach := func() error {
				_, err := volumeattach.Create(ctx, c, vm1.ID, volumeattach.CreateOpts{VolumeID: vol.ID, Device: vol.Device}).Extract()
				return err
			}
			if !tc.rebootCleans {
				cloudtest.WantAPIError(t, reattach(), 400, `{"badRequest": {"code": 400, "message": "Invalid volume: volume `+vol.ID+
					` is already attached to instances: `+vm1.ID+`"}}`)
				cloudtest.ExecSQL(t, f.Nova, "UPDATE block_device_mapping SET deleted=id, deleted_at=UTC_TIMESTAMP() "+
					"WHERE deleted=0 AND volume_id=? AND instance_uuid=?", vol.ID, vm1.ID)
			}
			if err := reattach(); err != nil {
				t.Fatal(err)
			}
			f.Settle()
			now := cloudtest.Live(f.Mappings(t, vm1.ID, vol.ID))
			if len(now) != 1 || now[0].ID == old.ID || now[0].Device != vol.Device || now[0].AttachmentID == vol.AttachmentID {
				t.Errorf("after the reattach: %+v (old %+v, old attachment %s)", now, old, vol.AttachmentID)
			}
			if status, _ := f.VolumeRow(t, vol.ID); status != "in-use" {
				t.Errorf("volume %s", status)
			}
			shown := cloudtest.VolumeDetail(t, f, vol.ID, "3.0")["attachments"].([]any)
			if len(shown) != 1 || shown[0].(map[string]any)["attachment_id"] != now[0].AttachmentID {
				t.Errorf("Cinder shows %v", shown)
			}
		})
	}
}

// A call to a compute host whose nova-compute is stopped times out (after rpc_response_timeout, scaled to
// nothing here) and Nova answers 500; nothing is left mapped.
func TestAttachToAStoppedComputeHost(t *testing.T) {
	f := cloudtest.New(t, cloud.Config{})
	topo := f.Provision(t, cloudtest.StandardTopology())
	vm1, vol := topo.Instances[0], topo.Instances[0].Volumes[0]
	cloudtest.ExecSQL(t, f.Nova, "UPDATE block_device_mapping SET deleted = id WHERE volume_id = ?", vol.ID)
	cloudtest.ExecSQL(t, f.Cinder, "UPDATE volumes SET status = 'available' WHERE id = ?", vol.ID)
	f.Cloud.StopCompute("compute-1")
	_, err := volumeattach.Create(t.Context(), f.Compute(t, "2.1"), vm1.ID, volumeattach.CreateOpts{VolumeID: vol.ID}).Extract()
	cloudtest.WantAPIError(t, err, 500, `{"computeFault": {"code": 500, "message": "Unexpected API Error. Please report this at `+
		`http://bugs.launchpad.net/nova/ and attach the Nova API log if possible.\n<class 'oslo_messaging.exceptions.MessagingTimeout'>"}}`)
	if got := cloudtest.Live(f.Mappings(t, vm1.ID, vol.ID)); len(got) != 0 {
		t.Errorf("live mappings %+v", got)
	}
}

// A shelved-offloaded instance has no host to plug into: from 2.20 a detach only deletes the attachment and the
// mapping, and an attach makes a mapping without a device and completes the attachment without a connector.
func TestVolumesOfAShelvedOffloadedInstance(t *testing.T) {
	f := cloudtest.New(t, cloud.Config{})
	topo := f.Provision(t, cloudtest.StandardTopology())
	vm1, vol := topo.Instances[0], topo.Instances[0].Volumes[0]
	cloudtest.ExecSQL(t, f.Nova, "UPDATE instances SET vm_state = 'shelved_offloaded' WHERE uuid = ?", vm1.ID)
	c := f.Compute(t, "2.20")
	if err := volumeattach.Delete(t.Context(), c, vm1.ID, vol.ID).ExtractErr(); err != nil {
		t.Fatal(err)
	}
	if status, _ := f.VolumeRow(t, vol.ID); status != "available" || len(cloudtest.Live(f.Mappings(t, vm1.ID, vol.ID))) != 0 {
		t.Errorf("after the detach: %s, %+v", status, f.Mappings(t, vm1.ID, vol.ID))
	}
	created, err := volumeattach.Create(t.Context(), c, vm1.ID, volumeattach.CreateOpts{VolumeID: vol.ID}).Extract()
	if err != nil {
		t.Fatal(err)
	}
	m := cloudtest.Live(f.Mappings(t, vm1.ID, vol.ID))
	if created.Device != "" || len(m) != 1 || m[0].Device != "" || m[0].AttachmentID == "" || m[0].HasConn {
		t.Errorf("attach answered %+v, mappings %+v", created, m)
	}
	if status, _ := f.VolumeRow(t, vol.ID); status != "in-use" {
		t.Errorf("after the attach: %s", status)
	}
	if err := volumeattach.Delete(t.Context(), c, vm1.ID, vol.ID).ExtractErr(); err != nil {
		t.Fatal(err)
	}
	_, err = volumeattach.Create(t.Context(), f.Compute(t, "2.49"), vm1.ID, volumeattach.CreateOpts{VolumeID: vol.ID, Tag: "x"}).Extract()
	cloudtest.WantAPIError(t, err, 400, `{"badRequest": {"code": 400, "message": "Tagged volume attachment is not supported for shelved-offloaded instances."}}`)
}
