package hosts

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/osdr/osdr/internal/sshx"
	"github.com/osdr/osdr/testenv/virt"
)

// sim is a started cluster and what a client needs: the files it wrote, read back.
type sim struct {
	c          *Cluster
	files      ClientFiles
	signer     ssh.Signer
	knownHosts ssh.HostKeyCallback
}

// startSim starts a host and a plymouth guest booted with volume A mounted at /data.
func startSim(t *testing.T) sim {
	t.Helper()
	c := newCluster(t, HostOptions{})
	ctx := testContext(t)
	must(t, c.AddGuest(ctx, GuestSpec{InstanceUUID: inst1, Boot: BootPlymouth, Fstab: dataFstab}))
	must(t, c.Start(ctx))
	must(t, c.PowerOn(ctx, domain1(), []virt.VolumeConnection{volume(volA, "/dev/vdb")}))
	return clientOf(t, c)
}

// clientOf writes the client files of a started cluster and reads them back.
func clientOf(t *testing.T, c *Cluster) sim {
	t.Helper()
	files, err := c.WriteClientFiles(t.TempDir())
	must(t, err)
	pem, err := os.ReadFile(files.Key)
	must(t, err)
	signer, err := ssh.ParsePrivateKey(pem)
	must(t, err)
	knownHosts, err := knownhosts.New(files.KnownHosts)
	must(t, err)
	return sim{c: c, files: files, signer: signer, knownHosts: knownHosts}
}

func (s sim) hostEndpoint(t *testing.T) Endpoint {
	t.Helper()
	ep, err := s.c.HostEndpoint(hostName)
	must(t, err)
	return ep
}

func (s sim) guestEndpoint(t *testing.T) Endpoint {
	t.Helper()
	return s.endpointOf(t, inst1)
}

func (s sim) endpointOf(t *testing.T, instance string) Endpoint {
	t.Helper()
	ep, err := s.c.GuestEndpoint(instance)
	must(t, err)
	return ep
}

func (s sim) dial(ep Endpoint, user string, signer ssh.Signer) (*ssh.Client, error) {
	return ssh.Dial("tcp", net.JoinHostPort(ep.Address, strconv.Itoa(ep.Port)), &ssh.ClientConfig{
		User:            user,
		Auth:            []ssh.AuthMethod{ssh.PublicKeys(signer)},
		HostKeyCallback: s.knownHosts,
		Timeout:         10 * time.Second,
	})
}

func (s sim) connect(t *testing.T, ep Endpoint) *ssh.Client {
	t.Helper()
	client, err := s.dial(ep, ep.User, s.signer)
	must(t, err)
	t.Cleanup(func() { client.Close() })
	return client
}

// runSSH runs a command; exit is -1 when the session reported no exit status.
func runSSH(t *testing.T, client *ssh.Client, command string) (stdout, stderr string, exit int, err error) {
	t.Helper()
	session, err := client.NewSession()
	if err != nil {
		return "", "", -1, err
	}
	defer session.Close()
	var out, errOut bytes.Buffer
	session.Stdout, session.Stderr = &out, &errOut
	err = session.Run(command)
	var exitErr *ssh.ExitError
	switch {
	case err == nil:
		return out.String(), errOut.String(), 0, nil
	case errors.As(err, &exitErr):
		return out.String(), errOut.String(), exitErr.ExitStatus(), nil
	}
	return out.String(), errOut.String(), -1, err
}

func TestClientFiles(t *testing.T) {
	s := startSim(t)
	info, err := os.Stat(s.files.Key)
	must(t, err)
	if info.Mode().Perm() != 0o600 {
		t.Errorf("key mode %v", info.Mode().Perm())
	}
	pub, err := os.ReadFile(s.files.Key + ".pub")
	must(t, err)
	if !bytes.Equal(pub, ssh.MarshalAuthorizedKey(s.signer.PublicKey())) {
		t.Errorf("public key %q does not match the private key", pub)
	}
	knownHosts, err := os.ReadFile(s.files.KnownHosts)
	must(t, err)
	host, guest := s.hostEndpoint(t), s.guestEndpoint(t)
	lines := strings.Split(strings.TrimSpace(string(knownHosts)), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "[127.0.0.1]:"+strconv.Itoa(host.Port)+" ssh-ed25519 ") ||
		!strings.HasPrefix(lines[1], "[127.0.0.1]:"+strconv.Itoa(guest.Port)+" ssh-ed25519 ") {
		t.Errorf("known_hosts:\n%s", knownHosts)
	}
}

