package cloud

import (
	"cmp"
	"context"
	"fmt"
	"net/netip"
	"slices"

	"github.com/osdr/osdr/testenv/cloud/cinder"
	"github.com/osdr/osdr/testenv/cloud/inventory"
	"github.com/osdr/osdr/testenv/cloud/nova"
	"github.com/osdr/osdr/testenv/cloud/nova/compute"
	"github.com/osdr/osdr/testenv/cloud/store"
)

// What Provision writes (package inventory).
type (
	Topology      = inventory.Topology
	Host          = inventory.Host
	Instance      = inventory.Instance
	Address       = inventory.Address
	Volume        = inventory.Volume
	Backend       = inventory.Backend
	InstanceState = inventory.InstanceState
)

const (
	BackendISCSI = inventory.BackendISCSI
	BackendRBD   = inventory.BackendRBD
	BackendNFS   = inventory.BackendNFS
	StateActive  = inventory.StateActive
	StateStopped = inventory.StateStopped
)

// Provision writes a topology into the databases the way Nova and Cinder themselves do when they boot servers
// and attach volumes (the services rows, instances with their info caches and block device mappings, volumes
// with their attachments), then powers every active instance on through the driver (a stopped one is left
// defined but shut off). Its hosts' nova-compute count as running from then on.
func (c *Cloud) Provision(ctx context.Context, t Topology) (Topology, error) {
	t, err := c.complete(t)
	if err != nil {
		return Topology{}, fmt.Errorf("provision: %w", err)
	}
	at := store.Now()
	// Nova first: the legacy volumes table records Nova's numeric instance ids.
	dbIDs, err := c.nova.Provision(ctx, t, at, func(v Volume) map[string]any { return c.cinder.ConnectionInfo(t, v) })
	if err != nil {
		return Topology{}, fmt.Errorf("provision nova: %w", err)
	}
	if err := c.cinder.Provision(ctx, t, at, dbIDs, compute.Connector); err != nil {
		return Topology{}, fmt.Errorf("provision cinder: %w", err)
	}
	if err := c.nova.Compute().Boot(ctx, t, dbIDs); err != nil {
		return Topology{}, fmt.Errorf("provision: %w", err)
	}
	return t, nil
}

// complete checks a topology and fills in its defaults and generated ids.
func (c *Cloud) complete(t Topology) (Topology, error) {
	t.Controller = cmp.Or(t.Controller, "controller")
	t.StorageHost = cmp.Or(t.StorageHost, t.Controller)
	t.StorageIP = cmp.Or(t.StorageIP, "127.0.0.1")
	if _, err := netip.ParseAddr(t.StorageIP); err != nil {
		return t, fmt.Errorf("storage IP: %w", err)
	}
	hosts := map[string]bool{}
	t.Hosts = slices.Clone(t.Hosts)
	for _, h := range t.Hosts {
		if h.Name == "" || hosts[h.Name] {
			return t, fmt.Errorf("host names must be unique and not empty (%q)", h.Name)
		}
		hosts[h.Name] = true
	}
	t.Instances = slices.Clone(t.Instances)
	for n := range t.Instances {
		inst := &t.Instances[n]
		if !hosts[inst.Host] {
			return t, fmt.Errorf("instance %q is on unknown host %q", inst.Name, inst.Host)
		}
		inst.ID = cmp.Or(inst.ID, c.ids.UUID())
		inst.Name = cmp.Or(inst.Name, "vm"+fmt.Sprint(n+1))
		if inst.State == "" {
			inst.State = StateActive
		}
		if inst.State != StateActive && inst.State != StateStopped {
			return t, fmt.Errorf("instance %q: unknown state %q", inst.Name, inst.State)
		}
		inst.Flavor = cmp.Or(inst.Flavor, "m1.tiny")
		if inst.DiskBus = cmp.Or(inst.DiskBus, inventory.DiskBusVirtio); inst.DiskBus.DevicePrefix() == "" {
			return t, fmt.Errorf("instance %q: unknown disk bus %q", inst.Name, inst.DiskBus)
		}
		if !nova.KnownFlavor(inst.Flavor) {
			return t, fmt.Errorf("instance %q: unknown flavor %q", inst.Name, inst.Flavor)
		}
		macs := map[string]string{}
		inst.Addresses = slices.Clone(inst.Addresses)
		for a := range inst.Addresses {
			addr := &inst.Addresses[a]
			if _, err := netip.ParseAddr(addr.Addr); err != nil {
				return t, fmt.Errorf("instance %q: address: %w", inst.Name, err)
			}
			if addr.Floating && !slices.ContainsFunc(inst.Addresses, func(o Address) bool { return !o.Floating && o.Network == addr.Network }) {
				return t, fmt.Errorf("instance %q: floating address %s has no fixed address on network %s", inst.Name, addr.Addr, addr.Network)
			}
			if addr.MAC == "" {
				if _, ok := macs[addr.Network]; !ok {
					macs[addr.Network] = c.ids.MAC()
				}
				addr.MAC = macs[addr.Network]
			}
		}
		inst.Volumes = slices.Clone(inst.Volumes)
		if err := c.completeVolumes(inst); err != nil {
			return t, err
		}
	}
	return t, nil
}

func (c *Cloud) completeVolumes(inst *Instance) error {
	boots := 0
	devices := map[string]bool{}
	next := 'b'
	for v := range inst.Volumes {
		vol := &inst.Volumes[v]
		vol.ID = cmp.Or(vol.ID, c.ids.UUID())
		vol.Name = cmp.Or(vol.Name, fmt.Sprintf("%s-vol%d", inst.Name, v+1))
		if vol.SizeGB == 0 {
			vol.SizeGB = 1
		}
		if vol.Backend == "" {
			vol.Backend = BackendISCSI
		}
		if !cinder.KnownBackend(vol.Backend) {
			return fmt.Errorf("volume %q: unknown backend %q", vol.Name, vol.Backend)
		}
		if vol.Boot {
			boots++
			vol.Device = cmp.Or(vol.Device, inst.RootDevice())
		}
		for vol.Device == "" {
			if candidate := inst.DiskBus.DevicePrefix() + string(next); !slices.ContainsFunc(inst.Volumes, func(o Volume) bool { return o.Device == candidate }) {
				vol.Device = candidate
			}
			next++
		}
		if devices[vol.Device] {
			return fmt.Errorf("instance %q: device %s used twice", inst.Name, vol.Device)
		}
		devices[vol.Device] = true
		// The legacy volume service keeps no attachments, so Nova's mappings have no attachment id.
		if !c.profile.Legacy() {
			vol.AttachmentID = c.ids.UUID()
		}
		vol.BDMUUID = c.ids.UUID()
	}
	if boots > 1 {
		return fmt.Errorf("instance %q: more than one boot volume", inst.Name)
	}
	return nil
}
