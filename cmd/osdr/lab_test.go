package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// osdrIn puts a copy of the built osdr into a directory of its own, so a test decides what lies beside it.
func osdrIn(t *testing.T, dir string) string {
	t.Helper()
	path := filepath.Join(dir, "osdr")
	if err := os.Link(osdrBinary, path); err != nil {
		t.Fatal(err)
	}
	return path
}

// fakeLab writes an osdr-lab that prints how it was called, on both streams, and exits 7.
func fakeLab(t *testing.T, dir string) {
	t.Helper()
	script := "#!/bin/sh\nprintf '%s\\n' \"$0\" \"$@\"\necho lab-stderr >&2\nexit 7\n"
	if err := os.WriteFile(filepath.Join(dir, labBinary), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
}

// runSplit runs a binary and returns its stdout, its stderr and its exit status.
func runSplit(t *testing.T, binary string, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(binary, args...)
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if exitErr, ok := err.(*exec.ExitError); ok {
		return stdout.String(), stderr.String(), exitErr.ExitCode()
	} else if err != nil {
		t.Fatalf("run %s: %v", binary, err)
	}
	return stdout.String(), stderr.String(), 0
}

// `osdr demo` and `osdr sim` are osdr-lab's: osdr hands them over with every argument untouched (flags
// included), the lab's streams and exit status are the command's, and the osdr-lab beside osdr wins over
// one on PATH.
func TestLabCommandsRunOsdrLabWithTheSameArgumentsStreamsAndStatus(t *testing.T) {
	beside, onPath := t.TempDir(), t.TempDir()
	fakeLab(t, onPath)
	t.Setenv("PATH", onPath)
	cases := []struct {
		name    string
		setup   func() string // returns the osdr to run
		wantLab string
	}{
		{"on PATH", func() string { return osdrIn(t, t.TempDir()) }, filepath.Join(onPath, labBinary)},
		{"beside osdr", func() string { fakeLab(t, beside); return osdrIn(t, beside) }, filepath.Join(beside, labBinary)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			osdr := tc.setup()
			for _, args := range [][]string{
				{"demo", "--db", "embedded", "--help"},
				{"sim", "power-cut", "--state-dir", "/some dir", "--host", "compute-1"},
			} {
				stdout, stderr, code := runSplit(t, osdr, args...)
				if want := tc.wantLab + "\n" + strings.Join(args, "\n") + "\n"; stdout != want || stderr != "lab-stderr\n" || code != 7 {
					t.Errorf("osdr %v: exit %d, stdout %q, stderr %q; want exit 7, stdout %q", args, code, stdout, stderr, want)
				}
			}
		})
	}
}

func TestLabCommandsWithoutOsdrLabSayWhereItComesFrom(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	osdr := osdrIn(t, t.TempDir())
	for _, name := range []string{"demo", "sim"} {
		stdout, stderr, code := runSplit(t, osdr, name, "--help")
		for _, want := range []string{
			"`osdr " + name + "` belongs to the lab binary",
			filepath.Join(filepath.Dir(osdr), labBinary), "PATH",
			"make build", "bin/osdr-lab", "go run ./cmd/osdr-lab " + name,
		} {
			if !strings.Contains(stderr, want) {
				t.Errorf("osdr %s without osdr-lab does not say %q:\n%s", name, want, stderr)
			}
		}
		if code != exitFailure || stdout != "" {
			t.Errorf("osdr %s without osdr-lab: exit %d, stdout %q; want exit %d and nothing on stdout", name, code, stdout, exitFailure)
		}
	}
}

func TestHelpListsTheLabCommands(t *testing.T) {
	out, _, code := osdr(t, "--help")
	_, lab, _ := strings.Cut(out, "Lab commands")
	if code != 0 || !strings.Contains(lab, "\n  demo ") || !strings.Contains(lab, "\n  sim ") {
		t.Fatalf("osdr --help does not list demo and sim as lab commands (exit %d):\n%s", code, out)
	}
}
