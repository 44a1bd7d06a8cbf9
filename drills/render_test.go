package drills

import (
	"path/filepath"
	"testing"

	"github.com/osdr/osdr/drills/drillstest"
)

// The HTML report must render in a browser with no server: headless Chromium opens the file and the
// screenshot shows the timeline's bars in their colours.
func TestHTMLReportRendersTheTimelineInABrowser(t *testing.T) {
	dir := t.TempDir()
	if err := sampleReport().WriteAll(dir); err != nil {
		t.Fatal(err)
	}
	img := drillstest.Screenshot(t, filepath.Join(dir, ReportHTML))
	for span, px := range drillstest.TimelinePixels(img) {
		if px < 1000 {
			t.Errorf("the screenshot shows %d pixels of the %s bars; the timeline did not render", px, span)
		}
	}
}
