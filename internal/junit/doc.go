// Package junit writes JUnit XML reports the way CI servers read them, valid against Jenkins' JUnit schema
// (junittest/testdata/jenkins-junit.xsd), the strictest of them: suites of test cases with failures and
// skips, times in plain decimal seconds with millisecond precision, stable case names, and the ids that
// change from run to run in the suite's properties.
package junit
