// Package testtool finds the command-line tools some tests drive (headless Chromium, xmllint,
// systemd-analyze). A developer without one sees the test skipped with the Debian package to install; CI
// (CI=true) must have them all, so there a missing tool fails the test instead of hiding it.
package testtool

import (
	"os"
	"os/exec"
	"testing"
)

// Path returns the path of the named command, or skips the test (fails it under CI) naming the Debian
// package that provides it.
func Path(t testing.TB, command, debianPackage string) string {
	t.Helper()
	path, err := exec.LookPath(command)
	if err == nil {
		return path
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s is not installed: CI must install Debian's %s package", command, debianPackage)
	}
	t.Skipf("needs %s: apt-get install %s", command, debianPackage)
	return ""
}
