package sshx

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// testUser is the only login the fake hosts accept.
const testUser = "osdr"

// fakeHost is an sshd on 127.0.0.1 that answers a handful of commands the way a shell would:
//
//	echo ARGS         ARGS and a newline on stdout, exit 0
//	echo-stderr ARGS  the same on stderr
//	exit N            exit status N
//	flood N           N bytes on stdout
//	sleep-forever     runs until its session is closed
//	drop              closes the whole connection without an exit status, as a reboot does
//	anything else     "command not found" on stderr, exit 127
//
// It also forwards direct-tcpip channels to 127.0.0.1, so that it can serve as a jump host.
type fakeHost struct {
	addr     string
	hostKey  ssh.Signer // the first of its host keys
	config   *ssh.ServerConfig
	listener net.Listener
	accepted atomic.Int32 // TCP connections, i.e. handshakes attempted
	forwards atomic.Int32
	events   chan string // "started", "ended", "signal KILL", … from commands

	mu      sync.Mutex
	closing bool
	conns   map[*fakeConn]struct{}
	routes  map[string]string // forwarded address → where it really leads, as in another tenant network
	wg      sync.WaitGroup
}

func startHost(t *testing.T, authorized []ssh.PublicKey, hostKeys ...ssh.Signer) *fakeHost {
	t.Helper()
	if len(hostKeys) == 0 {
		hostKeys = []ssh.Signer{newKey(t, "ed25519").signer}
	}
	config := &ssh.ServerConfig{
		PublicKeyCallback: func(meta ssh.ConnMetadata, key ssh.PublicKey) (*ssh.Permissions, error) {
			if meta.User() != testUser {
				return nil, fmt.Errorf("no user %q", meta.User())
			}
			for _, k := range authorized {
				if bytes.Equal(k.Marshal(), key.Marshal()) {
					return nil, nil
				}
			}
			return nil, errors.New("key not authorized")
		},
	}
	for _, key := range hostKeys {
		config.AddHostKey(key)
	}
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	h := &fakeHost{
		addr:     listener.Addr().String(),
		hostKey:  hostKeys[0],
		config:   config,
		listener: listener,
		events:   make(chan string, 64),
		conns:    make(map[*fakeConn]struct{}),
		routes:   make(map[string]string),
	}
	h.wg.Go(h.serve)
	t.Cleanup(func() {
		listener.Close()
		h.mu.Lock()
		h.closing = true
		h.mu.Unlock()
		h.dropAll()
		h.wg.Wait()
	})
	return h
}

// endpoint is h as seen by the client under test.
func (h *fakeHost) endpoint(name string) Endpoint {
	host, port, _ := net.SplitHostPort(h.addr)
	portNumber, _ := strconv.Atoi(port)
	return Endpoint{Name: name, Address: host, Port: portNumber}
}

// knownHostsLine records h's first host key, in the [127.0.0.1]:PORT form.
func (h *fakeHost) knownHostsLine() string {
	return knownhosts.Line([]string{h.addr}, h.hostKey.PublicKey())
}

func (h *fakeHost) serve() {
	for {
		conn, err := h.listener.Accept()
		if err != nil {
			return
		}
		h.accepted.Add(1)
		fc := &fakeConn{Conn: conn, frozen: make(chan struct{}), closed: make(chan struct{})}
		h.mu.Lock()
		if h.closing {
			h.mu.Unlock()
			conn.Close()
			return
		}
		h.conns[fc] = struct{}{}
		h.mu.Unlock()
		h.wg.Go(func() { h.handle(fc) })
	}
}

func (h *fakeHost) handle(fc *fakeConn) {
	defer func() {
		fc.Close()
		h.mu.Lock()
		delete(h.conns, fc)
		h.mu.Unlock()
	}()
	conn, channels, requests, err := ssh.NewServerConn(fc, h.config)
	if err != nil {
		return
	}
	h.wg.Go(func() { ssh.DiscardRequests(requests) })
	for newChannel := range channels {
		switch newChannel.ChannelType() {
		case "session":
			h.wg.Go(func() { h.session(conn, newChannel) })
		case "direct-tcpip":
			h.wg.Go(func() { h.forward(newChannel) })
		default:
			newChannel.Reject(ssh.UnknownChannelType, newChannel.ChannelType())
		}
	}
}

func (h *fakeHost) session(conn *ssh.ServerConn, newChannel ssh.NewChannel) {
	channel, requests, err := newChannel.Accept()
	if err != nil {
		return
	}
	defer channel.Close()
	closed := make(chan struct{})
	defer close(closed)
	for request := range requests {
		switch request.Type {
		case "exec":
			var exec struct{ Command string }
			if err := ssh.Unmarshal(request.Payload, &exec); err != nil {
				request.Reply(false, nil)
				continue
			}
			request.Reply(true, nil)
			h.wg.Go(func() { h.exec(conn, channel, exec.Command, closed) })
		case "signal":
			var signal struct{ Signal string }
			if err := ssh.Unmarshal(request.Payload, &signal); err == nil {
				h.event("signal " + signal.Signal)
			}
		default:
			request.Reply(false, nil)
		}
	}
}

