package recover

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"

	"golang.org/x/sync/errgroup"

	"github.com/osdr/osdr/internal/cloud"
	"github.com/osdr/osdr/internal/iscsi"
	"github.com/osdr/osdr/internal/sshx"
)

// hostRunner runs commands on compute hosts; *cloud.Cloud is the real one, over SSH.
type hostRunner interface {
	RunOnHost(ctx context.Context, host, command string) (sshx.Result, error)
}

// recordedTarget is an iSCSI target as one record names it; lun is nil when the record has none.
type recordedTarget struct {
	driver, iqn, portal string
	lun                 *int
}

func (t recordedTarget) complete() bool {
	return t.driver == "iscsi" && t.iqn != "" && t.portal != "" && t.lun != nil
}

func (t recordedTarget) String() string {
	lun := "no LUN"
	if t.lun != nil {
		lun = fmt.Sprintf("LUN %d", *t.lun)
	}
	return fmt.Sprintf("%s at %s, %s", t.iqn, t.portal, lun)
}

// sameTarget compares two records of one target; a record that names no portal or LUN (provider_location of
// some drivers) is compared on what it names.
func sameTarget(a, b recordedTarget) bool {
	if a.iqn != b.iqn {
		return false
	}
	if a.portal != "" && b.portal != "" && a.portal != b.portal {
		return false
	}
	return a.lun == nil || b.lun == nil || *a.lun == *b.lun
}

// targetOf reads the iSCSI target a connection_info names.
func targetOf(raw sql.NullString) (recordedTarget, error) {
	if !raw.Valid || raw.String == "" || raw.String == "null" {
		return recordedTarget{}, nil
	}
	var ci struct {
		DriverVolumeType string `json:"driver_volume_type"`
		Data             struct {
			TargetIQN    string `json:"target_iqn"`
			TargetPortal string `json:"target_portal"`
			TargetLUN    *int   `json:"target_lun"`
		} `json:"data"`
	}
	if err := json.Unmarshal([]byte(raw.String), &ci); err != nil {
		return recordedTarget{}, fmt.Errorf("connection_info is not JSON: %w", err)
	}
	return recordedTarget{driver: ci.DriverVolumeType, iqn: ci.Data.TargetIQN, portal: ci.Data.TargetPortal, lun: ci.Data.TargetLUN}, nil
}

// liveAttachment is what the databases hold now of one (instance, volume) pair of the manifest.
type liveAttachment struct {
	volumeFound                bool
	volumeStatus, attachStatus string
	providerLocation           string
	// bdms are Nova's live block device mappings of the pair, with the target each names.
	bdms []recordedTarget
	// cinder are Cinder's live attachment rows of the pair (modern schema), by attach_status, with the target
	// each connection_info names.
	cinder []cinderAttachment
}

type cinderAttachment struct {
	attachStatus string
	target       recordedTarget
}

