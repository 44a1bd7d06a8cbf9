package suites

import (
	"errors"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

// RunOptions choose what a run checks and where its report goes.
type RunOptions struct {
	// LabelFilter is a Ginkgo label expression over the families, e.g. "attachments && !integrity".
	LabelFilter string
	// JUnitReport, when set, is the path of the JUnit XML report.
	JUnitReport string
	// JSONReport, when set, is the path of Ginkgo's JSON report.
	JSONReport string
	Verbose    bool
	NoColor    bool
}

// failRecorder is the testing.T stand-in RunSpecs needs outside `go test`.
type failRecorder struct{ failed bool }

func (f *failRecorder) Fail() { f.failed = true }

var errAlreadyRan = errors.New("the verification suite runs once per process")

// Run checks target with every selected spec and reports whether all passed. Ginkgo allows one suite run per
// process: `osdr verify` calls it once.
func Run(target *Target, opts RunOptions) (bool, error) {
	if current != nil {
		return false, errAlreadyRan
	}
	if err := target.Validate(); err != nil {
		return false, err
	}
	current = target
	suite, reporter := GinkgoConfiguration()
	suite.LabelFilter = opts.LabelFilter
	suite.FailOnEmpty = true
	suite.FailOnPending = true
	reporter.JUnitReport = opts.JUnitReport
	reporter.JSONReport = opts.JSONReport
	reporter.NoColor = opts.NoColor
	reporter.Verbose = opts.Verbose
	reporter.Succinct = !opts.Verbose
	RegisterFailHandler(Fail)
	t := &failRecorder{}
	passed := RunSpecs(t, "osdr verification", suite, reporter)
	return passed && !t.failed, nil
}
