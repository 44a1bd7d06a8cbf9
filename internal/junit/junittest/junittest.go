// Package junittest checks JUnit reports against Jenkins' JUnit schema (testdata/jenkins-junit.xsd) with a
// real XSD validator, xmllint from Debian's libxml2-utils.
package junittest

import (
	"context"
	_ "embed"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/osdr/osdr/internal/testtool"
)

//go:embed testdata/jenkins-junit.xsd
var schema []byte

// Validate fails the test unless the file is a JUnit report Jenkins' schema accepts. Without xmllint the
// test is skipped, except under CI, where it fails.
func Validate(t testing.TB, path string) {
	t.Helper()
	if err := validate(testtool.Path(t, "xmllint", "libxml2-utils"), t.TempDir(), path); err != nil {
		raw, _ := os.ReadFile(path)
		t.Fatalf("%v\n%s", err, raw)
	}
}

// validate runs xmllint on the file with the schema written into dir.
func validate(xmllint, dir, path string) error {
	xsd := filepath.Join(dir, "jenkins-junit.xsd")
	if err := os.WriteFile(xsd, schema, 0o644); err != nil {
		return fmt.Errorf("write the schema: %w", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if out, err := exec.CommandContext(ctx, xmllint, "--noout", "--nonet", "--schema", xsd, path).CombinedOutput(); err != nil {
		return fmt.Errorf("%s does not validate against Jenkins' JUnit schema: %w\n%s", path, err, out)
	}
	return nil
}