func TestSSHHost(t *testing.T) {
	s := startSim(t)
	client := s.connect(t, s.hostEndpoint(t))
	tests := []struct {
		command string
		want    want
	}{
		{"iscsiadm -m session", want{stdout: "tcp: [1] 10.0.0.1:3260,1 " + iqnOf(volA) + " (non-flash)\n"}},
		{"iscsiadm -m session -u -r 99", want{stderr: "iscsiadm: could not read session targetname: 5\n" +
			"iscsiadm: Could not get session info for sid 99\n", exit: 22}},
		{"lsblk", want{stderr: "bash: line 1: lsblk: command not found\n", exit: 127}},
	}
	for _, tt := range tests {
		stdout, stderr, exit, err := runSSH(t, client, tt.command)
		must(t, err)
		check(t, tt.command, commandResult{stdout: []byte(stdout), stderr: []byte(stderr), exit: exit}, tt.want)
	}
	history, err := s.c.HostCommands(hostName)
	must(t, err)
	if len(history) != len(tests) || history[1].Command != tests[1].command || history[1].ExitCode != 22 {
		t.Errorf("history %+v", history)
	}
}

// TestSSHRefusesStrangers: an unknown user or key fails authentication as sshd does, and runs nothing.
func TestSSHRefusesStrangers(t *testing.T) {
	s := startSim(t)
	_, stranger, err := ed25519.GenerateKey(rand.Reader)
	must(t, err)
	strangerSigner, err := ssh.NewSignerFromKey(stranger)
	must(t, err)
	host, guest := s.hostEndpoint(t), s.guestEndpoint(t)
	tests := []struct {
		name   string
		ep     Endpoint
		user   string
		signer ssh.Signer
	}{
		{"unknown user on a host", host, "admin", s.signer},
		{"the guest's user on a host", host, "ubuntu", s.signer},
		{"root on a guest", guest, "root", s.signer},
		{"another key", host, "root", strangerSigner},
	}
	for _, tt := range tests {
		client, err := s.dial(tt.ep, tt.user, tt.signer)
		if err == nil {
			client.Close()
			t.Errorf("%s: logged in", tt.name)
			continue
		}
		if !strings.Contains(err.Error(), "unable to authenticate, attempted methods [none publickey], no supported methods remain") {
			t.Errorf("%s: %v", tt.name, err)
		}
	}
	if history, _ := s.c.HostCommands(hostName); len(history) != 0 {
		t.Errorf("commands ran: %+v", history)
	}
}

func TestSSHHostKeyVerified(t *testing.T) {
	s := startSim(t)
	other := startSim(t)
	s.knownHosts = other.knownHosts
	_, err := s.dial(s.hostEndpoint(t), "root", s.signer)
	var keyErr *knownhosts.KeyError
	if !errors.As(err, &keyErr) {
		t.Fatalf("dial with another cluster's known_hosts: %v", err)
	}
}

