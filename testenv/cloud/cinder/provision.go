package cinder

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/osdr/osdr/testenv/cloud/inventory"
	"github.com/osdr/osdr/testenv/cloud/store"
)

// backendSpec is how one backend names its volumes and describes their connections.
type backendSpec struct {
	name       string // the cinder.conf backend section, also the pool
	volumeType string
}

var backends = map[inventory.Backend]backendSpec{
	inventory.BackendISCSI: {"lvm", defaultVolumeType},
	inventory.BackendRBD:   {"ceph", "ceph"},
	inventory.BackendNFS:   {"nfs", "nfs"},
}

// Provision writes a topology's volumes as Cinder keeps them attached, stamped at: on the modern schema the
// services, the volumes and their attachments (with the connector of each instance's host); on the legacy
// one each attached volume's row, holding its instance (instanceIDs are Nova's numeric instance ids), mountpoint
// and attach time, with no attachment, service or volume type rows.
func (c *Service) Provision(ctx context.Context, t inventory.Topology, at time.Time, instanceIDs map[string]int64,
	connector func(host, ip, mountpoint string) map[string]any) error {
	write := func(tx *sql.Tx) error { return c.writeVolumes(ctx, tx, t, at, connector) }
	if c.rel.Legacy {
		write = func(tx *sql.Tx) error { return c.writeLegacyVolumes(ctx, tx, t, at, instanceIDs) }
	}
	if err := store.InTx(ctx, c.db, write); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.storage = t.StorageIP
	return nil
}

func (c *Service) writeVolumes(ctx context.Context, tx *sql.Tx, t inventory.Topology, at time.Time,
	connector func(host, ip, mountpoint string) map[string]any) error {
	serviceUUIDs := map[inventory.Backend]string{}
	services := []struct {
		host, binary string
		backend      inventory.Backend
	}{{t.Controller, "cinder-scheduler", ""}}
	for _, inst := range t.Instances {
		for _, v := range inst.Volumes {
			if _, seen := serviceUUIDs[v.Backend]; !seen {
				serviceUUIDs[v.Backend] = ""
				services = append(services, struct {
					host, binary string
					backend      inventory.Backend
				}{t.StorageHost + "@" + backends[v.Backend].name, "cinder-volume", v.Backend})
			}
		}
	}
	for _, s := range services {
		var id string
		err := tx.QueryRowContext(ctx, "SELECT uuid FROM services WHERE host = ? AND `binary` = ? AND deleted = 0",
			s.host, s.binary).Scan(&id)
		if errors.Is(err, sql.ErrNoRows) {
			id = c.ids.UUID()
			_, err = tx.ExecContext(ctx, "INSERT INTO services (created_at, updated_at, deleted, host, `binary`, topic, "+
				"report_count, disabled, availability_zone, rpc_current_version, object_current_version, frozen, uuid) "+
				"VALUES (?, ?, 0, ?, ?, ?, 1, 0, 'nova', ?, '1.39', 0, ?)",
				at, at, s.host, s.binary, s.binary, c.rel.RPCVersion, id)
		}
		if err != nil {
			return fmt.Errorf("add service %s on %s: %w", s.binary, s.host, err)
		}
		if s.backend != "" {
			serviceUUIDs[s.backend] = id
		}
	}
	hostIPs := map[string]string{}
	for _, h := range t.Hosts {
		hostIPs[h.Name] = cmp.Or(h.IP, "127.0.0.1")
	}
	// Volumes go in before their attachments (a foreign key), both in multi-row statements.
	for chunk := range slices.Chunk(t.Instances, provisionChunk) {
		var volumes, attachments [][]any
		for _, inst := range chunk {
			for _, v := range inst.Volumes {
				spec := backends[v.Backend]
				var location, auth any
				if v.Backend == inventory.BackendISCSI {
					location, auth = iscsiProvider(t.StorageIP, v.ID)
				}
				if v.Backend == inventory.BackendNFS {
					location = t.StorageIP + ":/srv/cinder/nfs"
				}
				volumes = append(volumes, []any{at, at, 0, v.ID, c.userID, c.projectID, t.StorageHost + "@" + spec.name + "#" + spec.name,
					v.SizeGB, "nova", "in-use", "attached", at, v.Name, location, auth, c.types.ensure(spec.volumeType), v.Boot,
					v.Multiattach, serviceUUIDs[v.Backend], 0, 1})
				conn, err := json.Marshal(c.attachmentConnectionInfo(targetOf(t, v)))
				if err != nil {
					return err
				}
				hostConnector, err := json.Marshal(connector(inst.Host, hostIPs[inst.Host], v.Device))
				if err != nil {
					return err
				}
				attachments = append(attachments, []any{at, at, 0, v.AttachmentID, v.ID, inst.Host, inst.ID, v.Device, at, "rw",
					"attached", string(conn), string(hostConnector)})
			}
		}
		if err := store.InsertRows(ctx, tx, "volumes", provisionedVolumeColumns, volumes); err != nil {
			return fmt.Errorf("add volumes: %w", err)
		}
		if err := store.InsertRows(ctx, tx, "volume_attachment", provisionedAttachmentColumns, attachments); err != nil {
			return fmt.Errorf("add volume attachments: %w", err)
		}
	}
	return nil
}

