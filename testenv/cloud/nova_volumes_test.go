package cloud

import (
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/servers"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/volumeattach"

	"github.com/osdr/osdr/testenv/virt"
)

// mapping is a block_device_mapping row of a volume.
type mapping struct {
	id                           int64
	uuid, device, attachmentID   string
	deleted                      int64
	connectionInfo, tag          string
	deleteOnTermination, hasConn bool
}

// mappings returns every mapping (live and deleted) of a volume on an instance, oldest first.
func (f *fixture) mappings(t *testing.T, instanceUUID, volumeID string) []mapping {
	t.Helper()
	rows, err := f.nova.QueryContext(t.Context(), `SELECT id, uuid, COALESCE(device_name, ''), COALESCE(attachment_id, ''),
		deleted, COALESCE(connection_info, ''), COALESCE(tag, ''), COALESCE(delete_on_termination, 0)
		FROM block_device_mapping WHERE instance_uuid = ? AND volume_id = ? ORDER BY id`, instanceUUID, volumeID)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []mapping
	for rows.Next() {
		var m mapping
		if err := rows.Scan(&m.id, &m.uuid, &m.device, &m.attachmentID, &m.deleted, &m.connectionInfo, &m.tag,
			&m.deleteOnTermination); err != nil {
			t.Fatal(err)
		}
		m.hasConn = m.connectionInfo != ""
		out = append(out, m)
	}
	return out
}

func live(ms []mapping) []mapping {
	return slices.DeleteFunc(slices.Clone(ms), func(m mapping) bool { return m.deleted != 0 })
}

// volumeRow is the Cinder volume's state columns.
func (f *fixture) volumeRow(t *testing.T, id string) (status, attachStatus string) {
	t.Helper()
	if err := f.cinder.QueryRowContext(t.Context(), "SELECT status, attach_status FROM volumes WHERE id = ?", id).Scan(
		&status, &attachStatus); err != nil {
		t.Fatal(err)
	}
	return status, attachStatus
}

// cinderAttachment is a volume_attachment row.
type cinderAttachment struct {
	id, status, instance, mountpoint string
	deleted, detached                bool
}

func (f *fixture) cinderAttachments(t *testing.T, volumeID string) []cinderAttachment {
	t.Helper()
	rows, err := f.cinder.QueryContext(t.Context(), `SELECT id, attach_status, COALESCE(instance_uuid, ''),
		COALESCE(mountpoint, ''), deleted, detach_time IS NOT NULL FROM volume_attachment WHERE volume_id = ?
		ORDER BY created_at, id`, volumeID)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []cinderAttachment
	for rows.Next() {
		var a cinderAttachment
		if err := rows.Scan(&a.id, &a.status, &a.instance, &a.mountpoint, &a.deleted, &a.detached); err != nil {
			t.Fatal(err)
		}
		out = append(out, a)
	}
	return out
}

// legacyColumns is the nova-volume row's attachment columns; instance_id 0 reads NULL.
func (f *fixture) legacyColumns(t *testing.T, volumeID string) (instanceID int64, mountpoint string) {
	t.Helper()
	if err := f.cinder.QueryRowContext(t.Context(), "SELECT COALESCE(instance_id, 0), COALESCE(mountpoint, '') "+
		"FROM volumes WHERE id = ?", volumeID).Scan(&instanceID, &mountpoint); err != nil {
		t.Fatal(err)
	}
	return instanceID, mountpoint
}

// mvAtLeast compares "MAJOR.MINOR" strings.
func mvAtLeast(v, min string) bool {
	a, _ := ParseMicroversion(v)
	b, _ := ParseMicroversion(min)
	return a.AtLeast(b.Major, b.Minor)
}

