package recover

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/osdr/osdr/internal/cloud"
	"github.com/osdr/osdr/internal/run"
	"github.com/osdr/osdr/internal/settings"
)

// largeManifest is the manifest of a cloud of instances instances with two volumes each (a boot volume and an
// iSCSI data volume), every field set with long, real-shaped values and a stamp on every data volume: the
// estimate MaxManifestBytes is made from.
func largeManifest(instances int) *Manifest {
	m := &Manifest{
		RunID:   "20261125T081500Z-snapshot-4f1c2a",
		TakenAt: time.Date(2026, 11, 25, 8, 15, 0, 0, time.UTC),
		Cloud: CloudID{Identity: cloud.Identity{
			AuthURL: "https://keystone.region-one.dc1.cloud.example.internal:5000/v3", Region: "RegionOne",
			Cinder: &cloud.Database{Address: "cinder-db.dc1.cloud.example.internal:3306", Schema: "cinder", Server: "server_uuid 7b0c5e4e-8f0e-11ef-9b1e-0242ac120002"},
		}, CinderSchema: "modern"},
		Source: "api+db",
		Stamps: map[string]Stamp{},
	}
	for i := range instances {
		id := fmt.Sprintf("%08x-0b7a-4f7e-9a55-%012x", i, i*7919)
		host := fmt.Sprintf("compute-r%03d-u%02d.az%d.dc1.cloud.example.internal", i/5/40, i/5%40, i%3+1)
		m.Instances = append(m.Instances, Instance{
			ID: id, Name: fmt.Sprintf("project-%04d-application-server-%06d", i%9999, i), Host: host,
			DomainName: fmt.Sprintf("instance-%08x", i), VMState: "active", PowerState: 1, Status: "ACTIVE",
			Tags: []string{"team-storage-platform", "tier-production"},
			Addresses: map[string][]string{
				fmt.Sprintf("project-%04d-private-network", i%9999): {fmt.Sprintf("10.%d.%d.%d", i/65000, i/250%250, i%250+1), fmt.Sprintf("2001:db8:%04x:%04x:f816:3eff:fe%02x:%04x", i%9999, i%7777, i%255, i%9999)},
			},
		})
		for j, dev := range []string{"/dev/vda", "/dev/vdb"} {
			vol := fmt.Sprintf("%08x-1c2d-4e5f-8a9b-%012x", i, j)
			a := Attachment{
				VolumeID: vol, VolumeName: fmt.Sprintf("project-%04d-application-data-%06d-%d", i%9999, i, j), InstanceID: id, Device: dev, Host: host,
				AttachmentID: fmt.Sprintf("%08x-2d3e-4f50-9b8c-%012x", i, j), BDMID: int64(1_000_000 + 2*i + j), BDMUUID: fmt.Sprintf("%08x-3e4f-4051-8c9d-%012x", i, j),
				DriverVolumeType: "iscsi", IQN: "iqn.2010-10.org.openstack:volume-" + vol, Portal: fmt.Sprintf("[2001:db8:ffff::%x]:3260", i%64+1), LUN: 1 + j,
				VolumeStatus: "in-use", AttachStatus: "attached",
			}
			if j == 0 {
				a.BootIndex = intp(0)
			} else {
				m.Stamps[vol] = Stamp{Path: "/mnt/data/.osdr-stamp", Content: fmt.Sprintf("osdr-stamp %s %s 20261125T081500Z", id, vol)}
			}
			m.Attachments = append(m.Attachments, a)
		}
	}
	return m
}

// largeJournal is the journal of a recovery of instances instances with one data volume each that ran every
// step of the guide on every instance, with the details osdr writes: the estimate MaxJournalBytes is made from.
func largeJournal(rn run.Run, instances int) []Entry {
	entries := []Entry{
		{Step: StepSnapshot, Phase: PhaseDone, Detail: "manifest " + rn.Manifest(), Strategy: "guide"},
		{Step: StepDBClean, Phase: PhaseIntent, Detail: "14 statement(s) on the modern schema"},
		{Step: StepDBClean, Phase: PhaseDone, Detail: "backup " + rn.Backup(), Rows: int64(4 * instances)},
	}
	for i := range instances {
		id := fmt.Sprintf("%08x-0b7a-4f7e-9a55-%012x", i, i*7919)
		vol := fmt.Sprintf("%08x-1c2d-4e5f-8a9b-%012x", i, 1)
		entries = append(entries,
			Entry{Step: StepReboot, Phase: PhaseIntent, Instance: id, Detail: "HARD reboot", VMStateBefore: "stopped", Actions: &ActionMark{NewestRequestID: "req-" + id}},
			Entry{Step: StepReboot, Phase: PhaseDone, Instance: id, Detail: "ACTIVE, running; Nova's actions show one reboot (req-" + id + "), its events compute_reboot_instance Success"},
			Entry{Step: StepReattach, Phase: PhaseIntent, Instance: id, Volume: vol, Detail: "attach at /dev/vdb"},
			Entry{Step: StepReattach, Phase: PhaseDone, Instance: id, Volume: vol, Detail: "in-use at /dev/vdb"},
			Entry{Step: StepGuestReboot, Phase: PhaseIntent, Instance: id, Detail: "shutdown -r now", BootID: "8c2f6f0e-5d0f-4a8e-9d55-0a1b2c3d4e5f"},
			Entry{Step: StepGuestReboot, Phase: PhaseDone, Instance: id, Detail: "new boot id"},
		)
	}
	for i := range entries {
		entries[i].Seq = i + 1
		entries[i].Time = time.Date(2026, 11, 25, 8, 20, 0, 123456789, time.UTC)
	}
	return entries
}

