package hosts

import (
	"context"
	"fmt"
	"maps"
	"slices"

	"github.com/osdr/osdr/testenv/virt"
)

// What tests and the simulation's wiring can observe of the machines.

// Endpoint is where a machine's sshd answers and the login it accepts.
type Endpoint struct {
	Name    string // the host name, or the guest's instance UUID
	Address string // 127.0.0.1
	Port    int
	User    string
}

// Session is one live iSCSI session of a host.
type Session struct {
	SID      int
	IQN      string
	Portal   string // IP:PORT
	LUN      int
	VolumeID string
	Disk     string // the host's block device, e.g. sdb
}

// DomainInfo is one libvirt domain of a host.
type DomainInfo struct {
	Name         string
	InstanceUUID string
	ID           int // 0 while shut off
	State        virt.PowerState
	Disks        []DiskInfo
}

// DiskInfo is one volume disk of a domain.
type DiskInfo struct {
	VolumeID string
	Device   string
	IQN      string
	// Connected: the running domain reads the disk through a live session. False while shut off, and for
	// good once that session was logged out, until the domain restarts or the disk is attached again.
	Connected bool
}

// GuestInfo is a guest's state.
type GuestInfo struct {
	InstanceUUID string
	Host         string
	DomainName   string
	Stage        Stage
	BootID       string // empty until the first boot
	// Mounted are the fstab mount points mounted at the last boot.
	Mounted  []string
	Endpoint Endpoint // zero before Start
}

// Hosts lists the compute hosts by name.
func (c *Cluster) Hosts() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return sortedKeys(c.hosts)
}

// HostEndpoint is where the host's sshd answers.
func (c *Cluster) HostEndpoint(name string) (Endpoint, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	h, ok := c.hosts[name]
	switch {
	case !ok:
		return Endpoint{}, fmt.Errorf("endpoint of %s: %w", name, ErrUnknownHost)
	case h.server == nil:
		return Endpoint{}, fmt.Errorf("endpoint of %s: %w", name, ErrNotStarted)
	}
	return Endpoint{Name: name, Address: "127.0.0.1", Port: h.server.port(), User: h.opts.User}, nil
}

// GuestEndpoint is where the guest's sshd answers while the guest is up.
func (c *Cluster) GuestEndpoint(instanceUUID string) (Endpoint, error) {
	info, err := c.Guest(instanceUUID)
	switch {
	case err != nil:
		return Endpoint{}, err
	case info.Endpoint.Port == 0:
		return Endpoint{}, fmt.Errorf("endpoint of guest %s: %w", instanceUUID, ErrNotStarted)
	}
	return info.Endpoint, nil
}

// Sessions lists the host's live iSCSI sessions by sid.
func (c *Cluster) Sessions(hostName string) ([]Session, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	h, ok := c.hosts[hostName]
	if !ok {
		return nil, fmt.Errorf("sessions of %s: %w", hostName, ErrUnknownHost)
	}
	out := make([]Session, 0, len(h.sessions))
	for _, s := range h.sessions {
		out = append(out, Session{SID: s.sid, IQN: s.target.iqn, Portal: s.target.portal.String(), LUN: s.target.lun,
			VolumeID: s.target.volumeID, Disk: s.disk})
	}
	slices.SortFunc(out, func(a, b Session) int { return a.SID - b.SID })
	return out, nil
}

// Domains lists the host's domains by name.
func (c *Cluster) Domains(hostName string) ([]DomainInfo, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	h, ok := c.hosts[hostName]
	if !ok {
		return nil, fmt.Errorf("domains of %s: %w", hostName, ErrUnknownHost)
	}
	var out []DomainInfo
	for _, name := range sortedKeys(h.domains) {
		d := h.domains[name]
		info := DomainInfo{Name: d.name, InstanceUUID: d.uuid, ID: d.id, State: virt.Shutdown}
		if d.running() {
			info.State = virt.Running
		}
		for _, k := range d.disks {
			info.Disks = append(info.Disks, DiskInfo{VolumeID: k.conn.VolumeID, Device: k.conn.Device, IQN: k.conn.IQN, Connected: k.healthy()})
		}
		out = append(out, info)
	}
	return out, nil
}

// Guest is the guest's state.
func (c *Cluster) Guest(instanceUUID string) (GuestInfo, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	g, ok := c.guests[instanceUUID]
	if !ok {
		return GuestInfo{}, fmt.Errorf("guest %s: %w", instanceUUID, ErrUnknownGuest)
	}
	return guestInfo(g), nil
}

// Guests lists every guest by instance UUID.
func (c *Cluster) Guests() []GuestInfo {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []GuestInfo
	for _, id := range sortedKeys(c.guests) {
		out = append(out, guestInfo(c.guests[id]))
	}
	return out
}

func guestInfo(g *guest) GuestInfo {
	info := GuestInfo{InstanceUUID: g.spec.InstanceUUID, Host: g.spec.Host, DomainName: g.spec.DomainName,
		Stage: g.stage, BootID: g.bootID}
	for _, mt := range g.mounts {
		info.Mounted = append(info.Mounted, mt.entry.MountPoint)
	}
	if g.server != nil {
		info.Endpoint = Endpoint{Name: g.spec.InstanceUUID, Address: "127.0.0.1", Port: g.server.port(), User: g.spec.User}
	}
	return info
}

// WaitGuest waits until done holds for the guest's state, or ctx ends.
func (c *Cluster) WaitGuest(ctx context.Context, instanceUUID string, done func(GuestInfo) bool) (GuestInfo, error) {
	for {
		c.mu.Lock()
		g, ok := c.guests[instanceUUID]
		var info GuestInfo
		if ok {
			info = guestInfo(g)
		}
		changed, closed := c.changed, c.closed
		c.mu.Unlock()
		switch {
		case !ok:
			return GuestInfo{}, fmt.Errorf("wait for guest %s: %w", instanceUUID, ErrUnknownGuest)
		case done(info):
			return info, nil
		case closed:
			return info, fmt.Errorf("wait for guest %s: %w", instanceUUID, ErrClosed)
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return info, fmt.Errorf("wait for guest %s (stage %s): %w", instanceUUID, info.Stage, ctx.Err())
		}
	}
}

// HostCommands lists the commands run on the host over SSH, oldest first.
func (c *Cluster) HostCommands(hostName string) ([]CommandRecord, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	h, ok := c.hosts[hostName]
	if !ok {
		return nil, fmt.Errorf("commands of %s: %w", hostName, ErrUnknownHost)
	}
	return slices.Clone(h.history), nil
}

// GuestCommands lists the commands run in the guest over SSH, oldest first.
func (c *Cluster) GuestCommands(instanceUUID string) ([]CommandRecord, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	g, ok := c.guests[instanceUUID]
	if !ok {
		return nil, fmt.Errorf("commands of guest %s: %w", instanceUUID, ErrUnknownGuest)
	}
	return slices.Clone(g.history), nil
}

// VolumeFiles are the files guests wrote on the volume, by name.
func (c *Cluster) VolumeFiles(volumeID string) map[string][]byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := maps.Clone(c.volumes[volumeID])
	for name, data := range out {
		out[name] = slices.Clone(data)
	}
	return out
}