func (h *fakeHost) exec(conn *ssh.ServerConn, channel ssh.Channel, command string, closed <-chan struct{}) {
	name, args, _ := strings.Cut(command, " ")
	status := 0
	switch name {
	case "echo":
		fmt.Fprintln(channel, args)
	case "echo-stderr":
		fmt.Fprintln(channel.Stderr(), args)
	case "exit":
		status, _ = strconv.Atoi(args)
	case "flood":
		n, _ := strconv.Atoi(args)
		channel.Write(bytes.Repeat([]byte("x"), n))
	case "sleep-forever":
		h.event("started")
		<-closed
		h.event("ended")
		return
	case "drop":
		conn.Close()
		return
	default:
		fmt.Fprintf(channel.Stderr(), "sh: %s: command not found\n", name)
		status = 127
	}
	channel.SendRequest("exit-status", false, ssh.Marshal(struct{ Status uint32 }{uint32(status)}))
	channel.Close()
}

func (h *fakeHost) forward(newChannel ssh.NewChannel) {
	var destination struct {
		Host       string
		Port       uint32
		OriginHost string
		OriginPort uint32
	}
	if err := ssh.Unmarshal(newChannel.ExtraData(), &destination); err != nil || destination.Host != "127.0.0.1" {
		newChannel.Reject(ssh.Prohibited, "only 127.0.0.1")
		return
	}
	address := net.JoinHostPort(destination.Host, strconv.Itoa(int(destination.Port)))
	h.mu.Lock()
	if routed, ok := h.routes[address]; ok {
		address = routed
	}
	h.mu.Unlock()
	upstream, err := net.Dial("tcp", address)
	if err != nil {
		newChannel.Reject(ssh.ConnectionFailed, err.Error())
		return
	}
	channel, requests, err := newChannel.Accept()
	if err != nil {
		upstream.Close()
		return
	}
	h.forwards.Add(1)
	h.wg.Go(func() { ssh.DiscardRequests(requests) })
	h.wg.Go(func() {
		io.Copy(upstream, channel)
		upstream.Close()
	})
	io.Copy(channel, upstream)
	channel.Close()
}

func (h *fakeHost) event(e string) {
	select {
	case h.events <- e:
	default:
	}
}

// route makes h, as a jump host, forward connections for from to to.
func (h *fakeHost) route(from, to string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.routes[from] = to
}

// dropAll closes every connection, as sshd does when the host reboots.
func (h *fakeHost) dropAll() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for c := range h.conns {
		c.Close()
	}
}

// freezeAll makes every current connection silent without closing it, as a host that lost power does.
func (h *fakeHost) freezeAll() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for c := range h.conns {
		c.freezeOnce.Do(func() { close(c.frozen) })
	}
}

// fakeConn can be frozen: from then on it swallows what it is sent and answers nothing.
type fakeConn struct {
	net.Conn
	freezeOnce, closeOnce sync.Once
	frozen, closed        chan struct{}
}

func (c *fakeConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	select {
	case <-c.frozen:
		<-c.closed
		return 0, net.ErrClosed
	default:
		return n, err
	}
}

func (c *fakeConn) Write(p []byte) (int, error) {
	select {
	case <-c.frozen:
		return len(p), nil
	default:
		return c.Conn.Write(p)
	}
}

func (c *fakeConn) Close() error {
	c.closeOnce.Do(func() { close(c.closed) })
	return c.Conn.Close()
}

type testKey struct {
	private crypto.Signer
	signer  ssh.Signer
	file    string // unencrypted OpenSSH private key file
}

func newKey(t *testing.T, kind string) testKey {
	t.Helper()
	private := newPrivateKey(t, kind)
	signer, err := ssh.NewSignerFromKey(private)
	if err != nil {
		t.Fatal(err)
	}
	block, err := ssh.MarshalPrivateKey(private, "")
	if err != nil {
		t.Fatal(err)
	}
	return testKey{private: private, signer: signer, file: writeFile(t, kind+".key", string(pem.EncodeToMemory(block)))}
}

func newPrivateKey(t *testing.T, kind string) crypto.Signer {
	t.Helper()
	var private crypto.Signer
	var err error
	switch kind {
	case "ed25519":
		_, private, err = ed25519.GenerateKey(rand.Reader)
	case "ecdsa":
		private, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case "rsa":
		private, err = rsa.GenerateKey(rand.Reader, 2048)
	default:
		t.Fatalf("no key kind %q", kind)
	}
	if err != nil {
		t.Fatal(err)
	}
	return private
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func writeKnownHosts(t *testing.T, lines ...string) string {
	t.Helper()
	return writeFile(t, "known_hosts", strings.Join(lines, "\n")+"\n")
}

// encryptedKeyPEM is made once: the bcrypt key derivation of OpenSSH's format takes over a second.
var encryptedKeyPEM = sync.OnceValues(func() ([]byte, error) {
	_, private, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	block, err := ssh.MarshalPrivateKeyWithPassphrase(private, "", []byte("secret"))
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(block), nil
})

// encryptedKeyFile is a passphrase-protected private key file.
func encryptedKeyFile(t *testing.T) string {
	t.Helper()
	pemBytes, err := encryptedKeyPEM()
	if err != nil {
		t.Fatal(err)
	}
	return writeFile(t, "encrypted.key", string(pemBytes))
}
