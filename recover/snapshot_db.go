package recover

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/osdr/osdr/internal/cloud"
)

// connectionInfo is the part of a BDM's (or a Cinder attachment's) connection_info the engine reads.
type connectionInfo struct {
	DriverVolumeType string `json:"driver_volume_type"`
	Data             struct {
		TargetIQN    string `json:"target_iqn"`
		TargetPortal string `json:"target_portal"`
		TargetLUN    int    `json:"target_lun"`
	} `json:"data"`
}

func parseConnectionInfo(raw sql.NullString) (connectionInfo, error) {
	var ci connectionInfo
	if !raw.Valid || raw.String == "" || raw.String == "null" {
		return ci, nil
	}
	if err := json.Unmarshal([]byte(raw.String), &ci); err != nil {
		return ci, fmt.Errorf("connection_info is not JSON: %w", err)
	}
	return ci, nil
}

// volumeRow is what the manifest needs of a Cinder volume.
type volumeRow struct {
	name, status, attachStatus string
	multiattach                bool
	// providerLocation is where the volume driver says its target is; for Cinder's iSCSI drivers (LVM with
	// tgt or LIO, and most others) "ip:port,tpgt iqn lun".
	providerLocation string
}

// iscsiTarget is a volume's iSCSI target as the cloud records it.
type iscsiTarget struct {
	iqn, portal string
	lun         int
}

// targetFromProviderLocation reads Cinder's provider_location of an iSCSI volume, "10.0.0.1:3260,1
// iqn.2010-10.org.openstack:volume-<id> 1" (several portals are separated by ';': the first is taken).
func targetFromProviderLocation(loc string) (iscsiTarget, bool) {
	first, _, _ := strings.Cut(loc, ";")
	f := strings.Fields(first)
	if len(f) < 2 || !strings.HasPrefix(f[1], "iqn.") {
		return iscsiTarget{}, false
	}
	t := iscsiTarget{iqn: f[1]}
	t.portal, _, _ = strings.Cut(f[0], ",")
	if len(f) > 2 {
		t.lun, _ = strconv.Atoi(f[2])
	}
	return t, true
}

// unverifiableTarget is why a volume whose target the cloud does not record is marked, never guessed: a
// guessed IQN (LVM's naming) would let a fault close, or a check accept, another volume's session.
const unverifiableTarget = "no iSCSI target recorded: not in Nova's connection_info, Cinder's attachment or Cinder's provider_location"

// snapshotFromDB takes the manifest from the databases alone, for when the APIs do not answer: instances and
// their BDMs from every Nova cell, volume states and attachments from Cinder. It keeps only the scope.
func snapshotFromDB(ctx context.Context, dbs cloud.Databases, scope Scope) (*Manifest, error) {
	if err := scope.Validate(); err != nil {
		return nil, err
	}
	schema, err := DetectCinderSchema(ctx, dbs.Cinder)
	if err != nil {
		return nil, err
	}
	m := &Manifest{Source: "db", Cloud: CloudID{CinderSchema: string(schema)}}
	volumes, err := readVolumes(ctx, dbs.Cinder, schema)
	if err != nil {
		return nil, err
	}
	numericIDs := map[int64]string{} // Nova instances.id → uuid, for the legacy schema's volumes.instance_id
	for cell, db := range dbs.Cells {
		if err := checkNovaSchema(ctx, db); err != nil {
			return nil, fmt.Errorf("Nova cell %d: %w", cell, err)
		}
		if err := readInstances(ctx, db, cell, m, numericIDs); err != nil {
			return nil, fmt.Errorf("Nova cell %d: %w", cell, err)
		}
		if err := readBDMs(ctx, db, m, volumes); err != nil {
			return nil, fmt.Errorf("Nova cell %d: %w", cell, err)
		}
	}
	switch schema {
	case SchemaModern:
		err = crossCheckCinderAttachments(ctx, dbs.Cinder, m)
	case SchemaLegacy:
		err = addLegacyAttachments(ctx, dbs.Cinder, m, numericIDs, volumes)
	}
	if err != nil {
		return nil, err
	}
	if err := resolveTargets(ctx, dbs.Cinder, schema, m, volumes); err != nil {
		return nil, err
	}
	ids, err := scope.Select(m)
	if err != nil {
		return nil, err
	}
	m.restrict(ids)
	m.Normalize()
	return m, nil
}

