package drills

import (
	"context"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// The HTML report must render in a browser with no server: headless Chromium opens the file and the
// screenshot shows the timeline's bars in their colours.
func TestHTMLReportRendersTheTimelineInABrowser(t *testing.T) {
	browser, err := exec.LookPath("chromium")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("chromium is not installed")
		}
		t.Skip("needs Debian's chromium package")
	}
	dir := t.TempDir()
	if err := sampleReport().WriteAll(dir); err != nil {
		t.Fatal(err)
	}
	shot := filepath.Join(dir, "report.png")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync", "--hide-scrollbars",
		"--user-data-dir="+filepath.Join(dir, "profile"), "--window-size=1400,900", "--screenshot="+shot,
		"file://"+filepath.Join(dir, ReportHTML))
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
	// The bars of the reboot (#0969da) and reattach (#1f883d) spans, drawn at 90% opacity on the timeline's
	// #f6f8fa: (33,119,221) and (52,147,80). The legend's swatches are opaque, so they do not count.
	counts := map[string]int{}
	near := func(a, b uint32) bool { return a > b && a-b <= 8 || b >= a && b-a <= 8 }
	bounds := img.Bounds()
	for y := bounds.Min.Y; y < bounds.Max.Y; y++ {
		for x := bounds.Min.X; x < bounds.Max.X; x++ {
			r, g, b, _ := img.At(x, y).RGBA()
			r, g, b = r>>8, g>>8, b>>8
			switch {
			case near(r, 33) && near(g, 119) && near(b, 221):
				counts["reboot"]++
			case near(r, 52) && near(g, 147) && near(b, 80):
				counts["reattach"]++
			}
		}
	}
	for _, span := range []string{"reboot", "reattach"} {
		if counts[span] < 1000 {
			t.Errorf("the screenshot shows %d pixels of the %s bars; the timeline did not render", counts[span], span)
		}
	}
}
