package hosts

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"maps"
	"math"
	"net/netip"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/osdr/osdr/testenv/virt"
)

// Errors callers branch on.
var (
	// ErrUnknownHost: no compute host of that name was added.
	ErrUnknownHost = errors.New("no such compute host")
	// ErrUnknownGuest: no guest has that instance UUID.
	ErrUnknownGuest = errors.New("no such guest")
	// ErrNotStarted: the cluster has no SSH servers yet (Start was not called).
	ErrNotStarted = errors.New("cluster not started")
	// ErrClosed: Close was called.
	ErrClosed = errors.New("cluster closed")
	// ErrDomainRunning: the domain is already running (libvirt refuses to start it again).
	ErrDomainRunning = errors.New("domain is already running")
	// ErrVolumeConnection: the host could not log in to a volume's iSCSI target.
	ErrVolumeConnection = errors.New("volume connection failed")
)

// Cluster is the simulated cloud's machines: compute hosts and the guests their domains run, each an SSH
// server on 127.0.0.1 with its own host key, all accepting one client key. It implements virt.Driver. All
// methods are safe for concurrent use.
type Cluster struct {
	clientKey ed25519.PrivateKey
	clientPub ssh.PublicKey

	mu      sync.Mutex
	started bool
	closed  bool
	hosts   map[string]*host
	guests  map[string]*guest // by instance UUID
	// volumes hold the files guests wrote, by volume id: the data lives on the storage, not on a host.
	volumes map[string]map[string][]byte
	// exports is the storage side: which iSCSI targets answer a login, by IQN.
	exports map[string]bool
	// portals are where the storage answers: every portal a volume connection named. Whether the backend
	// behind one is up is the control plane's to say (backends; nil: every backend is up).
	portals  map[netip.AddrPort]bool
	backends Backends
	// latencyScale scales the modelled durations of the hosts' tools and the guests' commands (0: they take
	// no time).
	latencyScale float64
	// changed is closed and replaced on every state change, for WaitGuest.
	changed chan struct{}
}

var _ virt.Driver = (*Cluster)(nil)

// New returns an empty cluster with a fresh client key.
func New() (*Cluster, error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate client key: %w", err)
	}
	sshPub, err := ssh.NewPublicKey(pub)
	if err != nil {
		return nil, fmt.Errorf("client public key: %w", err)
	}
	return &Cluster{
		clientKey: priv,
		clientPub: sshPub,
		hosts:     map[string]*host{},
		guests:    map[string]*guest{},
		volumes:   map[string]map[string][]byte{},
		exports:   map[string]bool{},
		portals:   map[netip.AddrPort]bool{},
		changed:   make(chan struct{}),
	}, nil
}

// OpenISCSI is the open-iscsi release a host runs; releases word a login differently.
type OpenISCSI string

const (
	// OpenISCSI2_1_11 prints only "Login to [...] successful." for a login (the default).
	OpenISCSI2_1_11 OpenISCSI = "2.1.11"
	// OpenISCSI2_1_8 (Debian bookworm, the Zed reference cloud) first prints "Logging in to [...]".
	OpenISCSI2_1_8 OpenISCSI = "2.1.8"
)

// HostOptions configure one compute host.
type HostOptions struct {
	// User is the only login the host accepts; default "root".
	User string
	// IP is the host's storage-network address, shown as the iSCSI interface address; default 127.0.0.1.
	IP string
	// InitiatorName is /etc/iscsi/initiatorname.iscsi; default a Debian-style name derived from the host name.
	InitiatorName string
	// OpenISCSI is the iscsiadm release; default OpenISCSI2_1_11.
	OpenISCSI OpenISCSI
	// ResumeGuestsStateOnHostBoot is nova.conf's resume_guests_state_on_host_boot. The simulation only keeps
	// it for the control plane, which acts on it after a power cut.
	ResumeGuestsStateOnHostBoot bool
}

// Boot is how a guest's image behaves when /etc/fstab names a volume whose disk is absent at boot.
type Boot int

