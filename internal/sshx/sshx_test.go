package sshx

import (
	"cmp"
	"context"
	"errors"
	"io/fs"
	"net"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
	"golang.org/x/crypto/ssh/knownhosts"
)

func newPool(t *testing.T, cfg Config) *Pool {
	t.Helper()
	pool, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() {
		if err := pool.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return pool
}

// verifyingConfig trusts the first host key of hosts and logs in as testUser with key.
func verifyingConfig(t *testing.T, key testKey, hosts ...*fakeHost) Config {
	t.Helper()
	var lines []string
	for _, h := range hosts {
		lines = append(lines, h.knownHostsLine())
	}
	return Config{KnownHostsFile: writeKnownHosts(t, lines...), DefaultKeyFile: key.file, DefaultUser: testUser}
}

// closedPort is an endpoint on 127.0.0.1 where nothing listens.
func closedPort(t *testing.T, name string) Endpoint {
	t.Helper()
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := listener.Addr().(*net.TCPAddr).Port
	listener.Close()
	return Endpoint{Name: name, Address: "127.0.0.1", Port: port}
}

// waitEvent waits until h reports want, skipping other events; the bound only turns a hang into a failure.
func waitEvent(t *testing.T, h *fakeHost, want string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	for {
		select {
		case event := <-h.events:
			if event == want {
				return
			}
		case <-ctx.Done():
			t.Fatalf("the host never reported %q", want)
		}
	}
}

func TestRunReportsOutputAndExitStatus(t *testing.T) {
	t.Parallel()
	key := newKey(t, "ed25519")
	host := startHost(t, []ssh.PublicKey{key.signer.PublicKey()})
	pool := newPool(t, verifyingConfig(t, key, host))
	tests := []struct {
		name    string
		command string
		want    Result
	}{
		{"stdout", "echo hello world", Result{Stdout: "hello world\n"}},
		{"stderr kept apart", "echo-stderr no such session", Result{Stderr: "no such session\n"}},
		{"non-zero exit status is no error", "exit 21", Result{ExitCode: 21}},
		{"command not found", "iscsiadm -m session", Result{Stderr: "sh: iscsiadm: command not found\n", ExitCode: 127}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := pool.Run(t.Context(), host.endpoint("compute-1"), tt.command)
			if err != nil {
				t.Fatalf("Run: %v", err)
			}
			if got != tt.want {
				t.Errorf("Run = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestConnectionIsReusedPerAddress(t *testing.T) {
	t.Parallel()
	key := newKey(t, "ed25519")
	host := startHost(t, []ssh.PublicKey{key.signer.PublicKey()})
	pool := newPool(t, verifyingConfig(t, key, host))
	// Names only label messages: a host and a guest pointing at the same sshd share the connection.
	for _, name := range []string{"compute-1", "compute-1", "b8f0c3c2-instance"} {
		if _, err := pool.Run(t.Context(), host.endpoint(name), "echo ok"); err != nil {
			t.Fatalf("Run on %s: %v", name, err)
		}
	}
	if n := host.accepted.Load(); n != 1 {
		t.Errorf("host accepted %d connections for 3 commands, want 1", n)
	}
}

func TestHostKeyVerification(t *testing.T) {
	t.Parallel()
	key := newKey(t, "ed25519")
	authorized := []ssh.PublicKey{key.signer.PublicKey()}
	stranger := newKey(t, "ed25519").signer.PublicKey()
	ecdsaHostKey, ed25519HostKey := newKey(t, "ecdsa").signer, newKey(t, "ed25519").signer
	tests := []struct {
		name       string
		hostKeys   []ssh.Signer
		knownHosts func(h *fakeHost) string
		want       HostKeyProblem // zero: the connection is made
		wantKnown  string         // a fingerprint expected in HostKeyError.Known
	}{
		{
			name:       "recorded key",
			knownHosts: (*fakeHost).knownHostsLine,
		},
		{
			// The client prefers ECDSA; asking for it would present a key known_hosts lacks.
			name:       "host with ecdsa and ed25519 keys recorded by ed25519 only",
			hostKeys:   []ssh.Signer{ecdsaHostKey, ed25519HostKey},
			knownHosts: func(h *fakeHost) string { return knownhosts.Line([]string{h.addr}, ed25519HostKey.PublicKey()) },
		},
		{
			name:       "address recorded for port 22 only",
			knownHosts: func(h *fakeHost) string { return knownhosts.Line([]string{"127.0.0.1"}, h.hostKey.PublicKey()) },
			want:       HostKeyUnknown,
		},
		{
			name:       "another key recorded for the address",
			knownHosts: func(h *fakeHost) string { return knownhosts.Line([]string{h.addr}, stranger) },
			want:       HostKeyChanged,
			wantKnown:  ssh.FingerprintSHA256(stranger),
		},
		{
			name:       "key revoked",
			knownHosts: func(h *fakeHost) string { return "@revoked " + h.knownHostsLine() },
			want:       HostKeyRevoked,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			host := startHost(t, authorized, tt.hostKeys...)
			pool := newPool(t, Config{
				KnownHostsFile: writeKnownHosts(t, tt.knownHosts(host)),
				DefaultKeyFile: key.file,
				DefaultUser:    testUser,
			})
			_, err := pool.Run(t.Context(), host.endpoint("compute-1"), "echo ok")
			if tt.want == 0 {
				if err != nil {
					t.Fatalf("Run: %v", err)
				}
				return
			}
			var refusal *HostKeyError
			if !errors.As(err, &refusal) {
				t.Fatalf("Run error = %v, want a *HostKeyError", err)
			}
			if refusal.Problem != tt.want || refusal.Endpoint != "compute-1" || refusal.Address != host.addr {
				t.Errorf("refusal = %v for %s at %s, want %v for compute-1 at %s",
					refusal.Problem, refusal.Endpoint, refusal.Address, tt.want, host.addr)
			}
			if want := ssh.FingerprintSHA256(host.hostKey.PublicKey()); refusal.Presented != want {
				t.Errorf("Presented = %s, want %s", refusal.Presented, want)
			}
			if tt.wantKnown != "" && !slices.ContainsFunc(refusal.Known, func(k string) bool { return strings.HasSuffix(k, tt.wantKnown) }) {
				t.Errorf("Known = %q, want an entry for %s", refusal.Known, tt.wantKnown)
			}
			if n := host.accepted.Load(); n != 1 {
				t.Errorf("host saw %d connection attempts, want 1: a refused host key is never retried", n)
			}
		})
	}
}

func TestInsecureOptOutIsExplicitAndVisible(t *testing.T) {
	t.Parallel()
	key := newKey(t, "ed25519")
	host := startHost(t, []ssh.PublicKey{key.signer.PublicKey()})
	insecure := newPool(t, Config{
		KnownHostsFile:         filepath.Join(t.TempDir(), "absent"),
		InsecureIgnoreHostKeys: true,
		DefaultKeyFile:         key.file,
		DefaultUser:            testUser,
	})
	if insecure.VerifiesHostKeys() {
		t.Error("VerifiesHostKeys() = true with InsecureIgnoreHostKeys")
	}
	if _, err := insecure.Run(t.Context(), host.endpoint("compute-1"), "echo ok"); err != nil {
		t.Fatalf("Run without verification: %v", err)
	}
	if verifying := newPool(t, verifyingConfig(t, key, host)); !verifying.VerifiesHostKeys() {
		t.Error("VerifiesHostKeys() = false by default")
	}
}

func TestNewRefusesUnusableSettings(t *testing.T) {
	tests := []struct {
		name    string
		config  func(t *testing.T) Config
		wantIs  error
		wantAs  any
		wantMsg string
	}{
		{
			name:   "known_hosts missing",
			config: func(t *testing.T) Config { return Config{KnownHostsFile: filepath.Join(t.TempDir(), "known_hosts")} },
			wantIs: fs.ErrNotExist,
		},
		{
			name: "default ~/.ssh/known_hosts missing",
			config: func(t *testing.T) Config {
				t.Setenv("HOME", t.TempDir())
				return Config{}
			},
			wantIs: fs.ErrNotExist,
		},
		{
			name: "encrypted key",
			config: func(t *testing.T) Config {
				return Config{InsecureIgnoreHostKeys: true, DefaultKeyFile: encryptedKeyFile(t)}
			},
			wantAs:  new(*ssh.PassphraseMissingError),
			wantMsg: "passphrase",
		},
		{
			name: "agent without SSH_AUTH_SOCK",
			config: func(t *testing.T) Config {
				t.Setenv("SSH_AUTH_SOCK", "")
				return Config{InsecureIgnoreHostKeys: true, UseAgent: true}
			},
			wantMsg: "SSH_AUTH_SOCK",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(tt.config(t))
			switch {
			case err == nil:
				t.Fatal("New accepted the settings")
			case tt.wantIs != nil && !errors.Is(err, tt.wantIs):
				t.Errorf("New error = %v, want one wrapping %v", err, tt.wantIs)
			case tt.wantAs != nil && !errors.As(err, tt.wantAs):
				t.Errorf("New error = %v, want one wrapping %T", err, tt.wantAs)
			case !strings.Contains(err.Error(), tt.wantMsg):
				t.Errorf("New error = %v, want it to mention %q", err, tt.wantMsg)
			}
		})
	}
}

func TestAuthentication(t *testing.T) {
	t.Parallel()
	ed25519Key, ecdsaKey, rsaKey := newKey(t, "ed25519"), newKey(t, "ecdsa"), newKey(t, "rsa")
	refused := newKey(t, "ed25519")
	encrypted := encryptedKeyFile(t)
	host := startHost(t, []ssh.PublicKey{ed25519Key.signer.PublicKey(), ecdsaKey.signer.PublicKey(), rsaKey.signer.PublicKey()})
	knownHostsFile := writeKnownHosts(t, host.knownHostsLine())
	tests := []struct {
		name           string
		defaultKey     string
		endpointKey    string
		user           string
		wantAuthError  bool
		wantPassphrase bool
	}{
		{name: "ed25519 key", defaultKey: ed25519Key.file},
		{name: "ecdsa key", defaultKey: ecdsaKey.file},
		{name: "rsa key", defaultKey: rsaKey.file},
		{name: "endpoint key wins over the default", defaultKey: refused.file, endpointKey: ed25519Key.file},
		{name: "key not authorized", defaultKey: refused.file, wantAuthError: true},
		{name: "user unknown", defaultKey: ed25519Key.file, user: "root", wantAuthError: true},
		{name: "encrypted endpoint key", defaultKey: ed25519Key.file, endpointKey: encrypted, wantPassphrase: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			pool := newPool(t, Config{KnownHostsFile: knownHostsFile, DefaultKeyFile: tt.defaultKey, DefaultUser: testUser})
			endpoint := host.endpoint("compute-1")
			endpoint.KeyFile, endpoint.User = tt.endpointKey, tt.user
			_, err := pool.Run(t.Context(), endpoint, "echo ok")
			var authErr *AuthError
			switch {
			case tt.wantAuthError:
				if !errors.As(err, &authErr) {
					t.Fatalf("Run error = %v, want an *AuthError", err)
				}
				if wantUser := cmp.Or(tt.user, testUser); authErr.User != wantUser || authErr.Endpoint != "compute-1" {
					t.Errorf("AuthError for %s on %s, want %s on compute-1", authErr.User, authErr.Endpoint, wantUser)
				}
				if !slices.Contains(authErr.Offered, tt.defaultKey) {
					t.Errorf("Offered = %q, want it to name %s", authErr.Offered, tt.defaultKey)
				}
			case tt.wantPassphrase:
				if !errors.As(err, new(*ssh.PassphraseMissingError)) || !strings.Contains(err.Error(), "passphrase") {
					t.Fatalf("Run error = %v, want a clear passphrase error", err)
				}
			case err != nil:
				t.Fatalf("Run: %v", err)
			}
		})
	}
}

func TestAgentKeysAreOfferedAfterTheKeyFile(t *testing.T) {
	key, refused := newKey(t, "ed25519"), newKey(t, "ed25519")
	host := startHost(t, []ssh.PublicKey{key.signer.PublicKey()})
	keyring := agent.NewKeyring()
	if err := keyring.Add(agent.AddedKey{PrivateKey: key.private}); err != nil {
		t.Fatal(err)
	}
	socket := filepath.Join(t.TempDir(), "agent.sock")
	listener, err := net.Listen("unix", socket)
	if err != nil {
		t.Fatal(err)
	}
	var served sync.WaitGroup
	t.Cleanup(func() {
		listener.Close()
		served.Wait()
	})
	served.Go(func() {
		for {
			conn, err := listener.Accept()
			if err != nil {
				return
			}
			served.Go(func() {
				defer conn.Close()
				agent.ServeAgent(keyring, conn)
			})
		}
	})
	t.Setenv("SSH_AUTH_SOCK", socket)
	knownHostsFile := writeKnownHosts(t, host.knownHostsLine())
	// x/crypto tries each method name once: the agent's keys only count if they join the key file's method.
	for _, keyFile := range []string{"", refused.file} {
		pool := newPool(t, Config{KnownHostsFile: knownHostsFile, DefaultKeyFile: keyFile, DefaultUser: testUser, UseAgent: true})
		if _, err := pool.Run(t.Context(), host.endpoint("compute-1"), "echo ok"); err != nil {
			t.Errorf("Run with the agent and key file %q: %v", keyFile, err)
		}
	}
}

func TestUnreachableHost(t *testing.T) {
	t.Parallel()
	key := newKey(t, "ed25519")
	// A machine still booting may accept TCP and close it before sshd answers.
	hangUp, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var served sync.WaitGroup
	t.Cleanup(func() {
		hangUp.Close()
		served.Wait()
	})
	served.Go(func() {
		for {
			conn, err := hangUp.Accept()
			if err != nil {
				return
			}
			conn.Close()
		}
	})
	tests := []struct {
		name     string
		endpoint Endpoint
		wantIs   error
	}{
		{"connection refused", closedPort(t, "compute-1"), syscall.ECONNREFUSED},
		{"closed before the handshake", Endpoint{Name: "compute-1", Address: "127.0.0.1", Port: hangUp.Addr().(*net.TCPAddr).Port}, nil},
	}
	pool := newPool(t, Config{InsecureIgnoreHostKeys: true, DefaultKeyFile: key.file, DefaultUser: testUser})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := pool.Run(t.Context(), tt.endpoint, "echo ok")
			var unreachable *UnreachableError
			if !errors.As(err, &unreachable) || unreachable.Endpoint != "compute-1" {
				t.Fatalf("Run error = %v, want an *UnreachableError for compute-1", err)
			}
			if tt.wantIs != nil && !errors.Is(err, tt.wantIs) {
				t.Errorf("Run error = %v, want it to wrap %v", err, tt.wantIs)
			}
		})
	}
}

