package recover

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/osdr/osdr/internal/osapi"
)

// fleetAPI is what the observer reads: every server (and, where Cinder filters by updated_at, every volume)
// that changed since a moment, in one paged listing each; *osapi.Client is the real one.
type fleetAPI interface {
	ListServers(ctx context.Context, host string) ([]osapi.Server, error)
	ListServersChangedSince(ctx context.Context, since time.Time) ([]osapi.Server, error)
	VolumeChangesSince() bool
	ListVolumes(ctx context.Context) ([]osapi.Volume, error)
	ListVolumesChangedSince(ctx context.Context, since time.Time) ([]osapi.Volume, error)
	GetVolume(ctx context.Context, id string) (osapi.Volume, error)
}

// observer waits like a fleet, not like N scripts: every instance and volume the recovery waits on is
// answered from one listing of what changed, per tick, instead of one GET each. Servers and volumes are
// watched side by side, each kind listed on its own tick, so a slow listing of one never delays the other.
// Its view of a server or volume holds as of the start of its last listing, since a changes-since listing
// leaves out only what did not change. A wait first looks when its kind of operation has been seen to take
// (learned from the completions so far), then more often, never more often than the API budget allows.
type observer struct {
	api fleetAPI
	// minTick spaces the listings of each kind: the share of the API rate the waits may spend.
	minTick time.Duration
	learned *durations
	mu      sync.Mutex
	wake    [2]chan struct{}
	watched map[string]bool // the servers and volumes of the plan: nothing else is kept
	servers map[string]osapi.Server
	volumes map[string]osapi.Volume
	seenAt  [2]time.Time // when the last listing of servers, of volumes, started
	mark    [2]time.Time // the cloud's newest updated_at seen, per kind: where the next listing starts
	// fullAt is when the last full listing of each kind started (zero: none yet); fullEvery spaces them.
	fullAt    [2]time.Time
	fullEvery time.Duration
	waiters   map[*waiter]struct{}
	lastList  [2]time.Time
	stopped   error // why run returned: a wait that begins after it ends at once
}

const (
	kindServer = iota
	kindVolume
)

// listingOverlap reaches back before the newest updated_at seen: a row saved just before it but committed
// after the listing read is caught by the next one, and so is a row saved by a service host whose clock is
// a little behind (updated_at is written by nova-compute on the compute host, and hosts back from a power
// loss may not have synced their clocks yet). Listing a row twice is harmless.
const listingOverlap = 5 * time.Second

// fullListingEvery spaces the full listings that catch a change no changes-since listing showed: one
// committed later than the overlap allows, or saved while a listing of several pages was being read after
// its page had been read. Such a wait is answered within this long instead of timing out.
const fullListingEvery = time.Minute

// waiter is one wait: for a server or volume to satisfy check, as seen by a listing started after since.
type waiter struct {
	kind   int
	id     string
	op     string
	since  time.Time
	due    time.Time
	check  func(o *observer) (done bool, seen string, err error)
	result chan error
	seen   string
	// readAt is when the waiter's own read of its volume started (Cinder before 3.60 lists no changes).
	readAt time.Time
}

func newObserver(api fleetAPI, watched map[string]bool, apiRate float64) *observer {
	o := &observer{
		api: api, watched: watched, learned: newDurations(),
		wake: [2]chan struct{}{make(chan struct{}, 1), make(chan struct{}, 1)}, servers: map[string]osapi.Server{},
		volumes: map[string]osapi.Volume{}, waiters: map[*waiter]struct{}{}, minTick: 20 * time.Millisecond,
		fullEvery: fullListingEvery,
	}
	if apiRate > 0 {
		// At most a quarter of the API budget goes to looking, an eighth to each kind; the rest sends the work.
		o.minTick = max(o.minTick, time.Duration(float64(time.Second)/(apiRate/8)))
	}
	return o
}

// run lists and wakes waiters until ctx ends, servers and volumes each on their own tick.
func (o *observer) run(ctx context.Context) {
	var kinds sync.WaitGroup
	for _, kind := range []int{kindServer, kindVolume} {
		kinds.Go(func() { o.watch(ctx, kind) })
	}
	kinds.Wait()
	o.mu.Lock()
	o.stopped = fmt.Errorf("the recovery's observer stopped: %w", ctx.Err())
	o.mu.Unlock()
	o.fail(ctx.Err())
}

