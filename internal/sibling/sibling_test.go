package sibling

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func executable(t *testing.T, path string) {
	t.Helper()
	if err := os.WriteFile(path, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
}

func TestFindPrefersTheExecutablesDirectoryOverPATH(t *testing.T) {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	// The test binary's directory is go test's own, which it removes; a name nobody else uses keeps it clean.
	name := "osdr-sibling-test-" + filepath.Base(t.TempDir())
	beside := filepath.Join(filepath.Dir(self), name)
	onPath := t.TempDir()
	executable(t, filepath.Join(onPath, name))
	t.Setenv("PATH", onPath)

	if got, err := Find(name); err != nil || got != filepath.Join(onPath, name) {
		t.Fatalf("only on PATH: got %q, %v", got, err)
	}
	executable(t, beside)
	t.Cleanup(func() { os.Remove(beside) })
	if got, err := Find(name); err != nil || got != beside {
		t.Fatalf("beside and on PATH: got %q, %v; want %s", got, err, beside)
	}
}

func TestFindNamesBothPlacesWhenTheBinaryIsNowhere(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	_, err := Find("osdr-no-such-binary")
	if err == nil {
		t.Fatal("found a binary that does not exist")
	}
	self, _ := os.Executable()
	for _, want := range []string{filepath.Join(filepath.Dir(self), "osdr-no-such-binary"), "PATH"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %s", err, want)
		}
	}
}