// provisionChunk is how many instances' volumes Provision writes at a time.
const provisionChunk = 500

// The columns Provision fills, as Cinder writes them when it creates and attaches a volume.
var (
	provisionedVolumeColumns = []string{"created_at", "updated_at", "deleted", "id", "user_id", "project_id", "host", "size",
		"availability_zone", "status", "attach_status", "launched_at", "display_name", "provider_location",
		"provider_auth", "volume_type_id", "bootable", "multiattach", "service_uuid", "shared_targets", "use_quota"}
	provisionedAttachmentColumns = []string{"created_at", "updated_at", "deleted", "id", "volume_id", "attached_host",
		"instance_uuid", "mountpoint", "attach_time", "attach_mode", "attach_status", "connection_info", "connector"}
	provisionedLegacyColumns = []string{"created_at", "updated_at", "deleted", "id", "user_id", "project_id", "host", "size",
		"availability_zone", "instance_id", "mountpoint", "attach_time", "status", "attach_status", "launched_at",
		"display_name", "provider_location", "provider_auth"}
)

// writeLegacyVolumes writes the volumes as nova-volume kept them.
func (c *Service) writeLegacyVolumes(ctx context.Context, tx *sql.Tx, t inventory.Topology, at time.Time, dbIDs map[string]int64) error {
	var volumes [][]any
	for _, inst := range t.Instances {
		for _, v := range inst.Volumes {
			spec := backends[v.Backend]
			var location, auth any
			if v.Backend == inventory.BackendISCSI {
				location, auth = iscsiProvider(t.StorageIP, v.ID)
			}
			volumes = append(volumes, []any{at, at, 0, v.ID, c.userID, c.projectID, t.StorageHost + "@" + spec.name + "#" + spec.name,
				v.SizeGB, "nova", dbIDs[inst.ID], v.Device, at.Format(legacyAttachTime), "in-use", "attached", at, v.Name,
				location, auth})
		}
	}
	if err := store.InsertRows(ctx, tx, "volumes", provisionedLegacyColumns, volumes); err != nil {
		return fmt.Errorf("add volumes: %w", err)
	}
	return nil
}

// KnownBackend reports whether Cinder has a backend of that kind.
func KnownBackend(b inventory.Backend) bool {
	_, ok := backends[b]
	return ok
}

// ConnectionInfo is what the volume driver answers for a provisioned volume's attachment.
func (c *Service) ConnectionInfo(t inventory.Topology, v inventory.Volume) map[string]any {
	return c.attachmentConnectionInfo(targetOf(t, v))
}

// iqn is the target Cinder's LVM driver exports a volume as.
func iqn(volumeID string) string { return "iqn.2010-10.org.openstack:volume-" + volumeID }