// restrict drops every instance (and its attachments) not in ids.
func (m *Manifest) restrict(ids []string) {
	keep := map[string]bool{}
	for _, id := range ids {
		keep[id] = true
	}
	instances := m.Instances[:0]
	for _, in := range m.Instances {
		if keep[in.ID] {
			instances = append(instances, in)
		}
	}
	m.Instances = instances
	attachments := m.Attachments[:0]
	for _, a := range m.Attachments {
		if keep[a.InstanceID] {
			attachments = append(attachments, a)
		}
	}
	m.Attachments = attachments
}

func readVolumes(ctx context.Context, db *sql.DB, schema CinderSchema) (map[string]volumeRow, error) {
	q := "SELECT id, display_name, status, attach_status, multiattach, provider_location FROM volumes WHERE deleted=0"
	if schema == SchemaLegacy {
		q = "SELECT id, display_name, status, attach_status, 0, provider_location FROM volumes WHERE deleted=0"
	}
	rows, err := db.QueryContext(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("read Cinder volumes: %w", err)
	}
	defer rows.Close()
	out := map[string]volumeRow{}
	for rows.Next() {
		var id string
		var name, status, attach, location sql.NullString
		var multi sql.NullBool
		if err := rows.Scan(&id, &name, &status, &attach, &multi, &location); err != nil {
			return nil, fmt.Errorf("read Cinder volumes: %w", err)
		}
		out[id] = volumeRow{name: name.String, status: status.String, attachStatus: attach.String, multiattach: multi.Bool, providerLocation: location.String}
	}
	return out, rows.Err()
}

