package main

import (
	"bufio"
	"database/sql"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/osdr/osdr/testenv"
	"github.com/osdr/osdr/testenv/sim"
)

// labSim is one `osdr-lab sim up` process on the test's database server.
type labSim struct {
	cmd    *exec.Cmd
	dir    string
	server *testenv.Server
	stderr func() string
	ready  chan string // the first line of stdout
}

func startLabSim(t *testing.T, args ...string) *labSim {
	t.Helper()
	server := testenv.SharedServer(t)
	t.Setenv(testenv.EnvMySQLDSN, server.AdminDSN())
	s := &labSim{dir: t.TempDir(), server: server, ready: make(chan string, 1)}
	s.cmd = exec.Command(filepath.Join(binDir, "osdr-lab"), append([]string{"sim", "up", "--state-dir", s.dir}, args...)...)
	stdout, err := s.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	// A file, not a buffer: the sim writes to it directly, so reading it while the sim runs is no race.
	stderrFile, err := os.Create(filepath.Join(t.TempDir(), "stderr"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stderrFile.Close() })
	s.cmd.Stderr = stderrFile
	s.stderr = func() string { b, _ := os.ReadFile(stderrFile.Name()); return string(b) }
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.cmd.Process.Kill(); s.cmd.Wait() })
	go func() {
		line, _ := bufio.NewReader(stdout).ReadString('\n')
		s.ready <- line
	}()
	return s
}

// waitReady returns once the sim says it is ready.
func (s *labSim) waitReady(t *testing.T) {
	t.Helper()
	select {
	case line := <-s.ready:
		if !strings.Contains(line, "osdr-lab sim: ready") || !strings.Contains(line, filepath.Join(s.dir, "osdr.env")) {
			t.Fatalf("sim up said %q\n%s", line, s.stderr())
		}
	case <-time.After(2 * time.Minute):
		t.Fatalf("sim up did not get ready:\n%s", s.stderr())
	}
}

// databases lists the databases the sim process created on the server.
func (s *labSim) databases(t *testing.T) []string {
	t.Helper()
	db, err := sql.Open("mysql", s.server.AdminDSN())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query("SHOW DATABASES")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var mine []string
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			t.Fatal(err)
		}
		if strings.Contains(name, "_"+strconv.Itoa(s.cmd.Process.Pid)+"_") {
			mine = append(mine, name)
		}
	}
	return mine
}

// `osdr-lab sim up` serves a cloud until interrupted; `osdr sim power-cut` (the operator binary handing the
// command to the lab) and `osdr-lab sim audit` reach it through its state directory. Interrupted, it stops
// cleanly and leaves no database behind on the server it was given.
func TestSimUpServesACloudThatPowerCutAndAuditReach(t *testing.T) {
	s := startLabSim(t, "--hosts", "1", "--instances", "1", "--volumes-per-instance", "1")
	s.waitReady(t)
	if out, code := runBinary(t, "osdr", "sim", "power-cut", "--state-dir", s.dir); code != 0 || out != "Power cut: every host\n" {
		t.Fatalf("osdr sim power-cut: exit %d\n%s", code, out)
	}
	out, code := runBinary(t, "osdr-lab", "sim", "audit", "--state-dir", s.dir)
	if code != 0 || !strings.Contains(out, `"operation":"stop"`) {
		t.Fatalf("osdr-lab sim audit: exit %d, no stop of the powered-off instance:\n%s", code, out)
	}

	if err := s.cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	if err := s.cmd.Wait(); err != nil {
		t.Fatalf("sim up, interrupted: %v\n%s", err, s.stderr())
	}
	if left := s.databases(t); len(left) > 0 {
		t.Errorf("sim up left its databases behind: %v", left)
	}
}

// Ctrl-C while `sim up` is still building the cloud cancels the build, and the cleanup, which must not run with
// the cancelled context, drops the databases already created.
func TestSimUpInterruptedWhileBuildingLeavesNoDatabase(t *testing.T) {
	s := startLabSim(t, "--hosts", "10", "--instances", "2000")
	deadline := time.Now().Add(2 * time.Minute)
	for len(s.databases(t)) < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("sim up created no databases:\n%s", s.stderr())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := s.cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	err := s.cmd.Wait()
	select {
	case line := <-s.ready:
		if line != "" {
			t.Skipf("the build finished before the interrupt (%q): nothing to cut short", line)
		}
	default:
	}
	if err == nil || !strings.Contains(s.stderr(), "context canceled") {
		t.Errorf("sim up, interrupted while building: %v\n%s", err, s.stderr())
	}
	if strings.Contains(s.stderr(), "drop database") {
		t.Errorf("the cleanup failed:\n%s", s.stderr())
	}
	if left := s.databases(t); len(left) > 0 {
		t.Errorf("sim up left its databases behind: %v", left)
	}
}

// With --faults, the served APIs fail as the rules say, in the services' own shapes and with their request ids;
// operations without a rule answer normally.
func TestSimUpInjectsTheFaultsItIsGiven(t *testing.T) {
	s := startLabSim(t, "--hosts", "1", "--instances", "1", "--faults", "list_servers:503=1", "--faults", "show_server:drop=0")
	s.waitReady(t)
	d, err := sim.ReadDescription(s.dir)
	if err != nil {
		t.Fatal(err)
	}
	body := fmt.Sprintf(`{"auth": {"identity": {"methods": ["password"], "password": {"user": {"name": %q,
		"domain": {"name": "Default"}, "password": %q}}}, "scope": {"project": {"name": %q, "domain": {"name": "Default"}}}}}`,
		d.Username, d.Password, d.Project)
	resp, err := http.Post(d.Identity+"/auth/tokens", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	token := resp.Header.Get("X-Subject-Token")
	get := func(path string) (int, map[string]any, http.Header) {
		t.Helper()
		req, err := http.NewRequest(http.MethodGet, d.Compute+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("X-Auth-Token", token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]any
		if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		return resp.StatusCode, out, resp.Header
	}
	status, out, header := get("/servers/detail?all_tenants=1")
	if _, ok := out["serviceUnavailable"]; status != http.StatusServiceUnavailable || !ok ||
		!strings.HasPrefix(header.Get("X-Compute-Request-Id"), "req-") {
		t.Errorf("servers/detail under list_servers:503=1: %d %v %v", status, out, header)
	}
	status, out, _ = get("/servers")
	if status != http.StatusServiceUnavailable {
		t.Errorf("servers under list_servers:503=1: %d %v", status, out)
	}
	if status, out, _ = get("/flavors"); status != http.StatusOK {
		t.Errorf("flavors, with no rule: %d %v", status, out)
	}

	bad, code := runBinary(t, "osdr-lab", "sim", "up", "--state-dir", t.TempDir(), "--faults", "*:5xx=0.2,teapot=0.1")
	if code == 0 || !strings.Contains(bad, `--faults: "*:5xx=0.2,teapot=0.1": unknown kind "teapot"`) {
		t.Errorf("sim up with a bad --faults: exit %d\n%s", code, bad)
	}
}