// watch lists one kind whenever one of its waiters is due, until ctx ends.
func (o *observer) watch(ctx context.Context, kind int) {
	for {
		next, ok := o.nextTick(kind)
		var timer <-chan time.Time
		if ok {
			d := time.Until(next)
			if floor := time.Until(o.lastList[kind].Add(o.minTick)); d < floor {
				d = floor
			}
			timer = time.After(max(d, 0))
		}
		select {
		case <-ctx.Done():
			return
		case <-o.wake[kind]:
			continue
		case <-timer:
		}
		o.tick(ctx, kind)
	}
}

// nextTick is when the earliest waiter of the kind wants a look.
func (o *observer) nextTick(kind int) (time.Time, bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	var next time.Time
	for w := range o.waiters {
		if w.kind == kind && (next.IsZero() || w.due.Before(next)) {
			next = w.due
		}
	}
	return next, !next.IsZero()
}

// tick lists what the kind's due waiters need and settles every waiter of the kind the listing answers.
func (o *observer) tick(ctx context.Context, kind int) {
	now := time.Now()
	o.mu.Lock()
	due := false
	var perVolume []*waiter
	for w := range o.waiters {
		if w.kind != kind || w.due.After(now) {
			continue
		}
		if kind == kindVolume && !o.api.VolumeChangesSince() {
			perVolume = append(perVolume, w)
			continue
		}
		due = true
	}
	o.lastList[kind] = now
	o.mu.Unlock()

	var errs []error
	switch {
	case due && kind == kindServer:
		errs = append(errs, o.listServers(ctx))
	case due:
		errs = append(errs, o.listVolumes(ctx))
	}
	// Cinder before 3.60 filters no listing by when volumes changed: each volume is read on its own.
	for _, w := range perVolume {
		started := time.Now()
		v, err := o.api.GetVolume(ctx, w.id)
		o.mu.Lock()
		if err == nil {
			o.volumes[w.id] = v
			w.readAt = started
		}
		o.mu.Unlock()
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil && osapi.Classify(err) != osapi.Transient {
		// osapi retried the reads already; a read that still fails, fails the waits that depend on it.
		o.failKind(kind, err)
		return
	}
	o.settle(time.Now(), kind)
}

// since is where the next listing of the kind starts: nowhere (a full listing) before the first one and
// once fullEvery has passed since the last full one, else just before the newest change seen.
func (o *observer) since(kind int, now time.Time) (full bool, since time.Time) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.fullAt[kind].IsZero() || now.Sub(o.fullAt[kind]) >= o.fullEvery {
		return true, time.Time{}
	}
	return false, o.mark[kind].Add(-listingOverlap)
}