func readInstances(ctx context.Context, db *sql.DB, cell int, m *Manifest, numericIDs map[int64]string) error {
	rows, err := db.QueryContext(ctx, `SELECT i.id, i.uuid, i.display_name, i.host, i.vm_state, i.power_state, i.task_state, c.network_info
		FROM instances i LEFT JOIN instance_info_caches c ON c.instance_uuid = i.uuid AND c.deleted = 0
		WHERE i.deleted = 0 AND i.vm_state <> 'deleted'`)
	if err != nil {
		return fmt.Errorf("read instances: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id int64
		var uuid string
		var name, host, vmState, taskState, networkInfo sql.NullString
		var power sql.NullInt64
		if err := rows.Scan(&id, &uuid, &name, &host, &vmState, &power, &taskState, &networkInfo); err != nil {
			return fmt.Errorf("read instances: %w", err)
		}
		numericIDs[id] = uuid
		in := Instance{
			ID: uuid, Name: name.String, Host: host.String, DomainName: fmt.Sprintf("instance-%08x", id), Cell: cell,
			VMState: vmState.String, PowerState: int(power.Int64), TaskState: taskState.String,
		}
		if addrs, err := addressesFromNetworkInfo(networkInfo.String); err != nil {
			m.Warnings = append(m.Warnings, fmt.Sprintf("instance %s: unreadable network_info: %v", uuid, err))
		} else {
			in.Addresses = addrs
		}
		m.Instances = append(m.Instances, in)
	}
	return rows.Err()
}

// addressesFromNetworkInfo reads the fixed and floating IPs out of Nova's cached network_info.
func addressesFromNetworkInfo(raw string) (map[string][]string, error) {
	if raw == "" {
		return nil, nil
	}
	var vifs []struct {
		Network struct {
			Label   string `json:"label"`
			Subnets []struct {
				IPs []struct {
					Address     string `json:"address"`
					FloatingIPs []struct {
						Address string `json:"address"`
					} `json:"floating_ips"`
				} `json:"ips"`
			} `json:"subnets"`
		} `json:"network"`
	}
	if err := json.Unmarshal([]byte(raw), &vifs); err != nil {
		return nil, err
	}
	out := map[string][]string{}
	for _, vif := range vifs {
		for _, sn := range vif.Network.Subnets {
			for _, ip := range sn.IPs {
				out[vif.Network.Label] = append(out[vif.Network.Label], ip.Address)
				for _, f := range ip.FloatingIPs {
					out[vif.Network.Label] = append(out[vif.Network.Label], f.Address)
				}
			}
		}
	}
	return out, nil
}

func readBDMs(ctx context.Context, db *sql.DB, m *Manifest, volumes map[string]volumeRow) error {
	hostOf := map[string]string{}
	for _, in := range m.Instances {
		hostOf[in.ID] = in.Host
	}
	rows, err := db.QueryContext(ctx, `SELECT id, uuid, instance_uuid, volume_id, device_name, boot_index, attachment_id, connection_info
		FROM block_device_mapping WHERE deleted = 0 AND volume_id IS NOT NULL AND destination_type = 'volume'`)
	if err != nil {
		return fmt.Errorf("read block device mappings: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id int64
		var uuid, instance, volume, device, attachmentID, conn sql.NullString
		var boot sql.NullInt64
		if err := rows.Scan(&id, &uuid, &instance, &volume, &device, &boot, &attachmentID, &conn); err != nil {
			return fmt.Errorf("read block device mappings: %w", err)
		}
		host, ok := hostOf[instance.String]
		if !ok {
			continue // the instance is deleted; its BDM is not an attachment to recover
		}
		a := Attachment{
			VolumeID: volume.String, InstanceID: instance.String, Device: device.String, Host: host,
			AttachmentID: attachmentID.String, BDMID: id, BDMUUID: uuid.String,
		}
		if boot.Valid {
			b := int(boot.Int64)
			a.BootIndex = &b
		}
		ci, err := parseConnectionInfo(conn)
		if err != nil {
			return fmt.Errorf("BDM %d of instance %s: %w", id, instance.String, err)
		}
		a.DriverVolumeType, a.IQN, a.Portal, a.LUN = ci.DriverVolumeType, ci.Data.TargetIQN, ci.Data.TargetPortal, ci.Data.TargetLUN
		v, ok := volumes[a.VolumeID]
		if !ok {
			m.Warnings = append(m.Warnings, fmt.Sprintf("BDM %d of instance %s names volume %s, which Cinder does not have", id, a.InstanceID, a.VolumeID))
			continue
		}
		a.VolumeName, a.VolumeStatus, a.AttachStatus, a.Multiattach = v.name, v.status, v.attachStatus, v.multiattach
		m.Attachments = append(m.Attachments, a)
	}
	return rows.Err()
}

// crossCheckCinderAttachments compares Nova's BDMs with Cinder's live attachments and records every
// disagreement: the manifest keeps Nova's view, which is what the reattach recreates.
func crossCheckCinderAttachments(ctx context.Context, db *sql.DB, m *Manifest) error {
	rows, err := db.QueryContext(ctx, `SELECT id, volume_id, instance_uuid, mountpoint FROM volume_attachment
		WHERE deleted = 0 AND attach_status = 'attached'`)
	if err != nil {
		return fmt.Errorf("read Cinder attachments: %w", err)
	}
	defer rows.Close()
	cinder := map[string][3]string{}
	for rows.Next() {
		var id, volume string
		var instance, mount sql.NullString
		if err := rows.Scan(&id, &volume, &instance, &mount); err != nil {
			return fmt.Errorf("read Cinder attachments: %w", err)
		}
		cinder[id] = [3]string{volume, instance.String, mount.String}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read Cinder attachments: %w", err)
	}
	known := map[string]bool{}
	for _, a := range m.Attachments {
		c, ok := cinder[a.AttachmentID]
		switch {
		case a.AttachmentID == "":
			m.Warnings = append(m.Warnings, fmt.Sprintf("volume %s on instance %s: BDM has no Cinder attachment id", a.VolumeID, a.InstanceID))
		case !ok:
			m.Warnings = append(m.Warnings, fmt.Sprintf("volume %s on instance %s: Cinder has no live attachment %s", a.VolumeID, a.InstanceID, a.AttachmentID))
		case c[0] != a.VolumeID || c[1] != a.InstanceID:
			m.Warnings = append(m.Warnings, fmt.Sprintf("attachment %s: Nova says volume %s on %s, Cinder says volume %s on %s", a.AttachmentID, a.VolumeID, a.InstanceID, c[0], c[1]))
		}
		known[a.AttachmentID] = true
	}
	var orphans []string
	for id, c := range cinder {
		if !known[id] {
			orphans = append(orphans, fmt.Sprintf("Cinder attachment %s (volume %s on %s) has no Nova BDM", id, c[0], c[1]))
		}
	}
	sort.Strings(orphans)
	m.Warnings = append(m.Warnings, orphans...)
	return nil
}

// addLegacyAttachments reads attachments from the nova-volume-era columns where Nova has no BDM for them.
func addLegacyAttachments(ctx context.Context, db *sql.DB, m *Manifest, numericIDs map[int64]string, volumes map[string]volumeRow) error {
	have := map[[2]string]bool{}
	for _, a := range m.Attachments {
		have[[2]string{a.VolumeID, a.InstanceID}] = true
	}
	hostOf := map[string]string{}
	for _, in := range m.Instances {
		hostOf[in.ID] = in.Host
	}
	rows, err := db.QueryContext(ctx, `SELECT id, instance_id, mountpoint FROM volumes WHERE deleted = 0 AND instance_id IS NOT NULL AND instance_id <> 0`)
	if err != nil {
		return fmt.Errorf("read legacy attachments: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		var instanceID int64
		var mount sql.NullString
		if err := rows.Scan(&id, &instanceID, &mount); err != nil {
			return fmt.Errorf("read legacy attachments: %w", err)
		}
		uuid, ok := numericIDs[instanceID]
		if !ok {
			m.Warnings = append(m.Warnings, fmt.Sprintf("volume %s is attached to instance id %d, which Nova does not have", id, instanceID))
			continue
		}
		if have[[2]string{id, uuid}] {
			continue
		}
		v := volumes[id]
		m.Attachments = append(m.Attachments, Attachment{
			VolumeID: id, VolumeName: v.name, InstanceID: uuid, Device: mount.String, Host: hostOf[uuid],
			DriverVolumeType: "iscsi", VolumeStatus: v.status, AttachStatus: v.attachStatus,
		})
	}
	return rows.Err()
}

// resolveTargets fills in the iSCSI target of each iSCSI attachment whose BDM's connection_info names none
// (some drivers return none there), from what the cloud records elsewhere: Cinder's attachment's
// connection_info (modern schema), then the volume's provider_location. A target found nowhere is marked
// unverifiable, never assumed.
func resolveTargets(ctx context.Context, db *sql.DB, schema CinderSchema, m *Manifest, volumes map[string]volumeRow) error {
	var missing []string
	for _, a := range m.Attachments {
		if a.DriverVolumeType == "iscsi" && a.IQN == "" && a.AttachmentID != "" {
			missing = append(missing, a.AttachmentID)
		}
	}
	fromCinder := map[string]connectionInfo{}
	if schema == SchemaModern {
		for _, chunk := range chunks(missing, maxIDsPerStatement) {
			rows, err := db.QueryContext(ctx, "SELECT id, connection_info FROM volume_attachment WHERE id IN ("+placeholders(len(chunk))+")", stringArgs(chunk)...)
			if err != nil {
				return fmt.Errorf("read Cinder attachments' connection info: %w", err)
			}
			for rows.Next() {
				var id string
				var raw sql.NullString
				if err := rows.Scan(&id, &raw); err != nil {
					rows.Close()
					return fmt.Errorf("read Cinder attachments' connection info: %w", err)
				}
				if ci, err := parseConnectionInfo(raw); err == nil {
					fromCinder[id] = ci
				}
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				return fmt.Errorf("read Cinder attachments' connection info: %w", err)
			}
		}
	}
	for i := range m.Attachments {
		a := &m.Attachments[i]
		if a.DriverVolumeType != "iscsi" || a.IQN != "" {
			continue
		}
		if ci, ok := fromCinder[a.AttachmentID]; ok && ci.Data.TargetIQN != "" {
			a.IQN, a.Portal, a.LUN = ci.Data.TargetIQN, ci.Data.TargetPortal, ci.Data.TargetLUN
			continue
		}
		if t, ok := targetFromProviderLocation(volumes[a.VolumeID].providerLocation); ok {
			a.IQN, a.Portal, a.LUN = t.iqn, t.portal, t.lun
			continue
		}
		a.Unverifiable = unverifiableTarget
		m.Warnings = append(m.Warnings, fmt.Sprintf("volume %s on instance %s: %s; faults will not touch it and verification cannot check its session", a.VolumeID, a.InstanceID, unverifiableTarget))
	}
	return nil
}