// The attachment shapes of every microversion, on every profile that serves it: Nova detaches and reattaches
// through Cinder exactly as the services write their rows, with a new attachment and a new mapping each time.
func TestAttachDetachAtEveryMicroversion(t *testing.T) {
	for _, profile := range ProfileNames() {
		t.Run(profile, func(t *testing.T) {
			t.Parallel()
			fake := virt.NewFake()
			f := newFixture(t, Config{Profile: profile, Driver: fake})
			topo := f.provision(t, standardTopology())
			vm1, vol := topo.Instances[0], topo.Instances[0].Volumes[0]
			dom := virt.Domain{Host: vm1.Host, Name: "instance-00000001"}
			legacy := f.cloud.Profile().legacy()
			var instanceID int64
			if err := f.nova.QueryRowContext(t.Context(), "SELECT id FROM instances WHERE uuid = ?", vm1.ID).Scan(&instanceID); err != nil {
				t.Fatal(err)
			}
			max := f.cloud.Profile().ComputeMaxVersion.String()
			for _, mv := range []string{"2.1", "2.70", "2.79", "2.89", "2.101"} {
				if !mvAtLeast(max, mv) {
					continue
				}
				t.Run(mv, func(t *testing.T) {
					nc := f.compute(t, mv)
					before := live(f.mappings(t, vm1.ID, vol.ID))
					if len(before) != 1 {
						t.Fatalf("live mappings before: %+v", before)
					}
					if err := volumeattach.Delete(t.Context(), nc, vm1.ID, vol.ID).ExtractErr(); err != nil {
						t.Fatal(err)
					}
					f.settle()
					all := f.mappings(t, vm1.ID, vol.ID)
					if got := live(all); len(got) != 0 || all[len(all)-1].deleted != all[len(all)-1].id {
						t.Errorf("after the detach: %+v, want the mapping soft-deleted with deleted=id", all)
					}
					if status, attach := f.volumeRow(t, vol.ID); status != "available" || attach != "detached" {
						t.Errorf("volume %s/%s after the detach", status, attach)
					}
					if legacy {
						if id, mp := f.legacyColumns(t, vol.ID); id != 0 || mp != "" {
							t.Errorf("legacy row keeps instance_id %d mountpoint %q", id, mp)
						}
					} else if atts := f.cinderAttachments(t, vol.ID); !slices.ContainsFunc(atts, func(a cinderAttachment) bool {
						return a.id == before[0].attachmentID && a.deleted && a.detached && a.status == "detached"
					}) || slices.ContainsFunc(atts, func(a cinderAttachment) bool { return !a.deleted }) {
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
						r := request(t, "POST", f.cloud.Endpoints().Compute+"/servers/"+vm1.ID+"/os-volume_attachments", body,
							"X-Auth-Token", f.token(t), "OpenStack-API-Version", "compute "+mv)
						if r.status != http.StatusAccepted || len(r.body) != 0 {
							t.Fatalf("attach at %s: %d %q, want 202 with no body", mv, r.status, r.body)
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
						if diff := cmpAny(want, created.VolumeAttachment); diff != "" {
							t.Errorf("create answer (-want +got):\n%s", diff)
						}
					}
					f.settle()
					after := live(f.mappings(t, vm1.ID, vol.ID))
					if len(after) != 1 {
						t.Fatalf("live mappings after the attach: %+v", after)
					}
					m := after[0]
					if m.id == before[0].id || m.uuid == before[0].uuid || m.device != "/dev/vdb" || !m.hasConn ||
						m.deleteOnTermination != opts.DeleteOnTermination || m.tag != opts.Tag {
						t.Errorf("mapping after the attach %+v, before %+v", m, before[0])
					}
					if status, attach := f.volumeRow(t, vol.ID); status != "in-use" || attach != "attached" {
						t.Errorf("volume %s/%s after the attach", status, attach)
					}
					if legacy {
						if id, mp := f.legacyColumns(t, vol.ID); id != instanceID || mp != "/dev/vdb" || m.attachmentID != "" {
							t.Errorf("legacy row instance_id %d (want %d) mountpoint %q, mapping attachment %q", id, instanceID, mp, m.attachmentID)
						}
					} else {
						atts := slices.DeleteFunc(f.cinderAttachments(t, vol.ID), func(a cinderAttachment) bool { return a.deleted })
						if len(atts) != 1 || atts[0].id != m.attachmentID || m.attachmentID == before[0].attachmentID ||
							atts[0].status != "attached" || atts[0].instance != vm1.ID || atts[0].mountpoint != "/dev/vdb" {
							t.Errorf("live Cinder attachments %+v, mapping %+v, old attachment %s", atts, m, before[0].attachmentID)
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
						want["bdm_uuid"] = m.uuid
						want["attachment_id"] = nil
						if !legacy {
							want["attachment_id"] = m.attachmentID
						}
					}
					if len(listed.VolumeAttachments) != 1 {
						t.Fatalf("listed %v", listed.VolumeAttachments)
					}
					if diff := cmpAny(want, listed.VolumeAttachments[0]); diff != "" {
						t.Errorf("listed attachment (-want +got):\n%s", diff)
					}
					var shown struct {
						VolumeAttachment map[string]any `json:"volumeAttachment"`
					}
					if err := volumeattach.Get(t.Context(), nc, vm1.ID, vol.ID).ExtractInto(&shown); err != nil {
						t.Fatal(err)
					}
					if diff := cmpAny(want, shown.VolumeAttachment); diff != "" {
						t.Errorf("shown attachment (-want +got):\n%s", diff)
					}
					v := volumeDetail(t, f, vol.ID, "3.0")["attachments"].([]any)
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
	f := newFixture(t, Config{})
	topo := f.provision(t, standardTopology())
	vm1, vm2, vm3 := topo.Instances[0], topo.Instances[1], topo.Instances[2]
	vol1, shared := vm1.Volumes[0].ID, vm3.Volumes[0].ID
	const spare = "5a5a5a5a-0000-4000-8000-000000000001"
	execSQL(t, f.cinder, `INSERT INTO volumes (created_at, deleted, id, project_id, host, status, attach_status,
		display_name, volume_type_id, size, multiattach) VALUES (UTC_TIMESTAMP(), 0, ?, ?, 'controller@lvm#lvm',
		'available', 'detached', 'spare', 'x', 1, 0)`, spare, f.cloud.Admin().ProjectID)
	token := f.token(t)
	attachURL := func(server string) string {
		return f.cloud.Endpoints().Compute + "/servers/" + server + "/os-volume_attachments"
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
			"Invalid input for field/attribute device. Value: vdb. 'vdb' does not match '" + devicePattern + "'"},
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
				execSQL(t, f.nova, tc.nova)
				defer execSQL(t, f.nova, tc.undoNova)
			}
			if tc.cinder != "" {
				execSQL(t, f.cinder, tc.cinder)
				defer execSQL(t, f.cinder, tc.undoCinder)
			}
			statusBefore := map[string]string{}
			for _, id := range []string{vol1, shared, spare} {
				statusBefore[id], _ = f.volumeRow(t, id)
			}
			r := request(t, tc.method, tc.url, tc.body, "X-Auth-Token", token, "OpenStack-API-Version", "compute "+tc.microversion)
			f.settle()
			if r.status != tc.status {
				t.Errorf("status %d, want %d: %s", r.status, tc.status, r.body)
			}
			fault := r.json(t).(map[string]any)
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
				if status, _ := f.volumeRow(t, id); status != statusBefore[id] {
					t.Errorf("volume %s went from %s to %s", id, statusBefore[id], status)
				}
			}
			if got := live(f.mappings(t, vm1.ID, spare)); len(got) != 0 {
				t.Errorf("a refused attach left live mappings %+v", got)
			}
			if got := live(f.mappings(t, vm1.ID, shared)); len(got) != 0 {
				t.Errorf("a refused attach left live mappings %+v", got)
			}
		})
	}
	// A mapping reserved before Cinder refused is destroyed the way Nova destroys it.
	if all := f.mappings(t, vm1.ID, spare); len(all) != 2 || all[0].deleted != all[0].id || all[1].deleted != all[1].id {
		t.Errorf("mappings of the spare volume %+v, want the two refused by Cinder soft-deleted", all)
	}
}

// The legacy volume service reserves through the volume row, and refuses what is not available with its own
// message.
func TestLegacyReserveRefusal(t *testing.T) {
	f := newFixture(t, Config{Profile: "legacy"})
	topo := f.provision(t, standardTopology())
	vm1, vol := topo.Instances[0], topo.Instances[0].Volumes[0]
	execSQL(t, f.nova, "UPDATE block_device_mapping SET deleted = id WHERE volume_id = ?", vol.ID)
	r := request(t, "POST", f.cloud.Endpoints().Compute+"/servers/"+vm1.ID+"/os-volume_attachments",
		fmt.Sprintf(`{"volumeAttachment": {"volumeId": %q}}`, vol.ID), "X-Auth-Token", f.token(t))
	msg := fmt.Sprint(r.json(t).(map[string]any)["badRequest"].(map[string]any)["message"])
	if r.status != 400 || !regexp.MustCompile("^Invalid input received: Invalid volume: Volume status must be available "+
		"to reserve, but the status is in-use\\. "+cinderRequestID+"$").MatchString(msg) {
		t.Errorf("%d %s", r.status, msg)
	}
}

// From 2.101 the API answers 202 before the device name and Cinder's reservation: a reservation Cinder then
// refuses is not seen by the client, and the mapping is destroyed again.
func TestAttachAt2101IsAsynchronous(t *testing.T) {
	f := newFixture(t, Config{Profile: "2026.1"})
	topo := f.provision(t, standardTopology())
	vm1, vol := topo.Instances[0], topo.Instances[0].Volumes[0]
	execSQL(t, f.nova, "UPDATE block_device_mapping SET deleted = id WHERE volume_id = ?", vol.ID)
	execSQL(t, f.cinder, "UPDATE volumes SET status = 'error' WHERE id = ?", vol.ID)
	r := request(t, "POST", f.cloud.Endpoints().Compute+"/servers/"+vm1.ID+"/os-volume_attachments",
		fmt.Sprintf(`{"volumeAttachment": {"volumeId": %q}}`, vol.ID), "X-Auth-Token", f.token(t),
		"OpenStack-API-Version", "compute 2.101")
	f.settle()
	if r.status != http.StatusAccepted || len(r.body) != 0 {
		t.Errorf("%d %q, want 202 and no body", r.status, r.body)
	}
	all := f.mappings(t, vm1.ID, vol.ID)
	if len(live(all)) != 0 || len(all) != 2 || all[1].deleted != all[1].id {
		t.Errorf("mappings %+v, want the refused one destroyed", all)
	}
	if status, _ := f.volumeRow(t, vol.ID); status != "error" {
		t.Errorf("volume %s", status)
	}
}

// A real Zed cloud (openstack-facts §6): after the scoped Cinder clean of a volume, a HARD reboot leaves the
// stale mapping in place, so the reattach is refused with 400 until the mapping is soft-deleted; then it
// succeeds with a new attachment id and a new mapping at the same device. Nova 28 and later (2024.1) destroy
// the stale mapping during the reboot, so the reattach succeeds without touching Nova's database.
func TestReattachAfterTheScopedCinderClean(t *testing.T) {
	for _, tc := range []struct {
		profile      string
		rebootCleans bool
	}{{"zed", false}, {"2024.1", true}} {
		t.Run(tc.profile, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, Config{Profile: tc.profile})
			topo := f.provision(t, standardTopology())
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
				execSQL(t, f.cinder, stmt, vol.ID)
			}
			c := f.compute(t, "2.1")
			if err := servers.Reboot(ctx, c, vm1.ID, servers.RebootOpts{Type: servers.HardReboot}).ExtractErr(); err != nil {
				t.Fatal(err)
			}
			f.settle()
			old := f.mappings(t, vm1.ID, vol.ID)[0]
			if cleaned := len(live(f.mappings(t, vm1.ID, vol.ID))) == 0; cleaned != tc.rebootCleans {
				t.Fatalf("stale mapping removed by the reboot: %v, want %v", cleaned, tc.rebootCleans)
			}
			reattach := func() error {
				_, err := volumeattach.Create(ctx, c, vm1.ID, volumeattach.CreateOpts{VolumeID: vol.ID, Device: vol.Device}).Extract()
				return err
			}
			if !tc.rebootCleans {
				wantAPIError(t, reattach(), 400, `{"badRequest": {"code": 400, "message": "Invalid volume: volume `+vol.ID+
					` is already attached to instances: `+vm1.ID+`"}}`)
				execSQL(t, f.nova, "UPDATE block_device_mapping SET deleted=id, deleted_at=UTC_TIMESTAMP() "+
					"WHERE deleted=0 AND volume_id=? AND instance_uuid=?", vol.ID, vm1.ID)
			}
			if err := reattach(); err != nil {
				t.Fatal(err)
			}
			f.settle()
			now := live(f.mappings(t, vm1.ID, vol.ID))
			if len(now) != 1 || now[0].id == old.id || now[0].device != vol.Device || now[0].attachmentID == vol.AttachmentID {
				t.Errorf("after the reattach: %+v (old %+v, old attachment %s)", now, old, vol.AttachmentID)
			}
			if status, _ := f.volumeRow(t, vol.ID); status != "in-use" {
				t.Errorf("volume %s", status)
			}
			shown := volumeDetail(t, f, vol.ID, "3.0")["attachments"].([]any)
			if len(shown) != 1 || shown[0].(map[string]any)["attachment_id"] != now[0].attachmentID {
				t.Errorf("Cinder shows %v", shown)
			}
		})
	}
}

