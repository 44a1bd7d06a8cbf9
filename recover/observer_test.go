package recover

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/osdr/osdr/internal/osapi"
)

// fakeFleet answers listings like Nova and Cinder: servers and volumes with the time each was last saved,
// a changes-since listing only those saved at or after it. Every call is counted.
type fakeFleet struct {
	engineAPI
	mu                 sync.Mutex
	servers            map[string]osapi.Server
	volumes            map[string]osapi.Volume
	volumeChangesSince bool
	calls              atomic.Int64
	gets               atomic.Int64
}

func (f *fakeFleet) set(s osapi.Server) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s.Updated = time.Now()
	f.servers[s.ID] = s
}

func (f *fakeFleet) ListServers(context.Context, string) ([]osapi.Server, error) {
	return f.ListServersChangedSince(context.Background(), time.Time{})
}

func (f *fakeFleet) ListServersChangedSince(_ context.Context, since time.Time) ([]osapi.Server, error) {
	f.calls.Add(1)
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []osapi.Server
	for _, s := range f.servers {
		if !s.Updated.Before(since) {
			out = append(out, s)
		}
	}
	return out, nil
}

func (f *fakeFleet) VolumeChangesSince() bool { return f.volumeChangesSince }

func (f *fakeFleet) ListVolumes(context.Context) ([]osapi.Volume, error) {
	return f.ListVolumesChangedSince(context.Background(), time.Time{})
}

func (f *fakeFleet) ListVolumesChangedSince(_ context.Context, since time.Time) ([]osapi.Volume, error) {
	f.calls.Add(1)
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []osapi.Volume
	for _, v := range f.volumes {
		if !v.Updated.Before(since) {
			out = append(out, v)
		}
	}
	return out, nil
}

func (f *fakeFleet) GetVolume(_ context.Context, id string) (osapi.Volume, error) {
	f.gets.Add(1)
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.volumes[id], nil
}

func running(id string) osapi.Server { return osapi.Server{ID: id, VMState: "active", PowerState: 1} }

// A hundred instances waiting for their reboot are answered by a handful of listings, not a read each.
func TestOneListingAnswersEveryWaiter(t *testing.T) {
	f := &fakeFleet{servers: map[string]osapi.Server{}, volumes: map[string]osapi.Volume{}}
	watched := map[string]bool{}
	const n = 100
	for i := range n {
		id := fmt.Sprintf("server-%03d", i)
		watched[id] = true
		f.set(osapi.Server{ID: id, VMState: "stopped", PowerState: 4})
	}
	o := newObserver(f, watched, 0)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go o.run(ctx)
	var wg sync.WaitGroup
	for i := range n {
		id := fmt.Sprintf("server-%03d", i)
		wg.Go(func() {
			err := o.await(ctx, kindServer, id, "reboot", "server running", 5*time.Second, func(o *observer) (bool, string, error) {
				s, _ := o.server(id)
				return s.Running(), s.VMState, nil
			})
			if err != nil {
				t.Error(err)
			}
		})
	}
	// The reboots finish one after another over about a quarter of a second.
	for i := range n {
		time.Sleep(2 * time.Millisecond)
		f.set(running(fmt.Sprintf("server-%03d", i)))
	}
	wg.Wait()
	if calls := f.calls.Load(); calls > n/4 {
		t.Errorf("%d listings for %d waiters: the waits did not share their reads", calls, n)
	}
	if e := o.learned.expected("reboot"); e <= 0 {
		t.Errorf("no duration learned from %d completions", n)
	}
}

// A wait counts only what a listing shows after it began: the server running before the reboot was sent
// must not end the wait on the state seen before.
func TestAWaitIgnoresWhatWasSeenBeforeItBegan(t *testing.T) {
	f := &fakeFleet{servers: map[string]osapi.Server{}, volumes: map[string]osapi.Volume{}}
	f.set(running("s"))
	o := newObserver(f, map[string]bool{"s": true}, 0)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go o.run(ctx)
	if err := o.listServers(ctx); err != nil {
		t.Fatal(err)
	}
	f.set(osapi.Server{ID: "s", VMState: "active", TaskState: "rebooting_hard"})
	done := make(chan error, 1)
	go func() {
		done <- o.await(ctx, kindServer, "s", "reboot", "server running", 5*time.Second, func(o *observer) (bool, string, error) {
			s, _ := o.server("s")
			return s.Running(), s.TaskState, nil
		})
	}()
	select {
	case err := <-done:
		t.Fatalf("the wait ended on a state from before it began (%v)", err)
	case <-time.After(100 * time.Millisecond):
	}
	f.set(running("s"))
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// Cinder before 3.60 lists no changes: each volume is read on its own, and still only when due.
func TestVolumesAreReadOneByOneWithoutChangesSince(t *testing.T) {
	f := &fakeFleet{servers: map[string]osapi.Server{}, volumes: map[string]osapi.Volume{"v": {ID: "v", Status: "attaching"}}}
	o := newObserver(f, map[string]bool{"v": true}, 0)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go o.run(ctx)
	go func() {
		time.Sleep(50 * time.Millisecond)
		f.mu.Lock()
		f.volumes["v"] = osapi.Volume{ID: "v", Status: "in-use"}
		f.mu.Unlock()
	}()
	err := o.await(ctx, kindVolume, "v", "attach", "volume in-use", 5*time.Second, func(o *observer) (bool, string, error) {
		v, _ := o.volume("v")
		return v.Status == "in-use", v.Status, nil
	})
	if err != nil || f.gets.Load() == 0 || f.calls.Load() != 0 {
		t.Errorf("err %v, %d reads of the volume, %d listings", err, f.gets.Load(), f.calls.Load())
	}
}

// A wait that never sees its state times out saying what it saw last.
func TestAWaitTimesOutWithWhatItSaw(t *testing.T) {
	f := &fakeFleet{servers: map[string]osapi.Server{"s": {ID: "s", VMState: "stopped", Updated: time.Now()}}, volumes: map[string]osapi.Volume{}}
	o := newObserver(f, map[string]bool{"s": true}, 0)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go o.run(ctx)
	err := o.await(ctx, kindServer, "s", "reboot", "server s running", 150*time.Millisecond, func(o *observer) (bool, string, error) {
		s, _ := o.server("s")
		return s.Running(), "vm_state=" + s.VMState, nil
	})
	if err == nil || !contains([]string{err.Error()}, err.Error()) || !containsAll(err.Error(), "timed out", "server s running", "vm_state=stopped") {
		t.Errorf("err = %v", err)
	}
}

// A wait that begins after the observer stopped ends at once: nothing would ever answer it.
func TestAWaitAfterTheObserverStoppedEndsAtOnce(t *testing.T) {
	f := &fakeFleet{servers: map[string]osapi.Server{}, volumes: map[string]osapi.Volume{}}
	o := newObserver(f, map[string]bool{"s": true}, 0)
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan struct{})
	go func() { o.run(ctx); close(stopped) }()
	cancel()
	<-stopped
	began := time.Now()
	err := o.await(context.Background(), kindServer, "s", "reboot", "server s running", 5*time.Second, func(o *observer) (bool, string, error) {
		return false, "", nil
	})
	if err == nil || !strings.Contains(err.Error(), "observer stopped") || time.Since(began) > time.Second {
		t.Errorf("err = %v after %s", err, time.Since(began))
	}
}

