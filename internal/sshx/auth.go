package sshx

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
)

// credentials are the keys offered to one host. They form a single publickey method because x/crypto tries
// each method name only once: a second publickey method would never be used.
type credentials struct {
	signers []ssh.Signer
	offered []string
	agent   net.Conn // signs with the agent's keys until the handshake is over; nil without an agent
}

func (c *credentials) Close() error {
	if c.agent == nil {
		return nil
	}
	return c.agent.Close()
}

func (p *Pool) credentials(ctx context.Context, t target) (*credentials, error) {
	creds := &credentials{}
	switch {
	case t.keyFile != "" && t.keyFile != p.cfg.DefaultKeyFile:
		signer, err := loadSigner(t.keyFile)
		if err != nil {
			return nil, fmt.Errorf("key for %s: %w", t, err)
		}
		creds.signers = append(creds.signers, signer)
		creds.offered = append(creds.offered, t.keyFile)
	case p.defaultSigner != nil:
		creds.signers = append(creds.signers, p.defaultSigner)
		creds.offered = append(creds.offered, p.cfg.DefaultKeyFile)
	}
	if p.agentSocket != "" {
		dialer := net.Dialer{Timeout: p.cfg.DialTimeout}
		conn, err := dialer.DialContext(ctx, "unix", p.agentSocket)
		if err != nil {
			return nil, fmt.Errorf("connect to ssh-agent at %s: %w", p.agentSocket, err)
		}
		signers, err := agent.NewClient(conn).Signers()
		if err != nil {
			conn.Close()
			return nil, fmt.Errorf("list the keys of ssh-agent at %s: %w", p.agentSocket, err)
		}
		creds.agent = conn
		creds.signers = append(creds.signers, signers...)
		creds.offered = append(creds.offered, fmt.Sprintf("ssh-agent (%d keys)", len(signers)))
	}
	if len(creds.signers) == 0 {
		creds.Close()
		return nil, fmt.Errorf("no SSH key for %s: give the endpoint a key file, set a default key file or use ssh-agent", t)
	}
	return creds, nil
}

// loadSigner reads an unencrypted private key. Errors name the file, never its content.
func loadSigner(path string) (ssh.Signer, error) {
	pemBytes, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read SSH key: %w", err)
	}
	signer, err := ssh.ParsePrivateKey(pemBytes)
	var encrypted *ssh.PassphraseMissingError
	switch {
	case errors.As(err, &encrypted):
		return nil, fmt.Errorf("SSH key %s is protected by a passphrase, which osdr cannot ask for: "+
			"load it into ssh-agent and enable the agent, or use an unencrypted key: %w", path, err)
	case err != nil:
		return nil, fmt.Errorf("parse SSH key %s: %w", path, err)
	}
	return signer, nil
}
