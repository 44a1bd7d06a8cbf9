package sshx

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"os"
	"slices"
	"strconv"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"
)

const (
	defaultPort           = 22
	defaultDialTimeout    = 15 * time.Second
	defaultMaxOutputBytes = 4 << 20
	// Real ProxyJump chains have one or two hops; more means an Endpoint that jumps through itself.
	maxJumpHops = 8
)

// Endpoint is one machine reachable over SSH.
type Endpoint struct {
	// Name identifies the machine in messages: the Nova host name or the instance id.
	Name string
	// Address is the host name or IP address to connect to; known_hosts is looked up under it.
	Address string
	// Port defaults to 22.
	Port int
	// User defaults to Config.DefaultUser.
	User string
	// KeyFile is an unencrypted private key (ed25519, RSA or ECDSA); it defaults to Config.DefaultKeyFile.
	KeyFile string
	// Jump, when set, is connected to first and the connection to this endpoint is tunnelled through it, as
	// OpenSSH's ProxyJump does. Both host keys are verified.
	Jump *Endpoint
}

// Config holds the settings shared by every connection of a Pool.
type Config struct {
	// KnownHostsFile defaults to ~/.ssh/known_hosts. It must exist unless InsecureIgnoreHostKeys is set.
	KnownHostsFile string
	// InsecureIgnoreHostKeys accepts any host key; it must come from an explicit user choice. It wins over
	// KnownHostsFile. Callers check Pool.VerifiesHostKeys to warn about it.
	InsecureIgnoreHostKeys bool
	// DialTimeout bounds each step of connecting (TCP connect, tunnel through a jump host, SSH handshake) and
	// opening a session on an established connection. Default 15s.
	DialTimeout time.Duration
	// CommandTimeout, when positive, bounds each Run, connecting included.
	CommandTimeout time.Duration
	// UseAgent offers the keys of the ssh-agent at SSH_AUTH_SOCK, after the endpoint's key file.
	UseAgent bool
	// DefaultKeyFile and DefaultUser apply to endpoints that name none.
	DefaultKeyFile string
	DefaultUser    string
	// MaxOutputBytes caps what is kept of each of stdout and stderr. Default 4 MiB.
	MaxOutputBytes int
}

// Pool keeps one SSH connection per endpoint and runs commands over it. It is safe for concurrent use.
type Pool struct {
	cfg           Config
	knownHosts    ssh.HostKeyCallback // nil when the user opted out of host key verification
	defaultSigner ssh.Signer
	agentSocket   string

	mu       sync.Mutex
	closed   bool
	entries  map[string]*entry
	live     map[*ssh.Client]struct{} // connections whose transport is still up
	watchers sync.WaitGroup
}

// entry is the pooled connection of one endpoint.
type entry struct {
	// sem is held while the connection is checked or replaced, so that concurrent callers dial once; a
	// channel rather than a mutex lets waiters give up with their context.
	sem    chan struct{}
	client *ssh.Client
}

// target is an Endpoint with the defaults applied.
type target struct {
	name     string
	hostport string
	user     string
	keyFile  string
	jump     *target
}

func (t target) String() string { return fmt.Sprintf("%s (%s@%s)", t.name, t.user, t.hostport) }

// key identifies the connection: the same address may be a different machine behind another jump host.
func (t target) key() string {
	k := t.user + "@" + t.hostport
	if t.jump != nil {
		k += " via " + t.jump.key()
	}
	return k
}

// New checks the configuration — known_hosts present and readable, default key usable, agent socket set —
// so that a bad setting fails before any machine is touched.
func New(cfg Config) (*Pool, error) {
	if cfg.DialTimeout <= 0 {
		cfg.DialTimeout = defaultDialTimeout
	}
	if cfg.MaxOutputBytes <= 0 {
		cfg.MaxOutputBytes = defaultMaxOutputBytes
	}
	p := &Pool{
		cfg:     cfg,
		entries: make(map[string]*entry),
		live:    make(map[*ssh.Client]struct{}),
	}
	if !cfg.InsecureIgnoreHostKeys {
		knownHosts, err := loadKnownHosts(cfg.KnownHostsFile)
		if err != nil {
			return nil, err
		}
		p.knownHosts = knownHosts
	}
	if cfg.DefaultKeyFile != "" {
		signer, err := loadSigner(cfg.DefaultKeyFile)
		if err != nil {
			return nil, err
		}
		p.defaultSigner = signer
	}
	if cfg.UseAgent {
		p.agentSocket = os.Getenv("SSH_AUTH_SOCK")
		if p.agentSocket == "" {
			return nil, errors.New("ssh-agent requested but SSH_AUTH_SOCK is not set")
		}
	}
	return p, nil
}

// VerifiesHostKeys is false when the user opted out of host key verification; callers warn about it.
func (p *Pool) VerifiesHostKeys() bool { return p.knownHosts != nil }

// Close closes every connection; commands still running end with a *ConnectionLostError.
func (p *Pool) Close() error {
	p.mu.Lock()
	p.closed = true
	clients := slices.Collect(maps.Keys(p.live))
	p.mu.Unlock()
	var errs []error
	for _, client := range clients {
		// A tunnelled connection may already be gone with its jump host's: nothing is left to close.
		if err := client.Close(); err != nil && !errors.Is(err, net.ErrClosed) && !errors.Is(err, io.EOF) {
			errs = append(errs, err)
		}
	}
	p.watchers.Wait()
	return errors.Join(errs...)
}

