package cloud_test

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/osdr/osdr/testenv"
	"github.com/osdr/osdr/testenv/cloud"
	"github.com/osdr/osdr/testenv/cloud/cloudtest"
	"github.com/osdr/osdr/testenv/virt"
)

// Provision writes the rows Nova and Cinder write for booted servers with attached volumes, and the guests run.
func TestProvisionWritesWhatTheServicesWrite(t *testing.T) {
	fake := virt.NewFake()
	f := cloudtest.New(t, cloud.Config{Driver: fake})
	topo := f.Provision(t, cloudtest.StandardTopology())
	ctx := t.Context()
	vm1, vm2 := topo.Instances[0], topo.Instances[1]
	vol := vm1.Volumes[0]

	var bdmConn, attConn, connector, mountpoint, host, volHost, status, attachStatus, location string
	var bootIndex *int
	if err := f.Nova.QueryRowContext(ctx, `SELECT connection_info, boot_index FROM block_device_mapping
		WHERE volume_id = ? AND attachment_id = ? AND uuid = ? AND deleted = 0 AND source_type = 'volume'
		AND destination_type = 'volume' AND device_name = '/dev/vdb'`, vol.ID, vol.AttachmentID, vol.BDMUUID).Scan(&bdmConn, &bootIndex); err != nil {
		t.Fatalf("vm1's volume BDM: %v", err)
	}
	if bootIndex != nil {
		t.Errorf("a data volume has boot index %d", *bootIndex)
	}
	if err := f.Cinder.QueryRowContext(ctx, `SELECT a.connection_info, a.connector, a.mountpoint, a.attached_host,
		v.host, v.status, v.attach_status, v.provider_location FROM volume_attachment a JOIN volumes v ON v.id = a.volume_id
		WHERE a.id = ? AND a.instance_uuid = ? AND a.attach_status = 'attached' AND a.attach_mode = 'rw' AND a.deleted = 0`,
		vol.AttachmentID, vm1.ID).Scan(&attConn, &connector, &mountpoint, &host, &volHost, &status, &attachStatus, &location); err != nil {
		t.Fatalf("vm1's volume attachment: %v", err)
	}
	iqn := "iqn.2010-10.org.openstack:volume-" + vol.ID
	var nested struct {
		Type string         `json:"driver_volume_type"`
		Data map[string]any `json:"data"`
	}
	if err := json.Unmarshal([]byte(bdmConn), &nested); err != nil {
		t.Fatal(err)
	}
	if nested.Type != "iscsi" || nested.Data["target_iqn"] != iqn || nested.Data["target_portal"] != "127.0.0.1:3260" ||
		nested.Data["target_lun"] != float64(1) || nested.Data["volume_id"] != vol.ID {
		t.Errorf("BDM connection_info %s", bdmConn)
	}
	var flat map[string]any
	if err := json.Unmarshal([]byte(attConn), &flat); err != nil {
		t.Fatal(err)
	}
	if flat["driver_volume_type"] != "iscsi" || flat["target_iqn"] != iqn || flat["attachment_id"] != vol.AttachmentID {
		t.Errorf("Cinder keeps the driver's data flattened: %s", attConn)
	}
	var conn map[string]any
	if err := json.Unmarshal([]byte(connector), &conn); err != nil {
		t.Fatal(err)
	}
	if conn["host"] != "compute-1" || conn["ip"] != "192.0.2.11" || conn["mountpoint"] != "/dev/vdb" {
		t.Errorf("connector %s", connector)
	}
	if mountpoint != "/dev/vdb" || host != "compute-1" || volHost != "controller@lvm#lvm" || status != "in-use" ||
		attachStatus != "attached" || location != "127.0.0.1:3260,1 "+iqn+" 1" {
		t.Errorf("volume row: %s %s %s %s %s %s", mountpoint, host, volHost, status, attachStatus, location)
	}
	var adminMeta int
	if err := f.Cinder.QueryRowContext(ctx, "SELECT COUNT(*) FROM volume_admin_metadata").Scan(&adminMeta); err != nil {
		t.Fatal(err)
	}
	if adminMeta != 0 {
		t.Errorf("%d admin metadata rows: Cinder's attachment API, which Nova uses, writes none", adminMeta)
	}
	var imageBDMs int
	if err := f.Nova.QueryRowContext(ctx, `SELECT COUNT(*) FROM block_device_mapping WHERE instance_uuid = ?
		AND source_type = 'image' AND destination_type = 'local' AND boot_index = 0`, vm1.ID).Scan(&imageBDMs); err != nil {
		t.Fatal(err)
	}
	if imageBDMs != 1 {
		t.Errorf("%d image BDMs for an image-booted server", imageBDMs)
	}
	var vm2Boot int
	if err := f.Nova.QueryRowContext(ctx, `SELECT boot_index FROM block_device_mapping WHERE volume_id = ?`,
		vm2.Volumes[0].ID).Scan(&vm2Boot); err != nil || vm2Boot != 0 {
		t.Errorf("boot volume BDM boot_index %d (%v)", vm2Boot, err)
	}

	running, err := fake.PowerState(ctx, virt.Domain{Host: "compute-1", Name: "instance-00000001"})
	if err != nil || running != virt.Running {
		t.Errorf("vm1's guest %v %v", running, err)
	}
	disks := fake.Disks(virt.Domain{Host: "compute-1", Name: "instance-00000001"})
	if d := disks[vol.ID]; d.IQN != iqn || d.Portal != "127.0.0.1:3260" || d.LUN != 1 || d.Device != "/dev/vdb" {
		t.Errorf("vm1's guest sees %+v", disks)
	}
	if off, _ := fake.PowerState(ctx, virt.Domain{Host: "compute-1", Name: "instance-00000002"}); off != virt.Shutdown {
		t.Errorf("the stopped server's guest is %v", off)
	}
}