// A call to a compute host whose nova-compute is stopped times out (after rpc_response_timeout, scaled to
// nothing here) and Nova answers 500; nothing is left mapped.
func TestAttachToAStoppedComputeHost(t *testing.T) {
	f := newFixture(t, Config{})
	topo := f.provision(t, standardTopology())
	vm1, vol := topo.Instances[0], topo.Instances[0].Volumes[0]
	execSQL(t, f.nova, "UPDATE block_device_mapping SET deleted = id WHERE volume_id = ?", vol.ID)
	execSQL(t, f.cinder, "UPDATE volumes SET status = 'available' WHERE id = ?", vol.ID)
	f.cloud.StopCompute("compute-1")
	_, err := volumeattach.Create(t.Context(), f.compute(t, "2.1"), vm1.ID, volumeattach.CreateOpts{VolumeID: vol.ID}).Extract()
	wantAPIError(t, err, 500, `{"computeFault": {"code": 500, "message": "Unexpected API Error. Please report this at `+
		`http://bugs.launchpad.net/nova/ and attach the Nova API log if possible.\n<class 'oslo_messaging.exceptions.MessagingTimeout'>"}}`)
	if got := live(f.mappings(t, vm1.ID, vol.ID)); len(got) != 0 {
		t.Errorf("live mappings %+v", got)
	}
}