func TestLongCommandIsStopped(t *testing.T) {
	t.Parallel()
	key := newKey(t, "ed25519")
	tests := []struct {
		name           string
		commandTimeout time.Duration
		wantErr        error
	}{
		{name: "caller cancels", wantErr: context.Canceled},
		{name: "command timeout", commandTimeout: 50 * time.Millisecond, wantErr: context.DeadlineExceeded},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			host := startHost(t, []ssh.PublicKey{key.signer.PublicKey()})
			cfg := verifyingConfig(t, key, host)
			cfg.CommandTimeout = tt.commandTimeout
			pool := newPool(t, cfg)
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			finished := make(chan error, 1)
			go func() {
				_, err := pool.Run(ctx, host.endpoint("compute-1"), "sleep-forever")
				finished <- err
			}()
			if tt.commandTimeout == 0 {
				waitEvent(t, host, "started")
				cancel()
				waitEvent(t, host, "signal KILL")
				waitEvent(t, host, "ended")
			}
			if err := <-finished; !errors.Is(err, tt.wantErr) {
				t.Errorf("Run error = %v, want %v", err, tt.wantErr)
			}
		})
	}
}

func TestReconnectsAfterTheConnectionDies(t *testing.T) {
	t.Parallel()
	key := newKey(t, "ed25519")
	tests := []struct {
		name        string
		dialTimeout time.Duration
		kill        func(t *testing.T, pool *Pool, host *fakeHost)
	}{
		{
			name: "host closed its connections",
			kill: func(t *testing.T, pool *Pool, host *fakeHost) { host.dropAll() },
		},
		{
			name: "connection dropped mid-command, as by a reboot",
			kill: func(t *testing.T, pool *Pool, host *fakeHost) {
				_, err := pool.Run(t.Context(), host.endpoint("compute-1"), "drop")
				if lost := new(ConnectionLostError); !errors.As(err, &lost) || lost.Endpoint != "compute-1" {
					t.Fatalf("Run of a dropping command: error = %v, want a *ConnectionLostError", err)
				}
			},
		},
		{
			// A host that lost power never closes TCP: only the unanswered channel open shows it is gone.
			name:        "host stopped answering",
			dialTimeout: time.Second,
			kill:        func(t *testing.T, pool *Pool, host *fakeHost) { host.freezeAll() },
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			host := startHost(t, []ssh.PublicKey{key.signer.PublicKey()})
			cfg := verifyingConfig(t, key, host)
			cfg.DialTimeout = tt.dialTimeout
			pool := newPool(t, cfg)
			if _, err := pool.Run(t.Context(), host.endpoint("compute-1"), "echo before"); err != nil {
				t.Fatalf("Run before: %v", err)
			}
			tt.kill(t, pool, host)
			got, err := pool.Run(t.Context(), host.endpoint("compute-1"), "echo after")
			if err != nil || got.Stdout != "after\n" {
				t.Fatalf("Run after = %+v, %v; want its output", got, err)
			}
			if n := host.accepted.Load(); n != 2 {
				t.Errorf("host accepted %d connections, want 2", n)
			}
		})
	}
}

