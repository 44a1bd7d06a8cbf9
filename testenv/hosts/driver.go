package hosts

import (
	"context"
	"fmt"
	"slices"

	"github.com/osdr/osdr/testenv/virt"
)

// The virt.Driver side: what Nova's compute manager asks of libvirt and os-brick on a host.

func (c *Cluster) host(name string) (*host, error) {
	if c.closed {
		return nil, ErrClosed
	}
	h, ok := c.hosts[name]
	if !ok {
		return nil, fmt.Errorf("host %s: %w", name, ErrUnknownHost)
	}
	return h, nil
}

// domainOf finds d on its host; nil when the host does not have it, or has that name for another instance.
func (c *Cluster) domainOf(d virt.Domain) (*host, *domain, error) {
	h, err := c.host(d.Host)
	if err != nil {
		return nil, nil, err
	}
	dom := h.domains[d.Name]
	if dom == nil || dom.uuid != d.InstanceUUID {
		return h, nil, nil
	}
	return h, dom, nil
}

// PowerOn connects every volume (an iSCSI login per target not logged in yet), defines the domain with
// exactly these disks and starts it; the guest boots with a new boot id. A guest never added gets the
// default GuestSpec. Sessions opened before a failing login stay, as os-brick leaves them.
func (c *Cluster) PowerOn(ctx context.Context, d virt.Domain, volumes []virt.VolumeConnection) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("power on %s: %w", d.Name, err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.powerOn(ctx, d, volumes); err != nil {
		return fmt.Errorf("power on %s on %s: %w", d.Name, d.Host, err)
	}
	return nil
}

func (c *Cluster) powerOn(ctx context.Context, d virt.Domain, volumes []virt.VolumeConnection) error {
	h, err := c.host(d.Host)
	if err != nil {
		return err
	}
	if d.Name == "" || !uuidPattern.MatchString(d.InstanceUUID) {
		return fmt.Errorf("domain %q of instance %q: not a domain name and instance UUID", d.Name, d.InstanceUUID)
	}
	if dom := h.domains[d.Name]; dom != nil {
		switch {
		case dom.uuid != d.InstanceUUID:
			return fmt.Errorf("the host's domain %s belongs to instance %s", d.Name, dom.uuid)
		case dom.running():
			return ErrDomainRunning
		}
	}
	disks := make([]*disk, 0, len(volumes))
	for _, v := range volumes {
		if err := checkNewDisk(disks, v); err != nil {
			return err
		}
		disks = append(disks, &disk{conn: v})
	}
	if err := c.placeGuest(ctx, d); err != nil {
		return err
	}
	for _, k := range disks {
		if err := c.connectVolume(h, k.conn, false); err != nil {
			return err
		}
	}
	slices.SortFunc(disks, byDevice)
	dom := &domain{name: d.Name, uuid: d.InstanceUUID, disks: disks}
	h.domains[d.Name] = dom
	return c.startDomain(h, dom)
}

// placeGuest makes sure the instance has a guest that lives in d.
func (c *Cluster) placeGuest(ctx context.Context, d virt.Domain) error {
	g, ok := c.guests[d.InstanceUUID]
	if !ok {
		return c.addGuest(ctx, GuestSpec{InstanceUUID: d.InstanceUUID, Host: d.Host, DomainName: d.Name})
	}
	if g.spec.Host != "" && g.spec.Host != d.Host || g.spec.DomainName != "" && g.spec.DomainName != d.Name {
		return fmt.Errorf("guest %s lives in domain %s on %s (migration is not simulated)", d.InstanceUUID, g.spec.DomainName, g.spec.Host)
	}
	g.spec.Host, g.spec.DomainName = d.Host, d.Name
	return nil
}

// checkNewDisk refuses a volume connection that is malformed or collides with a disk already there.
func checkNewDisk(disks []*disk, v virt.VolumeConnection) error {
	if v.VolumeID == "" {
		return fmt.Errorf("volume connection at %s names no volume", v.Device)
	}
	if (&disk{conn: v}).iSCSI() {
		if _, err := targetOf(v); err != nil {
			return err
		}
	}
	if !devicePattern.MatchString(v.Device) {
		return fmt.Errorf("volume %s: device %q is not /dev/vdX or /dev/sdX", v.VolumeID, v.Device)
	}
	for _, k := range disks {
		if k.conn.VolumeID == v.VolumeID || k.conn.Device == v.Device {
			return fmt.Errorf("volume %s at %s: the domain already has volume %s at %s", v.VolumeID, v.Device, k.conn.VolumeID, k.conn.Device)
		}
	}
	return nil
}

// connectVolume is os-brick's connect_volume: write the node record and log in unless a session to the
// target exists. export says Cinder exported the target just now (initialize_connection of an attach);
// otherwise a target seen for the first time counts as exported, and one unexported since fails the login.
// A volume that is not iSCSI needs nothing from the host.
func (c *Cluster) connectVolume(h *host, v virt.VolumeConnection, export bool) error {
	if !(&disk{conn: v}).iSCSI() {
		return nil
	}
	t, err := targetOf(v)
	if err != nil {
		return err
	}
	if exported, known := c.exports[t.iqn]; export || !known {
		c.exports[t.iqn] = true
	} else if !exported {
		return fmt.Errorf("log in to %s at %s: %w: iscsiadm exit %d (%s)", t.iqn, t.portal, ErrVolumeConnection, iscsiErrFatalLogin, fatalLoginMessage)
	}
	c.portals[t.portal] = true
	h.recordNode(t)
	if h.liveSession(t.iqn) == nil {
		c.loginSession(h, t)
	}
	return nil
}