// journalBytes is entries as the journal writes them.
func journalBytes(t testing.TB, entries []Entry) []byte {
	var file []byte
	for _, e := range entries {
		line, err := journalLine(e)
		if err != nil {
			t.Fatal(err)
		}
		file = append(file, line...)
	}
	return file
}

// writeJournal writes entries as the journal writes them, without an fsync per entry.
func writeJournal(t testing.TB, rn run.Run, entries []Entry) {
	if err := os.WriteFile(rn.Journal(), journalBytes(t, entries), 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestLimitsFitALargeRecovery measures a tenth of a cloud of 50,000 instances and 100,000 volumes and
// scales it: every value of the fixtures is of fixed width or nearly, so the files grow with the instances.
// (Written whole, the manifest of 50,000 instances was 114,178,106 bytes and the journal 70,839,430.)
func TestLimitsFitALargeRecovery(t *testing.T) {
	const instances, scale = 5_000, 10
	rn := run.Run{Dir: t.TempDir()}
	if _, err := WriteManifest(rn, largeManifest(instances)); err != nil {
		t.Fatal(err)
	}
	writeJournal(t, rn, largeJournal(rn, instances))
	for _, f := range []struct {
		path  string
		limit int64
		name  string
	}{
		{rn.Manifest(), settings.MaxManifestBytes, "MaxManifestBytes"},
		{rn.Journal(), settings.MaxJournalBytes, "MaxJournalBytes"},
	} {
		info, err := os.Stat(f.path)
		if err != nil {
			t.Fatal(err)
		}
		size := scale * info.Size()
		t.Logf("%s of %d instances: %d bytes; of 50,000 instances and 100,000 volumes about %d", filepath.Base(f.path), instances, info.Size(), size)
		if 4*size > f.limit {
			t.Errorf("%s of 50,000 instances is about %d bytes; %s %d is less than four times that", filepath.Base(f.path), size, f.name, f.limit)
		}
	}
	// The estimate is only worth its shape: a sample of it must be a manifest and a journal osdr reads.
	sample := run.Run{Dir: t.TempDir()}
	if _, err := WriteManifest(sample, largeManifest(50)); err != nil {
		t.Fatal(err)
	}
	if m, err := ReadManifest(sample.Manifest()); err != nil || len(m.Attachments) != 100 {
		t.Fatalf("ReadManifest of the sample: %v", err)
	}
	writeJournal(t, sample, largeJournal(sample, 50))
	if entries, err := ReadJournal(sample); err != nil || len(entries) != 3+6*50 {
		t.Fatalf("ReadJournal of the sample: %d entries, %v", len(entries), err)
	}
}

// TestManifestAndJournalSizeLimits: a file past its limit is refused before it is read, naming the file, its
// size, the limit and the variable that raises it; at the limit it is read.
func TestManifestAndJournalSizeLimits(t *testing.T) {
	rn := run.Run{Dir: t.TempDir()}
	manifest, err := WriteManifest(rn, sampleManifest())
	if err != nil {
		t.Fatal(err)
	}
	writeJournal(t, rn, largeJournal(rn, 1))
	size := func(path string) string {
		info, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		return strconv.FormatInt(info.Size(), 10)
	}
	for _, tc := range []struct {
		name, env, limit string
		read             func() error
		want             []string // in the refusal; none: read
	}{
		{"manifest at the limit", settings.EnvMaxManifestBytes, size(manifest), func() error { _, err := ReadManifest(manifest); return err }, nil},
		{"manifest over the limit", settings.EnvMaxManifestBytes, "100", func() error { _, err := ReadManifest(manifest); return err },
			[]string{manifest, "is " + size(manifest) + " bytes, over the limit of 100 bytes", "$" + settings.EnvMaxManifestBytes}},
		{"journal at the limit", settings.EnvMaxJournalBytes, size(rn.Journal()), func() error { _, err := ReadJournal(rn); return err }, nil},
		{"journal over the limit", settings.EnvMaxJournalBytes, "100", func() error { _, err := ReadJournal(rn); return err },
			[]string{rn.Journal(), "is " + size(rn.Journal()) + " bytes, over the limit of 100 bytes", "$" + settings.EnvMaxJournalBytes}},
		{"journal opened to resume over the limit", settings.EnvMaxJournalBytes, "100", func() error {
			j, err := openJournal(rn)
			if err == nil {
				j.close()
			}
			return err
		}, []string{rn.Journal(), "over the limit of 100 bytes", "$" + settings.EnvMaxJournalBytes}},
		{"a limit that is no number", settings.EnvMaxManifestBytes, "64MiB", func() error { _, err := ReadManifest(manifest); return err },
			[]string{"$" + settings.EnvMaxManifestBytes, `"64MiB" is not a positive number of bytes`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv(tc.env, tc.limit)
			err := tc.read()
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil {
				t.Fatal("read, want refused")
			}
			for _, want := range tc.want {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not say %q", err, want)
				}
			}
			if strings.Contains(tc.name, "over the limit") && !errors.Is(err, settings.ErrFileTooLarge) {
				t.Errorf("error %q is not settings.ErrFileTooLarge", err)
			}
		})
	}
	if size(rn.Journal()) == "0" {
		t.Error("refusing the journal truncated it")
	}
}