func TestJumpHost(t *testing.T) {
	t.Parallel()
	key := newKey(t, "ed25519")
	authorized := []ssh.PublicKey{key.signer.PublicKey()}
	tests := []struct {
		name            string
		jumpDown        bool
		targetDown      bool
		jumpUnknown     bool
		targetUnknown   bool
		wantHostKeyFrom string
		wantUnreachable string
	}{
		{name: "both host keys recorded"},
		{name: "target key unknown", targetUnknown: true, wantHostKeyFrom: "guest-1"},
		{name: "jump key unknown", jumpUnknown: true, wantHostKeyFrom: "bastion"},
		{name: "target down", targetDown: true, wantUnreachable: "guest-1"},
		{name: "jump down", jumpDown: true, wantUnreachable: "bastion"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			jumpHost, targetHost := startHost(t, authorized), startHost(t, authorized)
			var known []string
			if !tt.jumpUnknown {
				known = append(known, jumpHost.knownHostsLine())
			}
			if !tt.targetUnknown {
				known = append(known, targetHost.knownHostsLine())
			}
			pool := newPool(t, Config{KnownHostsFile: writeKnownHosts(t, known...), DefaultKeyFile: key.file, DefaultUser: testUser})
			jump, target := jumpHost.endpoint("bastion"), targetHost.endpoint("guest-1")
			if tt.jumpDown {
				jump = closedPort(t, "bastion")
			}
			if tt.targetDown {
				target = closedPort(t, "guest-1")
			}
			target.Jump = &jump

			for range 2 {
				got, err := pool.Run(t.Context(), target, "echo through")
				var refusal *HostKeyError
				var unreachable *UnreachableError
				switch {
				case tt.wantHostKeyFrom != "":
					if !errors.As(err, &refusal) || refusal.Endpoint != tt.wantHostKeyFrom || refusal.Problem != HostKeyUnknown {
						t.Fatalf("Run error = %v, want an unknown host key of %s", err, tt.wantHostKeyFrom)
					}
				case tt.wantUnreachable != "":
					if !errors.As(err, &unreachable) || unreachable.Endpoint != tt.wantUnreachable {
						t.Fatalf("Run error = %v, want %s unreachable", err, tt.wantUnreachable)
					}
				case err != nil || got.Stdout != "through\n":
					t.Fatalf("Run = %+v, %v; want the target's output", got, err)
				}
			}
			if tt.wantHostKeyFrom != "" || tt.wantUnreachable != "" {
				return
			}
			if j, f, c := jumpHost.accepted.Load(), jumpHost.forwards.Load(), targetHost.accepted.Load(); j != 1 || f != 1 || c != 1 {
				t.Errorf("jump accepted %d and forwarded %d, target accepted %d; want one of each for two commands", j, f, c)
			}
		})
	}
}

