package recover

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strings"
)

// stampFile is the name of the integrity stamp written at the root of each data volume's filesystem.
const stampFile = ".osdr-stamp"

// WriteStamps writes a small unique file to each mounted iSCSI data volume through its guest, and records
// it in the manifest: after the recovery, reading it back proves the data written before the fault survived.
// A volume the guest has not mounted is recorded as a warning, not stamped.
func WriteStamps(ctx context.Context, guests guests, m *Manifest) error {
	if m.Stamps == nil {
		m.Stamps = map[string]Stamp{}
	}
	for _, in := range m.Instances {
		data := m.DataAttachments(in.ID)
		if len(data) == 0 || in.VMState != "active" {
			continue
		}
		r, err := guests.RunOnGuest(ctx, in.Guest(), "mount")
		if err != nil {
			return fmt.Errorf("stamp volumes of %s: read its mounts: %w", in.ID, err)
		}
		if r.ExitCode != 0 {
			return fmt.Errorf("stamp volumes of %s: mount exited %d: %s", in.ID, r.ExitCode, strings.TrimSpace(r.Stderr))
		}
		for _, a := range data {
			dir, ok := mountPointOf(r.Stdout, a.Device)
			if !ok {
				m.Warnings = append(m.Warnings, fmt.Sprintf("volume %s (%s on %s) is not mounted in the guest: no stamp", a.VolumeID, a.Device, in.ID))
				continue
			}
			nonce := make([]byte, 8)
			if _, err := rand.Read(nonce); err != nil {
				return fmt.Errorf("stamp: %w", err)
			}
			stamp := Stamp{Path: strings.TrimSuffix(dir, "/") + "/" + stampFile, Content: "osdr " + a.VolumeID + " " + hex.EncodeToString(nonce)}
			w, err := guests.RunOnGuest(ctx, in.Guest(), guests.GuestLogin(in.Guest()).AsRoot(fmt.Sprintf("sh -c 'echo %s > %s'", stamp.Content, stamp.Path)))
			if err != nil {
				return fmt.Errorf("stamp volume %s on %s: %w", a.VolumeID, in.ID, err)
			}
			if w.ExitCode != 0 {
				return fmt.Errorf("stamp volume %s on %s: exit %d: %s", a.VolumeID, in.ID, w.ExitCode, strings.TrimSpace(w.Stderr))
			}
			check, err := guests.RunOnGuest(ctx, in.Guest(), "cat "+stamp.Path)
			if err != nil || check.ExitCode != 0 || strings.TrimSpace(check.Stdout) != stamp.Content {
				return fmt.Errorf("stamp volume %s on %s: reading it back gave %q (%v)", a.VolumeID, in.ID, check.Stdout, err)
			}
			m.Stamps[a.VolumeID] = stamp
		}
	}
	return nil
}

// mountPointOf finds where `mount` output says the device (or its first partition) is mounted.
func mountPointOf(mountOutput, device string) (string, bool) {
	for _, line := range strings.Split(mountOutput, "\n") {
		f := strings.Fields(line)
		if len(f) < 3 || f[1] != "on" {
			continue
		}
		if isDeviceOrPartition(f[0], device) {
			return f[2], true
		}
	}
	return "", false
}
