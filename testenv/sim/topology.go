package sim

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"

	"github.com/google/uuid"

	"github.com/osdr/osdr/testenv/cloud"
)

// Shape is the size of a simulated cloud, and what its instances look like.
type Shape struct {
	Hosts              int
	Instances          int
	VolumesPerInstance int // data volumes, besides each instance's boot volume
	Seed               int64
	// Boot is what instances boot from: BootVolume (the default), BootImage or BootMixed.
	Boot string
	// DiskBus is the bus of the instances' disks: DiskBusVirtio (the default), DiskBusSCSI or DiskBusMixed.
	DiskBus string
	// ActionHistory gives every instance its create and attach_volume actions (os-instance-actions).
	ActionHistory bool
	// Stuck is the share of data volumes left in each stuck state once provisioned (cloud.ParseStuckShares).
	Stuck cloud.StuckShares
}

// What instances boot from (Shape.Boot), and the bus of their disks (Shape.DiskBus); mixed alternates,
// starting with the first kind: the boot from one instance to the next, the bus every two instances.
const (
	BootVolume    = "volume" // an iSCSI boot volume at the root device
	BootImage     = "image"  // the image on a local root disk; data volumes from the second device on
	BootMixed     = "mixed"
	DiskBusVirtio = "virtio" // vdX
	DiskBusSCSI   = "scsi"   // sdX
	DiskBusMixed  = "mixed"
)

// pick is kind for instance i (from 0) of a shape choice that may be mixed.
func pick(choice, first, second string, i int) string {
	switch {
	case choice == "":
		return first
	case choice == "mixed" && i%2 == 1:
		return second
	case choice == "mixed":
		return first
	}
	return choice
}

// DefaultShape is small enough to start in seconds and large enough to show concurrency.
var DefaultShape = Shape{Hosts: 2, Instances: 4, VolumesPerInstance: 2, Seed: 1}

// maxInstances is as many fixed addresses as privateAddress hands out.
const maxInstances = 240 << 16

// Validate refuses shapes the simulation cannot build.
func (s Shape) Validate() error {
	switch {
	case s.Hosts < 1:
		return fmt.Errorf("--hosts %d: at least one compute host", s.Hosts)
	case s.Instances < 1 || s.Instances > maxInstances:
		return fmt.Errorf("--instances %d: 1 to %d", s.Instances, maxInstances)
	case s.VolumesPerInstance < 0 || s.VolumesPerInstance > 20:
		return fmt.Errorf("--volumes-per-instance %d: 0 to 20", s.VolumesPerInstance)
	case !slices.Contains([]string{"", BootVolume, BootImage, BootMixed}, s.Boot):
		return fmt.Errorf("--boot %q: volume, image or mixed", s.Boot)
	case !slices.Contains([]string{"", DiskBusVirtio, DiskBusSCSI, DiskBusMixed}, s.DiskBus):
		return fmt.Errorf("--disk-bus %q: virtio, scsi or mixed", s.DiskBus)
	}
	return s.Stuck.Validate()
}

// topology lays the instances round-robin over the hosts, each with an iSCSI boot volume (or booted from the
// image) and data volumes at /dev/vdb, /dev/vdc, ... (sdb, sdc, ... on the scsi bus). Ids come from the
// seed, so a shape is the same cloud on every run.
func (s Shape) topology() cloud.Topology {
	rng := rand.New(rand.NewPCG(uint64(s.Seed), 0x05d7))
	newID := func() string { return uuid.Must(uuid.NewRandomFromReader(rngReader{rng})).String() }
	t := cloud.Topology{Controller: "controller", ActionHistory: s.ActionHistory}
	for h := 1; h <= s.Hosts; h++ {
		t.Hosts = append(t.Hosts, cloud.Host{Name: fmt.Sprintf("compute-%d", h), IP: "127.0.0.1"})
	}
	for i := 1; i <= s.Instances; i++ {
		inst := cloud.Instance{
			ID:        newID(),
			Name:      fmt.Sprintf("vm%d", i),
			Host:      t.Hosts[(i-1)%len(t.Hosts)].Name,
			Addresses: []cloud.Address{{Network: "private", Addr: privateAddress(i - 1).String()}},
			// The bus alternates every two instances, so that each boot kind meets each bus.
			DiskBus: cloud.DiskBus(pick(s.DiskBus, DiskBusVirtio, DiskBusSCSI, (i-1)/2)),
		}
		// The root volume's id is drawn for image-booted instances too, so the data volumes keep theirs.
		root := cloud.Volume{ID: newID(), Name: fmt.Sprintf("vm%d-root", i), SizeGB: 10, Boot: true}
		if pick(s.Boot, BootVolume, BootImage, i-1) == BootVolume {
			inst.Volumes = append(inst.Volumes, root)
		}
		for v := 0; v < s.VolumesPerInstance; v++ {
			inst.Volumes = append(inst.Volumes, cloud.Volume{ID: newID(), Name: fmt.Sprintf("vm%d-data%d", i, v+1), SizeGB: 1,
				Device: fmt.Sprintf("%s%c", inst.DiskBus.DevicePrefix(), 'b'+v)})
		}
		t.Instances = append(t.Instances, inst)
	}
	return t
}

// privateAddress is the n-th instance's fixed address: 240 to a /24 of 10.0.0.0/8 (.10 to .249, clear of the
// network, gateway and broadcast addresses), enough for 15 million instances.
func privateAddress(n int) netip.Addr {
	subnet, host := n/240, 10+n%240
	return netip.AddrFrom4([4]byte{10, byte(subnet >> 8), byte(subnet), byte(host)})
}

// rngReader feeds uuid.NewRandomFromReader from the seeded generator, so ids are valid version-4 UUIDs and
// the same on every run.
type rngReader struct{ rng *rand.Rand }

func (r rngReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(r.rng.UintN(256))
	}
	return len(p), nil
}