func (c *Cluster) loginSession(h *host, t target) {
	h.login(t)
	c.notify()
}

func (c *Cluster) logoutSession(h *host, s *session) {
	h.logout(s)
	c.notify()
}

// startDomain starts a defined domain and boots its guest.
func (c *Cluster) startDomain(h *host, d *domain) error {
	if err := h.startDomain(d); err != nil {
		return err
	}
	if g := c.guestOf(d); g != nil {
		c.bootGuest(g)
	}
	c.notify()
	return nil
}

func (c *Cluster) stopDomain(h *host, d *domain) {
	h.stopDomain(d)
	if g := c.guestOf(d); g != nil {
		c.shutDownGuest(g)
	}
	c.notify()
}

// PowerOff stops the domain; the iSCSI sessions stay. A domain already shut off stays so.
func (c *Cluster) PowerOff(ctx context.Context, d virt.Domain) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("power off %s: %w", d.Name, err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	h, dom, err := c.domainOf(d)
	switch {
	case err != nil:
		return fmt.Errorf("power off %s: %w", d.Name, err)
	case dom == nil:
		return fmt.Errorf("power off %s on %s: %w", d.Name, d.Host, virt.ErrNoDomain)
	}
	if dom.running() {
		c.stopDomain(h, dom)
	}
	return nil
}

// AttachVolume exports the target (Cinder's initialize_connection), logs in and adds the disk; a running
// guest sees it at once, and a guest held at boot for it goes on. An Up guest does not mount it.
func (c *Cluster) AttachVolume(ctx context.Context, d virt.Domain, v virt.VolumeConnection) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("attach %s to %s: %w", v.VolumeID, d.Name, err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	h, dom, err := c.domainOf(d)
	switch {
	case err != nil:
		return fmt.Errorf("attach %s to %s: %w", v.VolumeID, d.Name, err)
	case dom == nil:
		return fmt.Errorf("attach %s to %s on %s: %w", v.VolumeID, d.Name, d.Host, virt.ErrNoDomain)
	}
	if err := checkNewDisk(dom.disks, v); err != nil {
		return fmt.Errorf("attach to %s: %w", d.Name, err)
	}
	if err := c.connectVolume(h, v, true); err != nil {
		return fmt.Errorf("attach %s to %s: %w", v.VolumeID, d.Name, err)
	}
	k := &disk{conn: v}
	if dom.running() {
		k.plug(h)
	}
	dom.disks = append(dom.disks, k)
	slices.SortFunc(dom.disks, byDevice)
	c.disksArrived(h)
	c.notify()
	return nil
}

// DetachVolume unplugs the disk and logs out of exactly that volume's session (unless another domain on
// the host uses the same target), then deletes the node record, as os-brick's disconnect_volume does. A
// disk the domain no longer has is still disconnected, as Nova does.
func (c *Cluster) DetachVolume(ctx context.Context, d virt.Domain, volumeID string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("detach %s from %s: %w", volumeID, d.Name, err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	h, dom, err := c.domainOf(d)
	switch {
	case err != nil:
		return fmt.Errorf("detach %s from %s: %w", volumeID, d.Name, err)
	case dom == nil:
		return fmt.Errorf("detach %s from %s on %s: %w", volumeID, d.Name, d.Host, virt.ErrNoDomain)
	}
	iqn := ""
	k := dom.disk(volumeID)
	if k != nil {
		iqn = k.conn.IQN
		dom.disks = slices.DeleteFunc(dom.disks, func(o *disk) bool { return o == k })
	} else if i := slices.IndexFunc(h.nodes, func(n target) bool { return n.volumeID == volumeID }); i >= 0 {
		iqn = h.nodes[i].iqn
	} else {
		return fmt.Errorf("detach %s from %s: the host has no disk or node record for the volume", volumeID, d.Name)
	}
	if iqn != "" && !targetInUse(h, iqn) {
		if s := h.liveSession(iqn); s != nil {
			c.logoutSession(h, s)
		}
		h.deleteNode(iqn)
	}
	c.notify()
	return nil
}

// targetInUse: some domain on h still has a disk on iqn (a multi-attached volume).
func targetInUse(h *host, iqn string) bool {
	for _, d := range h.domains {
		if slices.ContainsFunc(d.disks, func(k *disk) bool { return k.conn.IQN == iqn }) {
			return true
		}
	}
	return false
}

// PowerState is libvirt's state of the domain: NoState when the host does not know it.
func (c *Cluster) PowerState(ctx context.Context, d virt.Domain) (virt.PowerState, error) {
	if err := ctx.Err(); err != nil {
		return virt.NoState, fmt.Errorf("power state of %s: %w", d.Name, err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	_, dom, err := c.domainOf(d)
	switch {
	case err != nil:
		return virt.NoState, fmt.Errorf("power state of %s: %w", d.Name, err)
	case dom == nil:
		return virt.NoState, nil
	case dom.running():
		return virt.Running, nil
	}
	return virt.Shutdown, nil
}
