package recover

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"
)

// Timing sets the wall time of steps 3 to 5 beside their physical limit: the least time any engine could
// have taken, given how long the cloud itself took for each operation. Polling more or calling more can
// never improve the ratio; only wasting less time between operations does.
type Timing struct {
	// Steps12Seconds is the manifest, preflight and the database clean, reported apart.
	Steps12Seconds float64 `json:"steps_1_2_seconds"`
	// WallSeconds is steps 3 to 5, from the first instance started to the last one done.
	WallSeconds float64 `json:"steps_3_5_seconds"`
	// BoundSeconds is the largest of: the longest instance's operations back to back (the service times
	// nova-compute reported for its reboot and attaches, and its guest's reboot); the busiest compute host's
	// or storage portal's work divided by the most operations it was seen to run at once; and the plan's
	// fewest API calls at the API rate.
	BoundSeconds float64 `json:"bound_seconds"`
	Ratio        float64 `json:"ratio"`
	// BoundBy says what sets the bound.
	BoundBy string `json:"bound_by"`
	// Operations counts the service times read back; Unread, those the cloud did not show (events hidden by
	// policy, or an operation sent by an earlier run).
	Operations int `json:"operations"`
	Unread     int `json:"unread,omitempty"`
}

// serviceRecord is one operation steps 3 to 5 sent, to read its service time back from the cloud.
type serviceRecord struct {
	instance, host string
	portals        []string
	action, event  string
	requestID      string
	// started and ended are nova-compute's record of the operation, read at the end.
	started, ended time.Time
}

type serviceLog struct {
	mu      sync.Mutex
	records []serviceRecord
}

func (l *serviceLog) add(r serviceRecord) {
	l.mu.Lock()
	l.records = append(l.records, r)
	l.mu.Unlock()
}

// timing reads back the service time nova-compute reported for each operation sent and sets the wall time
// beside the bound. minCalls is the plan's fewest API calls (a reboot per instance, an attach per volume).
func (x *executor) timing(ctx context.Context, wall time.Duration, results []InstanceResult, minCalls int) Timing {
	t := Timing{WallSeconds: wall.Seconds()}
	records := x.services.records
	var g errgroup.Group
	g.SetLimit(max(1, x.options.Concurrency))
	for i := range records {
		r := &records[i]
		if r.requestID == "" || !r.started.IsZero() {
			continue // nothing to read, or read already
		}
		g.Go(func() error {
			a, err := x.cloud.GetInstanceAction(ctx, r.instance, r.requestID)
			if err != nil {
				return nil
			}
			for _, e := range a.Events {
				if e.Event == r.event && e.Finished && !e.Started.IsZero() {
					r.started, r.ended = e.Started, e.Ended
				}
			}
			return nil
		})
	}
	_ = g.Wait()

	path := map[string]time.Duration{}
	byHost := map[string][]serviceRecord{}
	byPortal := map[string][]serviceRecord{}
	for _, r := range records {
		if r.started.IsZero() {
			t.Unread++
			continue
		}
		t.Operations++
		path[r.instance] += r.ended.Sub(r.started)
		byHost[r.host] = append(byHost[r.host], r)
		for _, p := range r.portals {
			if p != "" {
				byPortal[p] = append(byPortal[p], r)
			}
		}
	}
	for _, res := range results {
		if secs, ok := res.StepSeconds[StepGuestReboot]; ok {
			path[res.ID] += time.Duration(secs * float64(time.Second))
		}
	}
	consider := func(d time.Duration, by string) {
		if s := d.Seconds(); s > t.BoundSeconds {
			t.BoundSeconds, t.BoundBy = s, by
		}
	}
	for id, d := range path {
		consider(d, "instance "+id+": its operations back to back")
	}
	for host, rs := range byHost {
		consider(busy(rs), "compute host "+host+": its work at the most operations it ran at once")
	}
	for portal, rs := range byPortal {
		consider(busy(rs), "storage portal "+portal+": its logins at the most it served at once")
	}
	if x.apiRate > 0 {
		consider(time.Duration(float64(minCalls)/x.apiRate*float64(time.Second)), fmt.Sprintf("the API rate: %d calls at %g per second", minCalls, x.apiRate))
	}
	if t.BoundSeconds > 0 {
		t.Ratio = t.WallSeconds / t.BoundSeconds
	}
	return t
}

// busy is the least time a host (or portal) needed for its operations: their total service time divided by
// the most of them it was seen to run at once.
func busy(rs []serviceRecord) time.Duration {
	type edge struct {
		at    time.Time
		delta int
	}
	var work time.Duration
	edges := make([]edge, 0, 2*len(rs))
	for _, r := range rs {
		work += r.ended.Sub(r.started)
		edges = append(edges, edge{r.started, 1}, edge{r.ended, -1})
	}
	sort.Slice(edges, func(i, j int) bool {
		if edges[i].at.Equal(edges[j].at) {
			return edges[i].delta < edges[j].delta // one ending as another starts: not at once
		}
		return edges[i].at.Before(edges[j].at)
	})
	most, now := 1, 0
	for _, e := range edges {
		now += e.delta
		most = max(most, now)
	}
	return work / time.Duration(most)
}
