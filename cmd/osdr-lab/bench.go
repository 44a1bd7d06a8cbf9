package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"sort"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/perf/benchfmt"
)

// bar is a figure osdr's benchmarks report and what it must reach. The figures are ratios measured side by
// side in one run, never absolute times: the machines are shared and noisy.
type bar struct {
	key   string
	what  string
	most  float64 // the figure must be at most this (NaN: no upper bar)
	least float64 // the figure must be at least this (NaN: no lower bar)
	large bool    // measured only with BENCH_LARGE=1
}

var none = math.NaN()

// bars are the figures make bench is held to, in the order the table lists them.
var bars = []bar{
	{key: "recover_1000_ratio_to_bound", what: "steps 3-5 of 1,000 instances x 2 volumes ÷ their lower bound", most: 1.3, least: none},
	{key: "sequential_over_osdr", what: "the guide's procedure one instance and one step at a time ÷ osdr", most: none, least: 50},
	{key: "inject_ratio_to_bound", what: "power loss of 50 hosts x 20 iSCSI sessions ÷ the slowest host's logouts back to back", most: 1.2, least: none},
	{key: "verify_ratio_to_bound", what: "verify of 1,000 guests ÷ the slowest guest's checks", most: 1.2, least: none},
	{key: "minimal_api_requests_over_guide", what: "--strategy minimal's API requests ÷ the guide's, 1,000 x 2 with 5% stuck", most: 0.5, least: none},
	{key: "minimal_wall_over_guide", what: "--strategy minimal's steps 3-5 ÷ the guide's, same cloud and fault", most: 1, least: none},
	{key: "minimal_rows_reboot_only", what: "database rows the minimal strategy changed for reboot-only instances", most: 0, least: none},
	{key: "minimal_verify_differences", what: "verification results that differ between the two strategies", most: 0, least: none},
	{key: "rss_10000_mib", what: "peak RSS of osdr recover, 10,000 instances x 2 volumes (MiB)", most: 150, least: none, large: true},
	{key: "dbclean_100k_ratio", what: "step 2 of 100,000 volumes ÷ the same statements run plainly", most: 2, least: none, large: true},
	{key: "sim_provision_10000_over_1000", what: "the sim provisioning 10,000 instances ÷ 1,000", most: 12, least: none, large: true},
}

func newBenchTableCommand() *cobra.Command {
	var jsonPath string
	cmd := &cobra.Command{
		Use:   "bench-table",
		Short: "Read `go test -bench` output on stdin; print the table of osdr's figures against their bars",
		Long: `bench-table reads the output of osdr's benchmarks (make bench pipes it in), prints one table of the
figures they reported beside the bar each must reach, and with --json writes every figure as one JSON object.
Exit status 1 when a measured figure misses its bar; a figure not measured (the large ones without
BENCH_LARGE=1) is listed as such and fails nothing.`,
		Example: `  go test -run '^$' -bench . -benchtime 1x ./recover ./cmd/osdr | osdr-lab bench-table --json bench.json`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			figures, err := readFigures(cmd.InOrStdin())
			if err != nil {
				return err
			}
			if jsonPath != "" {
				raw, err := json.MarshalIndent(figures, "", "  ")
				if err != nil {
					return err
				}
				if err := os.WriteFile(jsonPath, append(raw, '\n'), 0o644); err != nil {
					return fmt.Errorf("write %s: %w", jsonPath, err)
				}
			}
			return writeTable(cmd.OutOrStdout(), figures)
		},
	}
	cmd.Flags().StringVar(&jsonPath, "json", "", "also write every figure to this file as one JSON object of numbers")
	return cmd
}

// readFigures collects every custom metric the benchmarks reported (units other than Go's own ns/op, B/op,
// allocs/op), by unit name; a figure reported twice keeps its last value.
func readFigures(r io.Reader) (map[string]float64, error) {
	figures := map[string]float64{}
	reader := benchfmt.NewReader(r, "stdin")
	for reader.Scan() {
		res, ok := reader.Result().(*benchfmt.Result)
		if !ok {
			continue // a syntax error or unit metadata: go test prints logs among results
		}
		for _, v := range res.Values {
			switch v.Unit {
			case "ns/op", "B/op", "allocs/op", "sec/op":
				continue
			}
			figures[v.Unit] = v.Value
		}
	}
	if err := reader.Err(); err != nil {
		return nil, fmt.Errorf("read benchmark output: %w", err)
	}
	if len(figures) == 0 {
		return nil, errors.New("no benchmark figures on stdin: pipe `go test -bench` output in")
	}
	return figures, nil
}

// errBarsMissed makes the command exit 1 once the table is printed.
var errBarsMissed = errors.New("figures missed their bars")

func writeTable(w io.Writer, figures map[string]float64) error {
	fmt.Fprintf(w, "%-34s %12s %10s  %-6s %s\n", "figure", "measured", "bar", "", "what")
	var missed []string
	listed := map[string]bool{}
	for _, b := range bars {
		listed[b.key] = true
		target := ""
		switch {
		case !math.IsNaN(b.most):
			target = fmt.Sprintf("≤ %g", b.most)
		case !math.IsNaN(b.least):
			target = fmt.Sprintf("≥ %g", b.least)
		}
		v, ok := figures[b.key]
		if !ok {
			note := "not measured"
			if b.large {
				note = "not measured (BENCH_LARGE=1)"
			}
			fmt.Fprintf(w, "%-34s %12s %10s  %-6s %s\n", b.key, "-", target, "", b.what+": "+note)
			continue
		}
		verdict := "ok"
		if (!math.IsNaN(b.most) && v > b.most) || (!math.IsNaN(b.least) && v < b.least) {
			verdict = "MISSED"
			missed = append(missed, b.key)
		}
		fmt.Fprintf(w, "%-34s %12.4g %10s  %-6s %s\n", b.key, v, target, verdict, b.what)
	}
	var others []string
	for k := range figures {
		if !listed[k] {
			others = append(others, k)
		}
	}
	sort.Strings(others)
	for _, k := range others {
		fmt.Fprintf(w, "%-34s %12.4g %10s  %-6s %s\n", k, figures[k], "", "", "(reported beside the bars)")
	}
	if len(missed) > 0 {
		return fmt.Errorf("%w: %s", errBarsMissed, strings.Join(missed, ", "))
	}
	return nil
}
