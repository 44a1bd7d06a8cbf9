package cloud

import (
	"fmt"
	"slices"
	"strings"

	"github.com/osdr/osdr/testenv"
	"github.com/osdr/osdr/testenv/cloud/osapi"
)

// Microversion is an API microversion such as 2.96 or 3.71.
type Microversion = osapi.Microversion

// Profile is what differs between the OpenStack releases the simulation plays.
type Profile struct {
	Name string
	// ComputeMaxVersion and VolumeMaxVersion are the newest microversions the release's Nova and Cinder serve.
	ComputeMaxVersion Microversion
	VolumeMaxVersion  Microversion
	// VolumeVersionUpdated is the "updated" stamp of Cinder's version document.
	VolumeVersionUpdated string
	// CinderSchema is the schema the Cinder database must be loaded with; New detects the schema and refuses a
	// database that does not match.
	CinderSchema testenv.Schema
	// DeletesDanglingBDMsOnReboot: Nova 28 (2023.2) and later destroy, before every reboot, the block device
	// mappings whose Cinder attachment is gone, and delete the Cinder attachments Nova does not know.
	DeletesDanglingBDMsOnReboot bool
	// ResetStatusWorkerType is the workers.resource_type Cinder's os-reset_status deletes. Up to 2025.2 it asks
	// for 'Volumes' (the controller's collection name, title-cased) while cinder-volume writes 'Volume', so the
	// row survives the reset; 2026.1 asks for 'VOLUME', which the case-insensitive collation matches.
	ResetStatusWorkerType string
	// ComputeServiceVersion is what Nova's services write to services.version (nova/objects/service.py).
	ComputeServiceVersion int
	// VolumeRPCVersion is cinder-volume's services.rpc_current_version.
	VolumeRPCVersion string
}

// Legacy reports whether the profile plays the nova-volume-era volumes table: attachment state on the volume
// row (instance_id, mountpoint, attach_time), no volume_attachment, services or workers tables.
func (p Profile) Legacy() bool { return p.CinderSchema == testenv.SchemaCinderLegacy }

// DefaultProfile is the release played when Config.Profile is empty.
const DefaultProfile = "2024.1"

var profiles = []Profile{
	{
		// The Operations Guide's cloud: Zed's Nova over the volume service of the guide's era, which serves the
		// base volume API only (no attachments API, no microversions) from the nova-volume volumes table.
		Name:                  "legacy",
		ComputeMaxVersion:     Microversion{Major: 2, Minor: 93},
		VolumeMaxVersion:      Microversion{Major: 3, Minor: 0},
		VolumeVersionUpdated:  "2016-02-08T12:20:21Z",
		CinderSchema:          testenv.SchemaCinderLegacy,
		ComputeServiceVersion: 64,
	},
	{
		Name:                  "zed",
		ComputeMaxVersion:     Microversion{Major: 2, Minor: 93},
		VolumeMaxVersion:      Microversion{Major: 3, Minor: 70},
		VolumeVersionUpdated:  "2022-08-31T00:00:00Z",
		CinderSchema:          testenv.SchemaCinder,
		ResetStatusWorkerType: "Volumes",
		ComputeServiceVersion: 64,
		VolumeRPCVersion:      "3.18",
	},
	{
		Name:                        "2024.1",
		ComputeMaxVersion:           Microversion{Major: 2, Minor: 96},
		VolumeMaxVersion:            Microversion{Major: 3, Minor: 71},
		VolumeVersionUpdated:        "2023-08-31T00:00:00Z",
		CinderSchema:                testenv.SchemaCinder,
		DeletesDanglingBDMsOnReboot: true,
		ResetStatusWorkerType:       "Volumes",
		ComputeServiceVersion:       67,
		VolumeRPCVersion:            "3.19",
	},
	{
		// Nova 33 moved the attach to nova-conductor: from 2.101 the API answers 202 and reserves the device
		// name after answering.
		Name:                        "2026.1",
		ComputeMaxVersion:           Microversion{Major: 2, Minor: 103},
		VolumeMaxVersion:            Microversion{Major: 3, Minor: 71},
		VolumeVersionUpdated:        "2023-08-31T00:00:00Z",
		CinderSchema:                testenv.SchemaCinder,
		DeletesDanglingBDMsOnReboot: true,
		ResetStatusWorkerType:       "VOLUME",
		ComputeServiceVersion:       72,
		VolumeRPCVersion:            "3.20",
	},
}

// ProfileNames lists the releases the simulation can play.
func ProfileNames() []string {
	names := make([]string, len(profiles))
	for i, p := range profiles {
		names[i] = p.Name
	}
	return names
}

// LookupProfile returns the named profile; the empty name is DefaultProfile.
func LookupProfile(name string) (Profile, error) {
	if name == "" {
		name = DefaultProfile
	}
	i := slices.IndexFunc(profiles, func(p Profile) bool { return p.Name == name })
	if i < 0 {
		return Profile{}, fmt.Errorf("unknown profile %q (known: %s)", name, strings.Join(ProfileNames(), ", "))
	}
	return profiles[i], nil
}
