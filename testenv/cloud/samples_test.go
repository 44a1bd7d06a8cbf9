package cloud_test

import (
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/osdr/osdr/testenv/cloud"
	"github.com/osdr/osdr/testenv/cloud/cloudtest"
	"github.com/osdr/osdr/testenv/virt"
)

// A capture of a real Zed control plane in testdata/zed: three servers on host os-accept, each with one volume.
const (
	sampleProject = "d00ca05326dd493190682fa4363830ba"
	sampleUser    = "f0496e725281437e8913e294ce51f9bd"
	sampleImage   = "cc7a0526-d3b4-46ca-8bbb-8b4f816adaa6"
	sampleType    = "a4f4de23-4663-446a-8178-65186c0f58b4"
	sampleService = "7ac8fe4f-4570-4d82-be94-1e74fac009b4"
)

type sampleServer struct {
	id                                  int
	uuid, name, reservation             string
	created, launched, updated          string
	volume, volumeName, attachment, bdm string
	volCreated, attached                string
}

var sampleServers = []sampleServer{
	{1, "5c09ef59-0ca3-4502-bdfb-e0b7303dff02", "vm1", "r-11ir3rou", "2026-11-25 07:21:28", "2026-11-25 07:21:29",
		"2026-11-25 07:35:33", "83608c12-a6ba-463d-a7e9-200b45fc7658", "vol1", "1cfc37b3-530f-4013-a24e-aa9b331eae5d",
		"471cbdc0-2ba7-4e2f-8a3c-64d6796c5012", "2026-11-25 07:21:38", "2026-11-25 07:35:08"},
	{2, "7c7a65ec-0337-4625-9999-b94be27603da", "vm2", "r-sbowecux", "2026-11-25 07:34:29", "2026-11-25 07:34:31",
		"2026-11-25 07:35:50", "bb25cb15-1681-43ef-ba29-a02f2a14c4ea", "vol2", "3cfc7333-a8cf-4147-b761-9d70e2b5ba8f",
		"8e3bc7a5-53a6-4d39-9c79-0a48d2a1d2a2", "2026-11-25 07:34:41", "2026-11-25 07:35:14"},
	{3, "6774a0c9-a063-4cbd-aa55-298277b09aba", "vm3", "r-z605610j", "2026-11-25 07:34:49", "2026-11-25 07:34:50",
		"2026-11-25 07:34:50", "07199f7e-b83b-4c3d-a2da-e0df7fa40a40", "vol3", "d6f1ea06-018d-4fa2-9d91-9db233f1d2d3",
		"0c1d9c1e-7b43-4fd7-9a8e-4bd0f0e5f3a1", "2026-11-25 07:35:00", "2026-11-25 07:36:00"},
}

