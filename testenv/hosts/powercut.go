package hosts

import (
	"context"
	"fmt"
)

// AfterPowerCut is what the hypervisor knows of its domains when a host comes back on. Both happen on real
// clouds: libvirt after a real power cut keeps the domains, shut off (power state 4), and Nova's power-state
// sync stops the instances; a hypervisor that lost them (seen on a Zed control plane, Nova 26) leaves the
// servers ACTIVE with power state 0 (NOSTATE) and no task.
type AfterPowerCut int

const (
	// DomainsShutOff: libvirt kept the domains, shut off (power state 4); Nova's sync stops the instances.
	DomainsShutOff AfterPowerCut = iota
	// DomainsLost: the hypervisor lost them (power state 0); the servers stay ACTIVE.
	DomainsLost
)

func (a AfterPowerCut) String() string {
	switch a {
	case DomainsShutOff:
		return "domains shut off"
	case DomainsLost:
		return "domains lost"
	}
	return fmt.Sprintf("AfterPowerCut(%d)", int(a))
}

// PowerCut cuts the power of the named hosts (every host when none is named) and brings them back on: every
// iSCSI session is gone and session numbers start again from 1, the domains are shut off or lost, the guests
// are down, and whoever was connected to a host is cut off; the hosts answer SSH again as soon as PowerCut
// returns. Node records, volume data and the guests' disks survive. Nothing else changes: the databases are
// the control plane's.
func (c *Cluster) PowerCut(ctx context.Context, after AfterPowerCut, hostNames ...string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("power cut: %w", err)
	}
	if after != DomainsShutOff && after != DomainsLost {
		return fmt.Errorf("power cut: %v is not a picture after a power cut", after)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(hostNames) == 0 {
		hostNames = sortedKeys(c.hosts)
	}
	cut := make([]*host, 0, len(hostNames))
	for _, name := range hostNames {
		h, err := c.host(name)
		if err != nil {
			return fmt.Errorf("power cut: %w", err)
		}
		cut = append(cut, h)
	}
	for _, h := range cut {
		for _, d := range h.domains {
			if d.running() {
				c.stopDomain(h, d)
			}
		}
		if after == DomainsLost {
			clear(h.domains)
		}
		for _, s := range h.sessions {
			s.alive = false
		}
		h.boot()
		if h.server != nil {
			h.server.dropConnections()
		}
	}
	c.notify()
	return nil
}
