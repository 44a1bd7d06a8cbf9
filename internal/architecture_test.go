package internal

import (
	"encoding/json"
	"errors"
	"io"
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/osdr/osdr/"

// allowedImports is the package graph: data flows one way, cmd → drills → {inject, recover, suites} →
// internal, and the lab (cmd/osdr-lab) → testenv. suites reads recover's evidence (manifests, journals);
// recover never imports inject, drills or suites; no product package imports testenv. A package is matched by
// the longest rule that prefixes it; it may import what its rule lists (prefixes of module paths).
var allowedImports = map[string][]string{
	"cmd/osdr-lab": {"cmd/", "drills", "inject", "recover", "suites", "internal/", "testenv"},
	"cmd/osdr":     {"drills", "inject", "recover", "suites", "internal/"},
	"drills":       {"drills/", "inject", "recover", "suites", "internal/"},
	"recover":      {"internal/"},
	"inject":       {"internal/"},
	"suites":       {"recover", "internal/"},
	"internal/":    {"internal/"},
	"testenv":      {"testenv", "internal/"},
}

func TestPackagesImportOnlyDownTheGraph(t *testing.T) {
	root, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}").Output()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("go", "list", "-json=ImportPath,Imports", "./...")
	cmd.Dir = strings.TrimSpace(string(root))
	out, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(strings.NewReader(string(out)))
	checked := 0
	for {
		var p struct {
			ImportPath string
			Imports    []string
		}
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		pkg := strings.TrimPrefix(p.ImportPath, module)
		if pkg == "internal" {
			continue // this test's own package holds no code
		}
		allowed, rule := rulesFor(pkg)
		if rule == "" {
			t.Errorf("package %s is in no rule of the package graph: add it to allowedImports and the README", pkg)
			continue
		}
		checked++
		for _, imp := range p.Imports {
			if !strings.HasPrefix(imp, module) {
				continue
			}
			dep := strings.TrimPrefix(imp, module)
			if !anyPrefix(dep, allowed) {
				t.Errorf("%s imports %s: the package graph allows %s only %v", pkg, dep, rule, allowed)
			}
		}
	}
	if checked < 10 {
		t.Fatalf("only %d packages checked", checked)
	}
}

func rulesFor(pkg string) ([]string, string) {
	best := ""
	for rule := range allowedImports {
		if (pkg == rule || strings.HasPrefix(pkg, strings.TrimSuffix(rule, "/")+"/") || strings.HasPrefix(pkg, rule)) && len(rule) > len(best) {
			best = rule
		}
	}
	return allowedImports[best], best
}

func anyPrefix(dep string, prefixes []string) bool {
	for _, p := range prefixes {
		if dep == strings.TrimSuffix(p, "/") || strings.HasPrefix(dep, p) || strings.HasPrefix(dep, p+"/") {
			return true
		}
	}
	return false
}