func (o *observer) listServers(ctx context.Context) error {
	started := time.Now()
	full, since := o.since(kindServer, started)
	var list []osapi.Server
	var err error
	if full {
		list, err = o.api.ListServers(ctx, "")
	} else {
		list, err = o.api.ListServersChangedSince(ctx, since)
	}
	if err != nil {
		return err
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, s := range list {
		if s.Updated.After(o.mark[kindServer]) {
			o.mark[kindServer] = s.Updated
		}
		if o.watched[s.ID] {
			o.servers[s.ID] = s
		}
	}
	o.seenAt[kindServer] = started
	if full {
		o.fullAt[kindServer] = started
	}
	return nil
}

func (o *observer) listVolumes(ctx context.Context) error {
	started := time.Now()
	full, since := o.since(kindVolume, started)
	var list []osapi.Volume
	var err error
	if full {
		list, err = o.api.ListVolumes(ctx)
	} else {
		list, err = o.api.ListVolumesChangedSince(ctx, since)
	}
	if err != nil {
		return err
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, v := range list {
		if v.Updated.After(o.mark[kindVolume]) {
			o.mark[kindVolume] = v.Updated
		}
		if o.watched[v.ID] {
			o.volumes[v.ID] = v
		}
	}
	o.seenAt[kindVolume] = started
	if full {
		o.fullAt[kindVolume] = started
	}
	return nil
}

// settle checks every due waiter of the kind whose object was read since it began waiting.
func (o *observer) settle(now time.Time, kind int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	for w := range o.waiters {
		if w.kind != kind || w.due.After(now) {
			continue
		}
		readAt := o.seenAt[w.kind]
		if w.readAt.After(readAt) {
			readAt = w.readAt
		}
		if readAt.Before(w.since) {
			w.due = now // not read since it began (a listing failed): the next tick reads it
			continue
		}
		done, seen, err := w.check(o)
		w.seen = seen
		switch {
		case err != nil:
			o.finish(w, err)
		case done:
			// The listing that showed it done started at readAt: that, not when the answer was read, is
			// when it was seen done, so slow listings do not teach ever longer waits.
			o.learned.add(w.op, readAt.Sub(w.since))
			o.finish(w, nil)
		default:
			// One listing answers every waiter, so a look costs nothing of its own: past its expected
			// duration a wait looks again at every tick the API budget allows.
			w.due = now.Add(max(o.minTick, lateLook))
		}
	}
}

func (o *observer) finish(w *waiter, err error) {
	delete(o.waiters, w)
	w.result <- err
}

// fail ends every wait with err.
func (o *observer) fail(err error) {
	o.failKind(-1, err)
}

// failKind ends every wait of the kind (-1: of both) with err.
func (o *observer) failKind(kind int, err error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	for w := range o.waiters {
		if kind < 0 || w.kind == kind {
			o.finish(w, err)
		}
	}
}

// server is the latest listing's view of a server; ok is false when no listing has shown it.
func (o *observer) server(id string) (osapi.Server, bool) {
	s, ok := o.servers[id]
	return s, ok
}

// volume is the latest view of a volume.
func (o *observer) volume(id string) (osapi.Volume, bool) {
	v, ok := o.volumes[id]
	return v, ok
}

// await waits until check passes on a listing taken after the wait began, or deadline passes. op names the
// kind of operation whose duration is learned ("reboot", "attach"); what describes the wait in errors.
func (o *observer) await(ctx context.Context, kind int, id, op, what string, deadline time.Duration, check func(o *observer) (bool, string, error)) error {
	ctx, cancel := context.WithTimeout(ctx, deadline)
	defer cancel()
	now := time.Now()
	first := o.learned.expected(op)
	w := &waiter{kind: kind, id: id, op: op, since: now, due: now.Add(first), check: check, result: make(chan error, 1)}
	o.mu.Lock()
	if o.stopped != nil {
		o.mu.Unlock()
		return o.stopped
	}
	o.waiters[w] = struct{}{}
	o.mu.Unlock()
	select {
	case o.wake[kind] <- struct{}{}:
	default:
	}
	select {
	case err := <-w.result:
		return err
	case <-ctx.Done():
		o.mu.Lock()
		_, still := o.waiters[w]
		delete(o.waiters, w)
		seen := w.seen
		o.mu.Unlock()
		if !still {
			return <-w.result
		}
		if seen != "" {
			seen = " (last seen: " + seen + ")"
		}
		return fmt.Errorf("timed out after %s waiting for %s%s: %w", deadline, what, seen, ctx.Err())
	}
}

// lateLook is how often, at most, a wait past its operation's expected duration looks again: each look is
// a share of a listing taken anyway.
const lateLook = 200 * time.Millisecond

// durations learns how long each kind of operation takes, so a wait looks first when it is likely done.
type durations struct {
	mu   sync.Mutex
	seen map[string][]time.Duration
}

// learnedSamples bounds what is kept per kind: the median of the latest completions.
const learnedSamples = 64

func newDurations() *durations { return &durations{seen: map[string][]time.Duration{}} }

func (d *durations) add(op string, took time.Duration) {
	d.mu.Lock()
	defer d.mu.Unlock()
	s := append(d.seen[op], took)
	if len(s) > learnedSamples {
		s = s[len(s)-learnedSamples:]
	}
	d.seen[op] = s
}

// expected is when a wait of the kind first looks: 90% of the median completion so far, or, before any
// completion, at once.
func (d *durations) expected(op string) time.Duration {
	d.mu.Lock()
	defer d.mu.Unlock()
	s := slices.Clone(d.seen[op])
	if len(s) == 0 {
		return 0
	}
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2] * 9 / 10
}
