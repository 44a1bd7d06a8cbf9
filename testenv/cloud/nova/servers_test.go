package nova_test

import (
	"fmt"
	"slices"
	"sort"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/flavors"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/servers"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/services"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/volumeattach"

	"github.com/osdr/osdr/testenv/cloud"
	"github.com/osdr/osdr/testenv/cloud/cloudtest"
	"github.com/osdr/osdr/testenv/cloud/nova"
)

func serverNames(t *testing.T, f *cloudtest.Fixture, opts servers.ListOpts) []string {
	t.Helper()
	pages, err := servers.List(f.Compute(t, "2.1"), opts).AllPages(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	all, err := servers.ExtractServers(pages)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range all {
		names = append(names, s.Name)
	}
	return names
}

// Listing honours all_tenants, host, name (a regular expression), status, marker and limit, newest first.
func TestServerListFilters(t *testing.T) {
	f := cloudtest.New(t, cloud.Config{})
	topo := f.Provision(t, cloudtest.StandardTopology())
	// A server of another project, written the way Nova would.
	cloudtest.ExecSQL(t, f.Nova, `INSERT INTO instances (created_at, updated_at, project_id, user_id, vm_state, power_state,
		display_name, host, node, uuid, launched_at, deleted) VALUES (UTC_TIMESTAMP() + INTERVAL 1 SECOND,
		UTC_TIMESTAMP(), 'someoneelse', 'u', 'active', 1, 'other', 'compute-2', 'compute-2',
		'a0000000-0000-4000-8000-000000000001', UTC_TIMESTAMP(), 0)`)
	vm1 := topo.Instances[0].ID
	for _, tc := range []struct {
		name string
		opts servers.ListOpts
		want []string
	}{
		{"own project", servers.ListOpts{}, []string{"vm3", "vm2", "vm1"}},
		{"all tenants", servers.ListOpts{AllTenants: true}, []string{"other", "vm3", "vm2", "vm1"}},
		{"one project", servers.ListOpts{AllTenants: true, TenantID: "someoneelse"}, []string{"other"}},
		{"host", servers.ListOpts{AllTenants: true, Host: "compute-1"}, []string{"vm2", "vm1"}},
		{"name pattern", servers.ListOpts{AllTenants: true, Name: "^vm[13]$"}, []string{"vm3", "vm1"}},
		{"status", servers.ListOpts{AllTenants: true, Status: "SHUTOFF"}, []string{"vm2"}},
		{"marker", servers.ListOpts{Marker: topo.Instances[2].ID}, []string{"vm2", "vm1"}},
		{"limit", servers.ListOpts{AllTenants: true, Limit: 2, Host: "compute-1"}, []string{"vm2", "vm1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := serverNames(t, f, tc.opts); !slices.Equal(got, tc.want) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
	token := f.Token(t)
	compute := f.Cloud.Endpoints().Compute
	cloudtest.WantBody(t, cloudtest.Request(t, "GET", compute+"/servers?all_tenants=maybe", "", "X-Auth-Token", token), 400,
		`{"badRequest": {"code": 400, "message": "Invalid input received: Unrecognized value 'maybe', acceptable values are: '0', '1', 'f', 'false', 'n', 'no', 'off', 'on', 't', 'true', 'y', 'yes'"}}`)
	cloudtest.WantBody(t, cloudtest.Request(t, "GET", compute+"/servers/detail?marker=nope", "", "X-Auth-Token", token), 400,
		`{"badRequest": {"code": 400, "message": "marker [nope] not found"}}`)
	cloudtest.WantBody(t, cloudtest.Request(t, "GET", compute+"/servers/detail?status=BOGUS", "", "X-Auth-Token", token,
		"OpenStack-API-Version", "compute 2.38"), 400, `{"badRequest": {"code": 400, "message": "Invalid status value"}}`)
	cloudtest.WantBody(t, cloudtest.Request(t, "GET", compute+"/servers/detail?status=BOGUS", "", "X-Auth-Token", token), 200, `{"servers": []}`)
	summary := cloudtest.Request(t, "GET", compute+"/servers?name=^vm1$", "", "X-Auth-Token", token).JSON(t)
	wantSummary := fmt.Sprintf(`{"servers": [{"id": %q, "name": "vm1", "links": [
		{"rel": "self", "href": "%s/servers/%s"}, {"rel": "bookmark", "href": "%s/servers/%s"}]}]}`,
		vm1, compute, vm1, compute[:len(compute)-len("/v2.1")], vm1)
	if diff := cloudtest.CmpJSON(t, wantSummary, summary); diff != "" {
		t.Errorf("summary list (-want +got):\n%s", diff)
	}
}

// A server's detail renders its rows: extended attributes, volumes from live BDMs, addresses from the info
// cache, the fields of each microversion.
func TestServerShowRendersTheDatabase(t *testing.T) {
	f := cloudtest.New(t, cloud.Config{})
	topo := f.Provision(t, cloudtest.StandardTopology())
	vm1 := topo.Instances[0]
	s21 := f.ServerJSON(t, vm1.ID, "2.1")
	mac := vm1.Addresses[0].MAC
	checks := map[string]any{
		"OS-EXT-SRV-ATTR:host":                 "compute-1",
		"OS-EXT-SRV-ATTR:hypervisor_hostname":  "compute-1",
		"OS-EXT-SRV-ATTR:instance_name":        "instance-00000001",
		"OS-EXT-STS:vm_state":                  "active",
		"OS-EXT-STS:power_state":               float64(1),
		"OS-EXT-STS:task_state":                nil,
		"status":                               "ACTIVE",
		"tenant_id":                            f.Cloud.Admin().ProjectID,
		"os-extended-volumes:volumes_attached": []any{map[string]any{"id": vm1.Volumes[0].ID}},
		"addresses": map[string]any{"private": []any{
			map[string]any{"version": float64(4), "addr": "10.0.0.5", "OS-EXT-IPS:type": "fixed", "OS-EXT-IPS-MAC:mac_addr": mac},
			map[string]any{"version": float64(4), "addr": "172.24.4.20", "OS-EXT-IPS:type": "floating", "OS-EXT-IPS-MAC:mac_addr": mac},
		}},
		"flavor": map[string]any{"id": "1", "links": []any{map[string]any{"rel": "bookmark",
			"href": f.Cloud.Endpoints().Compute[:len(f.Cloud.Endpoints().Compute)-5] + "/flavors/1"}}},
	}
	for k, want := range checks {
		if diff := cmp.Diff(want, s21[k]); diff != "" {
			t.Errorf("%s (-want +got):\n%s", k, diff)
		}
	}
	for _, absent := range []string{"host_status", "locked", "description", "tags", "OS-EXT-SRV-ATTR:hostname", "server_groups"} {
		if _, ok := s21[absent]; ok {
			t.Errorf("%s shown at 2.1", absent)
		}
	}
	latest := f.ServerJSON(t, vm1.ID, "latest")
	for k, want := range map[string]any{
		"host_status":                          "UP",
		"locked":                               false,
		"OS-EXT-SRV-ATTR:hostname":             "vm1",
		"pinned_availability_zone":             nil,
		"server_groups":                        []any{},
		"os-extended-volumes:volumes_attached": []any{map[string]any{"id": vm1.Volumes[0].ID, "delete_on_termination": false}},
		"flavor": map[string]any{"vcpus": float64(1), "ram": float64(512), "disk": float64(1), "ephemeral": float64(0),
			"swap": float64(0), "original_name": "m1.tiny", "extra_specs": map[string]any{}},
	} {
		if diff := cmp.Diff(want, latest[k]); diff != "" {
			t.Errorf("%s at 2.96 (-want +got):\n%s", k, diff)
		}
	}
	// The boot-from-volume server has no image.
	if img := f.ServerJSON(t, topo.Instances[1].ID, "2.1")["image"]; img != "" {
		t.Errorf("boot-from-volume server image %v", img)
	}
	cloudtest.WantBody(t, cloudtest.Request(t, "GET", f.Cloud.Endpoints().Compute+"/servers/nope", "", "X-Auth-Token", f.Token(t)), 404,
		`{"itemNotFound": {"code": 404, "message": "Instance nope could not be found."}}`)
}

// Status, progress and fault follow vm_state and task_state as nova's _STATE_MAP and view builder have them.
func TestServerStatusFollowsTheDatabase(t *testing.T) {
	f := cloudtest.New(t, cloud.Config{})
	topo := f.Provision(t, cloudtest.StandardTopology())
	id := topo.Instances[0].ID
	cloudtest.ExecSQL(t, f.Nova, `INSERT INTO instance_faults (created_at, instance_uuid, code, message, details, host, deleted)
		VALUES ('2026-01-02 03:04:05', ?, 500, 'InstanceNotFound', 'Traceback ...', 'compute-1', 0)`, id)
	for _, tc := range []struct {
		vm, task, status string
		progress, fault  bool
	}{
		{"active", "", "ACTIVE", true, false},
		{"active", "rebooting", "REBOOT", false, false},
		{"active", "reboot_started", "REBOOT", false, false},
		{"active", "rebooting_hard", "HARD_REBOOT", false, false},
		{"active", "reboot_pending_hard", "HARD_REBOOT", false, false},
		{"active", "powering-off", "ACTIVE", true, false},
		{"stopped", "", "SHUTOFF", false, false},
		{"stopped", "rebooting_hard", "SHUTOFF", false, false},
		{"stopped", "powering-on", "SHUTOFF", false, false},
		{"error", "", "ERROR", false, true},
		{"building", "", "BUILD", true, false},
		{"paused", "", "PAUSED", false, false},
		{"suspended", "", "SUSPENDED", false, false},
		{"shelved_offloaded", "", "SHELVED_OFFLOADED", false, false},
	} {
		t.Run(tc.vm+"/"+tc.task, func(t *testing.T) {
			var task any
			if tc.task != "" {
				task = tc.task
			}
			cloudtest.ExecSQL(t, f.Nova, "UPDATE instances SET vm_state = ?, task_state = ? WHERE uuid = ?", tc.vm, task, id)
			s := f.ServerJSON(t, id, "2.1")
			if s["status"] != tc.status {
				t.Errorf("status %v, want %s", s["status"], tc.status)
			}
			if _, ok := s["progress"]; ok != tc.progress {
				t.Errorf("progress shown: %v", ok)
			}
			fault, ok := s["fault"]
			if ok != tc.fault {
				t.Errorf("fault shown: %v", ok)
			}
			if ok {
				if diff := cmp.Diff(map[string]any{"code": float64(500), "created": "2026-01-02T03:04:05Z",
					"message": "InstanceNotFound", "details": "Traceback ..."}, fault); diff != "" {
					t.Errorf("fault (-want +got):\n%s", diff)
				}
			}
			if tc.vm == "building" && len(s["addresses"].(map[string]any)) != 0 {
				t.Errorf("a building server shows addresses %v", s["addresses"])
			}
		})
	}
}

// host_status (2.16) and os-services follow the nova-compute service row: forced down, disabled, missed
// heartbeats.
func TestHostStatusFollowsTheServiceRow(t *testing.T) {
	f := cloudtest.New(t, cloud.Config{})
	topo := f.Provision(t, cloudtest.StandardTopology())
	id := topo.Instances[0].ID
	f.Cloud.StopCompute("compute-1")
	c := f.Compute(t, "2.11")
	for _, tc := range []struct {
		name, set         string
		hostStatus, state string
		status            string
		forcedDown        bool
	}{
		{"heartbeating", "", "UP", "up", "enabled", false},
		{"forced down", "forced_down = 1", "DOWN", "down", "enabled", true},
		{"disabled", "disabled = 1, disabled_reason = 'maintenance'", "MAINTENANCE", "up", "disabled", false},
		{"missed heartbeats", "last_seen_up = UTC_TIMESTAMP() - INTERVAL 61 SECOND", "UNKNOWN", "down", "enabled", false},
		{"no heartbeat yet, created recently", "last_seen_up = NULL, created_at = UTC_TIMESTAMP()", "UP", "up", "enabled", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cloudtest.ExecSQL(t, f.Nova, "UPDATE services SET forced_down = 0, disabled = 0, disabled_reason = NULL, "+
				"last_seen_up = UTC_TIMESTAMP() WHERE host = 'compute-1'")
			if tc.set != "" {
				cloudtest.ExecSQL(t, f.Nova, "UPDATE services SET "+tc.set+" WHERE host = 'compute-1'")
			}
			if got := f.ServerJSON(t, id, "2.16")["host_status"]; got != tc.hostStatus {
				t.Errorf("host_status %v, want %s", got, tc.hostStatus)
			}
			pages, err := services.List(c, services.ListOpts{Host: "compute-1", Binary: "nova-compute"}).AllPages(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			list, err := services.ExtractServices(pages)
			if err != nil {
				t.Fatal(err)
			}
			if len(list) != 1 || list[0].State != tc.state || list[0].Status != tc.status ||
				list[0].ForcedDown != tc.forcedDown || list[0].Zone != "nova" {
				t.Errorf("os-services: %+v", list)
			}
		})
	}
	pages, err := services.List(f.Compute(t, "2.53"), nil).AllPages(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	all, err := services.ExtractServices(pages)
	if err != nil {
		t.Fatal(err)
	}
	var binaries []string
	for _, s := range all {
		binaries = append(binaries, s.Host+"/"+s.Binary+"/"+s.Zone)
		if len(s.ID) != 36 {
			t.Errorf("at 2.53 the service id is its uuid, got %q", s.ID)
		}
	}
	sort.Strings(binaries)
	want := []string{"compute-1/nova-compute/nova", "compute-2/nova-compute/nova", "controller/nova-conductor/internal",
		"controller/nova-scheduler/internal"}
	if !slices.Equal(binaries, want) {
		t.Errorf("services %v, want %v", binaries, want)
	}
}

// os-extended-volumes and os-volume_attachments list only live BDMs, with each microversion's fields.
func TestVolumeAttachmentsFollowLiveBDMs(t *testing.T) {
	f := cloudtest.New(t, cloud.Config{})
	topo := f.Provision(t, cloudtest.StandardTopology())
	vm2 := topo.Instances[1]
	boot, data := vm2.Volumes[0], vm2.Volumes[1]
	for _, tc := range []struct {
		version string
		want    string
	}{
		{"2.1", fmt.Sprintf(`{"volumeAttachments": [
			{"id": %[1]q, "volumeId": %[1]q, "serverId": %[3]q, "device": "/dev/vda"},
			{"id": %[2]q, "volumeId": %[2]q, "serverId": %[3]q, "device": "/dev/vdb"}]}`, boot.ID, data.ID, vm2.ID)},
		{"2.70", fmt.Sprintf(`{"volumeAttachments": [
			{"id": %[1]q, "volumeId": %[1]q, "serverId": %[3]q, "device": "/dev/vda", "tag": null},
			{"id": %[2]q, "volumeId": %[2]q, "serverId": %[3]q, "device": "/dev/vdb", "tag": null}]}`, boot.ID, data.ID, vm2.ID)},
		{"2.79", fmt.Sprintf(`{"volumeAttachments": [
			{"id": %[1]q, "volumeId": %[1]q, "serverId": %[3]q, "device": "/dev/vda", "tag": null, "delete_on_termination": false},
			{"id": %[2]q, "volumeId": %[2]q, "serverId": %[3]q, "device": "/dev/vdb", "tag": null, "delete_on_termination": false}]}`,
			boot.ID, data.ID, vm2.ID)},
		{"2.89", fmt.Sprintf(`{"volumeAttachments": [
			{"volumeId": %[1]q, "serverId": %[3]q, "device": "/dev/vda", "tag": null, "delete_on_termination": false,
			 "attachment_id": %[4]q, "bdm_uuid": %[5]q},
			{"volumeId": %[2]q, "serverId": %[3]q, "device": "/dev/vdb", "tag": null, "delete_on_termination": false,
			 "attachment_id": %[6]q, "bdm_uuid": %[7]q}]}`,
			boot.ID, data.ID, vm2.ID, boot.AttachmentID, boot.BDMUUID, data.AttachmentID, data.BDMUUID)},
	} {
		t.Run(tc.version, func(t *testing.T) {
			r := cloudtest.Request(t, "GET", f.Cloud.Endpoints().Compute+"/servers/"+vm2.ID+"/os-volume_attachments", "",
				"X-Auth-Token", f.Token(t), "X-OpenStack-Nova-API-Version", tc.version)
			cloudtest.WantBody(t, r, 200, tc.want)
		})
	}
	// Soft-deleting the data volume's BDM, as the recovery does on Nova < 28, removes it everywhere.
	cloudtest.ExecSQL(t, f.Nova, "UPDATE block_device_mapping SET deleted = id, deleted_at = UTC_TIMESTAMP() WHERE volume_id = ?", data.ID)
	pages, err := volumeattach.List(f.Compute(t, "2.1"), vm2.ID).AllPages(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	left, err := volumeattach.ExtractVolumeAttachments(pages)
	if err != nil {
		t.Fatal(err)
	}
	if len(left) != 1 || left[0].VolumeID != boot.ID {
		t.Errorf("attachments after the BDM was deleted: %+v", left)
	}
	attached := f.ServerJSON(t, vm2.ID, "2.1")["os-extended-volumes:volumes_attached"]
	if diff := cmp.Diff([]any{map[string]any{"id": boot.ID}}, attached); diff != "" {
		t.Errorf("volumes_attached (-want +got):\n%s", diff)
	}
	cloudtest.WantBody(t, cloudtest.Request(t, "GET", f.Cloud.Endpoints().Compute+"/servers/nope/os-volume_attachments", "",
		"X-Auth-Token", f.Token(t)), 404, `{"itemNotFound": {"code": 404, "message": "Instance nope could not be found."}}`)
}

// Flavors are served for clients that look their names up (the OpenStack CLI does).
func TestFlavors(t *testing.T) {
	f := cloudtest.New(t, cloud.Config{})
	c := f.Compute(t, "2.1")
	pages, err := flavors.ListDetail(c, nil).AllPages(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	all, err := flavors.ExtractFlavors(pages)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != nova.FlavorCount() || all[0].Name != "m1.tiny" || all[1].RAM != 2048 {
		t.Errorf("flavors %+v", all)
	}
	if fl, err := flavors.Get(t.Context(), c, "3").Extract(); err != nil || fl.Name != "m1.medium" || fl.VCPUs != 2 {
		t.Errorf("flavor 3: %+v %v", fl, err)
	}
	cloudtest.WantAPIError(t, flavors.Get(t.Context(), c, "42").Err, 404,
		`{"itemNotFound": {"code": 404, "message": "Flavor 42 could not be found."}}`)
}

// changes-since keeps the servers saved at or after the time, deleted ones included; changes-before those
// saved at or before it; times are ISO 8601 and anything else is refused as Nova's schema and controller do.
func TestServerListChangesSince(t *testing.T) {
	f := cloudtest.New(t, cloud.Config{})
	topo := f.Provision(t, cloudtest.StandardTopology())
	vm1, vm2, vm3 := topo.Instances[0].ID, topo.Instances[1].ID, topo.Instances[2].ID
	cloudtest.ExecSQL(t, f.Nova, "UPDATE instances SET updated_at = '2026-01-01 10:00:00' WHERE uuid = ?", vm1)
	cloudtest.ExecSQL(t, f.Nova, "UPDATE instances SET updated_at = '2026-01-01 11:00:00' WHERE uuid = ?", vm2)
	cloudtest.ExecSQL(t, f.Nova, "UPDATE instances SET updated_at = '2026-01-01 12:00:00', deleted = id, vm_state = 'deleted' WHERE uuid = ?", vm3)
	token := f.Token(t)
	compute := f.Cloud.Endpoints().Compute
	list := func(query, version string) []string {
		t.Helper()
		r := cloudtest.Request(t, "GET", compute+"/servers/detail?all_tenants=1&"+query, "", "X-Auth-Token", token,
			"OpenStack-API-Version", "compute "+version)
		if r.Status != 200 {
			t.Fatalf("%s: %d %s", query, r.Status, r.Body)
		}
		var out []string
		for _, s := range r.JSON(t).(map[string]any)["servers"].([]any) {
			s := s.(map[string]any)
			out = append(out, s["name"].(string)+"/"+s["status"].(string))
		}
		return out
	}
	for _, tc := range []struct {
		query, version string
		want           []string
	}{
		{"", "2.1", []string{"vm2/SHUTOFF", "vm1/ACTIVE"}},
		{"changes-since=2026-01-01T11:00:00Z", "2.1", []string{"vm3/DELETED", "vm2/SHUTOFF"}},
		{"changes-since=2026-01-01T11:00:01", "2.1", []string{"vm3/DELETED"}},
		{"changes-since=2026-01-01T11:30:00%2B01:00", "2.1", []string{"vm3/DELETED", "vm2/SHUTOFF"}},
		{"changes-since=2026-01-01T13:00:00Z", "2.1", nil},
		{"changes-before=2026-01-01T11:00:00Z", "2.66", []string{"vm2/SHUTOFF", "vm1/ACTIVE"}},
		{"changes-since=2026-01-01T10:30:00Z&changes-before=2026-01-01T11:30:00Z", "2.66", []string{"vm2/SHUTOFF"}},
	} {
		if got := list(tc.query, tc.version); !slices.Equal(got, tc.want) {
			t.Errorf("%s at %s: %v, want %v", tc.query, tc.version, got, tc.want)
		}
	}
	for _, tc := range []struct{ query, version, message string }{
		{"changes-since=yesterday", "2.1", "Invalid input for query parameters changes-since. Value: yesterday. 'yesterday' is not a 'date-time'"},
		{"changes-before=yesterday", "2.66", "Invalid input for query parameters changes-before. Value: yesterday. 'yesterday' is not a 'date-time'"},
		{"changes-before=yesterday", "2.65", "Invalid filter field: changes-before."},
		{"changes-since=2026-01-02T00:00:00Z&changes-before=2026-01-01T00:00:00Z", "2.66",
			"The value of changes-since must be less than or equal to changes-before."},
	} {
		cloudtest.WantBody(t, cloudtest.Request(t, "GET", compute+"/servers/detail?"+tc.query, "", "X-Auth-Token", token,
			"OpenStack-API-Version", "compute "+tc.version), 400, fmt.Sprintf(`{"badRequest": {"code": 400, "message": %q}}`, tc.message))
	}
}
