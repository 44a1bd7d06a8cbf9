package main

import (
	"bufio"
	"database/sql"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/osdr/osdr/testenv"
)

// `osdr-lab sim up` serves a cloud until interrupted; `osdr sim power-cut` (the operator binary handing the
// command to the lab) and `osdr-lab sim audit` reach it through its state directory. Interrupted, it stops
// cleanly and leaves no database behind on the server it was given.
func TestSimUpServesACloudThatPowerCutAndAuditReach(t *testing.T) {
	server := testenv.SharedServer(t)
	t.Setenv(testenv.EnvMySQLDSN, server.AdminDSN())
	dir := t.TempDir()
	up := exec.Command(filepath.Join(binDir, "osdr-lab"), "sim", "up", "--state-dir", dir, "--hosts", "1", "--instances", "1", "--volumes-per-instance", "1")
	stdout, err := up.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	// A file, not a buffer: the sim writes to it directly, so reading it while the sim runs is no race.
	stderrFile, err := os.Create(filepath.Join(t.TempDir(), "stderr"))
	if err != nil {
		t.Fatal(err)
	}
	defer stderrFile.Close()
	up.Stderr = stderrFile
	stderr := func() string { b, _ := os.ReadFile(stderrFile.Name()); return string(b) }
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
			t.Fatalf("sim up said %q\n%s", line, stderr())
		}
	case <-time.After(2 * time.Minute):
		t.Fatalf("sim up did not get ready:\n%s", stderr())
	}

	if out, code := runBinary(t, "osdr", "sim", "power-cut", "--state-dir", dir); code != 0 || out != "Power cut: every host\n" {
		t.Fatalf("osdr sim power-cut: exit %d\n%s", code, out)
	}
	out, code := runBinary(t, "osdr-lab", "sim", "audit", "--state-dir", dir)
	if code != 0 || !strings.Contains(out, `"operation":"stop"`) {
		t.Fatalf("osdr-lab sim audit: exit %d, no stop of the powered-off instance:\n%s", code, out)
	}

	if err := up.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	if err := up.Wait(); err != nil {
		t.Fatalf("sim up, interrupted: %v\n%s", err, stderr())
	}
	db, err := sql.Open("mysql", server.AdminDSN())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var left []string
	rows, err := db.Query("SHOW DATABASES")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			t.Fatal(err)
		}
		if strings.Contains(name, "_"+strconv.Itoa(up.Process.Pid)+"_") {
			left = append(left, name)
		}
	}
	if len(left) > 0 {
		t.Errorf("sim up left its databases behind: %v", left)
	}
}
