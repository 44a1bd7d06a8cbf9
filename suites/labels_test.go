package suites

import (
	"strings"
	"testing"
)

func TestLabelExpressionsSelectFamiliesOrSayPlainlyWhyNot(t *testing.T) {
	for _, tc := range []struct {
		expr    string
		selects []string // families the expression selects
		err     string   // what the error says, when it is refused
	}{
		{expr: "", selects: families},
		{expr: "attachments && !integrity", selects: []string{LabelAttachments}},
		{expr: "states || reachability", selects: []string{LabelStates, LabelReachability}},
		{expr: "!integrity", selects: []string{LabelAttachments, LabelStates, LabelReachability}},
		{expr: "/^reach/", selects: []string{LabelReachability}},
		{expr: "ATTACHMENTS", selects: []string{LabelAttachments}},
		{expr: "attachment", err: `"attachment" is not a label; the checks' labels are attachments, states, reachability, integrity`},
		{expr: "states && !states", err: "selects none of the checks"},
		{expr: "states &&& (", err: "is not a label expression"},
		{expr: "(states", err: "is not a label expression"},
	} {
		t.Run(tc.expr, func(t *testing.T) {
			filter, err := ParseLabels(tc.expr)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("ParseLabels(%q) = %v, want an error saying %q", tc.expr, err, tc.err)
				}
				// The error goes to logs and JSON results: one plain line, no terminal markup.
				if msg := err.Error(); strings.ContainsAny(msg, "\n\x1b") || strings.Contains(msg, "{{") {
					t.Errorf("the error is not one plain line: %q", msg)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseLabels(%q): %v", tc.expr, err)
			}
			var got []string
			for _, f := range families {
				if filter([]string{f}) {
					got = append(got, f)
				}
			}
			if strings.Join(got, ",") != strings.Join(tc.selects, ",") {
				t.Errorf("ParseLabels(%q) selects %v, want %v", tc.expr, got, tc.selects)
			}
		})
	}
}
