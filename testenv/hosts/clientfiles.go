package hosts

import (
	"encoding/pem"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// ClientFiles are the files an SSH client needs to reach the machines.
type ClientFiles struct {
	// Key is an OpenSSH ed25519 private key (mode 0600), the only key the machines accept; Key+".pub" is
	// its public half.
	Key string
	// KnownHosts has every host's and guest's key under [127.0.0.1]:PORT.
	KnownHosts string
}

// WriteClientFiles writes id_ed25519, id_ed25519.pub and known_hosts into dir (which must exist), replacing
// earlier copies: call it again after adding machines.
func (c *Cluster) WriteClientFiles(dir string) (ClientFiles, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.started {
		return ClientFiles{}, fmt.Errorf("write client files: %w", ErrNotStarted)
	}
	block, err := ssh.MarshalPrivateKey(c.clientKey, "osdr-sim")
	if err != nil {
		return ClientFiles{}, fmt.Errorf("write client files: marshal key: %w", err)
	}
	var knownHosts strings.Builder
	for _, name := range sortedKeys(c.hosts) {
		h := c.hosts[name]
		knownHosts.WriteString(knownHostsLine(h.server, h.hostKey) + "\n")
	}
	for _, id := range sortedKeys(c.guests) {
		g := c.guests[id]
		knownHosts.WriteString(knownHostsLine(g.server, g.hostKey) + "\n")
	}
	files := ClientFiles{Key: filepath.Join(dir, "id_ed25519"), KnownHosts: filepath.Join(dir, "known_hosts")}
	writes := []struct {
		path string
		data []byte
		mode os.FileMode
	}{
		{files.Key, pem.EncodeToMemory(block), 0o600},
		{files.Key + ".pub", ssh.MarshalAuthorizedKey(c.clientPub), 0o644},
		{files.KnownHosts, []byte(knownHosts.String()), 0o644},
	}
	for _, w := range writes {
		if err := writeFileMode(w.path, w.data, w.mode); err != nil {
			return ClientFiles{}, fmt.Errorf("write client files: %w", err)
		}
	}
	return files, nil
}

func knownHostsLine(server *sshServer, key ssh.Signer) string {
	address := net.JoinHostPort("127.0.0.1", strconv.Itoa(server.port()))
	return knownhosts.Line([]string{knownhosts.Normalize(address)}, key.PublicKey())
}

// writeFileMode replaces path with data at exactly mode, never showing a half-written file or a key with
// looser permissions (os.WriteFile keeps an existing file's mode and applies the umask).
func writeFileMode(path string, data []byte, mode os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
