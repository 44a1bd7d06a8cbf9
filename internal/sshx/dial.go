package sshx

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"

	"golang.org/x/crypto/ssh"
)

// dial makes a new authenticated connection to t.
func (p *Pool) dial(ctx context.Context, t target) (*ssh.Client, error) {
	client, err := p.connect(ctx, t)
	if err != nil && ctx.Err() != nil {
		// The caller gave up; whatever broke on the way is a consequence of that.
		return nil, fmt.Errorf("connect to %s: %w", t, ctx.Err())
	}
	return client, err
}

func (p *Pool) connect(ctx context.Context, t target) (*ssh.Client, error) {
	creds, err := p.credentials(ctx, t)
	if err != nil {
		return nil, err
	}
	defer creds.Close()
	conn, err := p.transport(ctx, t)
	if err != nil {
		return nil, err
	}
	return p.handshake(ctx, t, conn, creds)
}

// transport connects to t's SSH port, directly or through its jump host.
func (p *Pool) transport(ctx context.Context, t target) (net.Conn, error) {
	if t.jump == nil {
		dialer := net.Dialer{Timeout: p.cfg.DialTimeout}
		conn, err := dialer.DialContext(ctx, "tcp", t.hostport)
		if err != nil {
			return nil, &UnreachableError{Endpoint: t.name, Address: t.hostport, Err: err}
		}
		return conn, nil
	}
	conn, err := onClient(ctx, p, *t.jump, func(jump *ssh.Client) (net.Conn, error) {
		return jump.Dial("tcp", t.hostport)
	})
	var rejected *ssh.OpenChannelError
	switch {
	case errors.As(err, &rejected) && rejected.Reason == ssh.ConnectionFailed:
		return nil, &UnreachableError{Endpoint: t.name, Address: t.hostport, Err: fmt.Errorf("via jump host %s: %w", t.jump, err)}
	case err != nil:
		return nil, fmt.Errorf("connect to %s through jump host %s: %w", t, t.jump, err)
	}
	return conn, nil
}

// handshake verifies the host key and authenticates over conn, which it owns.
func (p *Pool) handshake(ctx context.Context, t target, conn net.Conn, creds *credentials) (*ssh.Client, error) {
	handshakeCtx, cancel := context.WithTimeout(ctx, p.cfg.DialTimeout)
	defer cancel()
	// Neither a TCP connection nor a tunnel through a jump host takes a context: closing it is what stops a
	// handshake the peer never answers.
	stopWatching := context.AfterFunc(handshakeCtx, func() { conn.Close() })
	hostKeyCallback, hostKeyAlgorithms := p.hostKeyCheck(t)
	// x/crypto reports a refused key with an untyped error; reaching the authentication phase is what tells
	// it apart from a broken key exchange.
	authenticating := false
	config := &ssh.ClientConfig{
		User: t.user,
		Auth: []ssh.AuthMethod{ssh.PublicKeys(creds.signers...)},
		AuthCallback: func(*ssh.ClientAuthContext) (ssh.AuthMethod, error) {
			authenticating = true
			return nil, nil
		},
		HostKeyCallback:   hostKeyCallback,
		HostKeyAlgorithms: hostKeyAlgorithms,
	}
	sshConn, channels, requests, err := ssh.NewClientConn(conn, t.hostport, config)
	if !stopWatching() && err == nil {
		sshConn.Close()
		err = handshakeCtx.Err()
	}
	var hostKeyErr *HostKeyError
	switch {
	case err == nil:
		return ssh.NewClient(sshConn, channels, requests), nil
	case errors.As(err, &hostKeyErr):
		return nil, hostKeyErr
	case handshakeCtx.Err() != nil:
		return nil, &UnreachableError{Endpoint: t.name, Address: t.hostport,
			Err: fmt.Errorf("no SSH handshake within %s: %w", p.cfg.DialTimeout, handshakeCtx.Err())}
	case connectionFailed(err):
		return nil, &UnreachableError{Endpoint: t.name, Address: t.hostport, Err: err}
	case authenticating:
		return nil, &AuthError{Endpoint: t.name, Address: t.hostport, User: t.user, Offered: creds.offered, Err: err}
	default:
		return nil, fmt.Errorf("SSH handshake with %s: %w", t, err)
	}
}

// connectionFailed tells a connection that went away (a machine still booting closes it before the
// handshake) from a protocol failure.
func connectionFailed(err error) bool {
	var netErr net.Error
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.As(err, &netErr)
}
