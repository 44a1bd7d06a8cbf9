package cloud

import (
	"context"
	"fmt"
	"sort"

	"github.com/osdr/osdr/internal/sshx"
)

// Guest names an instance's guest: its id, and its addresses as Nova lists them by network, for guests the
// inventory does not name.
type Guest struct {
	ID        string
	Addresses map[string][]string
}

// Login is how a plan names a guest (user@address:port) and whether commands need sudo there.
type Login struct {
	Endpoint string
	Root     bool
}

// AsRoot renders a command that needs root for this login: a cloud image's default user runs it under
// `sudo -n`, which fails instead of prompting.
func (l Login) AsRoot(command string) string {
	if l.Root {
		return command
	}
	return "sudo -n " + command
}

// ssh returns the one SSH pool of this cloud, verifying host keys unless the operator opted out. It is
// opened on first use: a recovery that reboots no guest needs no key or known_hosts.
func (c *Cloud) ssh() (*sshx.Pool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.pool != nil {
		return c.pool, nil
	}
	pool, err := sshx.New(c.settings.Machines.SSHConfig())
	if err != nil {
		return nil, fmt.Errorf("SSH: %w", err)
	}
	if !pool.VerifiesHostKeys() {
		c.warn("SSH host keys are NOT verified (--insecure-ignore-host-keys)")
	}
	c.pool = pool
	return pool, nil
}

// SSHReady says whether SSH can be used at all (a key and known_hosts, or the explicit opt-out), without
// dialling anything: commands that can do without the machines say what they leave out.
func (c *Cloud) SSHReady() error {
	_, err := c.ssh()
	return err
}

// RunOnHost runs a command on a compute host, by the name Nova reports for it.
func (c *Cloud) RunOnHost(ctx context.Context, host, command string) (sshx.Result, error) {
	ep, err := c.settings.Machines.Host(host)
	if err != nil {
		return sshx.Result{}, err
	}
	pool, err := c.ssh()
	if err != nil {
		return sshx.Result{}, err
	}
	return pool.Run(ctx, ep, command)
}

// RunOnGuest runs a command inside an instance's guest.
func (c *Cloud) RunOnGuest(ctx context.Context, g Guest, command string) (sshx.Result, error) {
	ep, err := c.settings.Machines.Guest(g.ID, addressList(g.Addresses))
	if err != nil {
		return sshx.Result{}, err
	}
	pool, err := c.ssh()
	if err != nil {
		return sshx.Result{}, err
	}
	return pool.Run(ctx, ep, command)
}

// GuestLogin is how the guest is reached, for plans. A guest with no known endpoint is named by its id.
func (c *Cloud) GuestLogin(g Guest) Login {
	ep, err := c.settings.Machines.Guest(g.ID, addressList(g.Addresses))
	if err != nil {
		return Login{Endpoint: g.ID}
	}
	return Login{Endpoint: fmt.Sprintf("%s@%s:%d", ep.User, ep.Address, ep.Port), Root: ep.User == "root"}
}

// addressList flattens a server's addresses, networks in name order, so "first address" is stable.
func addressList(byNetwork map[string][]string) []string {
	networks := make([]string, 0, len(byNetwork))
	for n := range byNetwork {
		networks = append(networks, n)
	}
	sort.Strings(networks)
	var out []string
	for _, n := range networks {
		out = append(out, byNetwork[n]...)
	}
	return out
}
