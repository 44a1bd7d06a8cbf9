//go:build race

package cloud_test

// raceDetector is on: see TestFaultsKeepTheDatabasesConsistent.
const raceDetector = true
