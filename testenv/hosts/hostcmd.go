package hosts

import (
	"bytes"
	"maps"
	"net/netip"
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

// runOnHost runs one command line over SSH. The command's changes are made at once; its answer comes once
// the modelled time of what it did has passed. That time is the host's: commands that take time (iscsiadm
// logging in and out, through the one iscsid) wait for each other, so a host does its work one piece after
// another whatever the number of connections, while other hosts work at the same time.
func (c *Cluster) runOnHost(h *host, command string) commandResult {
	c.mu.Lock()
	var stdout, stderr bytes.Buffer
	x := &execution{machine: &hostMachine{c: c, h: h}, stdout: &stdout, stderr: &stderr, root: true, spent: new(time.Duration)}
	status := runScript(x, bash, command)
	h.history = append(h.history, CommandRecord{Command: command, ExitCode: status, At: time.Now(), Took: *x.spent})
	c.mu.Unlock()
	if *x.spent > 0 {
		h.busy.Lock()
		time.Sleep(*x.spent)
		h.busy.Unlock()
	}
	return commandResult{stdout: stdout.Bytes(), stderr: stderr.Bytes(), exit: status}
}

func (m *hostMachine) lookup(name string) (program, bool) {
	bin := map[string]program{"virsh": m.c.virshProgram(m.h)}
	maps.Copy(bin, commonPrograms)
	return resolve(name, bin, map[string]program{"iscsiadm": m.c.iscsiadmProgram(m.h)})
}

// connect reaches the storage network: a portal answers while a volume connection named it and its
// backend is up (Cluster.SetBackends); anything else refuses, as a machine with nothing listening does.
func (m *hostMachine) connect(addr netip.AddrPort) error {
	if !m.c.portalAnswers(addr) {
		return errConnectionRefused
	}
	return nil
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
