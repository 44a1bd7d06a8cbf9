package junittest

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/osdr/osdr/internal/testtool"
)

// The schema is only worth checking against if it refuses what Jenkins refuses: the shapes osdr wrote
// before its reports were validated.
func TestTheSchemaRefusesWhatJenkinsRefuses(t *testing.T) {
	xmllint := testtool.Path(t, "xmllint", "libxml2-utils")
	for _, tc := range []struct {
		name, doc, refusal string
	}{
		{"valid", `<testsuites name="osdr" tests="2" failures="1" time="1.000">
  <testsuite name="s" tests="2" failures="1" skipped="0" time="1.000" timestamp="2026-11-25T03:00:00Z">
    <properties><property name="c: instance" value="6774a0c9"/></properties>
    <testcase name="c" classname="k" time="1.000"><failure message="m">details</failure></testcase>
    <testcase name="d" classname="k" time="0.000"><skipped>why</skipped></testcase>
  </testsuite>
</testsuites>`, ""},
		{"a skipped count on the document", `<testsuites skipped="1"/>`, "attribute 'skipped'"},
		{"properties on a case", `<testsuites><testsuite name="s" tests="1"><testcase name="c"><properties><property name="a" value="b"/></properties></testcase></testsuite></testsuites>`, "'properties': This element is not expected"},
		{"a skip with a message attribute", `<testsuites><testsuite name="s" tests="1"><testcase name="c"><skipped message="m"/></testcase></testsuite></testsuites>`, "attribute 'message'"},
		{"an empty properties element", `<testsuites><testsuite name="s" tests="0"><properties/></testsuite></testsuites>`, "Missing child element"},
		{"a suite without its test count", `<testsuites><testsuite name="s"/></testsuites>`, "attribute 'tests' is required"},
		{"a failure before a skip", `<testsuites><testsuite name="s" tests="1"><testcase name="c"><failure/><skipped/></testcase></testsuite></testsuites>`, "'skipped': This element is not expected"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "junit.xml")
			if err := os.WriteFile(path, []byte(tc.doc), 0o644); err != nil {
				t.Fatal(err)
			}
			err := validate(xmllint, dir, path)
			switch {
			case tc.refusal == "" && err != nil:
				t.Errorf("refused: %v", err)
			case tc.refusal != "" && (err == nil || !strings.Contains(err.Error(), tc.refusal)):
				t.Errorf("err = %v, want a refusal saying %q", err, tc.refusal)
			}
		})
	}
}