func containsAll(s string, parts ...string) bool {
	for _, p := range parts {
		if !strings.Contains(s, p) {
			return false
		}
	}
	return true
}

// The longest chains start first, and never more than perHost instances of one host at once.
func TestTheQueueStartsLongChainsFirstWithinPerHostLimits(t *testing.T) {
	reboot := &Action{}
	p := &Plan{Instances: []InstancePlan{
		{ID: "short", Host: "h1", Reboot: reboot},
		{ID: "long", Host: "h1", Reboot: reboot, Reattach: []Action{{}, {}, {}}, Guest: []Action{{}}},
		{ID: "middle", Host: "h2", Reboot: reboot, Reattach: []Action{{}}},
		{ID: "long-too", Host: "h1", Reboot: reboot, Reattach: []Action{{}, {}, {}}},
	}}
	q := newHostQueue(p, 1)
	first, _ := q.take()
	second, _ := q.take()
	if p.Instances[first].ID != "long" || p.Instances[second].ID != "middle" {
		t.Fatalf("started %s then %s, want long then middle (h1 is full)", p.Instances[first].ID, p.Instances[second].ID)
	}
	got := make(chan string)
	go func() {
		i, _ := q.take()
		got <- p.Instances[i].ID
	}()
	select {
	case id := <-got:
		t.Fatalf("%s started while h1 was full", id)
	case <-time.After(50 * time.Millisecond):
	}
	q.done("h1")
	if id := <-got; id != "long-too" {
		t.Errorf("after h1 freed a slot: %s, want long-too", id)
	}
}

// A host's work bounds the recovery by its service times over the most operations it ran at once.
func TestBusyDividesTheWorkByTheMostAtOnce(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	rs := []serviceRecord{
		{started: at(0), ended: at(10)},
		{started: at(0), ended: at(10)},
		{started: at(10), ended: at(20)}, // starts as the others end: not at once
	}
	if got := busy(rs); got != 15*time.Second {
		t.Errorf("busy = %s, want 30s of work over 2 at once = 15s", got)
	}
}

// A change that no changes-since listing shows (its row was committed long after the updated_at it carries)
// is seen by the next full listing, so the wait ends instead of timing out. The servers and the volumes are
// listed side by side: the volume's wait is answered while the server's is still waiting.
func TestAFullListingCatchesAChangeCommittedLate(t *testing.T) {
	f := &fakeFleet{servers: map[string]osapi.Server{}, volumes: map[string]osapi.Volume{}, volumeChangesSince: true}
	f.set(osapi.Server{ID: "s", VMState: "stopped", PowerState: 4})
	f.volumes["v"] = osapi.Volume{ID: "v", Status: "in-use", Updated: time.Now()}
	o := newObserver(f, map[string]bool{"s": true, "v": true}, 0)
	o.fullEvery = 300 * time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go o.run(ctx)

	serverDone := make(chan error, 1)
	began := time.Now()
	go func() {
		serverDone <- o.await(ctx, kindServer, "s", "reboot", "server s running", 5*time.Second, func(o *observer) (bool, string, error) {
			s, ok := o.server("s")
			return ok && s.Running(), "", nil
		})
	}()
	if err := o.await(ctx, kindVolume, "v", "attach", "volume v in-use", 5*time.Second, func(o *observer) (bool, string, error) {
		v, ok := o.volume("v")
		return ok && v.Status == "in-use", "", nil
	}); err != nil {
		t.Fatalf("the volume's wait: %v", err)
	}
	time.Sleep(50 * time.Millisecond) // the server's first full listing is behind it
	f.mu.Lock()
	f.servers["s"] = osapi.Server{ID: "s", VMState: "active", PowerState: 1, Updated: time.Now().Add(-time.Hour)}
	f.mu.Unlock()
	if err := <-serverDone; err != nil {
		t.Fatalf("the late change was never seen: %v", err)
	}
	if took := time.Since(began); took < o.fullEvery {
		t.Errorf("answered after %v: before any full listing could show it", took)
	}
}
