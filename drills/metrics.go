package drills

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/push"

	"github.com/osdr/osdr/internal/version"
)

// metrics builds the drill's Prometheus metrics: success, recovery time overall and per phase, when each phase
// started (Prometheus sorts series by label, so a dashboard orders the phases by it), instances by outcome,
// and which osdr wrote them. One registry per report, so a scheduled process never mixes runs. A Pushgateway adds the drill
// label from its grouping key, so pushed metrics must not carry it themselves.
func (r *Report) metrics(drillLabel bool) *prometheus.Registry {
	reg := prometheus.NewRegistry()
	var labels prometheus.Labels
	if drillLabel {
		labels = prometheus.Labels{"drill": r.Drill}
	}
	gauge := func(name, help string) prometheus.Gauge {
		g := prometheus.NewGauge(prometheus.GaugeOpts{Name: name, Help: help, ConstLabels: labels})
		reg.MustRegister(g)
		return g
	}
	success := 0.0
	if r.Outcome == OutcomePassed {
		success = 1
	}
	gauge("osdr_drill_success", "1 if the last drill broke, recovered and verified the cloud, else 0.").Set(success)
	gauge("osdr_drill_last_run_timestamp_seconds", "When the last drill finished.").Set(float64(r.Finished.Unix()))
	gauge("osdr_drill_duration_seconds", "How long the last drill took, end to end.").Set(r.Finished.Sub(r.Started).Seconds())
	gauge("osdr_drill_recovery_seconds", "Recovery time of the last drill: from the start of the recovery until the last instance recovered.").Set(r.RecoverySeconds)

	build := version.Get()
	info := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "osdr_build_info", Help: "The build of osdr that ran the last drill: always 1.", ConstLabels: labels},
		[]string{"version", "commit", "go_version"})
	reg.MustRegister(info)
	info.WithLabelValues(build.Version, build.Commit, build.GoVersion).Set(1)

	phases := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "osdr_drill_phase_seconds", Help: "Duration of each drill phase.", ConstLabels: labels}, []string{"phase"})
	started := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "osdr_drill_phase_started_timestamp_seconds", Help: "When each drill phase first started.", ConstLabels: labels}, []string{"phase"})
	reg.MustRegister(phases, started)
	seen := map[string]bool{}
	for _, p := range r.phasesInRunOrder() {
		phases.WithLabelValues(p.Name).Add(p.Finished.Sub(p.Started).Seconds())
		if !seen[p.Name] {
			seen[p.Name] = true
			started.WithLabelValues(p.Name).Set(float64(p.Started.UnixMilli()) / 1000)
		}
	}
	steps := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "osdr_drill_step_max_seconds", Help: "Longest time any instance spent in each recovery step.", ConstLabels: labels}, []string{"step"})
	reg.MustRegister(steps)
	longest := map[string]float64{}
	for _, in := range r.Instances {
		for step, s := range in.StepSeconds {
			longest[step] = max(longest[step], s)
		}
	}
	for step, s := range longest {
		steps.WithLabelValues(step).Set(s)
	}
	instances := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "osdr_drill_instances", Help: "Instances of the last drill by outcome.", ConstLabels: labels}, []string{"outcome"})
	reg.MustRegister(instances)
	for _, outcome := range []string{"recovered", "failed", "excluded"} {
		instances.WithLabelValues(outcome)
	}
	for _, in := range r.Instances {
		instances.WithLabelValues(in.Outcome).Inc()
	}
	if len(r.Strategies) > 0 {
		strategy := func(name, help string) *prometheus.GaugeVec {
			g := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: name, Help: help, ConstLabels: labels}, []string{"strategy"})
			reg.MustRegister(g)
			return g
		}
		success := strategy("osdr_drill_strategy_success", "1 if the strategy's round recovered and verified the cloud, else 0.")
		seconds := strategy("osdr_drill_strategy_recovery_seconds", "How long the strategy's recovery took.")
		requests := strategy("osdr_drill_strategy_api_requests", "API requests the strategy's recovery sent.")
		rows := strategy("osdr_drill_strategy_db_rows_changed", "Database rows the strategy's recovery changed.")
		reboots := strategy("osdr_drill_strategy_hard_reboots", "HARD reboots the strategy's recovery requested.")
		guests := strategy("osdr_drill_strategy_guest_reboots", "Guests the strategy's recovery rebooted from inside.")
		failed := strategy("osdr_drill_strategy_checks_failed", "Verification checks that failed after the strategy's recovery.")
		for _, st := range r.Strategies {
			ok := 0.0
			if st.Outcome == OutcomePassed {
				ok = 1
			}
			success.WithLabelValues(st.Strategy).Set(ok)
			seconds.WithLabelValues(st.Strategy).Set(st.RecoverySeconds)
			requests.WithLabelValues(st.Strategy).Set(float64(st.Cost.APIRequests.Total()))
			rows.WithLabelValues(st.Strategy).Set(float64(st.Cost.DBRowsChanged))
			reboots.WithLabelValues(st.Strategy).Set(float64(st.Cost.HardReboots))
			guests.WithLabelValues(st.Strategy).Set(float64(st.Cost.GuestReboots))
			failed.WithLabelValues(st.Strategy).Set(float64(len(st.ChecksFailed)))
		}
	}
	return reg
}

// WriteMetrics writes the metrics in the text format to path, atomically, as node_exporter's textfile
// collector requires.
func (r *Report) WriteMetrics(path string) error {
	if err := prometheus.WriteToTextfile(path, r.metrics(true)); err != nil {
		return fmt.Errorf("write metrics to %s: %w", path, err)
	}
	return nil
}

// PushMetrics sends the metrics to a Pushgateway, grouped by drill.
func (r *Report) PushMetrics(ctx context.Context, url string) error {
	client := &http.Client{Timeout: 30 * time.Second}
	err := push.New(url, "osdr_drill").Grouping("drill", r.Drill).Gatherer(r.metrics(false)).Client(client).PushContext(ctx)
	if err != nil {
		return fmt.Errorf("push metrics to %s: %w", url, err)
	}
	return nil
}