func (p *Pool) resolve(ep Endpoint, hops int) (target, error) {
	if ep.Address == "" {
		return target{}, fmt.Errorf("SSH endpoint %q has no address", ep.Name)
	}
	name := cmp.Or(ep.Name, ep.Address)
	port := cmp.Or(ep.Port, defaultPort)
	if port < 1 || port > 65535 {
		return target{}, fmt.Errorf("SSH endpoint %s: port %d out of range", name, port)
	}
	user := cmp.Or(ep.User, p.cfg.DefaultUser)
	if user == "" {
		return target{}, fmt.Errorf("SSH endpoint %s: no user given and no default user configured", name)
	}
	t := target{
		name:     name,
		hostport: net.JoinHostPort(ep.Address, strconv.Itoa(port)),
		user:     user,
		keyFile:  ep.KeyFile,
	}
	if ep.Jump != nil {
		if hops == maxJumpHops {
			return target{}, fmt.Errorf("SSH endpoint %s: more than %d jump hosts, the chain loops", name, maxJumpHops)
		}
		jump, err := p.resolve(*ep.Jump, hops+1)
		if err != nil {
			return target{}, fmt.Errorf("jump host of %s: %w", name, err)
		}
		t.jump = &jump
	}
	return t, nil
}

// client returns t's pooled connection, dialing one if there is none, it died, or it is stale (the caller
// found it unusable). reused tells whether the connection predates this call.
func (p *Pool) client(ctx context.Context, t target, stale *ssh.Client) (client *ssh.Client, reused bool, err error) {
	e, err := p.entry(t.key())
	if err != nil {
		return nil, false, err
	}
	select {
	case e.sem <- struct{}{}:
	case <-ctx.Done():
		return nil, false, fmt.Errorf("wait for the connection to %s: %w", t, ctx.Err())
	}
	defer func() { <-e.sem }()
	if e.client != nil && e.client != stale && p.isLive(e.client) {
		return e.client, true, nil
	}
	client, err = p.dial(ctx, t)
	if err != nil {
		return nil, false, err
	}
	if err := p.track(client); err != nil {
		client.Close()
		return nil, false, err
	}
	e.client = client
	return client, false, nil
}

func (p *Pool) entry(key string) (*entry, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil, ErrClosed
	}
	e, ok := p.entries[key]
	if !ok {
		e = &entry{sem: make(chan struct{}, 1)}
		p.entries[key] = e
	}
	return e, nil
}

func (p *Pool) isLive(client *ssh.Client) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	_, ok := p.live[client]
	return ok
}

// track records client as live until its transport ends.
func (p *Pool) track(client *ssh.Client) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return ErrClosed
	}
	p.live[client] = struct{}{}
	p.watchers.Go(func() {
		client.Wait()
		p.mu.Lock()
		delete(p.live, client)
		p.mu.Unlock()
	})
	return nil
}

// onClient opens a channel — a session, or a tunnel to the next hop — on t's pooled connection. A cached
// connection may have died since its last use (the host rebooted, or lost power without closing TCP) before
// the pool noticed: opening a channel on it fails or goes unanswered. Nothing has run on it yet, so it is
// dropped and the open is tried once more on a fresh connection.
func onClient[C io.Closer](ctx context.Context, p *Pool, t target, open func(*ssh.Client) (C, error)) (C, error) {
	client, reused, err := p.client(ctx, t, nil)
	if err != nil {
		var none C
		return none, err
	}
	channel, err := openWithin(ctx, p.cfg.DialTimeout, t, client, open)
	var rejected *ssh.OpenChannelError
	if err == nil || !reused || ctx.Err() != nil || errors.As(err, &rejected) {
		return channel, err
	}
	client.Close()
	client, _, err = p.client(ctx, t, client)
	if err != nil {
		var none C
		return none, err
	}
	return openWithin(ctx, p.cfg.DialTimeout, t, client, open)
}

// openWithin runs open on client, giving up after timeout. x/crypto cannot cancel a channel open, and a peer
// that vanished without closing TCP never answers one: such a connection is closed as dead.
func openWithin[C io.Closer](ctx context.Context, timeout time.Duration, t target, client *ssh.Client, open func(*ssh.Client) (C, error)) (C, error) {
	type opened struct {
		channel C
		err     error
	}
	result := make(chan opened, 1)
	go func() {
		channel, err := open(client)
		result <- opened{channel, err}
	}()
	openCtx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var none C
	select {
	case r := <-result:
		if r.err != nil {
			return none, fmt.Errorf("open a channel to %s: %w", t, r.err)
		}
		return r.channel, nil
	case <-openCtx.Done():
	}
	go func() {
		if r := <-result; r.err == nil {
			r.channel.Close()
		}
	}()
	if ctx.Err() != nil {
		return none, fmt.Errorf("open a channel to %s: %w", t, ctx.Err())
	}
	client.Close()
	return none, fmt.Errorf("open a channel to %s: no answer within %s", t, timeout)
}
