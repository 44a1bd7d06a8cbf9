package junit_test

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/osdr/osdr/internal/junit"
	"github.com/osdr/osdr/internal/junit/junittest"
)

func sample() *junit.Report {
	r := &junit.Report{Name: "osdr", Time: junit.Seconds(56517 * time.Nanosecond)}
	s := junit.Suite{Name: "recovery", Timestamp: "2026-11-25T03:00:00Z"}
	s.Add(junit.Case{Name: "instance web recovered", ClassName: "recovery.compute-1", Time: junit.Seconds(109915508 * time.Nanosecond),
		Properties: []junit.Property{{Name: "instance", Value: "6774a0c9-a063-4cbd-aa55-298277b09aba"}}})
	s.Add(junit.Case{Name: "instance db recovered", ClassName: "recovery.compute-1", Time: junit.Seconds(90 * time.Second),
		Failure: &junit.Message{Message: "guest never answered", Text: "guest never answered\n<after 90s> & gave up"}})
	s.Add(junit.Case{Name: "instance cache recovered", ClassName: "recovery.compute-1", Skipped: &junit.Message{Message: "excluded by --exclude"}})
	r.Add(s)
	r.Add(junit.Suite{Name: "nothing to check"})
	return r
}

// CI servers reject times in exponent form: times are plain decimal seconds with millisecond precision.
func TestTimesArePlainDecimalSeconds(t *testing.T) {
	raw, err := sample().Encode()
	if err != nil {
		t.Fatal(err)
	}
	times := regexp.MustCompile(`time="([^"]*)"`).FindAllStringSubmatch(string(raw), -1)
	want := []string{"0.000", "90.110", "0.110", "90.000", "0.000", "0.000"}
	if len(times) != len(want) {
		t.Fatalf("times %v, want %v in\n%s", times, want, raw)
	}
	for i, m := range times {
		if m[1] != want[i] {
			t.Errorf("time %d = %q, want %q", i, m[1], want[i])
		}
	}
}

// Jenkins' schema is the strictest JUnit reader: properties only on suites, a skip as text alone, no
// skipped count on the document. Every report validates against it.
func TestReportsValidateAgainstJenkinsSchema(t *testing.T) {
	path := filepath.Join(t.TempDir(), "junit.xml")
	if err := sample().WriteFile(path); err != nil {
		t.Fatal(err)
	}
	junittest.Validate(t, path)
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`<testsuites name="osdr" tests="3" failures="1" time="0.000">`,
		`<testsuite name="recovery" tests="3" failures="1" skipped="1" time="90.110" timestamp="2026-11-25T03:00:00Z">`,
		`<property name="instance web recovered: instance" value="6774a0c9-a063-4cbd-aa55-298277b09aba"></property>`,
		`<failure message="guest never answered">guest never answered&#xA;&lt;after 90s&gt; &amp; gave up</failure>`,
		`<skipped>excluded by --exclude</skipped>`,
	} {
		if !strings.Contains(string(raw), want) {
			t.Errorf("the report lacks %s:\n%s", want, raw)
		}
	}
}
