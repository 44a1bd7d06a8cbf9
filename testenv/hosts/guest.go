package hosts

import (
	"crypto/rand"
	"fmt"
	"path"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"
)

// Stage is where a guest is in its life: off, on its way up (and where it is held), or up with sshd running.
type Stage string

const (
	StageOff Stage = "off"
	// StageBooting: kernel and early userspace, for GuestSpec.BootDelay.
	StageBooting Stage = "booting"
	// StagePlymouth: held at the boot splash because an fstab volume is missing (BootPlymouth).
	StagePlymouth Stage = "plymouth"
	// StageCloudInit: cloud-init waiting for a missing fstab volume (BootCloudInit).
	StageCloudInit Stage = "cloud-init"
	// StageNoBootDisk: the domain's /dev/vda is a volume whose iSCSI session is gone; the firmware finds
	// nothing to boot and the guest stays here until the domain is restarted.
	StageNoBootDisk Stage = "no-boot-disk"
	// StageUp: booted, sshd answering.
	StageUp Stage = "up"
)

type guest struct {
	spec    GuestSpec
	hostKey ssh.Signer
	server  *sshServer

	stage    Stage
	bootID   string
	bootedAt time.Time
	// generation counts power transitions so that a timer set for an earlier boot does nothing.
	generation int
	timer      *time.Timer
	// mounts are the fstab entries mounted at boot, each with the volume it found on the device.
	mounts []mount
	// files are what commands wrote on the root disk, by absolute path; they survive reboots.
	files map[string][]byte

	history []CommandRecord
	// busy is held while the guest spends a command's modelled time (see Cluster.runOnGuest).
	busy sync.Mutex
}

type mount struct {
	entry    FstabEntry
	volumeID string
}

func newGuest(spec GuestSpec) (*guest, error) {
	signer, err := newHostKey()
	if err != nil {
		return nil, err
	}
	return &guest{spec: spec, hostKey: signer, stage: StageOff, files: map[string][]byte{}}, nil
}

func (g *guest) stopTimer() {
	if g.timer != nil {
		g.timer.Stop()
		g.timer = nil
	}
}

// isPlainDirectory accepts an absolute, clean directory path other than / made of ordinary characters.
func isPlainDirectory(p string) bool {
	if !strings.HasPrefix(p, "/") || p == "/" || path.Clean(p) != p {
		return false
	}
	return strings.IndexFunc(p, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("/._-", r))
	}) < 0
}

func newBootID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// guestDomain is the domain the guest runs in, nil when its host does not have it (any more).
func (c *Cluster) guestDomain(g *guest) *domain {
	h := c.hosts[g.spec.Host]
	if h == nil {
		return nil
	}
	d := h.domains[g.spec.DomainName]
	if d == nil || d.uuid != g.spec.InstanceUUID {
		return nil
	}
	return d
}

// guestOf is the guest of a domain, nil for a domain no guest was registered for.
func (c *Cluster) guestOf(d *domain) *guest {
	return c.guests[d.uuid]
}

func (c *Cluster) setStage(g *guest, stage Stage) {
	g.stage = stage
	if g.server != nil {
		g.server.setUp(stage == StageUp)
	}
	c.notify()
}

// bootGuest starts the guest from the firmware: a power-on, or a reboot inside a running domain. Whoever was
// connected is cut off.
func (c *Cluster) bootGuest(g *guest) {
	g.generation++
	g.stopTimer()
	g.bootID = newBootID()
	g.bootedAt = time.Now()
	g.mounts = nil
	c.setStage(g, StageBooting)
	if g.spec.BootDelay > 0 {
		c.after(g, g.spec.BootDelay, c.continueBoot)
		return
	}
	c.continueBoot(g)
}

// after runs step for g once delay has passed, unless the guest was powered off or restarted meanwhile.
func (c *Cluster) after(g *guest, delay time.Duration, step func(*guest)) {
	generation := g.generation
	g.timer = time.AfterFunc(delay, func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		if !c.closed && g.generation == generation {
			step(g)
		}
	})
}

// continueBoot is what happens once the kernel is up: the root disk must be there, then systemd mounts the
// fstab volumes, each image reacting its own way to one that is missing.
func (c *Cluster) continueBoot(g *guest) {
	d := c.guestDomain(g)
	if d == nil {
		return
	}
	if root := d.diskAt(g.spec.rootDevice()); root != nil && !root.healthy() {
		c.setStage(g, StageNoBootDisk)
		return
	}
	if volumesReadable(g, d) || g.spec.Boot == BootSkips {
		c.finishBoot(g, d)
		return
	}
	switch g.spec.Boot {
	case BootPlymouth:
		c.setStage(g, StagePlymouth)
	case BootCloudInit:
		c.setStage(g, StageCloudInit)
		c.after(g, g.spec.CloudInitWait, func(g *guest) {
			if d := c.guestDomain(g); d != nil {
				c.finishBoot(g, d)
			}
		})
	}
}

// volumesReadable: the guest can read the device of every fstab entry.
func volumesReadable(g *guest, d *domain) bool {
	return !slices.ContainsFunc(g.spec.Fstab, func(e FstabEntry) bool {
		k := d.diskAt(e.Device)
		return k == nil || !k.healthy()
	})
}

// finishBoot mounts every fstab volume that is readable and starts sshd.
func (c *Cluster) finishBoot(g *guest, d *domain) {
	g.stopTimer()
	g.mounts = nil
	for _, e := range g.spec.Fstab {
		if k := d.diskAt(e.Device); k != nil && k.healthy() {
			g.mounts = append(g.mounts, mount{entry: e, volumeID: k.conn.VolumeID})
		}
	}
	c.setStage(g, StageUp)
}

// shutDownGuest is the domain stopping under the guest.
func (c *Cluster) shutDownGuest(g *guest) {
	g.generation++
	g.stopTimer()
	g.mounts = nil
	c.setStage(g, StageOff)
}

// disksArrived lets guests held for a missing volume go on once every fstab volume is readable: plymouth
// continues by itself, cloud-init stops waiting.
func (c *Cluster) disksArrived(h *host) {
	for _, d := range h.domains {
		g := c.guestOf(d)
		if g == nil || g.stage != StagePlymouth && g.stage != StageCloudInit {
			continue
		}
		if volumesReadable(g, d) {
			c.finishBoot(g, d)
		}
	}
}