// TestSSHGuestLifecycle: a guest answers only while up; a reboot from inside drops the connection without
// an exit status; its address and host key stay the same.
func TestSSHGuestLifecycle(t *testing.T) {
	s := startSim(t)
	ctx := testContext(t)
	ep := s.guestEndpoint(t)
	client := s.connect(t, ep)
	bootID, _, _, err := runSSH(t, client, "cat /proc/sys/kernel/random/boot_id")
	must(t, err)
	if info, _ := s.c.Guest(inst1); bootID != info.BootID+"\n" {
		t.Fatalf("boot id %q, guest says %q", bootID, info.BootID)
	}

	_, _, exit, err := runSSH(t, client, "sudo shutdown -r now")
	var missing *ssh.ExitMissingError
	if !errors.As(err, &missing) {
		t.Fatalf("shutdown -r now: exit %d, %v; want the exit status missing", exit, err)
	}
	after := waitStage(t, s.c, inst1, StageUp)
	if after.BootID+"\n" == bootID {
		t.Error("boot id unchanged by the reboot")
	}

	client = s.connect(t, ep)
	must(t, s.c.PowerOff(ctx, domain1()))
	if _, _, _, err := runSSH(t, client, "true"); err == nil {
		t.Error("a connection survived the power-off")
	}
	if c, err := s.dial(ep, ep.User, s.signer); err == nil {
		c.Close()
		t.Fatal("a powered-off guest accepted a connection")
	}

	// Plymouth holds the guest while its fstab volume is missing: still unreachable.
	must(t, s.c.PowerOn(ctx, domain1(), nil))
	if c, err := s.dial(ep, ep.User, s.signer); err == nil {
		c.Close()
		t.Fatal("a guest held at plymouth accepted a connection")
	}
	must(t, s.c.AttachVolume(ctx, domain1(), volume(volA, "/dev/vdb")))
	stdout, _, _, err := runSSH(t, s.connect(t, ep), "lsblk -o NAME,MOUNTPOINT /dev/vdb")
	must(t, err)
	if stdout != "NAME MOUNTPOINT\nvdb  /data\n" {
		t.Errorf("lsblk %q", stdout)
	}
}

// TestSSHPowerCut: whoever was connected to a cut host is cut off; the host answers again at once, its
// guest does not.
func TestSSHPowerCut(t *testing.T) {
	s := startSim(t)
	hostClient := s.connect(t, s.hostEndpoint(t))
	guestClient := s.connect(t, s.guestEndpoint(t))
	must(t, s.c.PowerCut(testContext(t), DomainsShutOff))
	for name, client := range map[string]*ssh.Client{"host": hostClient, "guest": guestClient} {
		if _, _, _, err := runSSH(t, client, "true"); err == nil {
			t.Errorf("the %s connection survived the power cut", name)
		}
	}
	_, stderr, exit, err := runSSH(t, s.connect(t, s.hostEndpoint(t)), "iscsiadm -m session")
	if err != nil || exit != 21 || stderr != "iscsiadm: No active sessions.\n" {
		t.Errorf("after the cut: exit %d, stderr %q, %v", exit, stderr, err)
	}
	ep := s.guestEndpoint(t)
	if c, err := s.dial(ep, ep.User, s.signer); err == nil {
		c.Close()
		t.Error("the guest answers after the power cut")
	}
}

// TestOsdrSSHClient: osdr's own SSH client tells a reboot and a guest that is down apart, as callers need.
func TestOsdrSSHClient(t *testing.T) {
	s := startSim(t)
	ctx := testContext(t)
	pool, err := sshx.New(sshx.Config{KnownHostsFile: s.files.KnownHosts, DefaultKeyFile: s.files.Key, DialTimeout: 5 * time.Second})
	must(t, err)
	t.Cleanup(func() { pool.Close() })
	endpoint := func(ep Endpoint) sshx.Endpoint {
		return sshx.Endpoint{Name: ep.Name, Address: ep.Address, Port: ep.Port, User: ep.User}
	}
	host, guest := endpoint(s.hostEndpoint(t)), endpoint(s.guestEndpoint(t))
	result, err := pool.Run(ctx, host, "virsh list --name")
	must(t, err)
	if result.Stdout != "instance-00000001\n\n" {
		t.Errorf("virsh list --name: %+v", result)
	}
	_, err = pool.Run(ctx, guest, "sudo shutdown -r now")
	var lost *sshx.ConnectionLostError
	if !errors.As(err, &lost) {
		t.Errorf("reboot: %v, want a lost connection", err)
	}
	waitStage(t, s.c, inst1, StageUp)
	must(t, s.c.PowerOff(ctx, domain1()))
	_, err = pool.Run(ctx, guest, "true")
	var unreachable *sshx.UnreachableError
	if !errors.As(err, &unreachable) {
		t.Errorf("guest down: %v, want unreachable", err)
	}
}
