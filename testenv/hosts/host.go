package hosts

import (
	"cmp"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/osdr/osdr/testenv/virt"
)

// firstISCSIHostNumber: SCSI hosts 0 and 1 are the machine's own controllers; each iSCSI session adds one.
const firstISCSIHostNumber = 2

// host is one compute host: its iSCSI initiator (sessions and node records) and its libvirt domains.
type host struct {
	name    string
	opts    HostOptions
	hostKey ssh.Signer
	server  *sshServer

	// sessions are the live iSCSI sessions. The kernel numbers sessions and SCSI hosts from counters that only
	// grow until the machine reboots.
	sessions     []*session
	nextSID      int
	nextSCSIHost int
	// nodes is /etc/iscsi/nodes: it is on disk and survives a power cut.
	nodes []target
	// domains by name; libvirt numbers running domains from a counter that restarts with libvirtd.
	domains      map[string]*domain
	nextDomainID int

	history []CommandRecord
	// busy is held while the host spends a command's modelled time (see Cluster.runOnHost).
	busy sync.Mutex
}

// target is an iSCSI target as a node record and a session know it.
type target struct {
	iqn      string
	portal   netip.AddrPort
	lun      int
	volumeID string
}

type session struct {
	sid      int
	target   target
	scsiHost int
	disk     string // the host's block device, such as sdb
	alive    bool
}

type domain struct {
	name string
	uuid string
	id   int // 0 while shut off ("-" in virsh list)
	// disks in device order; each is bound to the session QEMU opened it through.
	disks []*disk
}

type disk struct {
	conn virt.VolumeConnection
	// active: the domain runs with the disk plugged in.
	active bool
	// session is the host session the running domain holds an iSCSI disk through. A session logged out is
	// dead for good: logging in again makes a new one, which QEMU does not pick up.
	session *session
}

// iSCSI tells an iSCSI volume from one QEMU reaches by itself (RBD, NFS), whose connection names no target.
func (d *disk) iSCSI() bool { return d.conn.IQN != "" || d.conn.Portal != "" }

// healthy: the guest can read the disk.
func (d *disk) healthy() bool {
	return d.active && (!d.iSCSI() || d.session != nil && d.session.alive)
}

// plug connects the disk of a running domain as QEMU opens it: through the target's live session.
func (d *disk) plug(h *host) {
	d.active = true
	if d.iSCSI() {
		d.session = h.liveSession(d.conn.IQN)
	}
}

// byDevice orders disks as the guest kernel names them: vdb before vdc before vdaa.
func byDevice(a, b *disk) int {
	return cmp.Compare(virtioIndex(a.conn.Device), virtioIndex(b.conn.Device))
}

func (d *domain) running() bool { return d.id != 0 }

func (d *domain) disk(volumeID string) *disk {
	for _, k := range d.disks {
		if k.conn.VolumeID == volumeID {
			return k
		}
	}
	return nil
}

func (d *domain) diskAt(device string) *disk {
	for _, k := range d.disks {
		if k.conn.Device == device {
			return k
		}
	}
	return nil
}

func newHost(name string, opts HostOptions) (*host, error) {
	signer, err := newHostKey()
	if err != nil {
		return nil, err
	}
	h := &host{name: name, opts: opts, hostKey: signer, domains: map[string]*domain{}}
	h.boot()
	return h, nil
}

func newHostKey() (ssh.Signer, error) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate host key: %w", err)
	}
	signer, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		return nil, fmt.Errorf("host key signer: %w", err)
	}
	return signer, nil
}

// boot resets what lives only in the running kernel and libvirtd.
func (h *host) boot() {
	h.sessions = nil
	h.nextSID = 1
	h.nextSCSIHost = firstISCSIHostNumber
	h.nextDomainID = 1
}

func defaultInitiatorName(hostName string) string {
	sum := sha256.Sum256([]byte(hostName))
	return "iqn.1993-08.org.debian:01:" + hex.EncodeToString(sum[:6])
}

// targetOf reads the iSCSI part of a volume connection.
func targetOf(v virt.VolumeConnection) (target, error) {
	portal, err := netip.ParseAddrPort(v.Portal)
	if err != nil || !portal.Addr().Is4() {
		return target{}, fmt.Errorf("volume %s: portal %q is not IPv4:PORT", v.VolumeID, v.Portal)
	}
	if err := checkIQN(v.IQN); err != nil {
		return target{}, fmt.Errorf("volume %s: %w", v.VolumeID, err)
	}
	if v.LUN < 0 {
		return target{}, fmt.Errorf("volume %s: negative LUN %d", v.VolumeID, v.LUN)
	}
	return target{iqn: v.IQN, portal: portal, lun: v.LUN, volumeID: v.VolumeID}, nil
}

