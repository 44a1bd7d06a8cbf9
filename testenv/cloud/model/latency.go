package model

import (
	"context"
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"sync"
	"time"
)

// Operation is a piece of work whose duration the simulation models where the real service spends it.
type Operation string

const (
	OpReboot Operation = "reboot" // nova-compute rebooting a guest (hard: destroy, reconnect volumes, boot)
	OpBoot   Operation = "boot"   // nova-compute powering a guest on (os-start)
	OpAttach Operation = "attach" // nova-compute connecting a volume and hot-plugging it
	OpDetach Operation = "detach" // nova-compute unplugging a volume and disconnecting it
	OpReset  Operation = "reset"  // cinder-api carrying out os-reset_status
	// OpAPI is Nova's or Cinder's API answering one request besides the work it casts; it has no median of its
	// own (the simulation answers as fast as it can) unless one is configured.
	OpAPI Operation = "api"
)

// medians are what the operations take on a real libvirt/LVM cloud at scale 1; each duration is drawn
// log-normally around its median with latencySigma, so a few take several times longer, as on a loaded cloud.
var medians = map[Operation]time.Duration{
	OpReboot: 25 * time.Second,
	OpBoot:   15 * time.Second,
	OpAttach: 4 * time.Second,
	OpDetach: 3 * time.Second,
	OpReset:  300 * time.Millisecond,
}

const latencySigma = 0.5

// Median is op's median at scale 1 on a real cloud, as the model has it.
func Median(op Operation) time.Duration { return medians[op] }

// Latency draws operation durations from a seeded source and scales them (the cloud's LatencyScale).
type Latency struct {
	scale   float64
	medians map[Operation]time.Duration
	mu      sync.Mutex
	rng     *rand.Rand
}

// NewLatency draws from seed, or from a random seed when it is 0; override replaces the medians of the
// operations it names (durations at scale 1).
func NewLatency(scale float64, seed int64, override map[Operation]time.Duration) (*Latency, error) {
	if scale < 0 {
		return nil, fmt.Errorf("latency scale %v is negative", scale)
	}
	m := maps.Clone(medians)
	for op, d := range override {
		if _, known := medians[op]; !known && op != OpAPI {
			return nil, fmt.Errorf("latency of %q: no such operation", op)
		}
		if d < 0 {
			return nil, fmt.Errorf("latency of %s: %v is negative", op, d)
		}
		m[op] = d
	}
	s := uint64(seed)
	if seed == 0 {
		s = rand.Uint64()
	}
	return &Latency{scale: scale, medians: m, rng: rand.New(rand.NewPCG(s, 0x1a7e))}, nil
}

// Duration is one draw for op, already scaled.
func (l *Latency) Duration(op Operation) time.Duration {
	median := l.medians[op]
	if l.scale == 0 || median == 0 {
		return 0
	}
	l.mu.Lock()
	n := l.rng.NormFloat64()
	l.mu.Unlock()
	return time.Duration(float64(median) * math.Exp(latencySigma*n) * l.scale)
}

// Scaled is a fixed duration of a real cloud at the configured scale.
func (l *Latency) Scaled(d time.Duration) time.Duration { return time.Duration(float64(d) * l.scale) }

// Spend waits as long as op takes, or until ctx ends.
func (l *Latency) Spend(ctx context.Context, op Operation) error {
	return Sleep(ctx, l.Duration(op))
}

// Sleep waits d or until ctx ends.
func Sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
