package model

import (
	"maps"
	"slices"
	"strings"
	"testing"
)

func TestParseFaultRules(t *testing.T) {
	for _, tc := range []struct {
		spec string
		want map[string]FaultRule
	}{
		{"", map[string]FaultRule{}},
		{"*:5xx=0.2,timeout=0.05,drop=0.02", map[string]FaultRule{"*": {KindRates: map[FaultKind]float64{
			FaultServerError: 0.1, FaultUnavailable: 0.1, FaultTimeout: 0.05, FaultDrop: 0.02}}}},
		{" reboot : drop=0.5 , phase=after ; list_servers:503=1", map[string]FaultRule{
			"reboot":       {KindRates: map[FaultKind]float64{FaultDrop: 0.5}, Phases: []FaultPhase{FaultAfter}},
			"list_servers": {KindRates: map[FaultKind]float64{FaultUnavailable: 1}},
		}},
		{"os-start:500=0.1,5xx=0.2;", map[string]FaultRule{"os-start": {KindRates: map[FaultKind]float64{
			FaultServerError: 0.2, FaultUnavailable: 0.1}}}},
	} {
		got, err := ParseFaultRules(tc.spec)
		if err != nil {
			t.Errorf("%q: %v", tc.spec, err)
			continue
		}
		same := maps.EqualFunc(got, tc.want, func(a, b FaultRule) bool {
			return maps.EqualFunc(a.KindRates, b.KindRates, func(x, y float64) bool { return x-y < 1e-12 && y-x < 1e-12 }) &&
				slices.Equal(a.Phases, b.Phases) && a.Rate == b.Rate && a.Kinds == nil
		})
		if !same {
			t.Errorf("%q: %+v, want %+v", tc.spec, got, tc.want)
		}
	}
}

// Every malformed rule is refused with the part that is wrong and why.
func TestParseFaultRulesNamesTheBadPart(t *testing.T) {
	for _, tc := range []struct{ spec, want string }{
		{"5xx=0.2", `"5xx=0.2": want OPERATION:KIND=RATE`},
		{"*:", `"*:": want OPERATION:KIND=RATE`},
		{":drop=0.1", `":drop=0.1": want OPERATION:KIND=RATE`},
		{"*:drop", `"*:drop": "drop" is not KIND=RATE`},
		{"*:drop=often", `"*:drop=often": rate "often" of drop is not a number from 0 to 1`},
		{"*:drop=1.5", `"*:drop=1.5": rate "1.5" of drop is not a number from 0 to 1`},
		{"*:drop=-0.1", `"*:drop=-0.1": rate "-0.1" of drop is not a number from 0 to 1`},
		{"*:404=0.1", `"*:404=0.1": unknown kind "404"`},
		{"*:phase=during,drop=0.1", `"*:phase=during,drop=0.1": phase "during" is neither before nor after`},
		{"*:phase=after", `"*:phase=after": no KIND=RATE`},
		{"reboots:drop=0.1", `"reboots:drop=0.1": fault rule reboots: unknown operation`},
		{"*:drop=0.6,timeout=0.6", `"*:drop=0.6,timeout=0.6": fault rule *: the kinds' rates add up to 1.2, more than 1`},
		{"*:drop=0.1;*:timeout=0.1", `"*:timeout=0.1": operation * has a rule already`},
	} {
		_, err := ParseFaultRules(tc.spec)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v, want %s", tc.spec, err, tc.want)
		}
	}
}

// Kinds drawn at their own rates: over many requests each kind fails about as often as its rate says, one seed
// repeats the draws, and requests not drawn go through.
func TestKindRatesDrawEachKindAtItsRate(t *testing.T) {
	rules, err := ParseFaultRules("*:5xx=0.2,timeout=0.05,drop=0.02")
	if err != nil {
		t.Fatal(err)
	}
	draw := func() map[FaultKind]int {
		f := NewFaults()
		f.Set(FaultConfig{Seed: 3, Rules: rules})
		n := map[FaultKind]int{}
		for range 100000 {
			n[f.Draw("show_server").Kind]++
		}
		return n
	}
	got := draw()
	if !maps.Equal(got, draw()) {
		t.Error("one seed drew differently")
	}
	for kind, rate := range map[FaultKind]float64{FaultServerError: 0.1, FaultUnavailable: 0.1, FaultTimeout: 0.05, FaultDrop: 0.02, "": 0.73} {
		if share := float64(got[kind]) / 100000; share < rate*0.9 || share > rate*1.1 {
			t.Errorf("kind %q: %.4f of requests, want about %v", kind, share, rate)
		}
	}
}
