package recover

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"sort"

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

// cinderIQN is Cinder's naming rule for LVM/iSCSI targets, used when connection_info lacks the IQN.
func cinderIQN(nameID string) string { return "iqn.2010-10.org.openstack:volume-" + nameID }

// volumeRow is what the manifest needs of a Cinder volume.
type volumeRow struct {
	name, status, attachStatus string
	multiattach                bool
	nameID                     string
}

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
	q := "SELECT id, display_name, status, attach_status, multiattach, _name_id FROM volumes WHERE deleted=0"
	if schema == SchemaLegacy {
		q = "SELECT id, display_name, status, attach_status, 0, NULL FROM volumes WHERE deleted=0"
	}
	rows, err := db.QueryContext(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("read Cinder volumes: %w", err)
	}
	defer rows.Close()
	out := map[string]volumeRow{}
	for rows.Next() {
		var id string
		var name, status, attach, nameID sql.NullString
		var multi sql.NullBool
		if err := rows.Scan(&id, &name, &status, &attach, &multi, &nameID); err != nil {
			return nil, fmt.Errorf("read Cinder volumes: %w", err)
		}
		v := volumeRow{name: name.String, status: status.String, attachStatus: attach.String, multiattach: multi.Bool, nameID: id}
		if nameID.Valid && nameID.String != "" {
			v.nameID = nameID.String
		}
		out[id] = v
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
		if a.DriverVolumeType == "iscsi" && a.IQN == "" {
			a.IQN = cinderIQN(v.nameID)
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
			DriverVolumeType: "iscsi", IQN: cinderIQN(id), VolumeStatus: v.status, AttachStatus: v.attachStatus,
		})
	}
	return rows.Err()
}