// A seed makes every generated id repeat; without one they differ.
func TestSeededIDsRepeat(t *testing.T) {
	_, cinderDSN := testenv.MySQLWithSchema(t, testenv.SchemaCinder)
	_, novaDSN := testenv.MySQLWithSchema(t, testenv.SchemaNova)
	completeWith := func(seed int64) (cloud.Credentials, cloud.Topology) {
		c, err := cloud.New(t.Context(), cloud.Config{Seed: seed, CinderDSN: cinderDSN, NovaDSN: novaDSN})
		if err != nil {
			t.Fatal(err)
		}
		defer func() {
			if err := c.Close(t.Context()); err != nil {
				t.Error(err)
			}
		}()
		topo, err := c.Complete(cloudtest.StandardTopology())
		if err != nil {
			t.Fatal(err)
		}
		return c.Admin(), topo
	}
	a1, t1 := completeWith(7)
	a2, t2 := completeWith(7)
	a3, t3 := completeWith(8)
	if a1 != a2 || fmt.Sprint(t1) != fmt.Sprint(t2) {
		t.Errorf("seed 7 twice gave different ids:\n%v\n%v", t1, t2)
	}
	if a1.ProjectID == a3.ProjectID || t1.Instances[0].ID == t3.Instances[0].ID {
		t.Error("seeds 7 and 8 gave the same ids")
	}
}

func TestProvisionRejectsBadTopologies(t *testing.T) {
	f := cloudtest.New(t, cloud.Config{})
	base := func(mod func(*cloud.Topology)) cloud.Topology {
		topo := cloudtest.StandardTopology()
		mod(&topo)
		return topo
	}
	for _, tc := range []struct {
		name string
		topo cloud.Topology
	}{
		{"unknown host", base(func(tp *cloud.Topology) { tp.Instances[0].Host = "compute-9" })},
		{"duplicate host", base(func(tp *cloud.Topology) { tp.Hosts = append(tp.Hosts, cloud.Host{Name: "compute-1"}) })},
		{"unknown flavor", base(func(tp *cloud.Topology) { tp.Instances[0].Flavor = "m9.huge" })},
		{"unknown state", base(func(tp *cloud.Topology) { tp.Instances[0].State = "paused" })},
		{"unknown backend", base(func(tp *cloud.Topology) { tp.Instances[0].Volumes[0].Backend = "fc" })},
		{"device used twice", base(func(tp *cloud.Topology) {
			tp.Instances[0].Volumes = append(tp.Instances[0].Volumes, cloud.Volume{Device: "/dev/vdb"})
			tp.Instances[0].Volumes[0].Device = "/dev/vdb"
		})},
		{"two boot volumes", base(func(tp *cloud.Topology) {
			tp.Instances[1].Volumes[1].Boot = true
			tp.Instances[1].Volumes[1].Device = "/dev/vdc"
		})},
		{"bad address", base(func(tp *cloud.Topology) { tp.Instances[0].Addresses[0].Addr = "10.0.0.300" })},
		{"floating address without a fixed one", base(func(tp *cloud.Topology) {
			tp.Instances[0].Addresses = tp.Instances[0].Addresses[1:]
		})},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := f.Cloud.Provision(t.Context(), tc.topo); err == nil {
				t.Error("accepted")
			}
			var instances, volumes int
			if err := f.Nova.QueryRowContext(t.Context(), "SELECT COUNT(*) FROM instances").Scan(&instances); err != nil {
				t.Fatal(err)
			}
			if err := f.Cinder.QueryRowContext(t.Context(), "SELECT COUNT(*) FROM volumes").Scan(&volumes); err != nil {
				t.Fatal(err)
			}
			if instances+volumes != 0 {
				t.Errorf("a refused topology wrote %d instances and %d volumes", instances, volumes)
			}
		})
	}
}
