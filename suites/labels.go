package suites

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/onsi/ginkgo/v2/types"
)

// labelWords are the words of a label expression that name labels: what is left without its operators,
// parentheses and /regular expressions/.
var labelWords = regexp.MustCompile(`/[^/]*/|[^\s&|!(),/]+`)

// ParseLabels reads a label expression over the check families with Ginkgo's own parser, so `osdr verify
// --label-filter`, a drill's verification.labels and `ginkgo --label-filter` select the same checks. It
// refuses what would silently check less: a word that is no family's label (a typo) and an expression that
// selects no family. The empty expression selects every check.
func ParseLabels(expr string) (func(labels []string) bool, error) {
	if expr == "" {
		return func([]string) bool { return true }, nil
	}
	filter, err := types.ParseLabelFilter(expr)
	if err != nil {
		return nil, fmt.Errorf("%q is not a label expression: %s", expr, ginkgoReason(err))
	}
	for _, w := range labelWords.FindAllString(expr, -1) {
		if !strings.HasPrefix(w, "/") && !slices.Contains(families, strings.ToLower(w)) {
			return nil, fmt.Errorf("%q is not a label; the checks' labels are %s", w, strings.Join(families, ", "))
		}
	}
	if !slices.ContainsFunc(families, func(f string) bool { return filter([]string{f}) }) {
		return nil, fmt.Errorf("%q selects none of the checks (%s)", expr, strings.Join(families, ", "))
	}
	return func(labels []string) bool { return filter(labels) }, nil
}

// ginkgoMarkup is the terminal markup ({{red}}, {{/}}) in Ginkgo's error messages.
var ginkgoMarkup = regexp.MustCompile(`\{\{[^}]*\}\}`)

// ginkgoReason is the reason of Ginkgo's label syntax error as one plain line, with where in the expression
// Ginkgo marked it. Ginkgo writes the error for a terminal: a heading, the expression with the offending
// character highlighted in colour, the reason and a link; none of that belongs in a log or a JSON result.
func ginkgoReason(err error) string {
	var ge types.GinkgoError
	if !errors.As(err, &ge) {
		return err.Error()
	}
	marked, reason, found := strings.Cut(ge.Message, "\n")
	if !found {
		return ginkgoMarkup.ReplaceAllString(ge.Message, "")
	}
	if at := strings.Index(marked, "{{"); at >= 0 {
		return fmt.Sprintf("%s (at character %d)", reason, at+1)
	}
	return reason
}
