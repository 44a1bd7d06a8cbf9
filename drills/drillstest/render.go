package drillstest

import (
	"context"
	"image"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// Screenshot opens the file in headless Chromium and returns what it shows in a 1400×900 window. Without
// Chromium the test is skipped, except under CI, where it fails.
func Screenshot(t testing.TB, htmlFile string) image.Image {
	t.Helper()
	browser, err := exec.LookPath("chromium")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("chromium is not installed")
		}
		t.Skip("needs Debian's chromium package")
	}
	dir := t.TempDir()
	shot := filepath.Join(dir, "screenshot.png")
	abs, err := filepath.Abs(htmlFile)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	// Everything that would reach the network or a profile is off: the page must render from the file alone.
	cmd := exec.CommandContext(ctx, browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync", "--hide-scrollbars",
		"--user-data-dir="+filepath.Join(dir, "profile"), "--window-size=1400,900", "--screenshot="+shot,
		"file://"+abs)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("chromium: %v\n%s", err, out)
	}
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

// TimelinePixels counts, per phase, the pixels of the timeline's bars in a screenshot: the report draws them
// at 90% opacity on the timeline's #f6f8fa, so reboot's #0969da shows as (33,119,221) and reattach's #1f883d as
// (52,147,80). The legend's swatches are opaque and do not count.
func TimelinePixels(img image.Image) map[string]int {
	return map[string]int{
		"reboot":   pixels(img, 33, 119, 221),
		"reattach": pixels(img, 52, 147, 80),
	}
}

// pixels counts the pixels within 8 of the colour on every channel.
func pixels(img image.Image, r, g, b uint8) int {
	near := func(got uint32, want uint8) bool {
		got >>= 8
		return got+8 >= uint32(want) && got <= uint32(want)+8
	}
	n := 0
	bounds := img.Bounds()
	for y := bounds.Min.Y; y < bounds.Max.Y; y++ {
		for x := bounds.Min.X; x < bounds.Max.X; x++ {
			pr, pg, pb, _ := img.At(x, y).RGBA()
			if near(pr, r) && near(pg, g) && near(pb, b) {
				n++
			}
		}
	}
	return n
}
