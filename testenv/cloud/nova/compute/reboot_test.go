package compute_test

import (
	"maps"
	"slices"
	"testing"

	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/servers"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/volumeattach"

	"github.com/osdr/osdr/testenv/cloud"
	"github.com/osdr/osdr/testenv/cloud/cloudtest"
	"github.com/osdr/osdr/testenv/virt"
)

// What a HARD reboot brings back, in the two behaviours the simulation plays. Nova's libvirt driver (Nova 26,
// Zed, through 33, 2026.1) rebuilds the domain from the BDMs and connects every volume from its stored
// connection_info, whatever the bus and however the driver named the target; the Operations Guide's
// hypervisor (NoReconnectOnReboot) brings the domain back with its boot volume only.
func TestHardRebootReconnectsVolumes(t *testing.T) {
	for _, tc := range []struct {
		name        string
		noReconnect bool
		bus         cloud.DiskBus
		bootVolume  bool
		// multipathOnly rewrites the first data volume's connection_info as a driver that names its target only
		// in the lists (target_iqns, target_portals, target_luns) leaves it.
		multipathOnly bool
		want          []string // devices connected after the reboot
	}{
		{name: "volume-booted, virtio", bootVolume: true, want: []string{"/dev/vda", "/dev/vdb", "/dev/vdc"}},
		{name: "volume-booted, scsi", bus: cloud.DiskBusSCSI, bootVolume: true, want: []string{"/dev/sda", "/dev/sdb", "/dev/sdc"}},
		{name: "image-booted, virtio", want: []string{"/dev/vdb", "/dev/vdc"}},
		{name: "image-booted, scsi", bus: cloud.DiskBusSCSI, want: []string{"/dev/sdb", "/dev/sdc"}},
		{name: "target named only in the lists", multipathOnly: true, want: []string{"/dev/vdb", "/dev/vdc"}},
		{name: "no reconnect, volume-booted", noReconnect: true, bootVolume: true, want: []string{"/dev/vda"}},
		{name: "no reconnect, image-booted, scsi", noReconnect: true, bus: cloud.DiskBusSCSI, want: nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fake := virt.NewFake()
			f := cloudtest.New(t, cloud.Config{Driver: fake, NoReconnectOnReboot: tc.noReconnect})
			vols := []cloud.Volume{{Name: "data1"}, {Name: "data2"}}
			if tc.bootVolume {
				vols = append([]cloud.Volume{{Name: "root", Boot: true, SizeGB: 10}}, vols...)
			}
			topo := f.Provision(t, cloud.Topology{
				Hosts:     []cloud.Host{{Name: "compute-1", IP: "192.0.2.11"}},
				Instances: []cloud.Instance{{Name: "vm1", Host: "compute-1", DiskBus: tc.bus, Volumes: vols}},
			})
			inst := topo.Instances[0]
			dom := virt.Domain{Host: "compute-1", Name: "instance-00000001", InstanceUUID: inst.ID}
			var data cloud.Volume
			for _, v := range inst.Volumes {
				if !v.Boot {
					data = v
					break
				}
			}
			wantIQN := fake.Disks(dom)[data.ID].IQN
			if tc.multipathOnly {
				cloudtest.ExecSQL(t, f.Nova, `UPDATE block_device_mapping SET connection_info = JSON_SET(JSON_REMOVE(connection_info,
					'$.data.target_iqn', '$.data.target_portal', '$.data.target_lun'),
					'$.data.target_iqns', JSON_ARRAY(JSON_VALUE(connection_info, '$.data.target_iqn')),
					'$.data.target_portals', JSON_ARRAY(JSON_VALUE(connection_info, '$.data.target_portal')),
					'$.data.target_luns', JSON_ARRAY(1)) WHERE volume_id = ?`, data.ID)
			}
			// The power loss: the host forgets the guest and its sessions.
			fake.SetHostDown("compute-1", true)
			fake.SetHostDown("compute-1", false)
			if err := servers.Reboot(t.Context(), f.Compute(t, "2.1"), inst.ID, servers.RebootOpts{Type: servers.HardReboot}).ExtractErr(); err != nil {
				t.Fatal(err)
			}
			f.Settle()
			if got := f.State(t, inst.ID); got != (cloudtest.ServerState{VM: "active", Power: 1}) {
				t.Errorf("after the reboot: %+v, want active and running", got)
			}
			disks := fake.Disks(dom)
			var got []string
			for _, d := range disks {
				got = append(got, d.Device)
			}
			slices.Sort(got)
			if !slices.Equal(got, tc.want) {
				t.Errorf("connected after the reboot: %v, want %v", got, tc.want)
			}
			if d, ok := disks[data.ID]; ok && (d.IQN != wantIQN || d.Portal == "" || d.LUN != 1) {
				t.Errorf("first data volume connected to %q at %q LUN %d, want %q at the portal, LUN 1", d.IQN, d.Portal, d.LUN, wantIQN)
			}
			if slices.ContainsFunc(slices.Collect(maps.Values(disks)), func(d virt.VolumeConnection) bool { return d.IQN == "" }) {
				t.Errorf("a volume was connected without a target: %v", disks)
			}
		})
	}
}

// A volume attached through the API to an instance on the scsi bus gets the next free sdX, as libvirt names
// it; on virtio the next vdX.
func TestAttachNamesTheDeviceOnTheInstancesBus(t *testing.T) {
	for _, tc := range []struct {
		bus  cloud.DiskBus
		want string
	}{{cloud.DiskBusVirtio, "/dev/vdc"}, {cloud.DiskBusSCSI, "/dev/sdc"}} {
		t.Run(string(tc.bus), func(t *testing.T) {
			f := cloudtest.New(t, cloud.Config{})
			topo := f.Provision(t, cloud.Topology{
				Hosts: []cloud.Host{{Name: "compute-1"}},
				Instances: []cloud.Instance{
					{Name: "vm1", Host: "compute-1", DiskBus: tc.bus, Volumes: []cloud.Volume{{Name: "data1"}}},
					{Name: "vm2", Host: "compute-1", Volumes: []cloud.Volume{{Name: "spare"}}},
				},
			})
			vm1, spare := topo.Instances[0], topo.Instances[1].Volumes[0]
			// Free the spare volume from vm2 as a detach does, then attach it to vm1 asking for no device.
			nc := f.Compute(t, "2.1")
			if err := volumeattach.Delete(t.Context(), nc, topo.Instances[1].ID, spare.ID).ExtractErr(); err != nil {
				t.Fatal(err)
			}
			f.Settle()
			got, err := volumeattach.Create(t.Context(), nc, vm1.ID, volumeattach.CreateOpts{VolumeID: spare.ID}).Extract()
			if err != nil {
				t.Fatal(err)
			}
			f.Settle()
			if got.Device != tc.want {
				t.Errorf("attached at %s, want %s", got.Device, tc.want)
			}
		})
	}
}