// checkIQN accepts what a target name may hold: no spaces or control characters, at most 223 bytes.
func checkIQN(iqn string) error {
	if iqn == "" || len(iqn) > 223 {
		return fmt.Errorf("target name %q is empty or too long", iqn)
	}
	for _, r := range iqn {
		if r <= ' ' || r == 0x7f {
			return fmt.Errorf("target name %q holds a space or control character", iqn)
		}
	}
	return nil
}

// liveSession is the session logged in to iqn, if any (one per target: a second login is refused).
func (h *host) liveSession(iqn string) *session {
	for _, s := range h.sessions {
		if s.target.iqn == iqn {
			return s
		}
	}
	return nil
}

func (h *host) sessionBySID(sid int) *session {
	for _, s := range h.sessions {
		if s.sid == sid {
			return s
		}
	}
	return nil
}

// sysfsOrder is the order iscsiadm lists sessions in: /sys/class/iscsi_session sorted by name, so session10
// comes before session2.
func (h *host) sysfsOrder() []*session {
	ordered := slices.Clone(h.sessions)
	slices.SortFunc(ordered, func(a, b *session) int {
		return strings.Compare("session"+strconv.Itoa(a.sid), "session"+strconv.Itoa(b.sid))
	})
	return ordered
}

// recordNode adds or refreshes the node record os-brick writes before logging in.
func (h *host) recordNode(t target) {
	for i, n := range h.nodes {
		if n.iqn == t.iqn && n.portal == t.portal {
			h.nodes[i] = t
			return
		}
	}
	h.nodes = append(h.nodes, t)
}

func (h *host) deleteNode(iqn string) {
	h.nodes = slices.DeleteFunc(h.nodes, func(n target) bool { return n.iqn == iqn })
}

// login opens a session to t. The caller checked that no session to t exists and that the target is exported.
func (h *host) login(t target) *session {
	s := &session{sid: h.nextSID, target: t, scsiHost: h.nextSCSIHost, disk: h.freeDiskName(), alive: true}
	h.nextSID++
	h.nextSCSIHost++
	h.sessions = append(h.sessions, s)
	return s
}

func (h *host) logout(s *session) {
	s.alive = false
	h.sessions = slices.DeleteFunc(h.sessions, func(o *session) bool { return o == s })
}

// freeDiskName is the sd name the kernel gives a new disk: the lowest index not in use; sda is the host's own.
func (h *host) freeDiskName() string {
	for index := 1; ; index++ {
		name := sdName(index)
		if !slices.ContainsFunc(h.sessions, func(s *session) bool { return s.disk == name }) {
			return name
		}
	}
}

// sdName is the kernel's sd_format_disk_name: sda … sdz, sdaa … sdzz, sdaaa ….
func sdName(index int) string {
	var suffix []byte
	for n := index; n >= 0; n = n/26 - 1 {
		suffix = append([]byte{byte('a' + n%26)}, suffix...)
	}
	return "sd" + string(suffix)
}

// startDomain binds every disk to the live session of its target, as QEMU opens them, and runs the domain.
// A disk whose target has no session fails the start like libvirt does.
func (h *host) startDomain(d *domain) error {
	for _, k := range d.disks {
		if k.iSCSI() && h.liveSession(k.conn.IQN) == nil {
			return &storageMissingError{path: byPath(k.conn)}
		}
	}
	for _, k := range d.disks {
		k.plug(h)
	}
	d.id = h.nextDomainID
	h.nextDomainID++
	return nil
}

func (h *host) stopDomain(d *domain) {
	d.id = 0
	for _, k := range d.disks {
		k.active, k.session = false, nil
	}
}

// storageMissingError is libvirt refusing to start a domain whose disk source is gone.
type storageMissingError struct{ path string }

func (e *storageMissingError) Error() string {
	return fmt.Sprintf("Cannot access storage file '%s': No such file or directory", e.path)
}

// byPath is where os-brick points libvirt for an iSCSI disk.
func byPath(v virt.VolumeConnection) string {
	return fmt.Sprintf("/dev/disk/by-path/ip-%s-iscsi-%s-lun-%d", v.Portal, v.IQN, v.LUN)
}

// CommandRecord is one command a machine ran over SSH.
type CommandRecord struct {
	Command  string
	ExitCode int
	// Took is the command's modelled duration: what the machine spent on it under the latency model, apart
	// from any wait for the machine's earlier work.
	Took time.Duration
	// Dropped: the machine went down under the command, which reported no exit status.
	Dropped bool
	At      time.Time
}
