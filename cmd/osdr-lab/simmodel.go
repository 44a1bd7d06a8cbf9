package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/osdr/osdr/testenv/cloud"
	"github.com/osdr/osdr/testenv/cloud/model"
	"github.com/osdr/osdr/testenv/sim"
)

// simModelFlags are `osdr-lab sim up`'s flags for the latency model and the API faults.
type simModelFlags struct {
	scale                             float64
	api, reboot, boot, attach, detach time.Duration
	workers, maxLimit                 int
	faults                            []string
}

func (m *simModelFlags) register(fs *pflag.FlagSet) {
	fs.Float64Var(&m.scale, "latency-scale", 0, "how long modelled work takes: 0 is instant (tests), 1 a real cloud; "+
		"every duration below is a real cloud's median, drawn log-normally around it and multiplied by this")
	fs.DurationVar(&m.api, "api-latency", 0, "median time Nova's and Cinder's APIs take to answer a request (0: at once)")
	fs.DurationVar(&m.reboot, "reboot-time", model.Median(model.OpReboot), "median time nova-compute takes to reboot a guest")
	fs.DurationVar(&m.boot, "boot-time", model.Median(model.OpBoot), "median time nova-compute takes to power a guest on (os-start)")
	fs.DurationVar(&m.attach, "attach-time", model.Median(model.OpAttach), "median time nova-compute takes to connect and attach a volume")
	fs.DurationVar(&m.detach, "detach-time", model.Median(model.OpDetach), "median time nova-compute takes to detach and disconnect a volume")
	fs.IntVar(&m.workers, "compute-workers", cloud.DefaultComputeWorkers, "operations each host's nova-compute carries out at once, "+
		"the rest waiting (nova.conf executor_thread_pool_size)")
	fs.IntVar(&m.maxLimit, "max-limit", 1000, "most items one page of a Nova or Cinder listing holds (nova.conf [api] max_limit, "+
		"cinder.conf osapi_max_limit); a full page links to the next, except Cinder's attachments listing, which does not")
	fs.StringArrayVar(&m.faults, "faults", nil, "API faults, repeatable or ';'-separated: OPERATION:KIND=RATE[,KIND=RATE...][,phase=before|after], "+
		"KIND one of 5xx, 500, 503, timeout, drop, RATE a chance per request; OPERATION * for every other one, else one of "+
		strings.Join(model.FaultOperations, ", ")+"; e.g. '*:5xx=0.2,timeout=0.05,drop=0.02'")
}

// apply puts the flags into the simulation's options; seed repeats the fault draws.
func (m *simModelFlags) apply(opts *sim.Options, seed int64) error {
	switch {
	case m.scale < 0:
		return fmt.Errorf("--latency-scale %v: 0 or more", m.scale)
	case m.workers < 1:
		return fmt.Errorf("--compute-workers %d: at least 1", m.workers)
	case m.maxLimit < 1:
		return fmt.Errorf("--max-limit %d: at least 1", m.maxLimit)
	}
	for name, d := range map[string]time.Duration{"--api-latency": m.api, "--reboot-time": m.reboot, "--boot-time": m.boot,
		"--attach-time": m.attach, "--detach-time": m.detach} {
		if d < 0 {
			return fmt.Errorf("%s %v: 0 or more", name, d)
		}
	}
	rules, err := model.ParseFaultRules(strings.Join(m.faults, ";"))
	if err != nil {
		return fmt.Errorf("--faults: %w", err)
	}
	opts.LatencyScale, opts.ComputeWorkers, opts.MaxLimit = m.scale, m.workers, m.maxLimit
	opts.Latencies = map[model.Operation]time.Duration{
		model.OpAPI: m.api, model.OpReboot: m.reboot, model.OpBoot: m.boot, model.OpAttach: m.attach, model.OpDetach: m.detach,
	}
	if len(rules) > 0 {
		opts.Faults = cloud.FaultConfig{Seed: seed, Rules: rules}
	}
	return nil
}
