// Package junit writes JUnit XML reports the way CI servers read them (Jenkins' JUnit plugin, GitLab, GitHub
// actions): suites of test cases with failures and skips, times in plain decimal seconds with millisecond
// precision, and stable case names with changing ids kept in properties.
package junit
