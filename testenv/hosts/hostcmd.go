package hosts

import (
	"bytes"
	"maps"
	"slices"
	"strings"
	"time"
)

// hostMachine is a compute host as its shell sees it: iscsiadm and virsh, and the block devices of its
// iSCSI sessions. Host logins act as root. The host keeps no files; a redirection to one is refused.
type hostMachine struct {
	c *Cluster
	h *host
}

// runOnHost runs one command line over SSH.
func (c *Cluster) runOnHost(h *host, command string) commandResult {
	c.mu.Lock()
	defer c.mu.Unlock()
	var stdout, stderr bytes.Buffer
	x := &execution{machine: &hostMachine{c: c, h: h}, stdout: &stdout, stderr: &stderr, root: true}
	status := runScript(x, bash, command)
	h.history = append(h.history, CommandRecord{Command: command, ExitCode: status, At: time.Now()})
	return commandResult{stdout: stdout.Bytes(), stderr: stderr.Bytes(), exit: status}
}

func (m *hostMachine) lookup(name string) (program, bool) {
	bin := map[string]program{"virsh": m.c.virshProgram(m.h)}
	maps.Copy(bin, commonPrograms)
	return resolve(name, bin, map[string]program{"iscsiadm": m.c.iscsiadmProgram(m.h)})
}

const errHostFiles errString = "osdr-sim: files on compute hosts are not simulated"

func (m *hostMachine) create(*execution, string, bool) (func([]byte), error) {
	return nil, errHostFiles
}

// fileType knows the host's block devices: its own disk and its sessions' disks.
func (m *hostMachine) fileType(p string) (string, bool) {
	switch {
	case p == "/dev/sda" || slices.ContainsFunc(m.h.sessions, func(s *session) bool { return "/dev/"+s.disk == p }):
		return "b", true
	case strings.HasPrefix(p, "/dev/sd"):
		return "", true
	}
	return "", false
}
