package junit

import (
	"encoding/xml"
	"regexp"
	"testing"
	"time"
)

// CI servers reject times in exponent form and keep test history by name: times are plain decimal seconds
// with millisecond precision, and ids live in properties.
func TestTimesArePlainDecimalSeconds(t *testing.T) {
	r := &Report{Name: "osdr", Time: Seconds(56517 * time.Nanosecond)}
	s := Suite{Name: "recovery"}
	s.Add(Case{Name: "instance web recovered", ClassName: "recovery.compute-1", Time: Seconds(109915508 * time.Nanosecond),
		Properties: []Property{{Name: "instance", Value: "6774a0c9-a063-4cbd-aa55-298277b09aba"}}})
	s.Add(Case{Name: "instance db recovered", ClassName: "recovery.compute-1", Time: Seconds(90 * time.Second), Failure: &Message{Message: "guest never answered"}})
	r.Add(s)
	raw, err := r.Encode()
	if err != nil {
		t.Fatal(err)
	}
	times := regexp.MustCompile(`time="([^"]*)"`).FindAllStringSubmatch(string(raw), -1)
	want := []string{"0.000", "90.110", "0.110", "90.000"}
	if len(times) != len(want) {
		t.Fatalf("times %v, want %v in\n%s", times, want, raw)
	}
	for i, m := range times {
		if m[1] != want[i] {
			t.Errorf("time %d = %q, want %q", i, m[1], want[i])
		}
	}
	var back Report
	if err := xml.Unmarshal(raw, &back); err != nil {
		t.Fatal(err)
	}
	if back.Tests != 2 || back.Failures != 1 || back.Suites[0].Cases[0].Properties[0].Value != "6774a0c9-a063-4cbd-aa55-298277b09aba" {
		t.Errorf("read back %+v", back)
	}
}
