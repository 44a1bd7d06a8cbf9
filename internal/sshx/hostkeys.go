package sshx

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

func loadKnownHosts(path string) (ssh.HostKeyCallback, error) {
	if path == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return nil, fmt.Errorf("locate the default known_hosts: %w", err)
		}
		path = filepath.Join(home, ".ssh", "known_hosts")
	}
	callback, err := knownhosts.New(path)
	if err != nil {
		return nil, fmt.Errorf("load known_hosts (host keys are verified unless explicitly disabled): %w", err)
	}
	return callback, nil
}

// hostKeyCheck returns the callback that verifies t's host key, typing refusals as *HostKeyError, and the
// host key algorithms to ask t for.
func (p *Pool) hostKeyCheck(t target) (ssh.HostKeyCallback, []string) {
	if p.knownHosts == nil {
		return ssh.InsecureIgnoreHostKey(), nil
	}
	verify := func(hostname string, remote net.Addr, key ssh.PublicKey) error {
		err := p.knownHosts(hostname, remote, key)
		if err == nil {
			return nil
		}
		refusal := &HostKeyError{Endpoint: t.name, Address: hostname, Presented: ssh.FingerprintSHA256(key), Err: err}
		var revoked *knownhosts.RevokedError
		var mismatch *knownhosts.KeyError
		switch {
		case errors.As(err, &revoked):
			refusal.Problem = HostKeyRevoked
			refusal.Known = []string{describe(revoked.Revoked)}
		case errors.As(err, &mismatch) && len(mismatch.Want) == 0:
			refusal.Problem = HostKeyUnknown
		case errors.As(err, &mismatch):
			refusal.Problem = HostKeyChanged
			for _, known := range mismatch.Want {
				refusal.Known = append(refusal.Known, describe(known))
			}
		default:
			return fmt.Errorf("check the host key of %s: %w", t, err)
		}
		return refusal
	}
	return verify, p.knownKeyAlgorithms(t.hostport)
}

// knownKeyAlgorithms lists the algorithms of the keys known_hosts records for hostport, nil when it records
// none. x/crypto asks for ECDSA before Ed25519, so a host that has both but is recorded only by its Ed25519 key
// would present the ECDSA one and look changed; asking only for recorded key types avoids that false alarm,
// as OpenSSH does.
func (p *Pool) knownKeyAlgorithms(hostport string) []string {
	var recorded *knownhosts.KeyError
	if !errors.As(p.knownHosts(hostport, &net.TCPAddr{}, probeKey{}), &recorded) {
		return nil
	}
	var algorithms []string
	for _, known := range recorded.Want {
		for _, algorithm := range signatureAlgorithms(known.Key.Type()) {
			if !slices.Contains(algorithms, algorithm) {
				algorithms = append(algorithms, algorithm)
			}
		}
	}
	return algorithms
}

// signatureAlgorithms maps a key type to the host key algorithms that use it: one RSA key serves three.
func signatureAlgorithms(keyType string) []string {
	if keyType == ssh.KeyAlgoRSA {
		return []string{ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256, ssh.KeyAlgoRSA}
	}
	return []string{keyType}
}

func describe(known knownhosts.KnownKey) string {
	return fmt.Sprintf("%s:%d %s", known.Filename, known.Line, ssh.FingerprintSHA256(known.Key))
}

// probeKey matches no known_hosts line, so checking it makes knownhosts list every key recorded for an
// address.
type probeKey struct{}

func (probeKey) Type() string                        { return "osdr-probe" }
func (probeKey) Marshal() []byte                     { return []byte("osdr-probe") }
func (probeKey) Verify([]byte, *ssh.Signature) error { return errors.New("probe key verifies nothing") }
