package main

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/osdr/osdr/testenv"
)

// binDir holds osdr and osdr-lab side by side, as `make build` leaves them in bin/: every test runs them as
// an operator would, and the demo runs the osdr beside osdr-lab.
var binDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "osdr-lab-bin-")
	if err != nil {
		panic(err)
	}
	binDir = dir
	for name, pkg := range map[string]string{"osdr-lab": ".", "osdr": "../osdr"} {
		if out, err := exec.Command("go", "build", "-o", filepath.Join(dir, name), pkg).CombinedOutput(); err != nil {
			os.RemoveAll(dir)
			panic("build " + name + ": " + err.Error() + "\n" + string(out))
		}
	}
	code := testenv.Main(m)
	os.RemoveAll(dir)
	os.Exit(code)
}

// runBinary runs one of the built binaries with the test's environment and returns its combined output and exit
// status.
func runBinary(t *testing.T, binary string, args ...string) (string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, filepath.Join(binDir, binary), args...).CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("%s %v did not finish in time:\n%s", binary, args, out)
	}
	var exitErr *exec.ExitError
	switch {
	case err == nil:
		return string(out), 0
	case errors.As(err, &exitErr):
		return string(out), exitErr.ExitCode()
	}
	t.Fatalf("run %s %v: %v", binary, args, err)
	return "", 0
}
