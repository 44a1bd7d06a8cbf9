package sim

import (
	"fmt"
	"math/rand/v2"
	"net/netip"

	"github.com/google/uuid"

	"github.com/osdr/osdr/testenv/cloud"
)

// Shape is the size of a simulated cloud.
type Shape struct {
	Hosts              int
	Instances          int
	VolumesPerInstance int // data volumes, besides each instance's boot volume
	Seed               int64
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
	}
	return nil
}

// topology lays the instances round-robin over the hosts, each with an iSCSI boot volume and data volumes
// at /dev/vdb, /dev/vdc, ... Ids come from the seed, so a shape is the same cloud on every run.
func (s Shape) topology() cloud.Topology {
	rng := rand.New(rand.NewPCG(uint64(s.Seed), 0x05d7))
	newID := func() string { return uuid.Must(uuid.NewRandomFromReader(rngReader{rng})).String() }
	t := cloud.Topology{Controller: "controller"}
	for h := 1; h <= s.Hosts; h++ {
		t.Hosts = append(t.Hosts, cloud.Host{Name: fmt.Sprintf("compute-%d", h), IP: "127.0.0.1"})
	}
	for i := 1; i <= s.Instances; i++ {
		inst := cloud.Instance{
			ID:        newID(),
			Name:      fmt.Sprintf("vm%d", i),
			Host:      t.Hosts[(i-1)%len(t.Hosts)].Name,
			Addresses: []cloud.Address{{Network: "private", Addr: privateAddress(i - 1).String()}},
		}
		inst.Volumes = append(inst.Volumes, cloud.Volume{ID: newID(), Name: fmt.Sprintf("vm%d-root", i), SizeGB: 10, Boot: true})
		for v := 0; v < s.VolumesPerInstance; v++ {
			inst.Volumes = append(inst.Volumes, cloud.Volume{ID: newID(), Name: fmt.Sprintf("vm%d-data%d", i, v+1), SizeGB: 1, Device: fmt.Sprintf("/dev/vd%c", 'b'+v)})
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