// iscsiProvider is an iSCSI volume's provider_location and provider_auth as the LVM driver stores them.
func iscsiProvider(storageIP, volumeID string) (location, auth string) {
	user, secret := chapCredentials(volumeID)
	return fmt.Sprintf("%s:3260,1 %s 1", storageIP, iqn(volumeID)), "CHAP " + user + " " + secret
}

// chapCredentials are the volume's CHAP user and secret, derived from its id so both services agree.
func chapCredentials(volumeID string) (string, string) {
	compact := strings.ReplaceAll(volumeID, "-", "")
	return compact[:20], compact[12:]
}

// volumeTarget is what a volume driver describes a volume's connection from.
type volumeTarget struct {
	volumeID, attachmentID string
	backend                inventory.Backend
	storageIP              string
	multiattach            bool
}

func targetOf(t inventory.Topology, v inventory.Volume) volumeTarget {
	return volumeTarget{volumeID: v.ID, attachmentID: v.AttachmentID, backend: v.Backend, storageIP: t.StorageIP,
		multiattach: v.Multiattach}
}

// volumeTarget reads a volume row's target: the backend from the pool of its host (host@backend#pool), the
// storage address from its provider_location, else where Provision put the storage backends.
func (c *Service) volumeTarget(v volumeRow, attachmentID string) volumeTarget {
	t := volumeTarget{volumeID: v.id, attachmentID: attachmentID, backend: inventory.BackendISCSI,
		storageIP: c.storageIP(), multiattach: v.multiattach.Bool}
	if _, pool, ok := strings.Cut(v.host.String, "#"); ok {
		for b, spec := range backends {
			if spec.name == pool {
				t.backend = b
			}
		}
	}
	if fields := strings.Fields(v.providerLocation.String); len(fields) > 0 {
		if host, _, ok := strings.Cut(fields[0], ":"); ok {
			if _, err := netip.ParseAddr(host); err == nil {
				t.storageIP = host
			}
		}
	}
	return t
}

// driverData is what the volume driver's initialize_connection answers for the volume.
func (c *Service) driverData(t volumeTarget) (string, map[string]any) {
	common := map[string]any{
		"volume_id": t.volumeID, "encrypted": false, "qos_specs": nil, "access_mode": "rw", "cacheable": false,
	}
	switch t.backend {
	case inventory.BackendRBD:
		common["name"] = "volumes/volume-" + t.volumeID
		common["hosts"] = []string{t.storageIP}
		common["ports"] = []string{"6789"}
		common["cluster_name"] = "ceph"
		common["auth_enabled"] = true
		common["auth_username"] = "cinder"
		common["secret_type"] = "ceph"
		common["secret_uuid"] = c.cephSecret
		common["discard"] = true
		common["keyring"] = nil
		return "rbd", common
	case inventory.BackendNFS:
		common["export"] = t.storageIP + ":/srv/cinder/nfs"
		common["name"] = "volume-" + t.volumeID
		common["options"] = nil
		common["format"] = "raw"
		return "nfs", common
	default:
		user, secret := chapCredentials(t.volumeID)
		common["target_discovered"] = false
		common["target_portal"] = t.storageIP + ":3260"
		common["target_iqn"] = iqn(t.volumeID)
		common["target_lun"] = 1
		common["auth_method"] = "CHAP"
		common["auth_username"] = user
		common["auth_password"] = secret
		return "iscsi", common
	}
}

// attachmentConnectionInfo is what Cinder keeps in volume_attachment.connection_info: the driver's data
// flattened, with the driver type and the attachment id (volume manager _connection_create); without an
// attachment (the legacy volume service's os-initialize_connection) there is no attachment id.
func (c *Service) attachmentConnectionInfo(t volumeTarget) map[string]any {
	kind, data := c.driverData(t)
	data["driver_volume_type"] = kind
	if t.attachmentID != "" {
		data["attachment_id"] = t.attachmentID
	}
	return data
}