func TestSameAddressBehindTwoJumpHostsIsTwoMachines(t *testing.T) {
	t.Parallel()
	key := newKey(t, "ed25519")
	authorized := []ssh.PublicKey{key.signer.PublicKey()}
	jumpA, jumpB := startHost(t, authorized), startHost(t, authorized)
	guestA, guestB := startHost(t, authorized), startHost(t, authorized)
	// Tenant networks overlap: behind jump B, guest A's address leads to guest B.
	jumpB.route(guestA.addr, guestB.addr)
	pool := newPool(t, Config{
		KnownHostsFile: writeKnownHosts(t, jumpA.knownHostsLine(), jumpB.knownHostsLine(), guestA.knownHostsLine(),
			knownhosts.Line([]string{guestA.addr}, guestB.hostKey.PublicKey())),
		DefaultKeyFile: key.file,
		DefaultUser:    testUser,
	})
	for _, jump := range []*fakeHost{jumpA, jumpB} {
		via := jump.endpoint("bastion")
		guest := guestA.endpoint("guest")
		guest.Jump = &via
		if _, err := pool.Run(t.Context(), guest, "echo ok"); err != nil {
			t.Fatalf("Run via %s: %v", jump.addr, err)
		}
	}
	if a, b := guestA.accepted.Load(), guestB.accepted.Load(); a != 1 || b != 1 {
		t.Errorf("guests accepted %d and %d connections, want one each", a, b)
	}
}

