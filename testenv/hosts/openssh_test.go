package hosts

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
)

const openSSH = "/usr/bin/ssh"

// TestOpenSSHClient: the real OpenSSH client accepts the written key and known_hosts as they are, with
// strict host key checking, and sees the tools' exact output and exit codes.
func TestOpenSSHClient(t *testing.T) {
	if _, err := os.Stat(openSSH); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is required in CI: %v", openSSH, err)
		}
		t.Skipf("%s not installed (apt-get install openssh-client): %v", openSSH, err)
	}
	s := startSim(t)
	run := func(ep Endpoint, user, command string) (string, string, int) {
		t.Helper()
		cmd := exec.CommandContext(testContext(t), openSSH,
			"-F", "/dev/null",
			"-o", "StrictHostKeyChecking=yes",
			"-o", "UserKnownHostsFile="+s.files.KnownHosts,
			"-o", "GlobalKnownHostsFile=/dev/null",
			"-o", "BatchMode=yes",
			"-o", "IdentitiesOnly=yes",
			"-o", "IdentityAgent=none",
			"-i", s.files.Key,
			"-p", strconv.Itoa(ep.Port),
			user+"@"+ep.Address, command)
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		var exitErr *exec.ExitError
		if err != nil && !errors.As(err, &exitErr) {
			t.Fatalf("ssh %s: %v", command, err)
		}
		return stdout.String(), stderr.String(), cmd.ProcessState.ExitCode()
	}
	host, guest := s.hostEndpoint(t), s.guestEndpoint(t)
	tests := []struct {
		ep      Endpoint
		command string
		want    want
	}{
		{host, "iscsiadm -m session", want{stdout: "tcp: [1] 10.0.0.1:3260,1 " + iqnOf(volA) + " (non-flash)\n"}},
		{host, "iscsiadm -m session -u -r 1", want{stdout: "" +
			"Logging out of session [sid: 1, target: " + iqnOf(volA) + ", portal: 10.0.0.1,3260]\n" +
			"Logout of [sid: 1, target: " + iqnOf(volA) + ", portal: 10.0.0.1,3260] successful.\n"}},
		{host, "iscsiadm -m session", want{stderr: "iscsiadm: No active sessions.\n", exit: 21}},
		{host, "virsh list --all", want{stdout: " Id   Name                State\n" +
			"-----------------------------------\n" +
			" 1    instance-00000001   running\n\n"}},
		{host, "nosuchtool", want{stderr: "bash: line 1: nosuchtool: command not found\n", exit: 127}},
		{guest, "cat /data/osdr-stamp", want{stderr: "cat: /data/osdr-stamp: Input/output error\n", exit: 1}},
	}
	for _, tt := range tests {
		stdout, stderr, exit := run(tt.ep, tt.ep.User, tt.command)
		check(t, tt.command, commandResult{stdout: []byte(stdout), stderr: []byte(stderr), exit: exit}, tt.want)
	}

	if _, stderr, exit := run(host, "admin", "iscsiadm -m session"); exit != 255 || !strings.Contains(stderr, "Permission denied (publickey)") {
		t.Errorf("unknown user: exit %d, stderr %q", exit, stderr)
	}
	// The connection goes away under the command: ssh reports it ("closed by remote host", or a broken pipe
	// when it was still sending, as with real reboots) with its own status 255, not the command's.
	if stdout, stderr, exit := run(guest, guest.User, "sudo reboot"); exit != 255 || stdout != "" || stderr == "" {
		t.Errorf("reboot: exit %d, stdout %q, stderr %q", exit, stdout, stderr)
	}
}
