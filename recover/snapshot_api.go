package recover

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/osdr/osdr/internal/cloud"
	"github.com/osdr/osdr/internal/osapi"
)

// SnapshotOptions are an operator's choices for taking a manifest.
type SnapshotOptions struct {
	// FromDB reads the databases alone, for when the APIs do not answer.
	FromDB bool
	// Stamp writes a unique stamp file to each mounted data volume through its guest, for the integrity
	// checks after a fault.
	Stamp bool
}

// Snapshot is step 1 of the guide: the instance↔volume manifest of the instances in scope, from Nova and
// Cinder cross-checked with the databases when they are configured (or from the databases alone), marked
// with the cloud it was taken on. Nothing is written: the caller makes it durable in a run.
func Snapshot(ctx context.Context, c *cloud.Cloud, scope Scope, opts SnapshotOptions) (*Manifest, error) {
	if err := scope.Validate(); err != nil {
		return nil, err
	}
	var m *Manifest
	if opts.FromDB {
		dbs, err := c.Databases(ctx)
		if err != nil {
			return nil, err
		}
		if m, err = snapshotFromDB(ctx, dbs, scope); err != nil {
			return nil, err
		}
	} else {
		api, err := c.API(ctx)
		if err != nil {
			return nil, err
		}
		dbs, ok, err := c.OptionalDatabases(ctx)
		if err != nil {
			return nil, err
		}
		if !ok {
			dbs = cloud.Databases{}
		}
		if m, err = snapshotFromAPI(ctx, api, dbs, scope); err != nil {
			return nil, err
		}
	}
	identity, err := c.Identity(ctx)
	if err != nil {
		return nil, err
	}
	m.Cloud.Identity = identity
	m.TakenAt = time.Now().UTC()
	if opts.Stamp {
		if err := WriteStamps(ctx, c, m); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// inventory is what a snapshot reads from the APIs; *osapi.Client is the real one.
type inventory interface {
	ListAttachmentTargets(ctx context.Context) (map[string]osapi.AttachmentTarget, error)
	ListServers(ctx context.Context, host string) ([]osapi.Server, error)
	ListVolumes(ctx context.Context) ([]osapi.Volume, error)
	ListVolumeAttachments(ctx context.Context, serverID string) ([]osapi.VolumeAttachment, error)
}

// snapshotFromAPI takes the manifest from Nova and Cinder and cross-checks it with the databases: the
// databases give what the APIs do not show (connection info, boot index, BDM ids, cells), the APIs give the
// current states, and every disagreement is recorded as a warning. Without databases (dbs.Cinder nil) the
// manifest comes from the APIs alone, with each volume's driver type and target from Cinder's attachment
// records where it shows them, and marked unverifiable where it does not.
func snapshotFromAPI(ctx context.Context, api inventory, dbs cloud.Databases, scope Scope) (*Manifest, error) {
	servers, err := api.ListServers(ctx, "")
	if err != nil {
		return nil, err
	}
	volumes, err := api.ListVolumes(ctx)
	if err != nil {
		return nil, err
	}
	volumeByID := map[string]osapi.Volume{}
	for _, v := range volumes {
		volumeByID[v.ID] = v
	}
	fromAPI := &Manifest{Source: "api"}
	for _, s := range servers {
		fromAPI.Instances = append(fromAPI.Instances, Instance{
			ID: s.ID, Name: s.Name, Host: s.Host, DomainName: s.InstanceName, VMState: s.VMState,
			PowerState: s.PowerState, TaskState: s.TaskState, Status: s.Status, Addresses: s.Addresses, Tags: s.Tags,
		})
	}
	// Scope before the per-server calls: a snapshot of one instance must not list every server's volumes.
	ids, err := scope.Select(fromAPI)
	if err != nil {
		return nil, err
	}
	fromAPI.restrict(ids)
	for _, in := range fromAPI.Instances {
		atts, err := api.ListVolumeAttachments(ctx, in.ID)
		if err != nil {
			return nil, err
		}
		for _, a := range atts {
			v := volumeByID[a.VolumeID]
			fromAPI.Attachments = append(fromAPI.Attachments, Attachment{
				VolumeID: a.VolumeID, VolumeName: v.Name, InstanceID: in.ID, Device: a.Device, Host: in.Host,
				AttachmentID: a.AttachmentID, BDMUUID: a.BDMUUID, VolumeStatus: v.Status, Multiattach: v.Multiattach,
			})
		}
	}
	if dbs.Cinder == nil {
		if err := targetsFromAPI(ctx, api, fromAPI, volumeByID); err != nil {
			return nil, err
		}
		fromAPI.Normalize()
		return fromAPI, nil
	}
	fromDB, err := snapshotFromDB(ctx, dbs, Scope{Instances: ids})
	if err != nil {
		return nil, fmt.Errorf("cross-check with the databases: %w", err)
	}
	return mergeSnapshots(fromAPI, fromDB), nil
}

// mergeSnapshots keeps the databases' detail and the APIs' current states, recording every disagreement.
func mergeSnapshots(api, db *Manifest) *Manifest {
	m := db
	m.Source = "api+db"
	for i, in := range m.Instances {
		now, ok := api.Instance(in.ID)
		if !ok {
			m.Warnings = append(m.Warnings, fmt.Sprintf("instance %s is in the database but Nova's API does not list it", in.ID))
			continue
		}
		if now.Host != in.Host {
			m.Warnings = append(m.Warnings, fmt.Sprintf("instance %s: API says host %s, database %s", in.ID, now.Host, in.Host))
		}
		m.Instances[i].VMState, m.Instances[i].PowerState, m.Instances[i].TaskState, m.Instances[i].Status = now.VMState, now.PowerState, now.TaskState, now.Status
		m.Instances[i].Tags = now.Tags
		if len(now.Addresses) > 0 {
			m.Instances[i].Addresses = now.Addresses
		}
	}
	key := func(a Attachment) string { return a.InstanceID + "/" + a.VolumeID }
	apiAtts := map[string]Attachment{}
	for _, a := range api.Attachments {
		apiAtts[key(a)] = a
	}
	dbAtts := map[string]bool{}
	for i, a := range m.Attachments {
		dbAtts[key(a)] = true
		now, ok := apiAtts[key(a)]
		switch {
		case !ok:
			m.Warnings = append(m.Warnings, fmt.Sprintf("volume %s on instance %s: a live BDM in the database, not listed by Nova's API", a.VolumeID, a.InstanceID))
		case now.Device != a.Device:
			m.Warnings = append(m.Warnings, fmt.Sprintf("volume %s on instance %s: API device %s, database %s", a.VolumeID, a.InstanceID, now.Device, a.Device))
		default:
			m.Attachments[i].VolumeStatus = now.VolumeStatus
		}
	}
	var extra []string
	for k, a := range apiAtts {
		if !dbAtts[k] {
			extra = append(extra, fmt.Sprintf("volume %s on instance %s: listed by Nova's API, no live BDM in the database", a.VolumeID, a.InstanceID))
		}
	}
	sort.Strings(extra)
	m.Warnings = append(m.Warnings, extra...)
	m.Normalize()
	return m
}

// targetsFromAPI completes a manifest taken from the APIs alone with what Cinder's attachment records show:
// each volume's driver type and iSCSI target. A volume whose record shows none is marked unverifiable.
func targetsFromAPI(ctx context.Context, api inventory, m *Manifest, volumeByID map[string]osapi.Volume) error {
	targets, err := api.ListAttachmentTargets(ctx)
	if err != nil && !errors.Is(err, osapi.ErrAttachmentsAPI) {
		return err
	}
	why := "taken from the APIs alone, and Cinder shows no connection info for its attachment (it needs the admin role and microversion 3.27)"
	if err != nil {
		why = "taken from the APIs alone, and " + err.Error()
	}
	for i := range m.Attachments {
		a := &m.Attachments[i]
		v := volumeByID[a.VolumeID]
		if a.AttachmentID == "" { // Nova before 2.89 does not name it; Cinder's volume does
			for _, va := range v.Attachments {
				if va.ServerID == a.InstanceID {
					a.AttachmentID = va.AttachmentID
				}
			}
		}
		// The APIs do not show a boot index; a bootable volume at the first disk is the boot volume.
		if v.Bootable && (a.Device == "/dev/vda" || a.Device == "/dev/sda") {
			boot := 0
			a.BootIndex = &boot
		}
		t, ok := targets[a.AttachmentID]
		if !ok || t.DriverVolumeType == "" {
			a.Unverifiable = why
			continue
		}
		a.DriverVolumeType, a.IQN, a.Portal, a.LUN = t.DriverVolumeType, t.IQN, t.Portal, t.LUN
		if a.DriverVolumeType == "iscsi" && a.IQN == "" {
			a.Unverifiable = unverifiableTarget
		}
	}
	var unverifiable int
	for _, a := range m.Attachments {
		if a.Unverifiable != "" {
			unverifiable++
		}
	}
	if unverifiable > 0 {
		m.Warnings = append(m.Warnings, fmt.Sprintf("%d volume(s) unverifiable: %s; give the database DSNs for the exact connection info", unverifiable, why))
	}
	return nil
}
