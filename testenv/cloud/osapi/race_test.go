//go:build race

package osapi_test

// raceDetector is on: see TestFaultPhases.
const raceDetector = true
