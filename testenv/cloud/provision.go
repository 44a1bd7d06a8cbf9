package cloud

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"net/netip"
	"slices"
	"time"

	"github.com/osdr/osdr/testenv/cloud/cinder"
	"github.com/osdr/osdr/testenv/cloud/inventory"
	"github.com/osdr/osdr/testenv/cloud/nova/novadb"
	"github.com/osdr/osdr/testenv/cloud/nova/volume"
	"github.com/osdr/osdr/testenv/cloud/store"
	"github.com/osdr/osdr/testenv/virt"
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
	dbIDs := map[string]int64{}
	if err := store.InTx(ctx, c.nova, func(tx *sql.Tx) error { return c.writeNova(ctx, tx, t, at, dbIDs) }); err != nil {
		return Topology{}, fmt.Errorf("provision nova: %w", err)
	}
	if err := c.cinder.Provision(ctx, t, at, dbIDs, connector); err != nil {
		return Topology{}, fmt.Errorf("provision cinder: %w", err)
	}
	for _, h := range t.Hosts {
		c.compute.addRunning(h.Name, cmp.Or(h.IP, "127.0.0.1"))
	}
	for _, inst := range t.Instances {
		d := virt.Domain{Host: inst.Host, Name: fmt.Sprintf("instance-%08x", dbIDs[inst.ID]), InstanceUUID: inst.ID}
		conns, err := c.compute.volumeConnections(ctx, inst.ID)
		if err != nil {
			return Topology{}, fmt.Errorf("provision: %w", err)
		}
		if err := c.driver.PowerOn(ctx, d, conns); err != nil {
			return Topology{}, fmt.Errorf("provision: power on %s on %s: %w", d.Name, d.Host, err)
		}
		if inst.State == StateStopped {
			if err := c.driver.PowerOff(ctx, d); err != nil {
				return Topology{}, fmt.Errorf("provision: power off %s on %s: %w", d.Name, d.Host, err)
			}
		}
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
		if _, ok := flavorByName(inst.Flavor); !ok {
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
			vol.Device = cmp.Or(vol.Device, "/dev/vda")
		}
		for vol.Device == "" {
			if candidate := "/dev/vd" + string(next); !slices.ContainsFunc(inst.Volumes, func(o Volume) bool { return o.Device == candidate }) {
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

func (c *Cloud) writeNova(ctx context.Context, tx *sql.Tx, t Topology, at time.Time, dbIDs map[string]int64) error {
	services := [][3]string{{t.Controller, "nova-conductor", "conductor"}, {t.Controller, "nova-scheduler", "scheduler"}}
	if c.profile.Legacy() {
		// nova-volume was a Nova service, with its row in Nova's services table.
		services = append(services, [3]string{t.StorageHost, "nova-volume", "volume"})
	}
	for _, h := range t.Hosts {
		services = append(services, [3]string{h.Name, "nova-compute", "compute"})
	}
	for _, s := range services {
		var exists bool
		if err := tx.QueryRowContext(ctx, "SELECT COUNT(*) > 0 FROM services WHERE host = ? AND `binary` = ? AND deleted = 0",
			s[0], s[1]).Scan(&exists); err != nil {
			return fmt.Errorf("look up service %s on %s: %w", s[1], s[0], err)
		}
		if exists {
			continue
		}
		if _, err := tx.ExecContext(ctx, "INSERT INTO services (created_at, updated_at, host, `binary`, topic, "+
			"report_count, disabled, deleted, last_seen_up, forced_down, version, uuid) VALUES (?, ?, ?, ?, ?, 1, 0, 0, ?, 0, ?, ?)",
			at, at, s[0], s[1], s[2], at, c.profile.ComputeServiceVersion, c.ids.UUID()); err != nil {
			return fmt.Errorf("add service %s on %s: %w", s[1], s[0], err)
		}
	}
	admin := c.keystone.Admin()
	for _, inst := range t.Instances {
		f, _ := flavorByName(inst.Flavor)
		imageRef := c.imageRef
		if slices.ContainsFunc(inst.Volumes, func(v Volume) bool { return v.Boot }) {
			imageRef = ""
		}
		power := virt.Running
		if inst.State == StateStopped {
			power = virt.Shutdown
		}
		res, err := tx.ExecContext(ctx, `INSERT INTO instances (created_at, updated_at, user_id, project_id, image_ref,
			kernel_id, ramdisk_id, launch_index, power_state, vm_state, memory_mb, vcpus, hostname, host,
			reservation_id, launched_at, display_name, availability_zone, locked, launched_on, instance_type_id,
			uuid, root_device_name, config_drive, progress, auto_disk_config, shutdown_terminate,
			disable_terminate, root_gb, ephemeral_gb, node, deleted, cleaned, hidden)
			VALUES (?, ?, ?, ?, ?, '', '', 0, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'nova', 0, ?, ?, ?, '/dev/vda', '', 0, 0, 0, 0, ?,
			0, ?, 0, 0, 0)`,
			at, at, admin.UserID, admin.ProjectID, imageRef, int(power), string(inst.State), f.memoryMB, f.vcpus,
			novadb.SanitizeHostname(inst.Name), inst.Host, c.ids.ReservationID(), at, inst.Name, inst.Host, f.id, inst.ID,
			f.rootGB, inst.Host)
		if err != nil {
			return fmt.Errorf("add instance %s: %w", inst.Name, err)
		}
		if dbIDs[inst.ID], err = res.LastInsertId(); err != nil {
			return fmt.Errorf("add instance %s: %w", inst.Name, err)
		}
		info, err := networkInfo(c.ids, admin.ProjectID, inst.Addresses)
		if err != nil {
			return fmt.Errorf("instance %s: %w", inst.Name, err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO instance_info_caches (created_at, updated_at, network_info,
			instance_uuid, deleted) VALUES (?, ?, ?, ?, 0)`, at, at, info, inst.ID); err != nil {
			return fmt.Errorf("add the info cache of %s: %w", inst.Name, err)
		}
		if imageRef != "" {
			if _, err := tx.ExecContext(ctx, `INSERT INTO block_device_mapping (created_at, updated_at, device_name,
				delete_on_termination, instance_uuid, deleted, source_type, destination_type, device_type, disk_bus,
				boot_index, image_id, uuid, `+"`encrypted`"+`) VALUES (?, ?, '/dev/vda', 1, ?, 0, 'image', 'local', 'disk',
				'virtio', 0, ?, ?, 0)`, at, at, inst.ID, imageRef, c.ids.UUID()); err != nil {
				return fmt.Errorf("add the root disk mapping of %s: %w", inst.Name, err)
			}
		}
		for _, v := range inst.Volumes {
			var bootIndex any
			if v.Boot {
				bootIndex = 0
			}
			conn, err := json.Marshal(volume.BDMConnectionInfo(c.cinder.ConnectionInfo(t, v), inst.ID, v.ID, v.Multiattach))
			if err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO block_device_mapping (created_at, updated_at, device_name,
				delete_on_termination, volume_id, volume_size, connection_info, instance_uuid, deleted, source_type,
				destination_type, device_type, disk_bus, boot_index, attachment_id, uuid, `+"`encrypted`"+`)
				VALUES (?, ?, ?, 0, ?, ?, ?, ?, 0, 'volume', 'volume', 'disk', 'virtio', ?, ?, ?, 0)`,
				at, at, v.Device, v.ID, v.SizeGB, string(conn), inst.ID, bootIndex,
				sql.NullString{String: v.AttachmentID, Valid: v.AttachmentID != ""}, v.BDMUUID); err != nil {
				return fmt.Errorf("add the mapping of volume %s to %s: %w", v.Name, inst.Name, err)
			}
		}
	}
	return nil
}

// connector is os-brick's connector properties of a compute host, as Nova sends them with an attachment.
func connector(host, ip, device string) map[string]any {
	return map[string]any{
		"platform": "x86_64", "os_type": "linux", "ip": ip, "host": host, "multipath": false,
		"initiator": "iqn.2004-10.com.ubuntu:01:" + novadb.SanitizeHostname(host), "do_local_attach": false,
		"mountpoint": device, "mode": "rw",
	}
}

// The parts of nova.network.model the info cache stores for a port.
type (
	cachedIP struct {
		Address     string     `json:"address"`
		Type        string     `json:"type"`
		Version     int        `json:"version"`
		Meta        struct{}   `json:"meta"`
		FloatingIPs []cachedIP `json:"floating_ips,omitempty"`
	}
	cachedSubnet struct {
		CIDR    string     `json:"cidr"`
		IPs     []cachedIP `json:"ips"`
		Version int        `json:"version"`
	}
	cachedVIF struct {
		ID      string `json:"id"`
		Address string `json:"address"`
		Type    string `json:"type"`
		Devname string `json:"devname"`
		Active  bool   `json:"active"`
		Network struct {
			ID      string         `json:"id"`
			Bridge  string         `json:"bridge"`
			Label   string         `json:"label"`
			Subnets []cachedSubnet `json:"subnets"`
			Meta    map[string]any `json:"meta"`
		} `json:"network"`
	}
)

// networkInfo renders an instance's addresses as Nova's info cache keeps them: one VIF per network and MAC,
// each fixed address in its subnet, floating ones on the network's first fixed address.
func networkInfo(ids *store.IDs, projectID string, addrs []Address) (string, error) {
	vifs := []*cachedVIF{}
	find := func(network, mac string) *cachedVIF {
		for _, v := range vifs {
			if v.Network.Label == network && v.Address == mac {
				return v
			}
		}
		port := ids.UUID()
		v := &cachedVIF{ID: port, Address: mac, Type: "ovs", Devname: "tap" + port[:11], Active: true}
		v.Network.ID, v.Network.Bridge, v.Network.Label = ids.UUID(), "br-int", network
		v.Network.Meta = map[string]any{"injected": false, "tenant_id": projectID, "mtu": 1450, "tunneled": true}
		vifs = append(vifs, v)
		return v
	}
	for _, a := range addrs {
		if a.Floating {
			continue
		}
		// complete checked every address.
		ip := netip.MustParseAddr(a.Addr)
		version, bits := 6, 64
		if ip.Is4() {
			version, bits = 4, 24
		}
		prefix, err := ip.Prefix(bits)
		if err != nil {
			return "", fmt.Errorf("subnet of %s: %w", a.Addr, err)
		}
		v := find(a.Network, a.MAC)
		v.Network.Subnets = append(v.Network.Subnets, cachedSubnet{
			CIDR: prefix.String(), IPs: []cachedIP{{Address: a.Addr, Type: "fixed", Version: version}}, Version: version,
		})
	}
	for _, a := range addrs {
		if !a.Floating {
			continue
		}
		version := 6
		if netip.MustParseAddr(a.Addr).Is4() {
			version = 4
		}
		// complete made sure the network has a fixed address.
		i := slices.IndexFunc(vifs, func(v *cachedVIF) bool { return v.Network.Label == a.Network })
		fixed := &vifs[i].Network.Subnets[0].IPs[0]
		fixed.FloatingIPs = append(fixed.FloatingIPs, cachedIP{Address: a.Addr, Type: "floating", Version: version})
	}
	out, err := json.Marshal(vifs)
	if err != nil {
		return "", fmt.Errorf("encode network info: %w", err)
	}
	return string(out), nil
}