// judgeAttachment says whether one data volume's records are whole: what a HARD reboot needs to connect it
// again. It returns the reason when they are not.
func judgeAttachment(a Attachment, live liveAttachment, schema CinderSchema) (bool, string) {
	vol := "volume " + a.VolumeID
	if a.Unverifiable != "" {
		return false, vol + ": " + a.Unverifiable
	}
	if !live.volumeFound {
		return false, vol + ": Cinder has no such volume"
	}
	if live.volumeStatus != "in-use" || live.attachStatus != "attached" {
		return false, fmt.Sprintf("%s is %s (attach_status %s) in Cinder, not in-use", vol, orNone(live.volumeStatus), orNone(live.attachStatus))
	}
	switch len(live.bdms) {
	case 0:
		return false, vol + ": Nova has no live block device mapping of it (the attachment is on Cinder's side only)"
	case 1:
	default:
		return false, fmt.Sprintf("%s: Nova has %d live block device mappings of it", vol, len(live.bdms))
	}
	nova := live.bdms[0]
	if !nova.complete() {
		return false, vol + ": Nova's connection_info lacks the iSCSI target_iqn, target_portal or target_lun a reboot connects from"
	}
	if schema == SchemaModern {
		var attached []cinderAttachment
		for _, c := range live.cinder {
			if c.attachStatus != "attached" {
				return false, fmt.Sprintf("%s: Cinder has an attachment in state %s", vol, c.attachStatus)
			}
			attached = append(attached, c)
		}
		switch len(attached) {
		case 0:
			return false, vol + ": Cinder has no live attachment of it to this instance (the attachment is on Nova's side only)"
		case 1:
		default:
			return false, fmt.Sprintf("%s: Cinder has %d live attachments of it to this instance", vol, len(attached))
		}
		if c := attached[0].target; c.iqn != "" && !sameTarget(nova, c) {
			return false, fmt.Sprintf("%s: Nova connects %s, Cinder's attachment says %s", vol, nova, c)
		}
	}
	if t, ok := targetFromProviderLocation(live.providerLocation); ok && t.iqn != nova.iqn {
		return false, fmt.Sprintf("%s: Nova connects %s, Cinder's provider_location names %s", vol, nova.iqn, t.iqn)
	}
	if a.IQN != "" && !sameTarget(nova, recordedTarget{iqn: a.IQN, portal: a.Portal, lun: &a.LUN}) {
		return false, fmt.Sprintf("%s: Nova now connects %s, the manifest recorded %s at %s", vol, nova, a.IQN, a.Portal)
	}
	return true, ""
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

// classification is the minimal strategy's verdict on one instance, and why.
type classification struct {
	Class Class
	Why   string
}

// classify reads the records of the instances' data volumes as the databases hold them now and judges each
// instance: reboot-only (or kept, when it is not rebooted) when every record is whole, stuck otherwise. The
// portals of reboot-only instances are probed from their compute hosts (probePortals) before the verdict is
// final. It reads only, in statements of at most maxIDsPerStatement ids.
func classify(ctx context.Context, dbs cloud.Databases, m *Manifest, decisions []decision) (map[string]classification, error) {
	schema, err := DetectCinderSchema(ctx, dbs.Cinder)
	if err != nil {
		return nil, err
	}
	var pairs []Attachment
	var instances []string
	for _, d := range decisions {
		if d.Include {
			pairs = append(pairs, m.DataAttachments(d.Instance.ID)...)
			instances = append(instances, d.Instance.ID)
		}
	}
	live, err := readLiveAttachments(ctx, dbs, m, schema, pairs)
	if err != nil {
		return nil, err
	}
	unrecorded, err := readUnrecordedAttachments(ctx, dbs, m, schema, instances)
	if err != nil {
		return nil, err
	}
	out := map[string]classification{}
	for _, d := range decisions {
		if !d.Include {
			continue
		}
		var reasons []string
		for _, a := range m.AttachmentsOf(d.Instance.ID) {
			if !a.IsBoot() && a.DriverVolumeType == "" {
				// An attach that never finished leaves Nova's mapping without connection_info: a reboot has
				// nothing to connect it from.
				reasons = append(reasons, fmt.Sprintf("volume %s: Nova's mapping holds no connection_info (%s in Cinder when the manifest was taken)", a.VolumeID, orNone(a.VolumeStatus)))
			}
		}
		for _, a := range m.DataAttachments(d.Instance.ID) {
			if ok, why := judgeAttachment(a, live[pairKey(a)], schema); !ok {
				reasons = append(reasons, why)
			}
		}
		reasons = append(reasons, unrecorded[d.Instance.ID]...)
		switch {
		case len(reasons) > 0:
			out[d.Instance.ID] = classification{Class: ClassStuck, Why: strings.Join(reasons, "; ")}
		case d.Reboot:
			out[d.Instance.ID] = classification{Class: ClassRebootOnly, Why: "every volume's records are whole: the HARD reboot connects them again"}
		default:
			out[d.Instance.ID] = classification{Class: ClassKept, Why: "records whole; keeps its state (" + d.Reason + "); its next start connects its volumes"}
		}
	}
	return out, nil
}

// readUnrecordedAttachments finds, per instance, the live attachments the manifest does not hold: a Cinder
// attachment whose Nova mapping is gone, or a mapping made after the manifest was taken. Either leaves the
// instance's records in a state no reboot settles. Cinder's volume_attachment has no index on instance_uuid,
// so this is one scan of the table per chunk of instances, bounded by the table's size.
func readUnrecordedAttachments(ctx context.Context, dbs cloud.Databases, m *Manifest, schema CinderSchema, instances []string) (map[string][]string, error) {
	out := map[string][]string{}
	recorded := func(instance, volume string) bool {
		return slices.ContainsFunc(m.AttachmentsOf(instance), func(a Attachment) bool { return a.VolumeID == volume })
	}
	if schema == SchemaModern {
		err := eachRow(ctx, dbs.Cinder, "read Cinder attachments of the instances", instances,
			"SELECT volume_id, instance_uuid, attach_status FROM volume_attachment WHERE deleted=0 AND instance_uuid IN (%s)",
			func(rows *sql.Rows) error {
				var volume, instance string
				var status sql.NullString
				if err := rows.Scan(&volume, &instance, &status); err != nil {
					return err
				}
				if !recorded(instance, volume) {
					out[instance] = append(out[instance], fmt.Sprintf("volume %s: Cinder holds an attachment to this instance (%s) that the manifest does not record", volume, orNone(status.String)))
				}
				return nil
			})
		if err != nil {
			return nil, err
		}
	}
	byCell := map[int][]string{}
	for _, id := range instances {
		in, _ := m.Instance(id)
		byCell[in.Cell] = append(byCell[in.Cell], id)
	}
	for cell, ids := range byCell {
		db, err := dbs.Cell(cell)
		if err != nil {
			return nil, err
		}
		err = eachRow(ctx, db, "read Nova block device mappings of the instances in "+dbs.CellName(cell), ids,
			"SELECT instance_uuid, volume_id FROM block_device_mapping WHERE deleted=0 AND destination_type='volume' AND instance_uuid IN (%s)",
			func(rows *sql.Rows) error {
				var instance, volume sql.NullString
				if err := rows.Scan(&instance, &volume); err != nil {
					return err
				}
				if volume.String != "" && !recorded(instance.String, volume.String) {
					out[instance.String] = append(out[instance.String], fmt.Sprintf("volume %s: Nova maps it to this instance, the manifest does not record it", volume.String))
				}
				return nil
			})
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

func pairKey(a Attachment) [2]string { return [2]string{a.InstanceID, a.VolumeID} }

// readLiveAttachments reads Cinder's volume rows and live attachment rows and Nova's live BDMs of the pairs.
func readLiveAttachments(ctx context.Context, dbs cloud.Databases, m *Manifest, schema CinderSchema, pairs []Attachment) (map[[2]string]liveAttachment, error) {
	out := map[[2]string]liveAttachment{}
	byVolume := map[string][]Attachment{}
	for _, a := range pairs {
		out[pairKey(a)] = liveAttachment{}
		byVolume[a.VolumeID] = append(byVolume[a.VolumeID], a)
	}
	ids := volumeIDs(pairs)
	update := func(instance, volume string, f func(*liveAttachment)) {
		k := [2]string{instance, volume}
		if l, ok := out[k]; ok {
			f(&l)
			out[k] = l
		}
	}
	err := eachRow(ctx, dbs.Cinder, "read Cinder volumes", ids,
		"SELECT id, status, attach_status, provider_location FROM volumes WHERE deleted=0 AND id IN (%s)",
		func(rows *sql.Rows) error {
			var id string
			var status, attach, location sql.NullString
			if err := rows.Scan(&id, &status, &attach, &location); err != nil {
				return err
			}
			for _, a := range byVolume[id] {
				update(a.InstanceID, id, func(l *liveAttachment) {
					l.volumeFound, l.volumeStatus, l.attachStatus, l.providerLocation = true, status.String, attach.String, location.String
				})
			}
			return nil
		})
	if err != nil {
		return nil, err
	}
	if schema == SchemaModern {
		err := eachRow(ctx, dbs.Cinder, "read Cinder attachments", ids,
			"SELECT volume_id, instance_uuid, attach_status, connection_info FROM volume_attachment WHERE deleted=0 AND volume_id IN (%s)",
			func(rows *sql.Rows) error {
				var volume string
				var instance, status, conn sql.NullString
				if err := rows.Scan(&volume, &instance, &status, &conn); err != nil {
					return err
				}
				t, err := targetOf(conn)
				if err != nil {
					return fmt.Errorf("attachment of volume %s to %s: %w", volume, instance.String, err)
				}
				update(instance.String, volume, func(l *liveAttachment) {
					l.cinder = append(l.cinder, cinderAttachment{attachStatus: status.String, target: t})
				})
				return nil
			})
		if err != nil {
			return nil, err
		}
	}
	cells := map[int]bool{}
	for _, a := range pairs {
		if in, ok := m.Instance(a.InstanceID); ok {
			cells[in.Cell] = true
		}
	}
	for cell := range cells {
		db, err := dbs.Cell(cell)
		if err != nil {
			return nil, err
		}
		err = eachRow(ctx, db, "read Nova block device mappings in "+dbs.CellName(cell), ids,
			"SELECT instance_uuid, volume_id, connection_info FROM block_device_mapping WHERE deleted=0 AND destination_type='volume' AND volume_id IN (%s)",
			func(rows *sql.Rows) error {
				var instance, volume, conn sql.NullString
				if err := rows.Scan(&instance, &volume, &conn); err != nil {
					return err
				}
				t, err := targetOf(conn)
				if err != nil {
					return fmt.Errorf("BDM of volume %s on %s: %w", volume.String, instance.String, err)
				}
				update(instance.String, volume.String, func(l *liveAttachment) { l.bdms = append(l.bdms, t) })
				return nil
			})
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// eachRow runs query (whose %s takes the placeholders) once per chunk of ids and hands every row to scan.
func eachRow(ctx context.Context, db *sql.DB, what string, ids []string, query string, scan func(*sql.Rows) error) error {
	for _, chunk := range chunks(ids, maxIDsPerStatement) {
		rows, err := db.QueryContext(ctx, fmt.Sprintf(query, placeholders(len(chunk))), stringArgs(chunk)...)
		if err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		for rows.Next() {
			if err := scan(rows); err != nil {
				rows.Close()
				return fmt.Errorf("%s: %w", what, err)
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
	}
	return nil
}

// probeConcurrency bounds the portal probes in flight: one SSH command each, spread over the hosts.
const probeConcurrency = 16

// probePortals asks, from each reboot-only instance's compute host, whether each of its volumes' target
// portals accepts a connection, once per host and portal. An instance with a portal that does not answer,
// or whose host cannot be reached, becomes stuck: the reboot would come up without that volume.
func probePortals(ctx context.Context, hosts hostRunner, m *Manifest, classes map[string]classification) {
	type probe struct{ host, portal string }
	wanted := map[probe][]string{} // → instances
	for id, c := range classes {
		if c.Class != ClassRebootOnly {
			continue
		}
		in, _ := m.Instance(id)
		for _, a := range m.DataAttachments(id) {
			p := probe{in.Host, a.Portal}
			if !slices.Contains(wanted[p], id) {
				wanted[p] = append(wanted[p], id)
			}
		}
	}
	var mu sync.Mutex
	failed := map[string][]string{}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(probeConcurrency)
	for p, instances := range wanted {
		g.Go(func() error {
			err := probeOne(gctx, hosts, p.host, p.portal)
			if err != nil {
				mu.Lock()
				for _, id := range instances {
					failed[id] = append(failed[id], err.Error())
				}
				mu.Unlock()
			}
			return nil
		})
	}
	_ = g.Wait()
	for id, reasons := range failed {
		sort.Strings(reasons)
		classes[id] = classification{Class: ClassStuck, Why: strings.Join(reasons, "; ")}
	}
}

func probeOne(ctx context.Context, hosts hostRunner, host, portal string) error {
	p, err := iscsi.ParsePortal(portal)
	if err != nil {
		return fmt.Errorf("target portal %q: %w", portal, err)
	}
	r, err := hosts.RunOnHost(ctx, host, iscsi.Probe(p))
	if err != nil {
		return fmt.Errorf("probe portal %s from %s: %w", p, host, err)
	}
	if err := iscsi.ProbeResult(p, r.ExitCode, r.Stderr); err != nil {
		return fmt.Errorf("from %s: %w", host, err)
	}
	return nil
}
