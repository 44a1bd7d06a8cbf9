package junit

import (
	"encoding/xml"
	"fmt"
	"os"
	"strconv"
	"time"
)

// Seconds is a duration as JUnit writes it: plain decimal seconds, millisecond precision. Go's XML encoder
// writes a float64 attribute in 'g' format (5.6517e-05), which JUnit readers refuse.
type Seconds time.Duration

// MarshalXMLAttr writes the duration as decimal seconds.
func (s Seconds) MarshalXMLAttr(name xml.Name) (xml.Attr, error) {
	return xml.Attr{Name: name, Value: strconv.FormatFloat(time.Duration(s).Seconds(), 'f', 3, 64)}, nil
}

// UnmarshalXMLAttr reads decimal seconds back.
func (s *Seconds) UnmarshalXMLAttr(attr xml.Attr) error {
	f, err := strconv.ParseFloat(attr.Value, 64)
	if err != nil {
		return fmt.Errorf("time %q: %w", attr.Value, err)
	}
	*s = Seconds(time.Duration(f * float64(time.Second)))
	return nil
}

// Report is a testsuites document.
type Report struct {
	XMLName  xml.Name `xml:"testsuites"`
	Name     string   `xml:"name,attr"`
	Tests    int      `xml:"tests,attr"`
	Failures int      `xml:"failures,attr"`
	Skipped  int      `xml:"skipped,attr"`
	Time     Seconds  `xml:"time,attr"`
	Suites   []Suite  `xml:"testsuite"`
}

// Suite is one testsuite; Add keeps its counts.
type Suite struct {
	Name      string  `xml:"name,attr"`
	Tests     int     `xml:"tests,attr"`
	Failures  int     `xml:"failures,attr"`
	Skipped   int     `xml:"skipped,attr"`
	Time      Seconds `xml:"time,attr"`
	Timestamp string  `xml:"timestamp,attr,omitempty"`
	Cases     []Case  `xml:"testcase"`
}

// Case is one testcase. Name and ClassName must not change from run to run (CI servers key test history on
// them); ids that do go in Properties.
type Case struct {
	Name       string     `xml:"name,attr"`
	ClassName  string     `xml:"classname,attr"`
	Time       Seconds    `xml:"time,attr"`
	Properties []Property `xml:"properties>property,omitempty"`
	Failure    *Message   `xml:"failure,omitempty"`
	Skipped    *Message   `xml:"skipped,omitempty"`
}

// Property is a name/value pair of a case.
type Property struct {
	Name  string `xml:"name,attr"`
	Value string `xml:"value,attr"`
}

// Message is a failure or a skip: a one-line message and the full text.
type Message struct {
	Message string `xml:"message,attr"`
	Text    string `xml:",chardata"`
}

// Add appends a case to the suite and counts it.
func (s *Suite) Add(c Case) {
	s.Tests++
	s.Time += c.Time
	if c.Failure != nil {
		s.Failures++
	}
	if c.Skipped != nil {
		s.Skipped++
	}
	s.Cases = append(s.Cases, c)
}

// Add appends a suite to the report and counts it.
func (r *Report) Add(s Suite) {
	r.Tests += s.Tests
	r.Failures += s.Failures
	r.Skipped += s.Skipped
	r.Suites = append(r.Suites, s)
}

// Encode renders the report with its XML header.
func (r *Report) Encode() ([]byte, error) {
	out, err := xml.MarshalIndent(r, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encode JUnit report: %w", err)
	}
	return append([]byte(xml.Header), append(out, '\n')...), nil
}

// WriteFile writes the report to path.
func (r *Report) WriteFile(path string) error {
	raw, err := r.Encode()
	if err != nil {
		return err
	}
	if err := os.WriteFile(path, raw, 0o644); err != nil {
		return fmt.Errorf("write JUnit report: %w", err)
	}
	return nil
}
