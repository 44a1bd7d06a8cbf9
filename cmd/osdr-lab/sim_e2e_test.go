package main

import (
	"bufio"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/osdr/osdr/testenv"
)

// `osdr-lab sim up` serves a cloud until interrupted; `osdr sim power-cut` (the operator binary handing the
// command to the lab) and `osdr-lab sim audit` reach it through its state directory.
func TestSimUpServesACloudThatPowerCutAndAuditReach(t *testing.T) {
	t.Setenv(testenv.EnvMySQLDSN, testenv.SharedServer(t).AdminDSN())
	dir := t.TempDir()
	up := exec.Command(filepath.Join(binDir, "osdr-lab"), "sim", "up", "--state-dir", dir, "--hosts", "1", "--instances", "1", "--volumes-per-instance", "1")
	stdout, err := up.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	up.Stderr = &stderr
	if err := up.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { up.Process.Kill(); up.Wait() })
	ready := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(stdout).ReadString('\n')
		ready <- line
	}()
	select {
	case line := <-ready:
		if !strings.Contains(line, "osdr-lab sim: ready") || !strings.Contains(line, filepath.Join(dir, "osdr.env")) {
			t.Fatalf("sim up said %q\n%s", line, stderr.String())
		}
	case <-time.After(2 * time.Minute):
		t.Fatalf("sim up did not get ready:\n%s", stderr.String())
	}

	if out, code := run(t, "osdr", "sim", "power-cut", "--state-dir", dir); code != 0 || out != "Power cut: every host\n" {
		t.Fatalf("osdr sim power-cut: exit %d\n%s", code, out)
	}
	out, code := run(t, "osdr-lab", "sim", "audit", "--state-dir", dir)
	if code != 0 || !strings.Contains(out, `"operation":"stop"`) {
		t.Fatalf("osdr-lab sim audit: exit %d, no stop of the powered-off instance:\n%s", code, out)
	}
}
