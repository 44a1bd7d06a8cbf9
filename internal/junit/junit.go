package junit

import (
	"cmp"
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

// Report is a testsuites document. Jenkins' schema gives it no skipped count: its suites carry theirs.
type Report struct {
	XMLName  xml.Name `xml:"testsuites"`
	Name     string   `xml:"name,attr"`
	Tests    int      `xml:"tests,attr"`
	Failures int      `xml:"failures,attr"`
	Time     Seconds  `xml:"time,attr"`
	Suites   []Suite  `xml:"testsuite"`
}

// Suite is one testsuite; Add keeps its counts and properties.
type Suite struct {
	Name      string  `xml:"name,attr"`
	Tests     int     `xml:"tests,attr"`
	Failures  int     `xml:"failures,attr"`
	Skipped   int     `xml:"skipped,attr"`
	Time      Seconds `xml:"time,attr"`
	Timestamp string  `xml:"timestamp,attr,omitempty"`
	// Properties hold the cases' properties, each named "<case name>: <property name>": Jenkins' schema allows
	// properties on a suite only.
	Properties Properties `xml:"properties"`
	Cases      []Case     `xml:"testcase"`
}

// Case is one testcase. Name and ClassName must not change from run to run (CI servers key test history on
// them); ids that do go in Properties.
type Case struct {
	Name       string
	ClassName  string
	Time       Seconds
	Properties []Property
	Failure    *Message
	Skipped    *Message
}

// Property is a name/value pair.
type Property struct {
	Name  string `xml:"name,attr"`
	Value string `xml:"value,attr"`
}

// Properties are a suite's properties. Jenkins' schema refuses an empty properties element, which encoding/xml
// writes for an empty slice even with omitempty.
type Properties []Property

// MarshalXML writes nothing for no properties.
func (ps Properties) MarshalXML(e *xml.Encoder, start xml.StartElement) error {
	if len(ps) == 0 {
		return nil
	}
	return e.EncodeElement(struct {
		Property []Property `xml:"property"`
	}{ps}, start)
}

// Message is a failure or a skip: a one-line message and the full text.
type Message struct {
	Message string `xml:"message,attr"`
	Text    string `xml:",chardata"`
}

// testcase is a case as Jenkins' schema lays it out: a skip before a failure, and a skip is text alone.
type testcase struct {
	Name      string   `xml:"name,attr"`
	ClassName string   `xml:"classname,attr"`
	Time      Seconds  `xml:"time,attr"`
	Skipped   *string  `xml:"skipped"`
	Failure   *Message `xml:"failure"`
}

// MarshalXML writes the case as Jenkins' schema wants it; its properties are written by its suite.
func (c Case) MarshalXML(e *xml.Encoder, start xml.StartElement) error {
	out := testcase{Name: c.Name, ClassName: c.ClassName, Time: c.Time, Failure: c.Failure}
	if c.Skipped != nil {
		reason := cmp.Or(c.Skipped.Text, c.Skipped.Message)
		out.Skipped = &reason
	}
	return e.EncodeElement(out, start)
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
	for _, p := range c.Properties {
		s.Properties = append(s.Properties, Property{Name: c.Name + ": " + p.Name, Value: p.Value})
	}
	s.Cases = append(s.Cases, c)
}

// Add appends a suite to the report and counts it.
func (r *Report) Add(s Suite) {
	r.Tests += s.Tests
	r.Failures += s.Failures
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