func TestConcurrentRunsShareOneConnectionPerHost(t *testing.T) {
	t.Parallel()
	key := newKey(t, "ed25519")
	authorized := []ssh.PublicKey{key.signer.PublicKey()}
	hosts := []*fakeHost{startHost(t, authorized), startHost(t, authorized)}
	pool := newPool(t, verifyingConfig(t, key, hosts...))
	var runs sync.WaitGroup
	for i := range 16 {
		for h, host := range hosts {
			runs.Go(func() {
				want := strconv.Itoa(i)
				got, err := pool.Run(t.Context(), host.endpoint("compute-"+strconv.Itoa(h)), "echo "+want)
				if err != nil || got.Stdout != want+"\n" {
					t.Errorf("Run %d on host %d = %+v, %v", i, h, got, err)
				}
			})
		}
	}
	runs.Wait()
	for h, host := range hosts {
		if n := host.accepted.Load(); n != 1 {
			t.Errorf("host %d accepted %d connections, want 1", h, n)
		}
	}
}

func TestOutputIsCapped(t *testing.T) {
	t.Parallel()
	key := newKey(t, "ed25519")
	host := startHost(t, []ssh.PublicKey{key.signer.PublicKey()})
	cfg := verifyingConfig(t, key, host)
	cfg.MaxOutputBytes = 1000
	pool := newPool(t, cfg)
	tests := []struct {
		command       string
		wantTruncated bool
	}{
		{"flood 1000", false},
		{"flood 300000", true},
	}
	for _, tt := range tests {
		t.Run(tt.command, func(t *testing.T) {
			got, err := pool.Run(t.Context(), host.endpoint("compute-1"), tt.command)
			if truncated := errors.Is(err, ErrOutputTruncated); truncated != tt.wantTruncated || (err != nil && !truncated) {
				t.Fatalf("Run error = %v, want truncated %v", err, tt.wantTruncated)
			}
			if len(got.Stdout) != 1000 || got.ExitCode != 0 {
				t.Errorf("Run kept %d bytes with exit code %d, want 1000 and 0", len(got.Stdout), got.ExitCode)
			}
		})
	}
}

