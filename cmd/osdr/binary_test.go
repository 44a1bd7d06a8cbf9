package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The lab's packages and modules: a simulated cloud, a MySQL server, container clients, the test helpers.
// The binary that recovers a real cloud at night carries none of them.
var (
	labModules  = []string{"github.com/testcontainers/", "github.com/moby/", "github.com/docker/", "github.com/dolthub/"}
	labPackages = []string{"testing", "github.com/testcontainers", "github.com/moby", "github.com/docker", "github.com/dolthub", "github.com/osdr/osdr/testenv"}
)

// maxOperatorBinary bounds the operator binary: with the lab linked in it was 92 MB.
const maxOperatorBinary = 40_000_000

// The operator binary, built as `make build` builds it, links nothing of the lab, has no crash switch, and
// stays small.
func TestTheOperatorBinaryCarriesNoTestMachineryAndNoCrashSwitch(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "osdr")
	build := exec.Command("go", "build", "-trimpath", "-o", bin, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build as make build does: %v\n%s", err, out)
	}

	out, err := exec.Command("go", "version", "-m", bin).Output()
	if err != nil {
		t.Fatalf("go version -m: %v", err)
	}
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 || (f[0] != "dep" && f[0] != "=>") {
			continue
		}
		for _, m := range labModules {
			if strings.HasPrefix(f[1], m) {
				t.Errorf("the operator binary links module %s", f[1])
			}
		}
	}

	symbols := nmSymbols(t, bin)
	for _, pkg := range labPackages {
		if got := symbolsOf(symbols, pkg); len(got) > 0 {
			t.Errorf("the operator binary links package %s (%d symbols, e.g. %s)", pkg, len(got), got[0])
		}
	}

	// The crash switch: its hook and even the variable's name exist only in the tests' build, and the same
	// checks find both there.
	raw, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(raw, []byte(envCrashAfter)) {
		t.Errorf("the operator binary contains %s", envCrashAfter)
	}
	if got := symbolsOf(symbols, "main.crashHook"); len(got) > 0 {
		t.Errorf("the operator binary has the crash hook: %v", got)
	}
	testBuild, err := os.ReadFile(osdrBinary)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(testBuild, []byte(envCrashAfter)) || len(symbolsOf(nmSymbols(t, osdrBinary), "main.crashHook")) == 0 {
		t.Errorf("the tests' build (-tags osdr_crashpoints) has no crash switch, so these checks prove nothing")
	}

	if size := len(raw); size > maxOperatorBinary {
		t.Errorf("the operator binary has %d bytes; at most %d", size, maxOperatorBinary)
	} else {
		t.Logf("the operator binary has %d bytes", size)
	}
}

// nmSymbols lists a binary's symbol names.
func nmSymbols(t *testing.T, bin string) []string {
	t.Helper()
	out, err := exec.Command("go", "tool", "nm", bin).Output()
	if err != nil {
		t.Fatalf("go tool nm: %v", err)
	}
	var names []string
	for _, line := range strings.Split(string(out), "\n") {
		// "  address type name", and a name may hold spaces (type:struct { ... }).
		f := strings.Fields(line)
		if len(f) >= 3 {
			names = append(names, strings.Join(f[2:], " "))
		}
	}
	return names
}

// symbolsOf returns the symbols of a package and its subpackages, and the closures of a function.
func symbolsOf(symbols []string, prefix string) []string {
	var got []string
	for _, s := range symbols {
		if strings.HasPrefix(s, prefix+".") || strings.HasPrefix(s, prefix+"/") {
			got = append(got, s)
		}
	}
	return got
}
