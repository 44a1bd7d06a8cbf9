package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
)

// --cpu-profile and --heap-profile leave pprof files (gzip-compressed protocol buffers) for any command.
func TestProfilesOfACommand(t *testing.T) {
	dir := t.TempDir()
	cpu, heap := filepath.Join(dir, "cpu.prof"), filepath.Join(dir, "heap.prof")
	root, prof := newRoot()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetArgs([]string{"runs", "list", "--runs-dir", dir, "--cpu-profile", cpu, "--heap-profile", heap})
	if err := root.ExecuteContext(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := prof.stop(); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{cpu, heap} {
		raw, err := os.ReadFile(p)
		if err != nil || len(raw) < 2 || raw[0] != 0x1f || raw[1] != 0x8b {
			t.Errorf("%s is not a pprof profile (%v, %d bytes)", p, err, len(raw))
		}
	}
}
