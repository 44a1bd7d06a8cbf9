package drillstest

import (
	"bytes"
	"context"
	"image"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"golang.org/x/net/html"

	"github.com/osdr/osdr/internal/testtool"
)

// ArtifactsEnv names the directory a test run keeps what it rendered in, for a person or CI to look at after
// the run: t.TempDir is gone by then.
const ArtifactsEnv = "OSDR_TEST_ARTIFACTS"

// ArtifactDir is this test's directory of artifacts: $OSDR_TEST_ARTIFACTS/<test>, or
// <temp dir>/osdr-test-artifacts/<test>. A later run of the test writes over its files.
func ArtifactDir(t testing.TB) string {
	t.Helper()
	root := os.Getenv(ArtifactsEnv)
	if root == "" {
		root = filepath.Join(os.TempDir(), "osdr-test-artifacts")
	}
	dir := filepath.Join(root, regexp.MustCompile(`[^A-Za-z0-9_.-]+`).ReplaceAllString(t.Name(), "_"))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// Screenshot opens the file in headless Chromium and returns what it shows in a 1400×900 window. The PNG is
// kept in the test's artifact directory, whose path the test logs. Without Chromium the test is skipped,
// except under CI, where it fails.
func Screenshot(t testing.TB, htmlFile string) image.Image {
	t.Helper()
	shot := filepath.Join(ArtifactDir(t), "screenshot.png")
	chromium(t, htmlFile, "--window-size=1400,900", "--screenshot="+shot)
	t.Logf("screenshot of %s: %s", htmlFile, shot)
	f, err := os.Open(shot)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// DOM opens the file in headless Chromium and returns the document the browser built from it, as a person's
// browser would show it.
func DOM(t testing.TB, htmlFile string) *html.Node {
	t.Helper()
	out := chromium(t, htmlFile, "--dump-dom")
	doc, err := html.Parse(bytes.NewReader(out))
	if err != nil {
		t.Fatalf("parse the DOM Chromium dumped: %v", err)
	}
	return doc
}

// chromium runs headless Chromium on the file and returns what it printed.
func chromium(t testing.TB, htmlFile string, args ...string) []byte {
	t.Helper()
	browser := testtool.Path(t, "chromium", "chromium")
	abs, err := filepath.Abs(htmlFile)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	// Everything that would reach the network or a profile is off: the page must render from the file alone.
	base := []string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync", "--hide-scrollbars",
		"--user-data-dir=" + filepath.Join(t.TempDir(), "profile")}
	cmd := exec.CommandContext(ctx, browser, append(append(base, args...), "file://"+abs)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("chromium %v: %v\n%s", args, err, stderr.Bytes())
	}
	return stdout.Bytes()
}