// loadZedCapture writes into the databases, with plain SQL, the rows the captured Zed cloud had.
func loadZedCapture(t *testing.T, f *cloudtest.Fixture) {
	cloudtest.ExecSQL(t, f.Nova, "INSERT INTO services (created_at, updated_at, host, `binary`, topic, report_count, disabled, "+
		"deleted, last_seen_up, forced_down, version, uuid) VALUES (UTC_TIMESTAMP(), UTC_TIMESTAMP(), 'os-accept', "+
		"'nova-compute', 'compute', 1, 0, 0, UTC_TIMESTAMP(), 0, 64, UUID())")
	cloudtest.ExecSQL(t, f.Cinder, "INSERT INTO services (created_at, updated_at, deleted, host, `binary`, topic, report_count, "+
		"disabled, availability_zone, uuid) VALUES (UTC_TIMESTAMP(), UTC_TIMESTAMP(), 0, 'os-accept@fake', "+
		"'cinder-volume', 'cinder-volume', 1, 0, 'nova', ?)", sampleService)
	// The captured cloud's default type, which lives in the volume_types table the schema does not carry.
	f.Cloud.DefineVolumeType(sampleType, "__DEFAULT__")
	f.Cloud.RunCompute("os-accept", "127.0.0.1")
	for _, s := range sampleServers {
		cloudtest.ExecSQL(t, f.Nova, `INSERT INTO instances (id, created_at, updated_at, user_id, project_id, image_ref, kernel_id,
			ramdisk_id, launch_index, power_state, vm_state, memory_mb, vcpus, hostname, host, reservation_id,
			launched_at, display_name, availability_zone, locked, launched_on, instance_type_id, uuid,
			root_device_name, config_drive, progress, auto_disk_config, root_gb, ephemeral_gb, node, deleted)
			VALUES (?, ?, ?, ?, ?, ?, '', '', 0, 1, 'active', 64, 1, ?, 'os-accept', ?, ?, ?, 'nova', 0, 'os-accept', 1,
			?, '/dev/sda', '', 0, 0, 1, 0, 'os-accept', 0)`,
			s.id, s.created, s.updated, sampleUser, sampleProject, sampleImage, s.name, s.reservation, s.launched,
			s.name, s.uuid)
		cloudtest.ExecSQL(t, f.Nova, `INSERT INTO instance_info_caches (created_at, network_info, instance_uuid, deleted)
			VALUES (?, '[]', ?, 0)`, s.created, s.uuid)
		cloudtest.ExecSQL(t, f.Nova, `INSERT INTO block_device_mapping (created_at, device_name, delete_on_termination, instance_uuid,
			deleted, source_type, destination_type, boot_index, image_id, uuid) VALUES (?, '/dev/sda', 1, ?, 0, 'image',
			'local', 0, ?, UUID())`, s.created, s.uuid, sampleImage)
		cloudtest.ExecSQL(t, f.Nova, `INSERT INTO block_device_mapping (created_at, device_name, delete_on_termination, volume_id,
			instance_uuid, deleted, source_type, destination_type, attachment_id, uuid, connection_info)
			VALUES (?, '/dev/sdb', 0, ?, ?, 0, 'volume', 'volume', ?, ?, '{"driver_volume_type": "iscsi", "data": {}}')`,
			s.attached, s.volume, s.uuid, s.attachment, s.bdm)
		cloudtest.ExecSQL(t, f.Cinder, `INSERT INTO volumes (created_at, updated_at, deleted, id, user_id, project_id, host, size,
			availability_zone, status, attach_status, display_name, volume_type_id, bootable, multiattach,
			service_uuid, shared_targets, use_quota) VALUES (?, ?, 0, ?, ?, ?, 'os-accept@fake#fake', 1, 'nova',
			'in-use', 'attached', ?, ?, 0, 0, ?, 0, 1)`,
			s.volCreated, s.attached, s.volume, sampleUser, sampleProject, s.volumeName, sampleType, sampleService)
		// The captured cloud's fake backend answers only the common connection fields.
		cloudtest.ExecSQL(t, f.Cinder, `INSERT INTO volume_attachment (created_at, deleted, id, volume_id, attached_host,
			instance_uuid, mountpoint, attach_time, attach_mode, attach_status, connection_info) VALUES (?, 0, ?, ?,
			'os-accept', ?, '/dev/sdb', ?, 'rw', 'attached', ?)`, s.attached, s.attachment, s.volume, s.uuid, s.attached,
			`{"access_mode": "rw", "attachment_id": "`+s.attachment+`", "cacheable": false, "driver_volume_type": "iscsi", `+
				`"encrypted": false, "qos_specs": null}`)
	}
}

var loopbackPort = regexp.MustCompile(`http://127\.0\.0\.1:\d+`)

// asCaptured rewrites what only differs by deployment: the services' ports and the caller's project id.
func asCaptured(t *testing.T, r cloudtest.Response, port, project string) any {
	t.Helper()
	body := loopbackPort.ReplaceAllString(string(r.Body), "http://127.0.0.1:"+port)
	body = strings.ReplaceAll(body, project, sampleProject)
	return cloudtest.Response{Body: []byte(body)}.JSON(t)
}

