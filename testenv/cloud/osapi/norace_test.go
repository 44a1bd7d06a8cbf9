//go:build !race

package osapi_test

const raceDetector = false
