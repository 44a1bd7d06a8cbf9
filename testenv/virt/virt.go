package virt

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
)

// PowerState is Nova's power_state integer, as libvirt's domain state maps to it.
type PowerState int

const (
	NoState  PowerState = 0 // the hypervisor does not know the domain (lost with the host)
	Running  PowerState = 1
	Paused   PowerState = 3
	Shutdown PowerState = 4 // shut off
	Crashed  PowerState = 6
)

// VolumeConnection is what Nova keeps in a BDM's connection_info for an iSCSI volume and hands to os-brick.
type VolumeConnection struct {
	VolumeID string
	Device   string // where the guest sees it, e.g. /dev/vdb
	IQN      string // target_iqn
	Portal   string // target_portal, IP:PORT
	LUN      int    // target_lun
}

// Domain names one instance's domain on one compute host.
type Domain struct {
	Host         string // the compute host's name as Nova reports it
	Name         string // libvirt domain name: OS-EXT-SRV-ATTR:instance_name
	InstanceUUID string
}

// ErrNoDomain means the host has no domain of that name.
var ErrNoDomain = errors.New("domain not found")

// ErrHostDown means the compute host does not answer (powered off, nova-compute dead).
var ErrHostDown = errors.New("compute host down")

// Driver is the compute-host side of the simulated cloud.
type Driver interface {
	// PowerOn starts the domain (a hard reboot is PowerOff then PowerOn): like the libvirt driver it first
	// connects every volume from the stored connection info, then boots the guest.
	PowerOn(ctx context.Context, d Domain, volumes []VolumeConnection) error
	// PowerOff stops the domain; the volumes' iSCSI sessions stay logged in, as with libvirt.
	PowerOff(ctx context.Context, d Domain) error
	// AttachVolume logs in to the volume's target and hot-plugs the disk into a running domain.
	AttachVolume(ctx context.Context, d Domain, v VolumeConnection) error
	// DetachVolume unplugs the disk and logs out of exactly that volume's session.
	DetachVolume(ctx context.Context, d Domain, volumeID string) error
	// PowerState is what the power-state sync reads: NoState for a domain the host does not know.
	PowerState(ctx context.Context, d Domain) (PowerState, error)
}

// Fake is an in-memory Driver like Nova's FakeDriver: domains have states and disks, nothing else happens.
// It is safe for concurrent use.
type Fake struct {
	mu      sync.Mutex
	domains map[string]*fakeDomain
	down    map[string]bool
}

type fakeDomain struct {
	state PowerState
	disks map[string]VolumeConnection
}

// NewFake returns a Fake with no domains.
func NewFake() *Fake {
	return &Fake{domains: map[string]*fakeDomain{}, down: map[string]bool{}}
}

func key(d Domain) string { return d.Host + "/" + d.Name }

// SetHostDown marks a host unreachable (true) or back (false); a host that comes back has lost its domains.
func (f *Fake) SetHostDown(host string, down bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.down[host] = down
	if down {
		for k := range f.domains {
			if strings.HasPrefix(k, host+"/") {
				delete(f.domains, k)
			}
		}
	}
}

// Disks lists the volumes attached to the domain, by id.
func (f *Fake) Disks(d Domain) map[string]VolumeConnection {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := map[string]VolumeConnection{}
	if dom, ok := f.domains[key(d)]; ok {
		for id, v := range dom.disks {
			out[id] = v
		}
	}
	return out
}

func (f *Fake) check(d Domain) error {
	if f.down[d.Host] {
		return fmt.Errorf("%s: %w", d.Host, ErrHostDown)
	}
	return nil
}

func (f *Fake) PowerOn(_ context.Context, d Domain, volumes []VolumeConnection) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.check(d); err != nil {
		return err
	}
	dom := &fakeDomain{state: Running, disks: map[string]VolumeConnection{}}
	for _, v := range volumes {
		dom.disks[v.VolumeID] = v
	}
	f.domains[key(d)] = dom
	return nil
}

func (f *Fake) PowerOff(_ context.Context, d Domain) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.check(d); err != nil {
		return err
	}
	dom, ok := f.domains[key(d)]
	if !ok {
		return fmt.Errorf("power off %s on %s: %w", d.Name, d.Host, ErrNoDomain)
	}
	dom.state = Shutdown
	return nil
}

func (f *Fake) AttachVolume(_ context.Context, d Domain, v VolumeConnection) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.check(d); err != nil {
		return err
	}
	dom, ok := f.domains[key(d)]
	if !ok {
		return fmt.Errorf("attach %s to %s on %s: %w", v.VolumeID, d.Name, d.Host, ErrNoDomain)
	}
	dom.disks[v.VolumeID] = v
	return nil
}

func (f *Fake) DetachVolume(_ context.Context, d Domain, volumeID string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.check(d); err != nil {
		return err
	}
	dom, ok := f.domains[key(d)]
	if !ok {
		return fmt.Errorf("detach %s from %s on %s: %w", volumeID, d.Name, d.Host, ErrNoDomain)
	}
	delete(dom.disks, volumeID)
	return nil
}

func (f *Fake) PowerState(_ context.Context, d Domain) (PowerState, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.check(d); err != nil {
		return NoState, err
	}
	dom, ok := f.domains[key(d)]
	if !ok {
		return NoState, nil
	}
	return dom.state, nil
}
