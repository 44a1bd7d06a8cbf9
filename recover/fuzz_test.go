package recover

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"testing"

	"github.com/osdr/osdr/internal/run"
)

// sealManifest wraps a manifest body in the file's envelope with its checksum, so that the fuzzer reaches the
// decoding behind the checksum instead of stopping at it.
func sealManifest(body []byte) []byte {
	var compact bytes.Buffer
	if json.Compact(&compact, body) != nil {
		return body
	}
	sum := sha256.Sum256(compact.Bytes())
	return fmt.Appendf(nil, `{"manifest":%s,"sha256":"%s"}`, body, hex.EncodeToString(sum[:]))
}

// FuzzParseManifest: whatever the file holds, reading it returns a manifest or an error that says it is
// corrupt, never a panic; a manifest it accepts is written again as osdr writes it, read back the same, and
// written again byte for byte.
func FuzzParseManifest(f *testing.F) {
	seed := func(m *Manifest) []byte {
		file, err := encodeManifest(m)
		if err != nil {
			f.Fatal(err)
		}
		var env manifestEnvelope
		if err := json.Unmarshal(file, &env); err != nil {
			f.Fatal(err)
		}
		return env.Manifest
	}
	f.Add(seed(sampleManifest()), true)
	f.Add(seed(largeManifest(3)), true)
	f.Add([]byte(`{"format":1,"run_id":"r","taken_at":"2026-11-25T08:15:00Z","cloud":{"auth_url":"http://127.0.0.1:5000/v3","cinder_db":"127.0.0.1:3306/cinder"},"source":"db","instances":[],"attachments":[]}`), true)
	f.Add([]byte(`{"format":3}`), true)
	f.Add([]byte(`{"format":2,"instances":[{"id":"a"},{"id":"a","host":"h"}],"attachments":[{"instance_id":"a","volume_id":"v","device":"/dev/vdb"},{"instance_id":"a","volume_id":"v","device":"/dev/vdb","lun":2}]}`), true)
	f.Add([]byte(`{"format":2,"stamps":{"v":{"path":"/mnt/x","content":"c"}},"bogus":1}`), true)
	f.Add(sealManifest(seed(sampleManifest())), false)
	f.Add([]byte(`{"manifest":{},"sha256":"00"}`), false)
	f.Add([]byte("instance volume device\n"), false)
	f.Fuzz(func(t *testing.T, content []byte, seal bool) {
		if seal {
			content = sealManifest(content)
		}
		m, err := parseManifest("manifest.json", content)
		if err != nil {
			if m != nil || !errors.Is(err, errCorruptManifest) {
				t.Fatalf("parseManifest = %v, %v: want no manifest and errCorruptManifest", m, err)
			}
			return
		}
		first, err := encodeManifest(m)
		if err != nil {
			t.Fatalf("a manifest osdr read cannot be written again: %v", err)
		}
		again, err := parseManifest("manifest.json", first)
		if err != nil {
			t.Fatalf("a manifest osdr wrote cannot be read again: %v\n%s", err, first)
		}
		second, err := encodeManifest(again)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(first, second) {
			t.Fatalf("writing the manifest is not stable:\n%s\n%s", first, second)
		}
		for _, in := range again.Instances {
			if got, ok := again.Instance(in.ID); !ok || got.ID != in.ID {
				t.Fatalf("Instance(%q) = %+v, %v", in.ID, got, ok)
			}
		}
		for _, a := range again.Attachments {
			found := false
			for _, b := range again.AttachmentsOf(a.InstanceID) {
				found = found || b == a
			}
			if !found {
				t.Fatalf("attachment %+v is not among AttachmentsOf(%q)", a, a.InstanceID)
			}
		}
	})
}

// sealJournal gives every line the checksum the journal writes, so that the fuzzer reaches the decoding
// behind it; a last line without a newline stays torn.
func sealJournal(content []byte) []byte {
	var out []byte
	for line := range bytes.SplitAfterSeq(content, []byte("\n")) {
		body := bytes.TrimSuffix(line, []byte("\n"))
		out = fmt.Appendf(out, "%08x %s", crc32.ChecksumIEEE(body), line)
	}
	return out
}

// FuzzParseJournal: whatever the journal holds, reading it returns its whole, numbered entries or an error
// that says it is corrupt, never a panic; the entries it accepts are written again as the journal writes
// them, read back as many, and written again byte for byte.
func FuzzParseJournal(f *testing.F) {
	full := journalBytes(f, largeJournal(run.Run{Dir: "/var/lib/osdr/runs/20261125T081500Z-recovery-4f1c2a"}, 2))
	f.Add(full, false)
	f.Add(full[:len(full)-7], false) // torn last line
	f.Add([]byte(`{"seq":1,"time":"2026-11-25T08:20:00Z","step":"reboot","phase":"intent","instance":"a","actions":{"newest_request_id":"req-1"}}`+"\n"+
		`{"seq":2,"time":"2026-11-25T08:21:00+01:00","step":"reboot","phase":"done","instance":"a"}`+"\n"), true)
	f.Add([]byte(`{"seq":2,"step":"reboot","phase":"intent"}`+"\n"), true)
	f.Add([]byte(`{"seq":1,"rows":-1,"strategy":"minimal","unknown":[1,2]}`+"\n"+`{"seq":2`), true)
	f.Add([]byte("00000000 {}\n00000000 {}\n"), false)
	f.Add([]byte(""), false)
	f.Fuzz(func(t *testing.T, content []byte, seal bool) {
		if seal {
			content = sealJournal(content)
		}
		entries, good, err := parseJournal(content)
		if err != nil {
			if !errors.Is(err, errCorruptJournal) {
				t.Fatalf("parseJournal = %v, want errCorruptJournal", err)
			}
			return
		}
		if good < 0 || good > int64(len(content)) || (good > 0 && content[good-1] != '\n') {
			t.Fatalf("the whole lines end at %d of %d bytes", good, len(content))
		}
		first := journalBytes(t, entries)
		again, againGood, err := parseJournal(first)
		if err != nil || len(again) != len(entries) || againGood != int64(len(first)) {
			t.Fatalf("the journal written again reads as %d entries of %d bytes (%v), want %d of %d", len(again), againGood, err, len(entries), len(first))
		}
		if second := journalBytes(t, again); !bytes.Equal(first, second) {
			t.Fatalf("writing the journal is not stable:\n%s\n%s", first, second)
		}
	})
}
