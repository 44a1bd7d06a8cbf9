package model

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"
)

// FaultKind is how an injected failure looks to the client.
type FaultKind string

const (
	// FaultServerError answers 500 with the service's own internal-error body.
	FaultServerError FaultKind = "500"
	// FaultUnavailable answers 503 with the service's serviceUnavailable body.
	FaultUnavailable FaultKind = "503"
	// FaultTimeout holds the request without answering until the client gives up (or FaultConfig.Hang has
	// passed), then closes the connection.
	FaultTimeout FaultKind = "timeout"
	// FaultDrop closes the connection without an answer.
	FaultDrop FaultKind = "drop"
)

// FaultPhase is when a fault strikes, which decides what the cloud did with the request.
type FaultPhase string

const (
	// FaultBefore strikes before the service processes the request: nothing changed, nothing was cast.
	FaultBefore FaultPhase = "before"
	// FaultAfter strikes once the service processed the request: every change committed and every cast made
	// (the compute host carries it out), but the answer is lost — what a client sees when a proxy or the
	// connection fails on the way back.
	FaultAfter FaultPhase = "after"
)

// FaultRule is how often one operation fails and how.
type FaultRule struct {
	Rate  float64     // chance per request, 0 to 1
	Kinds []FaultKind // drawn uniformly; empty means every kind
	// KindRates, instead of Rate and Kinds, gives each kind its own chance per request (together at most 1):
	// what `osdr-lab sim up --faults '*:5xx=0.2,timeout=0.05'` says.
	KindRates map[FaultKind]float64
	Phases    []FaultPhase // drawn uniformly; empty means both
}

// FaultOperations are the operations a fault rule can name: the names the audit log records for mutating calls,
// then the reads.
var FaultOperations = []string{
	"reboot", "os-start", "os-stop", "attach_volume", "detach_volume", "os-reset_status", "os-force_detach",
	"attachment_create", "attachment_update", "attachment_delete", "os-complete",
	"list_servers", "show_server", "list_volume_attachments", "show_volume_attachment", "list_volumes", "show_volume",
	"list_attachments", "show_attachment", "list_services", "list_flavors", "show_flavor", "list_instance_actions",
	"show_instance_action", "versions",
}

// FaultConfig switches fault injection on (or, empty, off). Rules are keyed by operation (FaultOperations); "*"
// applies to every operation without a rule of its own. Keystone never fails.
type FaultConfig struct {
	Seed  int64 // the draws repeat for one seed and one order of requests
	Rules map[string]FaultRule
	// Hang bounds a FaultTimeout; zero means two minutes.
	Hang time.Duration
}

var (
	allFaultKinds  = []FaultKind{FaultServerError, FaultUnavailable, FaultTimeout, FaultDrop}
	allFaultPhases = []FaultPhase{FaultBefore, FaultAfter}
)

// Validate refuses rules that cannot be drawn from.
func (fc FaultConfig) Validate() error {
	for op, r := range fc.Rules {
		if op != "*" && !slices.Contains(FaultOperations, op) {
			return fmt.Errorf("fault rule %s: unknown operation (known: *, %s)", op, strings.Join(FaultOperations, ", "))
		}
		if r.Rate < 0 || r.Rate > 1 {
			return fmt.Errorf("fault rule %s: rate %v is not between 0 and 1", op, r.Rate)
		}
		for _, k := range r.Kinds {
			if !slices.Contains(allFaultKinds, k) {
				return fmt.Errorf("fault rule %s: unknown kind %q", op, k)
			}
		}
		if len(r.KindRates) > 0 && (r.Rate != 0 || len(r.Kinds) > 0) {
			return fmt.Errorf("fault rule %s: kind rates replace the rate and kinds, not both", op)
		}
		sum := 0.0
		for k, rate := range r.KindRates {
			if !slices.Contains(allFaultKinds, k) {
				return fmt.Errorf("fault rule %s: unknown kind %q", op, k)
			}
			if rate < 0 || rate > 1 {
				return fmt.Errorf("fault rule %s: rate %v of %s is not between 0 and 1", op, rate, k)
			}
			sum += rate
		}
		if sum > 1+1e-9 {
			return fmt.Errorf("fault rule %s: the kinds' rates add up to %v, more than 1", op, sum)
		}
		for _, p := range r.Phases {
			if !slices.Contains(allFaultPhases, p) {
				return fmt.Errorf("fault rule %s: unknown phase %q", op, p)
			}
		}
	}
	if fc.Hang < 0 {
		return fmt.Errorf("fault hang %v is negative", fc.Hang)
	}
	return nil
}

// Fault is the draw for one request; the zero value means none.
type Fault struct {
	Kind  FaultKind
	Phase FaultPhase
}

func (f Fault) String() string {
	if f.Kind == "" {
		return ""
	}
	return string(f.Phase) + " " + string(f.Kind)
}

// Status is what the client is answered, 0 when it gets no answer at all.
func (f Fault) Status() int {
	switch f.Kind {
	case FaultServerError:
		return http.StatusInternalServerError
	case FaultUnavailable:
		return http.StatusServiceUnavailable
	}
	return 0
}

// Faults draws, request by request, which fail under the current FaultConfig; it is safe for concurrent use.
type Faults struct {
	mu  sync.Mutex
	cfg FaultConfig
	rng *rand.Rand
}

// NewFaults returns Faults with injection off.
func NewFaults() *Faults {
	f := &Faults{}
	f.Set(FaultConfig{})
	return f
}

// Set replaces the rules and restarts the draws from the config's seed.
func (fi *Faults) Set(fc FaultConfig) {
	fi.mu.Lock()
	defer fi.mu.Unlock()
	fi.cfg = fc
	fi.rng = rand.New(rand.NewPCG(uint64(fc.Seed), 0xfa17))
}

// Hang is how long a FaultTimeout holds its request.
func (fi *Faults) Hang() time.Duration {
	fi.mu.Lock()
	defer fi.mu.Unlock()
	if fi.cfg.Hang == 0 {
		return 2 * time.Minute
	}
	return fi.cfg.Hang
}

// Draw decides whether the request for op fails, and how.
func (fi *Faults) Draw(op string) Fault {
	fi.mu.Lock()
	defer fi.mu.Unlock()
	rule, ok := fi.cfg.Rules[op]
	if !ok {
		rule, ok = fi.cfg.Rules["*"]
	}
	if !ok {
		return Fault{}
	}
	var kind FaultKind
	if len(rule.KindRates) > 0 {
		// One draw against the kinds' rates laid end to end, in a fixed order so one seed repeats.
		u, at := fi.rng.Float64(), 0.0
		for _, k := range allFaultKinds {
			at += rule.KindRates[k]
			if u < at {
				kind = k
				break
			}
		}
	} else if rule.Rate > 0 && fi.rng.Float64() < rule.Rate {
		kinds := rule.Kinds
		if len(kinds) == 0 {
			kinds = allFaultKinds
		}
		kind = kinds[fi.rng.IntN(len(kinds))]
	}
	if kind == "" {
		return Fault{}
	}
	phases := rule.Phases
	if len(phases) == 0 {
		phases = allFaultPhases
	}
	return Fault{Kind: kind, Phase: phases[fi.rng.IntN(len(phases))]}
}
