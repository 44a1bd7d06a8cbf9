package cinder_test

import (
	"database/sql"
	"fmt"
	"regexp"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/gophercloud/gophercloud/v2/openstack/blockstorage/v3/services"
	"github.com/gophercloud/gophercloud/v2/openstack/blockstorage/v3/volumes"

	"github.com/osdr/osdr/testenv/cloud"
	"github.com/osdr/osdr/testenv/cloud/cloudtest"
)

var naiveTimestamp = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.000000$`)

// Volumes render their rows: bootable as a string, zone-less timestamps, attachments from attached rows only,
// the admin attributes, the type names of the backends.
func TestVolumesRenderTheDatabase(t *testing.T) {
	f := cloudtest.New(t, cloud.Config{})
	topo := f.Provision(t, cloudtest.StandardTopology())
	vm1, vm3 := topo.Instances[0], topo.Instances[2]
	vc := f.Volume(t, "3.0")
	pages, err := volumes.List(vc, volumes.ListOpts{AllTenants: true}).AllPages(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	all, err := volumes.ExtractVolumes(pages)
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]volumes.Volume{}
	for _, v := range all {
		byName[v.Name] = v
	}
	if len(all) != 4 || byName["vm2-boot"].Bootable != "true" || byName["vm1-data"].Bootable != "false" ||
		!byName["vm3-data"].Multiattach || byName["vm1-data"].Size != 2 || byName["vm2-data"].VolumeType != "ceph" {
		t.Errorf("volumes %+v", all)
	}
	a := byName["vm1-data"].Attachments
	if len(a) != 1 || a[0].ServerID != vm1.ID || a[0].HostName != "compute-1" || a[0].Device != "/dev/vdb" ||
		a[0].AttachmentID != vm1.Volumes[0].AttachmentID {
		t.Errorf("vm1-data attachments %+v", a)
	}

	d := cloudtest.VolumeDetail(t, f, vm1.Volumes[0].ID, "3.0")
	for _, k := range []string{"created_at", "updated_at"} {
		if !naiveTimestamp.MatchString(fmt.Sprint(d[k])) {
			t.Errorf("%s %v carries a zone or lacks microseconds", k, d[k])
		}
	}
	for k, want := range map[string]any{
		"os-vol-host-attr:host": "controller@lvm#lvm", "os-vol-tenant-attr:tenant_id": f.Cloud.Admin().ProjectID,
		"status": "in-use", "volume_type": "__DEFAULT__", "migration_status": nil, "metadata": map[string]any{},
	} {
		if diff := cmp.Diff(want, d[k]); diff != "" {
			t.Errorf("%s (-want +got):\n%s", k, diff)
		}
	}
	if _, ok := d["volume_type_id"]; ok {
		t.Error("volume_type_id shown before 3.63")
	}
	if id := cloudtest.VolumeDetail(t, f, vm1.Volumes[0].ID, "3.63")["volume_type_id"]; id == nil {
		t.Error("volume_type_id missing at 3.63")
	}

	// An attachment still attaching is not listed; visible admin metadata shows in metadata.
	cloudtest.ExecSQL(t, f.Cinder, "UPDATE volume_attachment SET attach_status = 'attaching' WHERE volume_id = ?", vm3.Volumes[0].ID)
	cloudtest.ExecSQL(t, f.Cinder, "INSERT INTO volume_admin_metadata (created_at, deleted, volume_id, `key`, value) "+
		"VALUES (UTC_TIMESTAMP(), 0, ?, 'attached_mode', 'rw')", vm3.Volumes[0].ID)
	d3 := cloudtest.VolumeDetail(t, f, vm3.Volumes[0].ID, "3.0")
	if diff := cmp.Diff([]any{}, d3["attachments"]); diff != "" {
		t.Errorf("attachments of an attaching volume (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(map[string]any{"attached_mode": "rw"}, d3["metadata"]); diff != "" {
		t.Errorf("metadata (-want +got):\n%s", diff)
	}

	// Without all_tenants only the caller's project; the summary list has id, name and links.
	cloudtest.ExecSQL(t, f.Cinder, `INSERT INTO volumes (created_at, deleted, id, project_id, status, attach_status,
		display_name, volume_type_id, size) VALUES (UTC_TIMESTAMP(), 0, 'b0000000-0000-4000-8000-000000000001',
		'someoneelse', 'available', 'detached', 'theirs', 'x', 1)`)
	own := cloudtest.Request(t, "GET", f.Cloud.Endpoints().Volume+"/volumes", "", "X-Auth-Token", f.Token(t)).JSON(t)
	ownVolumes := own.(map[string]any)["volumes"].([]any)
	if len(ownVolumes) != 4 {
		t.Errorf("own project's volumes: %v", ownVolumes)
	}
	first := ownVolumes[0].(map[string]any)
	if len(first) != 3 || first["links"] == nil {
		t.Errorf("summary entry %v", first)
	}
	if n := len(byNameList(t, f, volumes.ListOpts{AllTenants: true})); n != 5 {
		t.Errorf("%d volumes with all_tenants, want 5", n)
	}
	if got := byNameList(t, f, volumes.ListOpts{AllTenants: true, Name: "vm2-data"}); !slices.Equal(got, []string{"vm2-data"}) {
		t.Errorf("name filter: %v", got)
	}
	cloudtest.WantBody(t, cloudtest.Request(t, "GET", f.Cloud.Endpoints().Volume+"/volumes/nope", "", "X-Auth-Token", f.Token(t)), 404,
		`{"itemNotFound": {"code": 404, "message": "Volume nope could not be found."}}`)
	cloudtest.WantBody(t, cloudtest.Request(t, "GET", f.Cloud.Endpoints().Volume+"/volumes/detail?all_tenants=perhaps", "", "X-Auth-Token",
		f.Token(t)), 400, `{"badRequest": {"code": 400, "message": "Value 'perhaps' for 'all_tenants' is not a boolean."}}`)
}

func byNameList(t *testing.T, f *cloudtest.Fixture, opts volumes.ListOpts) []string {
	t.Helper()
	pages, err := volumes.List(f.Volume(t, "3.0"), opts).AllPages(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	all, err := volumes.ExtractVolumes(pages)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, v := range all {
		names = append(names, v.Name)
	}
	return names
}

// cinderRows is what os-reset_status may touch of one volume.
type cinderRows struct {
	status, attachStatus string
	liveAttachments      int
	deletedAttachments   int
	attachedMode         bool // a live attached_mode admin metadata row
	readonly             bool
	workers              []string // resource_type of the volume's workers rows
}

func readCinderRows(t *testing.T, f *cloudtest.Fixture, id string) cinderRows {
	t.Helper()
	ctx := t.Context()
	var r cinderRows
	q := func(query string, dst ...any) {
		if err := f.Cinder.QueryRowContext(ctx, query, id).Scan(dst...); err != nil {
			t.Fatalf("%s: %v", query, err)
		}
	}
	q("SELECT status, attach_status FROM volumes WHERE id = ?", &r.status, &r.attachStatus)
	q("SELECT COUNT(*) FROM volume_attachment WHERE volume_id = ? AND deleted = 0", &r.liveAttachments)
	q(`SELECT COUNT(*) FROM volume_attachment WHERE volume_id = ? AND deleted = 1 AND attach_status = 'detached'
		AND deleted_at IS NOT NULL AND detach_time IS NOT NULL`, &r.deletedAttachments)
	q("SELECT COUNT(*) > 0 FROM volume_admin_metadata WHERE volume_id = ? AND `key` = 'attached_mode' AND deleted = 0", &r.attachedMode)
	q("SELECT COUNT(*) > 0 FROM volume_admin_metadata WHERE volume_id = ? AND `key` = 'readonly' AND deleted = 0", &r.readonly)
	rows, err := f.Cinder.QueryContext(ctx, "SELECT resource_type FROM workers WHERE resource_id = ? ORDER BY resource_type", id)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var rt string
		if err := rows.Scan(&rt); err != nil {
			t.Fatal(err)
		}
		r.workers = append(r.workers, rt)
	}
	return r
}

// os-reset_status does what Cinder's admin action does to each table: the volume's states, its cleanup worker,
// its live attachments (soft-deleted, the status then recomputed from what is left) and its attached_mode
// admin metadata; Nova's mapping is not touched.
func TestResetStatusSideEffects(t *testing.T) {
	for _, tc := range []struct {
		name    string
		profile string
		opts    volumes.ResetStatusOpts
		want    cinderRows
	}{
		{"zed detach", "zed", volumes.ResetStatusOpts{Status: "available", AttachStatus: "detached"},
			cinderRows{"available", "detached", 0, 2, false, true, []string{"Volume"}}},
		{"2024.1 detach", "2024.1", volumes.ResetStatusOpts{Status: "available", AttachStatus: "detached"},
			cinderRows{"available", "detached", 0, 2, false, true, []string{"Volume"}}},
		// The status is recomputed from the remaining attachments once they are removed: none left, available.
		{"error and detached", "2024.1", volumes.ResetStatusOpts{Status: "error", AttachStatus: "detached"},
			cinderRows{"available", "detached", 0, 2, false, true, []string{"Volume"}}},
		// What `openstack volume set --state available` sends: the status alone, attachments left in place.
		{"status only", "2024.1", volumes.ResetStatusOpts{Status: "available"},
			cinderRows{"available", "attached", 2, 0, true, true, []string{"Volume"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := cloudtest.New(t, cloud.Config{Profile: tc.profile})
			topo := f.Provision(t, cloudtest.StandardTopology())
			vm1 := topo.Instances[0]
			id := vm1.Volumes[0].ID
			cloudtest.ExecSQL(t, f.Cinder, "INSERT INTO volume_admin_metadata (created_at, deleted, volume_id, `key`, value) "+
				"VALUES (UTC_TIMESTAMP(), 0, ?, 'attached_mode', 'rw'), (UTC_TIMESTAMP(), 0, ?, 'readonly', 'False')", id, id)
			// cinder-volume writes its cleanup rows with the object's class name; 'Volumes' is what Cinder up to
			// 2025.2 asks to delete.
			cloudtest.ExecSQL(t, f.Cinder, `INSERT INTO workers (created_at, deleted, resource_type, resource_id, status)
				VALUES (UTC_TIMESTAMP(), 0, 'Volume', ?, 'in-use'), (UTC_TIMESTAMP(), 0, 'Volumes', ?, 'in-use')`, id, id)
			cloudtest.ExecSQL(t, f.Cinder, `INSERT INTO volume_attachment (created_at, deleted, id, volume_id, instance_uuid,
				attach_status) VALUES (UTC_TIMESTAMP(), 0, 'c0000000-0000-4000-8000-000000000001', ?, ?, 'attaching')`, id, vm1.ID)
			var updatedBefore sql.NullTime
			if err := f.Cinder.QueryRowContext(t.Context(), "SELECT updated_at FROM volumes WHERE id = ?", id).Scan(&updatedBefore); err != nil {
				t.Fatal(err)
			}
			cloudtest.ExecSQL(t, f.Cinder, "UPDATE volumes SET updated_at = '2020-01-01 00:00:00' WHERE id = ?", id)
			if err := volumes.ResetStatus(t.Context(), f.Volume(t, "3.0"), id, tc.opts).ExtractErr(); err != nil {
				t.Fatal(err)
			}
			got := readCinderRows(t, f, id)
			if fmt.Sprintf("%+v", got) != fmt.Sprintf("%+v", tc.want) {
				t.Errorf("after the reset:\n got %+v\nwant %+v", got, tc.want)
			}
			var updated sql.NullTime
			if err := f.Cinder.QueryRowContext(t.Context(), "SELECT updated_at FROM volumes WHERE id = ?", id).Scan(&updated); err != nil {
				t.Fatal(err)
			}
			if updated.Time.Year() == 2020 {
				t.Error("the reset did not stamp updated_at")
			}
			var bdms int
			if err := f.Nova.QueryRowContext(t.Context(), "SELECT COUNT(*) FROM block_device_mapping WHERE volume_id = ? "+
				"AND deleted = 0", id).Scan(&bdms); err != nil {
				t.Fatal(err)
			}
			if bdms != 1 {
				t.Errorf("%d live BDMs for the volume, want Nova's one untouched", bdms)
			}
			shown := cloudtest.VolumeDetail(t, f, id, "3.0")
			wantAttached := 0
			if tc.opts.AttachStatus == "" {
				wantAttached = 1
			}
			if n := len(shown["attachments"].([]any)); n != wantAttached || shown["status"] != tc.want.status {
				t.Errorf("the API shows status %v with %d attachments", shown["status"], n)
			}
			attached := f.ServerJSON(t, vm1.ID, "2.1")["os-extended-volumes:volumes_attached"].([]any)
			if len(attached) != 1 {
				t.Errorf("Nova stops listing the volume after a Cinder reset: %v", attached)
			}
		})
	}
}

// Resets Cinder refuses, with its bodies; the typo in its refusal list lets error_deleting and detaching through.
func TestResetStatusRefusals(t *testing.T) {
	f := cloudtest.New(t, cloud.Config{})
	topo := f.Provision(t, cloudtest.StandardTopology())
	id := topo.Instances[0].Volumes[0].ID
	cloudtest.ExecSQL(t, f.Cinder, `INSERT INTO volumes (created_at, deleted, id, project_id, status, attach_status,
		display_name, volume_type_id, size) VALUES (UTC_TIMESTAMP(), 0, 'd0000000-0000-4000-8000-000000000001', ?,
		'available', 'detached', 'spare', 'x', 1)`, f.Cloud.Admin().ProjectID)
	action := f.Cloud.Endpoints().Volume + "/volumes/" + id + "/action"
	token := f.Token(t)
	bad := func(msg string) string { return fmt.Sprintf(`{"badRequest": {"code": 400, "message": %q}}`, msg) }
	for _, tc := range []struct {
		name, url, body string
		status          int
		want            string
	}{
		{"deleting", action, `{"os-reset_status": {"status": "deleting"}}`, 400, bad("Cannot reset-state to deleting")},
		{"error_deleting passes the typo", action, `{"os-reset_status": {"status": "error_deleting"}}`, 202, ""},
		{"detaching passes the typo", action, `{"os-reset_status": {"status": "detaching"}}`, 202, ""},
		{"in-use without attachments", f.Cloud.Endpoints().Volume + "/volumes/d0000000-0000-4000-8000-000000000001/action",
			`{"os-reset_status": {"status": "in-use"}}`, 400,
			bad("Cannot reset-state to in-use because volume does not have any attachments.")},
		{"unknown status", action, `{"os-reset_status": {"status": "bogus"}}`, 400,
			bad("Invalid input for field/attribute status. Value: bogus. 'bogus' is not a 'volume_status'")},
		{"attach_status other than attached or detached", action, `{"os-reset_status": {"attach_status": "attaching"}}`, 400,
			bad("Invalid input for field/attribute attach_status. Value: attaching. 'attaching' is not a 'volume_attach_status'")},
		{"nothing to reset", action, `{"os-reset_status": {}}`, 400,
			bad("Invalid input for field/attribute os-reset_status. Value: {}. {} is not a 'validate_volume_reset_body'")},
		{"status not a string", action, `{"os-reset_status": {"status": 5}}`, 400,
			bad("Invalid input for field/attribute status. Value: 5. 5 is not of type 'string', 'null'")},
		{"unexpected key", action, `{"os-reset_status": {"status": "available", "force": true}}`, 400,
			bad("Invalid input for field/attribute os-reset_status. Value: {'status': 'available', 'force': True}. Additional properties are not allowed ('force' was unexpected)")},
		{"unknown volume", f.Cloud.Endpoints().Volume + "/volumes/e0000000-0000-4000-8000-000000000009/action",
			`{"os-reset_status": {"status": "available"}}`, 404,
			`{"itemNotFound": {"code": 404, "message": "Volume e0000000-0000-4000-8000-000000000009 could not be found."}}`},
		{"not JSON", action, `{"os-reset_status"`, 400, bad("Malformed request body")},
		{"unknown action", action, `{"os-extend": {"new_size": 5}}`, 400,
			bad("There is no such action: os-extend. Verify the request body and Content-Type header and try again.")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := cloudtest.Request(t, "POST", tc.url, tc.body, "X-Auth-Token", token)
			if tc.status == 202 {
				if r.Status != 202 || len(r.Body) != 0 {
					t.Errorf("%d %s, want 202 and no body", r.Status, r.Body)
				}
				return
			}
			cloudtest.WantBody(t, r, tc.status, tc.want)
		})
	}
}

// os-services lists the Cinder services with their state from updated_at and the fields of the microversion.
func TestCinderServices(t *testing.T) {
	f := cloudtest.New(t, cloud.Config{})
	f.Provision(t, cloudtest.StandardTopology())
	cloudtest.ExecSQL(t, f.Cinder, "UPDATE services SET updated_at = UTC_TIMESTAMP() - INTERVAL 2 MINUTE WHERE host = 'controller@nfs'")
	pages, err := services.List(f.Volume(t, "3.49"), services.ListOpts{}).AllPages(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	all, err := services.ExtractServices(pages)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, s := range all {
		got = append(got, fmt.Sprintf("%s %s %s %s %s", s.Binary, s.Host, s.Zone, s.Status, s.State))
	}
	want := []string{
		"cinder-scheduler controller nova enabled up",
		"cinder-volume controller@lvm nova enabled up",
		"cinder-volume controller@ceph nova enabled up",
		"cinder-volume controller@nfs nova enabled down",
	}
	if !slices.Equal(got, want) {
		t.Errorf("services\n got %q\nwant %q", got, want)
	}
	r := cloudtest.Request(t, "GET", f.Cloud.Endpoints().Volume+"/os-services?binary=cinder-volume&host=controller@lvm", "",
		"X-Auth-Token", f.Token(t), "OpenStack-API-Version", "volume 3.49").JSON(t)
	svc := r.(map[string]any)["services"].([]any)[0].(map[string]any)
	for k, want := range map[string]any{"backend_state": "up", "cluster": nil, "frozen": false, "disabled_reason": nil} {
		if diff := cmp.Diff(want, svc[k]); diff != "" {
			t.Errorf("%s (-want +got):\n%s", k, diff)
		}
	}
}

// updated_at and created_at compare times from microversion 3.31, where the generalized filters stop the
// controller from dropping them (the API reference gives 3.60); before it they are ignored. A filter's
// comparisons select a volume when any one of them holds, as cinder.db joins them with OR.
func TestVolumeListTimeComparisonFilters(t *testing.T) {
	f := cloudtest.New(t, cloud.Config{})
	topo := f.Provision(t, cloudtest.StandardTopology())
	names := map[string]string{}
	for n, inst := range topo.Instances {
		v := inst.Volumes[len(inst.Volumes)-1]
		names[v.ID] = v.Name
		cloudtest.ExecSQL(t, f.Cinder, "UPDATE volumes SET updated_at = ? WHERE id = ?", fmt.Sprintf("2026-01-01 1%d:00:00", n), v.ID)
	}
	for _, inst := range topo.Instances {
		for _, v := range inst.Volumes {
			if names[v.ID] == "" {
				cloudtest.ExecSQL(t, f.Cinder, "UPDATE volumes SET updated_at = NULL WHERE id = ?", v.ID)
			}
		}
	}
	token := f.Token(t)
	volume := f.Cloud.Endpoints().Volume
	list := func(query, version string) cloudtest.Response {
		return cloudtest.Request(t, "GET", volume+"/volumes/detail?all_tenants=1&"+query, "", "X-Auth-Token", token,
			"OpenStack-API-Version", "volume "+version)
	}
	for _, tc := range []struct {
		query, version string
		want           []string
	}{
		{"updated_at=gte:2026-01-01T11:00:00", "3.60", []string{"vm3-data", "vm2-data"}},
		{"updated_at=gt:2026-01-01T11:00:00Z", "3.60", []string{"vm3-data"}},
		{"updated_at=gte:2026-01-01T11:00:00", "3.31", []string{"vm3-data", "vm2-data"}},
		{"updated_at=lt:2026-01-01T10:30:00,gt:2026-01-01T11:30:00", "3.60", []string{"vm3-data", "vm1-data"}},
		{"updated_at=eq:2026-01-01T11:00:00%2B00:00", "3.71", []string{"vm2-data"}},
		{"updated_at=gte:2030-01-01T00:00:00", "3.60", nil},
		{"updated_at=gte:2026-01-01T11:00:00", "3.30", []string{"vm3-data", "vm2-boot", "vm2-data", "vm1-data"}},
		{"updated_at=garbage", "3.0", []string{"vm3-data", "vm2-boot", "vm2-data", "vm1-data"}},
	} {
		r := list(tc.query, tc.version)
		if r.Status != 200 {
			t.Errorf("%s at %s: %d %s", tc.query, tc.version, r.Status, r.Body)
			continue
		}
		var got []string
		for _, v := range r.JSON(t).(map[string]any)["volumes"].([]any) {
			got = append(got, v.(map[string]any)["name"].(string))
		}
		slices.Sort(got)
		want := slices.Clone(tc.want)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("%s at %s: %v, want %v", tc.query, tc.version, got, want)
		}
	}
	for _, tc := range []struct{ query, message string }{
		{"updated_at=after:2026-01-01T11:00:00", "Invalid after operator"},
		{"updated_at=2026-01-01", "Invalid 2026-01-01 operator"},
		{"updated_at=gte", "Invalid gte value"},
		{"updated_at=gte:tomorrow", "Invalid tomorrow value"},
		{"created_at=gte:2026-01-01T00:00:00,lt", "Invalid lt value"},
	} {
		cloudtest.WantBody(t, list(tc.query, "3.60"), 400, fmt.Sprintf(`{"badRequest": {"code": 400, "message": %q}}`, tc.message))
	}
}
