package sim

import (
	"net/netip"
	"testing"
)

// A shape of 10,000 instances over 100 hosts lays 100 instances on each host, each with its own usable private
// address, a boot volume and its data volumes.
func TestTopologyOfTenThousandInstances(t *testing.T) {
	shape := Shape{Hosts: 100, Instances: 10000, VolumesPerInstance: 2, Seed: 3}
	if err := shape.Validate(); err != nil {
		t.Fatal(err)
	}
	topo := shape.topology()
	perHost := map[string]int{}
	seen := map[netip.Addr]string{}
	private := netip.MustParsePrefix("10.0.0.0/8")
	for _, inst := range topo.Instances {
		perHost[inst.Host]++
		if len(inst.Addresses) != 1 || len(inst.Volumes) != 3 {
			t.Fatalf("%s: %d addresses, %d volumes", inst.Name, len(inst.Addresses), len(inst.Volumes))
		}
		a, err := netip.ParseAddr(inst.Addresses[0].Addr)
		if err != nil {
			t.Fatalf("%s: %v", inst.Name, err)
		}
		if last := a.As4()[3]; !private.Contains(a) || last < 10 || last > 249 {
			t.Errorf("%s: address %s is not a host address of a private /24", inst.Name, a)
		}
		if other, dup := seen[a]; dup {
			t.Fatalf("%s and %s share %s", other, inst.Name, a)
		}
		seen[a] = inst.Name
	}
	if len(perHost) != 100 {
		t.Errorf("instances on %d hosts", len(perHost))
	}
	for h, n := range perHost {
		if n != 100 {
			t.Errorf("%s runs %d instances", h, n)
		}
	}
}

func TestShapeValidateNamesTheFlagAndItsRange(t *testing.T) {
	for _, tc := range []struct {
		shape Shape
		want  string
	}{
		{Shape{Hosts: 0, Instances: 1}, "--hosts 0: at least one compute host"},
		{Shape{Hosts: 1, Instances: 0}, "--instances 0: 1 to 15728640"},
		{Shape{Hosts: 1, Instances: maxInstances + 1}, "--instances 15728641: 1 to 15728640"},
		{Shape{Hosts: 1, Instances: 1, VolumesPerInstance: 21}, "--volumes-per-instance 21: 0 to 20"},
		{Shape{Hosts: 1, Instances: 1, VolumesPerInstance: -1}, "--volumes-per-instance -1: 0 to 20"},
	} {
		if err := tc.shape.Validate(); err == nil || err.Error() != tc.want {
			t.Errorf("%+v: %v, want %q", tc.shape, err, tc.want)
		}
	}
}