const (
	// BootSkips boots and skips the missing volume.
	BootSkips Boot = iota
	// BootPlymouth hangs at the "plymouth" stage until the volume is attached, then continues by itself.
	BootPlymouth
	// BootCloudInit waits in cloud-init until the volume is attached or GuestSpec.CloudInitWait passes.
	BootCloudInit
)

func (b Boot) String() string {
	switch b {
	case BootSkips:
		return "skips"
	case BootPlymouth:
		return "plymouth"
	case BootCloudInit:
		return "cloud-init"
	}
	return fmt.Sprintf("Boot(%d)", int(b))
}

// FstabEntry is one line of the guest's /etc/fstab for a volume.
type FstabEntry struct {
	Device     string // e.g. /dev/vdb
	MountPoint string // e.g. /data
	FSType     string // default ext4
	Options    string // default "defaults"
}

// GuestSpec describes one instance's guest.
type GuestSpec struct {
	InstanceUUID string
	// Host and DomainName are where Nova runs it (OS-EXT-SRV-ATTR:host and :instance_name). Either may be
	// left empty to take it from the first PowerOn.
	Host       string
	DomainName string
	// User is the only login the guest accepts; default "ubuntu".
	User string
	Boot Boot
	// DiskBus "scsi" names the guest's disks sdX (its root sda), as virtio-scsi does; otherwise they are
	// virtio-blk's vdX (root vda).
	DiskBus string
	Fstab   []FstabEntry
	// BootDelay is how long the guest takes from power-on to a running sshd when nothing holds it up.
	BootDelay time.Duration
	// CloudInitWait is how long a BootCloudInit guest waits for a missing volume; default 2 minutes.
	CloudInitWait time.Duration
}