func TestRunRejectsIncompleteEndpoints(t *testing.T) {
	t.Parallel()
	loop := Endpoint{Name: "loop", Address: "127.0.0.1", User: testUser}
	loop.Jump = &loop
	tests := []struct {
		name     string
		endpoint Endpoint
		wantMsg  string
	}{
		{"no address", Endpoint{Name: "compute-1", User: testUser}, "no address"},
		{"no user", Endpoint{Name: "compute-1", Address: "127.0.0.1"}, "no user"},
		{"port out of range", Endpoint{Name: "compute-1", Address: "127.0.0.1", User: testUser, Port: 70000}, "out of range"},
		{"jump loop", loop, "loops"},
	}
	pool := newPool(t, Config{InsecureIgnoreHostKeys: true})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := pool.Run(t.Context(), tt.endpoint, "echo ok"); err == nil || !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("Run error = %v, want one saying %q", err, tt.wantMsg)
			}
		})
	}
}

func TestClosedPoolRefusesToRun(t *testing.T) {
	t.Parallel()
	key := newKey(t, "ed25519")
	host := startHost(t, []ssh.PublicKey{key.signer.PublicKey()})
	pool := newPool(t, verifyingConfig(t, key, host))
	if _, err := pool.Run(t.Context(), host.endpoint("compute-1"), "echo ok"); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if err := pool.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if _, err := pool.Run(t.Context(), host.endpoint("compute-1"), "echo ok"); !errors.Is(err, ErrClosed) {
		t.Errorf("Run after Close: error = %v, want ErrClosed", err)
	}
}
