package nova

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"net/netip"
	"slices"
	"time"

	"github.com/osdr/osdr/testenv/cloud/inventory"
	"github.com/osdr/osdr/testenv/cloud/nova/novadb"
	"github.com/osdr/osdr/testenv/cloud/nova/volume"
	"github.com/osdr/osdr/testenv/cloud/store"
	"github.com/osdr/osdr/testenv/virt"
)

// Provision writes a topology's Nova rows, stamped at, as Nova writes them when it boots servers and attaches
// volumes: the services (nova-volume's too when it is the volume service), the instances with their info caches
// and block device mappings; connection is what Cinder answers for a volume's attachment. It returns the
// instances' numeric ids.
func (c *Service) Provision(ctx context.Context, t inventory.Topology, at time.Time,
	connection func(inventory.Volume) map[string]any) (map[string]int64, error) {
	ids := map[string]int64{}
	err := store.InTx(ctx, c.db, func(tx *sql.Tx) error { return c.writeNova(ctx, tx, t, at, ids, connection) })
	return ids, err
}

func (c *Service) writeNova(ctx context.Context, tx *sql.Tx, t inventory.Topology, at time.Time, dbIDs map[string]int64,
	connection func(inventory.Volume) map[string]any) error {
	services := [][3]string{{t.Controller, "nova-conductor", "conductor"}, {t.Controller, "nova-scheduler", "scheduler"}}
	if c.rel.NovaVolume {
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
			at, at, s[0], s[1], s[2], at, c.rel.ServiceVersion, c.ids.UUID()); err != nil {
			return fmt.Errorf("add service %s on %s: %w", s[1], s[0], err)
		}
	}
	// Rows go in by the chunk of instances, each table in multi-row statements; ids are drawn instance by
	// instance, in the order one seed has always named them.
	for chunk := range slices.Chunk(t.Instances, provisionChunk) {
		var instances, caches, mappings [][]any
		for _, inst := range chunk {
			inst.DiskBus = cmp.Or(inst.DiskBus, inventory.DiskBusVirtio)
			f, _ := flavorByName(inst.Flavor)
			imageRef := c.imageRef
			if slices.ContainsFunc(inst.Volumes, func(v inventory.Volume) bool { return v.Boot }) {
				imageRef = ""
			}
			power := virt.Running
			if inst.State == inventory.StateStopped {
				power = virt.Shutdown
			}
			instances = append(instances, []any{at, at, c.userID, c.projectID, imageRef, "", "", 0, int(power),
				string(inst.State), f.memoryMB, f.vcpus, novadb.SanitizeHostname(inst.Name), inst.Host, c.ids.ReservationID(),
				at, inst.Name, "nova", 0, inst.Host, f.id, inst.ID, inst.RootDevice(), "", 0, 0, 0, 0, f.rootGB, 0, inst.Host, 0, 0, 0})
			info, err := networkInfo(c.ids, c.projectID, inst.Addresses)
			if err != nil {
				return fmt.Errorf("instance %s: %w", inst.Name, err)
			}
			caches = append(caches, []any{at, at, info, inst.ID, 0})
			if imageRef != "" {
				mappings = append(mappings, []any{at, at, inst.RootDevice(), 1, nil, nil, nil, inst.ID, 0, "image", "local",
					"disk", string(inst.DiskBus), 0, imageRef, nil, c.ids.UUID(), 0})
			}
			for _, v := range inst.Volumes {
				var bootIndex any
				if v.Boot {
					bootIndex = 0
				}
				conn, err := json.Marshal(volume.BDMConnectionInfo(connection(v), inst.ID, v.ID, v.Multiattach))
				if err != nil {
					return err
				}
				mappings = append(mappings, []any{at, at, v.Device, 0, v.ID, v.SizeGB, string(conn), inst.ID, 0, "volume",
					"volume", "disk", string(inst.DiskBus), bootIndex, nil, sql.NullString{String: v.AttachmentID, Valid: v.AttachmentID != ""},
					v.BDMUUID, 0})
			}
		}
		if err := store.InsertRows(ctx, tx, "instances", instanceColumns, instances); err != nil {
			return fmt.Errorf("add instances: %w", err)
		}
		if err := instanceIDs(ctx, tx, chunk, dbIDs); err != nil {
			return err
		}
		if err := store.InsertRows(ctx, tx, "instance_info_caches", infoCacheColumns, caches); err != nil {
			return fmt.Errorf("add info caches: %w", err)
		}
		if err := store.InsertRows(ctx, tx, "block_device_mapping", bdmColumns, mappings); err != nil {
			return fmt.Errorf("add block device mappings: %w", err)
		}
		for _, inst := range chunk {
			if t.ActionHistory {
				if err := c.writeHistory(ctx, tx, inst, at); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// provisionChunk is how many instances Provision writes at a time.
const provisionChunk = 500

// The columns Provision fills, as Nova's objects write them at boot.
var (
	instanceColumns = []string{"created_at", "updated_at", "user_id", "project_id", "image_ref", "kernel_id",
		"ramdisk_id", "launch_index", "power_state", "vm_state", "memory_mb", "vcpus", "hostname", "host",
		"reservation_id", "launched_at", "display_name", "availability_zone", "locked", "launched_on",
		"instance_type_id", "uuid", "root_device_name", "config_drive", "progress", "auto_disk_config",
		"shutdown_terminate", "disable_terminate", "root_gb", "ephemeral_gb", "node", "deleted", "cleaned", "hidden"}
	infoCacheColumns = []string{"created_at", "updated_at", "network_info", "instance_uuid", "deleted"}
	bdmColumns       = []string{"created_at", "updated_at", "device_name", "delete_on_termination", "volume_id",
		"volume_size", "connection_info", "instance_uuid", "deleted", "source_type", "destination_type", "device_type",
		"disk_bus", "boot_index", "image_id", "attachment_id", "uuid", "encrypted"}
)

// instanceIDs reads back the numeric ids the database gave the instances just inserted.
func instanceIDs(ctx context.Context, tx *sql.Tx, instances []inventory.Instance, dbIDs map[string]int64) error {
	uuids := make([]string, len(instances))
	for i, inst := range instances {
		uuids[i] = inst.ID
	}
	rows, err := tx.QueryContext(ctx, "SELECT uuid, id FROM instances WHERE uuid IN ("+store.Placeholders(len(uuids))+")",
		store.Args(uuids)...)
	if err != nil {
		return fmt.Errorf("read the new instances' ids: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var uuid string
		var id int64
		if err := rows.Scan(&uuid, &id); err != nil {
			return fmt.Errorf("read the new instances' ids: %w", err)
		}
		dbIDs[uuid] = id
	}
	return rows.Err()
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
func networkInfo(ids *store.IDs, projectID string, addrs []inventory.Address) (string, error) {
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
