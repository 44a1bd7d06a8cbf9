package sim

import (
	"context"
	"fmt"
	"time"

	"github.com/osdr/osdr/testenv/cloud"
	"github.com/osdr/osdr/testenv/hosts"
)

// guestBoots cycles through the seed's three kinds of image: one that hangs at plymouth on a missing fstab
// volume, one with no fstab entry that just boots, one that waits in cloud-init.
var guestBoots = []struct {
	boot  hosts.Boot
	fstab bool
}{
	{hosts.BootPlymouth, true},
	{hosts.BootSkips, false},
	{hosts.BootCloudInit, true},
}

// GuestBootDelay is how long a simulated guest takes from power-on to sshd: long enough to be seen down,
// short enough for tests.
const GuestBootDelay = 150 * time.Millisecond

// startMachines builds the compute hosts and guests of the topology as SSH servers.
func startMachines(ctx context.Context, t cloud.Topology) (*hosts.Cluster, error) {
	c, err := hosts.New()
	if err != nil {
		return nil, err
	}
	for _, h := range t.Hosts {
		if err := c.AddHost(ctx, h.Name, hosts.HostOptions{}); err != nil {
			c.Close()
			return nil, err
		}
	}
	for i, inst := range t.Instances {
		kind := guestBoots[i%len(guestBoots)]
		spec := hosts.GuestSpec{InstanceUUID: inst.ID, Host: inst.Host, Boot: kind.boot, BootDelay: GuestBootDelay,
			CloudInitWait: 30 * time.Second, DiskBus: string(inst.DiskBus)}
		if kind.fstab {
			n := 0
			for _, v := range inst.Volumes {
				if v.Boot || (v.Backend != "" && v.Backend != cloud.BackendISCSI) {
					continue
				}
				n++
				mp := "/data"
				if n > 1 {
					mp = fmt.Sprintf("/data%d", n)
				}
				spec.Fstab = append(spec.Fstab, hosts.FstabEntry{Device: v.Device, MountPoint: mp})
			}
		}
		if err := c.AddGuest(ctx, spec); err != nil {
			c.Close()
			return nil, err
		}
	}
	if err := c.Start(ctx); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// clusterMachines adapts the cluster to the state files.
type clusterMachines struct{ c *hosts.Cluster }

func (m clusterMachines) Machines(dir string) (hostList, guests []Machine, key, knownHosts string, err error) {
	files, err := m.c.WriteClientFiles(dir)
	if err != nil {
		return nil, nil, "", "", err
	}
	for _, name := range m.c.Hosts() {
		ep, err := m.c.HostEndpoint(name)
		if err != nil {
			return nil, nil, "", "", err
		}
		hostList = append(hostList, Machine{Name: name, Address: ep.Address, Port: ep.Port, User: ep.User, Key: files.Key})
	}
	for _, g := range m.c.Guests() {
		guests = append(guests, Machine{Name: g.DomainName, Instance: g.InstanceUUID, Address: g.Endpoint.Address, Port: g.Endpoint.Port, User: g.Endpoint.User, Key: files.Key})
	}
	return hostList, guests, files.Key, files.KnownHosts, nil
}