// A shelved-offloaded instance has no host to plug into: from 2.20 a detach only deletes the attachment and the
// mapping, and an attach makes a mapping without a device and completes the attachment without a connector.
func TestVolumesOfAShelvedOffloadedInstance(t *testing.T) {
	f := newFixture(t, Config{})
	topo := f.provision(t, standardTopology())
	vm1, vol := topo.Instances[0], topo.Instances[0].Volumes[0]
	execSQL(t, f.nova, "UPDATE instances SET vm_state = 'shelved_offloaded' WHERE uuid = ?", vm1.ID)
	c := f.compute(t, "2.20")
	if err := volumeattach.Delete(t.Context(), c, vm1.ID, vol.ID).ExtractErr(); err != nil {
		t.Fatal(err)
	}
	if status, _ := f.volumeRow(t, vol.ID); status != "available" || len(live(f.mappings(t, vm1.ID, vol.ID))) != 0 {
		t.Errorf("after the detach: %s, %+v", status, f.mappings(t, vm1.ID, vol.ID))
	}
	created, err := volumeattach.Create(t.Context(), c, vm1.ID, volumeattach.CreateOpts{VolumeID: vol.ID}).Extract()
	if err != nil {
		t.Fatal(err)
	}
	m := live(f.mappings(t, vm1.ID, vol.ID))
	if created.Device != "" || len(m) != 1 || m[0].device != "" || m[0].attachmentID == "" || m[0].hasConn {
		t.Errorf("attach answered %+v, mappings %+v", created, m)
	}
	if status, _ := f.volumeRow(t, vol.ID); status != "in-use" {
		t.Errorf("after the attach: %s", status)
	}
	if err := volumeattach.Delete(t.Context(), c, vm1.ID, vol.ID).ExtractErr(); err != nil {
		t.Fatal(err)
	}
	_, err = volumeattach.Create(t.Context(), f.compute(t, "2.49"), vm1.ID, volumeattach.CreateOpts{VolumeID: vol.ID, Tag: "x"}).Extract()
	wantAPIError(t, err, 400, `{"badRequest": {"code": 400, "message": "Tagged volume attachment is not supported for shelved-offloaded instances."}}`)
}
