package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// go test -bench output as make bench sees it: logs and results of several packages interleaved.
const benchOutput = `goos: linux
goarch: amd64
pkg: github.com/osdr/osdr/recover
cpu: Oxide Virtual Turin-like Processor
BenchmarkDBCleanOf100kVolumes-2   	       1	355513770413 ns/op	        23.11 dbclean_100k_plain_seconds	         1.640 dbclean_100k_ratio	       37.9 dbclean_100k_seconds
--- BENCH: BenchmarkDBCleanOf100kVolumes-2
    mysql.go:91: testenv: MySQL in a container from image osdr/mariadb:local (localhost:32769)
ok  	github.com/osdr/osdr/recover	358.851s
pkg: github.com/osdr/osdr/cmd/osdr
BenchmarkRecovery-2   	       1	35260903633 ns/op	        1.21 recover_1000_ratio_to_bound	         61 sequential_over_osdr
PASS
`

func TestTheBenchTableSetsFiguresBesideTheirBars(t *testing.T) {
	figures, err := readFigures(strings.NewReader(benchOutput))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]float64{"dbclean_100k_plain_seconds": 23.11, "dbclean_100k_ratio": 1.64, "dbclean_100k_seconds": 37.9, "recover_1000_ratio_to_bound": 1.21, "sequential_over_osdr": 61}
	if len(figures) != len(want) {
		t.Fatalf("figures %v, want %v", figures, want)
	}
	for k, v := range want {
		if figures[k] != v {
			t.Errorf("%s = %v, want %v", k, figures[k], v)
		}
	}
	var out bytes.Buffer
	if err := writeTable(&out, figures); err != nil {
		t.Fatalf("every measured figure reached its bar, yet: %v\n%s", err, out.String())
	}
	for _, line := range []string{"recover_1000_ratio_to_bound", "1.21", "≤ 1.3", "ok", "rss_10000_mib", "not measured (BENCH_LARGE=1)", "dbclean_100k_seconds"} {
		if !strings.Contains(out.String(), line) {
			t.Errorf("the table lacks %q:\n%s", line, out.String())
		}
	}

	figures["sequential_over_osdr"] = 12
	out.Reset()
	if err := writeTable(&out, figures); !errors.Is(err, errBarsMissed) || !strings.Contains(err.Error(), "sequential_over_osdr") || !strings.Contains(out.String(), "MISSED") {
		t.Errorf("a figure under its bar: %v\n%s", err, out.String())
	}
}

func TestBenchTableWritesTheFiguresAsJSON(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bench.json")
	cmd := newRootCommand()
	cmd.SetArgs([]string{"bench-table", "--json", path})
	cmd.SetIn(strings.NewReader(benchOutput))
	cmd.SetOut(&bytes.Buffer{})
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]float64
	if err := json.Unmarshal(raw, &got); err != nil || got["sequential_over_osdr"] != 61 {
		t.Errorf("JSON %s: %v", raw, err)
	}
	cmd = newRootCommand()
	cmd.SetArgs([]string{"bench-table"})
	cmd.SetIn(strings.NewReader("PASS\nok  \tgithub.com/osdr/osdr/recover\t0.1s\n"))
	if err := cmd.Execute(); err == nil || !strings.Contains(err.Error(), "no benchmark figures") {
		t.Errorf("no figures: %v", err)
	}
}
