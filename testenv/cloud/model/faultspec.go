package model

import (
	"fmt"
	"strconv"
	"strings"
)

// ParseFaultRules reads fault rules as `osdr-lab sim up --faults` takes them: rules separated by ";", each an
// operation (FaultOperations, or * for every other one), a colon, and comma-separated KIND=RATE pairs, where KIND
// is 500, 503, 5xx (its rate split evenly between 500 and 503), timeout or drop, and RATE a chance per request
// from 0 to 1; phase=before or phase=after restricts when the faults strike (default: either). Example:
// '*:5xx=0.2,timeout=0.05,drop=0.02;reboot:drop=0.5,phase=after'. An error names the part it could not read.
func ParseFaultRules(spec string) (map[string]FaultRule, error) {
	rules := map[string]FaultRule{}
	for part := range strings.SplitSeq(spec, ";") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		op, pairs, ok := strings.Cut(part, ":")
		op = strings.TrimSpace(op)
		if !ok || op == "" || strings.TrimSpace(pairs) == "" {
			return nil, fmt.Errorf("%q: want OPERATION:KIND=RATE[,KIND=RATE...]", part)
		}
		if _, dup := rules[op]; dup {
			return nil, fmt.Errorf("%q: operation %s has a rule already", part, op)
		}
		rule := FaultRule{KindRates: map[FaultKind]float64{}}
		for pair := range strings.SplitSeq(pairs, ",") {
			key, value, ok := strings.Cut(strings.TrimSpace(pair), "=")
			if !ok {
				return nil, fmt.Errorf("%q: %q is not KIND=RATE", part, pair)
			}
			if key == "phase" {
				phase := FaultPhase(value)
				if phase != FaultBefore && phase != FaultAfter {
					return nil, fmt.Errorf("%q: phase %q is neither before nor after", part, value)
				}
				rule.Phases = []FaultPhase{phase}
				continue
			}
			rate, err := strconv.ParseFloat(value, 64)
			if err != nil || rate < 0 || rate > 1 {
				return nil, fmt.Errorf("%q: rate %q of %s is not a number from 0 to 1", part, value, key)
			}
			var kinds []FaultKind
			switch key {
			case "5xx":
				kinds, rate = []FaultKind{FaultServerError, FaultUnavailable}, rate/2
			case string(FaultServerError), string(FaultUnavailable), string(FaultTimeout), string(FaultDrop):
				kinds = []FaultKind{FaultKind(key)}
			default:
				return nil, fmt.Errorf("%q: unknown kind %q (known: 5xx, 500, 503, timeout, drop, phase)", part, key)
			}
			for _, k := range kinds {
				rule.KindRates[k] += rate
			}
		}
		if len(rule.KindRates) == 0 {
			return nil, fmt.Errorf("%q: no KIND=RATE", part)
		}
		rules[op] = rule
		if err := (FaultConfig{Rules: map[string]FaultRule{op: rule}}).Validate(); err != nil {
			return nil, fmt.Errorf("%q: %w", part, err)
		}
	}
	return rules, nil
}