var (
	uuidPattern   = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)
	devicePattern = regexp.MustCompile(`^/dev/[sv]d[a-z]+$`)
	userPattern   = regexp.MustCompile(`^[a-z_][a-z0-9_-]*$`)
	hostPattern   = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9.-]*$`)
)

// AddHost adds a compute host, powered on. After Start, its SSH server starts at once.
func (c *Cluster) AddHost(ctx context.Context, name string, opts HostOptions) error {
	if !hostPattern.MatchString(name) {
		return fmt.Errorf("add host %q: not a host name", name)
	}
	opts.User = orDefault(opts.User, "root")
	opts.IP = orDefault(opts.IP, "127.0.0.1")
	opts.InitiatorName = orDefault(opts.InitiatorName, defaultInitiatorName(name))
	opts.OpenISCSI = OpenISCSI(orDefault(string(opts.OpenISCSI), string(OpenISCSI2_1_11)))
	if !userPattern.MatchString(opts.User) {
		return fmt.Errorf("add host %s: user %q is not a user name", name, opts.User)
	}
	if ip, err := netip.ParseAddr(opts.IP); err != nil || !ip.Is4() {
		return fmt.Errorf("add host %s: IP %q is not an IPv4 address", name, opts.IP)
	}
	if opts.OpenISCSI != OpenISCSI2_1_11 && opts.OpenISCSI != OpenISCSI2_1_8 {
		return fmt.Errorf("add host %s: open-iscsi release %q is not simulated", name, opts.OpenISCSI)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return fmt.Errorf("add host %s: %w", name, ErrClosed)
	}
	if _, ok := c.hosts[name]; ok {
		return fmt.Errorf("add host %s: already added", name)
	}
	h, err := newHost(name, opts)
	if err != nil {
		return fmt.Errorf("add host %s: %w", name, err)
	}
	if c.started {
		if err := c.serveHost(ctx, h); err != nil {
			return fmt.Errorf("add host %s: %w", name, err)
		}
	}
	c.hosts[name] = h
	c.notify()
	return nil
}

// AddGuest registers an instance's guest. It stays powered off until its domain is powered on.
func (c *Cluster) AddGuest(ctx context.Context, spec GuestSpec) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.addGuest(ctx, spec); err != nil {
		return fmt.Errorf("add guest %s: %w", spec.InstanceUUID, err)
	}
	return nil
}

func (c *Cluster) addGuest(ctx context.Context, spec GuestSpec) error {
	if c.closed {
		return ErrClosed
	}
	if !uuidPattern.MatchString(spec.InstanceUUID) {
		return errors.New("instance UUID is not a lower-case UUID")
	}
	if _, ok := c.guests[spec.InstanceUUID]; ok {
		return errors.New("already added")
	}
	if spec.Host != "" && c.hosts[spec.Host] == nil {
		return fmt.Errorf("host %s: %w", spec.Host, ErrUnknownHost)
	}
	spec.User = orDefault(spec.User, "ubuntu")
	if !userPattern.MatchString(spec.User) {
		return fmt.Errorf("user %q is not a user name", spec.User)
	}
	if spec.CloudInitWait == 0 {
		spec.CloudInitWait = 2 * time.Minute
	}
	if spec.BootDelay < 0 || spec.CloudInitWait < 0 || spec.Boot < BootSkips || spec.Boot > BootCloudInit {
		return errors.New("negative durations or an unknown boot behaviour")
	}
	if spec.DiskBus != "" && spec.DiskBus != "virtio" && spec.DiskBus != "scsi" {
		return fmt.Errorf("disk bus %q: virtio or scsi", spec.DiskBus)
	}
	spec.Fstab = slices.Clone(spec.Fstab)
	for i := range spec.Fstab {
		e := &spec.Fstab[i]
		e.FSType = orDefault(e.FSType, "ext4")
		e.Options = orDefault(e.Options, "defaults")
		if !devicePattern.MatchString(e.Device) || e.Device == spec.rootDevice() {
			return fmt.Errorf("fstab device %q is not a data disk /dev/vdX or /dev/sdX", e.Device)
		}
		if !isPlainDirectory(e.MountPoint) {
			return fmt.Errorf("fstab mount point %q is not an absolute directory like /data", e.MountPoint)
		}
		for _, earlier := range spec.Fstab[:i] {
			if earlier.Device == e.Device || earlier.MountPoint == e.MountPoint ||
				strings.HasPrefix(e.MountPoint, earlier.MountPoint+"/") || strings.HasPrefix(earlier.MountPoint, e.MountPoint+"/") {
				return fmt.Errorf("fstab entries %s and %s overlap (nested or shared mounts are not simulated)", earlier.MountPoint, e.MountPoint)
			}
		}
	}
	g, err := newGuest(spec)
	if err != nil {
		return err
	}
	if c.started {
		if err := c.serveGuest(ctx, g); err != nil {
			return err
		}
	}
	c.guests[spec.InstanceUUID] = g
	c.notify()
	return nil
}

// Start starts every machine's SSH server on 127.0.0.1; machines added later start as they are added. A
// guest's server answers only while the guest is up.
func (c *Cluster) Start(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case c.closed:
		return fmt.Errorf("start: %w", ErrClosed)
	case c.started:
		return errors.New("start: already started")
	}
	for _, name := range sortedKeys(c.hosts) {
		if err := c.serveHost(ctx, c.hosts[name]); err != nil {
			c.stopServers()
			return fmt.Errorf("start host %s: %w", name, err)
		}
	}
	for _, id := range sortedKeys(c.guests) {
		if err := c.serveGuest(ctx, c.guests[id]); err != nil {
			c.stopServers()
			return fmt.Errorf("start guest %s: %w", id, err)
		}
	}
	c.started = true
	return nil
}

func (c *Cluster) serveHost(ctx context.Context, h *host) error {
	server, err := listen(ctx, serverConfig{
		hostKey: h.hostKey, user: h.opts.User, clientKey: c.clientPub,
		run: func(command string) commandResult { return c.runOnHost(h, command) },
	})
	if err != nil {
		return err
	}
	h.server = server
	server.setUp(true)
	return nil
}

func (c *Cluster) serveGuest(ctx context.Context, g *guest) error {
	server, err := listen(ctx, serverConfig{
		hostKey: g.hostKey, user: g.spec.User, clientKey: c.clientPub,
		run: func(command string) commandResult { return c.runOnGuest(g, command) },
	})
	if err != nil {
		return err
	}
	g.server = server
	server.setUp(g.stage == StageUp)
	return nil
}

// stopServers closes every listener and connection; the caller holds c.mu.
func (c *Cluster) stopServers() []*sshServer {
	var servers []*sshServer
	for _, h := range c.hosts {
		if h.server != nil {
			servers = append(servers, h.server)
			h.server.close()
		}
	}
	for _, g := range c.guests {
		if g.server != nil {
			servers = append(servers, g.server)
			g.server.close()
		}
	}
	return servers
}

// Close stops every server and timer and waits for their goroutines.
func (c *Cluster) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	for _, g := range c.guests {
		g.stopTimer()
	}
	servers := c.stopServers()
	c.notify()
	c.mu.Unlock()
	// Connection goroutines take c.mu to run commands: wait for them only after releasing it.
	for _, s := range servers {
		s.wait()
	}
	return nil
}

// notify wakes WaitGuest callers; the caller holds c.mu.
func (c *Cluster) notify() {
	close(c.changed)
	c.changed = make(chan struct{})
}

// ResumeGuestsOnBoot is the host's resume_guests_state_on_host_boot.
func (c *Cluster) ResumeGuestsOnBoot(hostName string) (bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	h, ok := c.hosts[hostName]
	if !ok {
		return false, fmt.Errorf("host %s: %w", hostName, ErrUnknownHost)
	}
	return h.opts.ResumeGuestsStateOnHostBoot, nil
}

// SetTargetExported makes the storage answer (true) or refuse (false) logins to an iSCSI target. A target
// is exported from the moment a volume connection names it (Cinder exported it to hand out the connection)
// until this says otherwise; AttachVolume exports it again, as Cinder's initialize_connection does.
func (c *Cluster) SetTargetExported(iqn string, exported bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.exports[iqn] = exported
	c.notify()
}

// Backends is the control plane's word on its storage backends. A portal belongs to the backend that serves
// it (a cinder-volume host's LVM target); the hosts see a backend that is down only as a portal refusing
// connections.
type Backends interface {
	// Up reports whether the backend serving portal is up. It is asked with the cluster locked, so it must
	// not call the cluster.
	Up(portal netip.AddrPort) bool
}

// SetBackends makes the storage portals answer only while the control plane says their backend is up.
func (c *Cluster) SetBackends(b Backends) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.backends = b
}

// SetLatencyScale scales the modelled durations of the hosts' tools and the guests' commands as the control
// plane's latency model scales its operations: 0 makes them instant, as tests want; 1 models a real machine.
func (c *Cluster) SetLatencyScale(scale float64) error {
	if scale < 0 || math.IsNaN(scale) {
		return fmt.Errorf("latency scale %v is negative", scale)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.latencyScale = scale
	return nil
}

// portalAnswers: the storage listens on addr and its backend is up; the caller holds c.mu.
func (c *Cluster) portalAnswers(addr netip.AddrPort) bool {
	return c.portals[addr] && (c.backends == nil || c.backends.Up(addr))
}

// scaled is a real host's duration under the latency model.
func (c *Cluster) scaled(d time.Duration) time.Duration {
	return time.Duration(float64(d) * c.latencyScale)
}

func orDefault(s, fallback string) string {
	if s == "" {
		return fallback
	}
	return s
}

func sortedKeys[V any](m map[string]V) []string {
	return slices.Sorted(maps.Keys(m))
}

// rootDevice is the guest's root disk on its bus.
func (s GuestSpec) rootDevice() string {
	if s.DiskBus == "scsi" {
		return "/dev/sda"
	}
	return "/dev/vda"
}
