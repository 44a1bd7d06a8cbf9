package hosts

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"
)

// serverVersion is what Debian 12's sshd announces; clients log it and some tools look at it.
const serverVersion = "SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u6"

// handshakeTimeout bounds a client that connects and never finishes the SSH handshake.
const handshakeTimeout = 30 * time.Second

// commandResult is what one exec request left behind.
type commandResult struct {
	stdout, stderr []byte
	exit           int
	// drop: the machine went down under the command (a reboot): the connection closes without an exit status.
	drop bool
}

type serverConfig struct {
	hostKey   ssh.Signer
	user      string
	clientKey ssh.PublicKey
	run       func(command string) commandResult
}

// sshServer is one machine's sshd. It listens for its whole life, so that its address and host key stay the
// same across reboots and power cuts. While the machine is down it resets every new connection at once
// instead of letting it hang as a dead machine would: clients fail fast and no test waits for a TCP timeout.
type sshServer struct {
	listener net.Listener
	config   *ssh.ServerConfig
	run      func(command string) commandResult
	wg       sync.WaitGroup

	mu     sync.Mutex
	up     bool
	closed bool
	conns  map[net.Conn]struct{}
}

func listen(ctx context.Context, cfg serverConfig) (*sshServer, error) {
	var lc net.ListenConfig
	listener, err := lc.Listen(ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("listen for SSH: %w", err)
	}
	config := &ssh.ServerConfig{
		ServerVersion: serverVersion,
		PublicKeyCallback: func(meta ssh.ConnMetadata, key ssh.PublicKey) (*ssh.Permissions, error) {
			// Like sshd, one answer for an unknown user and a refused key: the client learns nothing.
			if meta.User() != cfg.user || !bytes.Equal(key.Marshal(), cfg.clientKey.Marshal()) {
				return nil, errors.New("publickey refused")
			}
			return nil, nil
		},
	}
	config.AddHostKey(cfg.hostKey)
	s := &sshServer{listener: listener, config: config, run: cfg.run, conns: map[net.Conn]struct{}{}}
	s.wg.Go(s.accept)
	return s, nil
}

func (s *sshServer) port() int {
	return s.listener.Addr().(*net.TCPAddr).Port
}

func (s *sshServer) accept() {
	for {
		conn, err := s.listener.Accept()
		if err != nil {
			return
		}
		if !s.track(conn) {
			resetConn(conn)
			continue
		}
		s.wg.Go(func() {
			defer s.untrack(conn)
			s.serveConn(conn)
		})
	}
}

// resetConn closes conn with a TCP reset, as a port nobody serves answers.
func resetConn(conn net.Conn) {
	if tcp, ok := conn.(*net.TCPConn); ok {
		_ = tcp.SetLinger(0)
	}
	conn.Close()
}

func (s *sshServer) track(conn net.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.up || s.closed {
		return false
	}
	s.conns[conn] = struct{}{}
	return true
}

func (s *sshServer) untrack(conn net.Conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.conns, conn)
	conn.Close()
}

// setUp opens the machine to connections or, going down, closes every connection it has, as a machine
// stopping its processes does ("closed by remote host").
func (s *sshServer) setUp(up bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.up = up
	if !up {
		s.closeConnections()
	}
}

// dropConnections closes every connection and keeps serving new ones: the machine rebooted in an instant.
func (s *sshServer) dropConnections() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closeConnections()
}

func (s *sshServer) closeConnections() {
	for conn := range s.conns {
		conn.Close()
	}
}

// close stops accepting and cuts every connection; wait then waits for the goroutines.
func (s *sshServer) close() {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.setUp(false)
	s.listener.Close()
}

func (s *sshServer) wait() { s.wg.Wait() }

func (s *sshServer) serveConn(conn net.Conn) {
	_ = conn.SetDeadline(time.Now().Add(handshakeTimeout))
	sshConn, channels, requests, err := ssh.NewServerConn(conn, s.config)
	if err != nil {
		return
	}
	defer sshConn.Close()
	_ = conn.SetDeadline(time.Time{})
	s.wg.Go(func() { ssh.DiscardRequests(requests) })
	for newChannel := range channels {
		if newChannel.ChannelType() != "session" {
			_ = newChannel.Reject(ssh.Prohibited, "administratively prohibited")
			continue
		}
		channel, channelRequests, err := newChannel.Accept()
		if err != nil {
			return
		}
		s.wg.Go(func() {
			if drop := s.serveSession(channel, channelRequests); drop {
				conn.Close()
			}
		})
	}
}

// serveSession answers a session's requests until its one exec has run; it reports whether the machine went
// down under the command.
func (s *sshServer) serveSession(channel ssh.Channel, requests <-chan *ssh.Request) bool {
	defer channel.Close()
	for req := range requests {
		switch req.Type {
		case "env":
			_ = req.Reply(true, nil) // accepted and ignored, as sshd's AcceptEnv LANG LC_* does
		case "exec":
			var payload struct{ Command string }
			if err := ssh.Unmarshal(req.Payload, &payload); err != nil {
				_ = req.Reply(false, nil)
				continue
			}
			_ = req.Reply(true, nil)
			result := s.run(payload.Command)
			if result.drop {
				return true
			}
			_, _ = channel.Write(result.stdout)
			_, _ = channel.Stderr().Write(result.stderr)
			_, _ = channel.SendRequest("exit-status", false, ssh.Marshal(struct{ Status uint32 }{uint32(result.exit)}))
			return false
		default:
			// pty-req, shell, subsystem: these machines only run commands.
			if req.WantReply {
				_ = req.Reply(false, nil)
			}
		}
	}
	return false
}
