package cinder_test

import (
	"fmt"
	"slices"
	"testing"

	"github.com/gophercloud/gophercloud/v2/openstack/blockstorage/v3/attachments"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/volumeattach"

	"github.com/osdr/osdr/testenv/cloud"
	"github.com/osdr/osdr/testenv/cloud/cloudtest"
)

// The attachments API (3.27, os-complete 3.44) over the same rows Nova's attaches write: filters, the reserve
// and connect of create, completion, deletion, and Cinder's refusal to detach what Nova still uses (attachment
// delete and os-force_detach alike). Every call lands in the audit log.
func TestAttachmentsAPI(t *testing.T) {
	f := cloudtest.New(t, cloud.Config{})
	topo := f.Provision(t, cloudtest.StandardTopology())
	ctx := t.Context()
	vm1, vm2 := topo.Instances[0], topo.Instances[1]
	vol1 := vm1.Volumes[0]
	const spare = "5a5a5a5a-0000-4000-8000-000000000002"
	cloudtest.ExecSQL(t, f.Cinder, `INSERT INTO volumes (created_at, deleted, id, project_id, host, status, attach_status,
		display_name, volume_type_id, size, multiattach, provider_location) VALUES (UTC_TIMESTAMP(), 0, ?, ?,
		'controller@lvm#lvm', 'available', 'detached', 'spare', 'x', 1, 0, ?)`, spare, f.Cloud.Admin().ProjectID,
		"192.0.2.50:3260,1 iqn.2010-10.org.openstack:volume-"+spare+" 1")
	token := f.Token(t)
	url := f.Cloud.Endpoints().Volume + "/attachments"

	cloudtest.WantBody(t, cloudtest.Request(t, "GET", url, "", "X-Auth-Token", token, "OpenStack-API-Version", "volume 3.26"), 404,
		`{"itemNotFound": {"code": 404, "message": "The resource could not be found."}}`)

	v327 := f.Volume(t, "3.27")
	list := func(opts attachments.ListOpts) []string {
		t.Helper()
		pages, err := attachments.List(v327, opts).AllPages(ctx)
		if err != nil {
			t.Fatal(err)
		}
		all, err := attachments.ExtractAttachments(pages)
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, a := range all {
			ids = append(ids, a.ID)
		}
		slices.Sort(ids)
		return ids
	}
	idsOf := func(vs ...cloud.Volume) []string {
		var ids []string
		for _, v := range vs {
			ids = append(ids, v.AttachmentID)
		}
		slices.Sort(ids)
		return ids
	}
	for _, tc := range []struct {
		name string
		opts attachments.ListOpts
		want []string
	}{
		{"all", attachments.ListOpts{AllTenants: true}, idsOf(vm1.Volumes[0], vm2.Volumes[0], vm2.Volumes[1], topo.Instances[2].Volumes[0])},
		{"one volume", attachments.ListOpts{VolumeID: vol1.ID}, idsOf(vol1)},
		{"one instance", attachments.ListOpts{InstanceID: vm2.ID}, idsOf(vm2.Volumes...)},
		{"status, which the table lacks", attachments.ListOpts{Status: "attached"}, nil},
	} {
		if got := list(tc.opts); !slices.Equal(got, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
	if r := cloudtest.Request(t, "GET", url+"/detail?attach_status=attached&sort=created_at:asc&limit=2", "", "X-Auth-Token", token,
		"OpenStack-API-Version", "volume 3.27"); r.Status != 200 || len(r.JSON(t).(map[string]any)["attachments"].([]any)) != 2 {
		t.Errorf("detail with attach_status, sort and limit: %d %s", r.Status, r.Body)
	}
	got, err := attachments.Get(ctx, v327, vol1.AttachmentID).Extract()
	if err != nil {
		t.Fatal(err)
	}
	if got.VolumeID != vol1.ID || got.Instance != vm1.ID || got.Status != "attached" || got.AttachMode != "rw" ||
		got.ConnectionInfo["target_iqn"] != "iqn.2010-10.org.openstack:volume-"+vol1.ID || got.ConnectionInfo["attachment_id"] != vol1.AttachmentID {
		t.Errorf("shown %+v", got)
	}

	// What Nova still uses, nobody else may detach.
	novaHolds := `{"conflictingRequest": {"code": 409, "message": "Detach volume from instance ` + vm1.ID + ` using the Compute API"}}`
	cloudtest.WantAPIError(t, attachments.Delete(ctx, v327, vol1.AttachmentID).ExtractErr(), 409, novaHolds)
	cloudtest.WantBody(t, cloudtest.Request(t, "POST", f.Cloud.Endpoints().Volume+"/volumes/"+vol1.ID+"/action",
		fmt.Sprintf(`{"os-force_detach": {"attachment_id": %q}}`, vol1.AttachmentID), "X-Auth-Token", token), 409, novaHolds)
	if status, _ := f.VolumeRow(t, vol1.ID); status != "in-use" {
		t.Errorf("refused detaches left the volume %s", status)
	}

	// A reservation, then a connection and completion.
	_, err = attachments.Create(ctx, v327, attachments.CreateOpts{VolumeUUID: vol1.ID, InstanceUUID: vm2.ID}).Extract()
	cloudtest.WantAPIError(t, err, 400, `{"badRequest": {"code": 400, "message": "Invalid volume: Volume `+vol1.ID+
		` status must be available or downloading to reserve, but the current status is in-use."}}`)
	v344 := f.Volume(t, "3.44")
	connector := map[string]any{"host": "compute-2", "ip": "192.0.2.12", "initiator": "iqn.2004-10.com.ubuntu:01:compute-2",
		"mountpoint": "/dev/vdc", "platform": "x86_64", "os_type": "linux", "multipath": false}
	created, err := attachments.Create(ctx, v344, attachments.CreateOpts{VolumeUUID: spare, InstanceUUID: vm2.ID,
		Connector: connector}).Extract()
	if err != nil {
		t.Fatal(err)
	}
	if created.Status != "reserved" || created.AttachMode != "null" || created.ConnectionInfo["target_portal"] != "192.0.2.50:3260" ||
		created.ConnectionInfo["attachment_id"] != created.ID || created.ConnectionInfo["driver_volume_type"] != "iscsi" {
		t.Errorf("created %+v", created)
	}
	if status, attach := f.VolumeRow(t, spare); status != "attaching" || attach != "attaching" {
		t.Errorf("after create with a connector: %s/%s", status, attach)
	}
	cloudtest.WantAPIError(t, attachments.Complete(ctx, v327, created.ID).ExtractErr(), 404,
		`{"itemNotFound": {"code": 404, "message": "The resource could not be found."}}`)
	if err := attachments.Complete(ctx, v344, created.ID).ExtractErr(); err != nil {
		t.Fatal(err)
	}
	atts := f.CinderAttachments(t, spare)
	if status, attach := f.VolumeRow(t, spare); status != "in-use" || attach != "attached" || len(atts) != 1 ||
		atts[0].Status != "attached" || atts[0].Mountpoint != "/dev/vdc" || atts[0].Instance != vm2.ID {
		t.Errorf("after os-complete: %s/%s %+v", status, attach, atts)
	}
	// Nova does not map it: the attachment may be deleted, and the answer lists what remains.
	cloudtest.WantBody(t, cloudtest.Request(t, "DELETE", url+"/"+created.ID, "", "X-Auth-Token", token, "OpenStack-API-Version", "volume 3.27"),
		200, `{"attachments": []}`)
	if status, attach := f.VolumeRow(t, spare); status != "available" || attach != "detached" {
		t.Errorf("after the delete: %s/%s", status, attach)
	}
	cloudtest.WantAPIError(t, attachments.Delete(ctx, v327, created.ID).ExtractErr(), 404, `{"itemNotFound": {"code": 404,
		"message": "Volume attachment could not be found with filter: attachment_id = `+created.ID+`."}}`)

	// os-force_detach of an attachment Nova never knew.
	reserved, err := attachments.Create(ctx, v344, attachments.CreateOpts{VolumeUUID: spare, InstanceUUID: vm2.ID,
		Connector: connector}).Extract()
	if err != nil {
		t.Fatal(err)
	}
	if r := cloudtest.Request(t, "POST", f.Cloud.Endpoints().Volume+"/volumes/"+spare+"/action",
		fmt.Sprintf(`{"os-force_detach": {"attachment_id": %q, "connector": null}}`, reserved.ID), "X-Auth-Token", token); r.Status != 202 {
		t.Errorf("force detach: %d %s", r.Status, r.Body)
	}
	if status, _ := f.VolumeRow(t, spare); status != "available" {
		t.Errorf("after os-force_detach: %s", status)
	}

	// Once Nova detached it, the volume's attachment is gone on both sides.
	if err := volumeattach.Delete(ctx, f.Compute(t, "2.1"), vm1.ID, vol1.ID).ExtractErr(); err != nil {
		t.Fatal(err)
	}
	f.Settle()
	if got := list(attachments.ListOpts{VolumeID: vol1.ID}); len(got) != 0 {
		t.Errorf("attachments of a detached volume: %v", got)
	}

	var entries []string
	for _, e := range f.Cloud.AuditLog() {
		entries = append(entries, fmt.Sprintf("%s %s %s %q %d", e.Caller, e.Operation, e.Target, e.Detail, e.Status))
	}
	for _, want := range []string{
		fmt.Sprintf("admin attachment_delete %s \"\" 409", vol1.AttachmentID),
		fmt.Sprintf("admin os-force_detach %s \"attachment_id=%s\" 409", vol1.ID, vol1.AttachmentID),
		fmt.Sprintf("admin attachment_create %s \"\" 400", vol1.ID),
		fmt.Sprintf("admin attachment_create %s \"\" 200", spare),
		fmt.Sprintf("admin os-complete %s \"\" 404", created.ID),
		fmt.Sprintf("admin os-complete %s \"\" 204", created.ID),
		fmt.Sprintf("admin attachment_delete %s \"\" 200", created.ID),
		fmt.Sprintf("admin os-force_detach %s \"attachment_id=%s\" 202", spare, reserved.ID),
		fmt.Sprintf("admin detach_volume %s \"volume=%s\" 202", vm1.ID, vol1.ID),
		fmt.Sprintf("nova-compute@compute-1 detach_volume %s \"volume=%s device=/dev/vdb\" 0", vm1.ID, vol1.ID),
	} {
		if !slices.Contains(entries, want) {
			t.Errorf("audit log lacks %q:\n%q", want, entries)
		}
	}
}
