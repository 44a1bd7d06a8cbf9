//go:build race

package cloud

// raceDetector is on: see TestFaultsKeepTheDatabasesConsistent.
const raceDetector = true
