package main

// envCrashAfter names the journal entry after which a test build of osdr kills itself as `kill -9` would, for
// the tests that prove a recovery resumes from any point. Only a binary built with the osdr_crashpoints tag
// reads it (crashpoint_on.go): an operator's binary has no switch that an environment variable can throw in
// the middle of a real recovery, and since nothing in its build uses this constant it does not even carry
// the name (binary_test.go checks both).
const envCrashAfter = "OSDR_TEST_CRASH_AFTER_JOURNAL_ENTRY"