// Every field of every captured answer must come back identical from the same database rows.
func TestAnswersMatchTheZedCapture(t *testing.T) {
	f := cloudtest.New(t, cloud.Config{Profile: "zed"})
	loadZedCapture(t, f)
	token := f.Token(t)
	project := f.Cloud.Admin().ProjectID
	compute, volume := f.Cloud.Endpoints().Compute, f.Cloud.Endpoints().Volume
	computeRoot := strings.TrimSuffix(compute, "/v2.1")
	volumeRoot := strings.TrimSuffix(volume, "/v3/"+project)
	for _, tc := range []struct {
		sample, url, port string
		headers           []string
	}{
		{"nova_versions.json", computeRoot + "/", "8774", nil},
		{"cinder_versions.json", volumeRoot + "/", "8776", nil},
		{"cinder_versions.json", volumeRoot + "/v3/", "8776", []string{"X-Auth-Token", token}},
		{"servers_detail_mv2.1.json", compute + "/servers/detail?all_tenants=1", "8774", []string{"X-Auth-Token", token}},
		{"servers_detail_mv2.93.json", compute + "/servers/detail?all_tenants=1", "8774",
			[]string{"X-Auth-Token", token, "OpenStack-API-Version", "compute 2.93"}},
		{"server_volume_attachments_mv2.1.json", compute + "/servers/" + sampleServers[0].uuid + "/os-volume_attachments",
			"8774", []string{"X-Auth-Token", token}},
		{"server_volume_attachments_mv2.93.json", compute + "/servers/" + sampleServers[0].uuid + "/os-volume_attachments",
			"8774", []string{"X-Auth-Token", token, "X-OpenStack-Nova-API-Version", "2.93"}},
		{"volumes_detail_mv3.0.json", volume + "/volumes/detail?all_tenants=1", "8776", []string{"X-Auth-Token", token}},
		{"volumes_detail_mv3.70.json", volume + "/volumes/detail?all_tenants=1", "8776",
			[]string{"X-Auth-Token", token, "OpenStack-API-Version", "volume 3.70"}},
		{"volume_attachments_mv3.27.json", volume + "/attachments/detail?all_tenants=1", "8776",
			[]string{"X-Auth-Token", token, "OpenStack-API-Version", "volume 3.27"}},
	} {
		t.Run(tc.sample+" "+strings.ReplaceAll(mustPath(t, tc.url), project, "{project}"), func(t *testing.T) {
			r := cloudtest.Request(t, "GET", tc.url, "", tc.headers...)
			if r.Status != 200 && r.Status != 300 {
				t.Fatalf("status %d: %s", r.Status, r.Body)
			}
			if diff := cmp.Diff(cloudtest.ReadSample(t, tc.sample), asCaptured(t, r, tc.port, project)); diff != "" {
				t.Errorf("answer differs from the capture (-captured +simulated):\n%s", diff)
			}
		})
	}
}

func mustPath(t *testing.T, raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return u.Path
}

// After the hypervisor lost its domains, the first power-state sync leaves the servers ACTIVE with power state
// 0 (NOSTATE) and changes nothing else, as the capture shows.
func TestPowerLossSyncMatchesTheZedCapture(t *testing.T) {
	f := cloudtest.New(t, cloud.Config{Profile: "zed", Driver: virt.NewFake()})
	loadZedCapture(t, f)
	if err := f.Cloud.SyncPowerStates(t.Context(), "os-accept"); err != nil {
		t.Fatal(err)
	}
	r := cloudtest.Request(t, "GET", f.Cloud.Endpoints().Compute+"/servers/detail?all_tenants=1", "",
		"X-Auth-Token", f.Token(t), "OpenStack-API-Version", "compute 2.93")
	got := asCaptured(t, r, "8774", f.Cloud.Admin().ProjectID).(map[string]any)
	want := cloudtest.ReadSample(t, "servers_detail_after_power_loss_mv2.93.json").(map[string]any)
	// The sync stamps updated_at with its own clock.
	for _, doc := range []map[string]any{got, want} {
		for _, s := range doc["servers"].([]any) {
			delete(s.(map[string]any), "updated")
		}
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("after the sync (-captured +simulated):\n%s", diff)
	}
}
