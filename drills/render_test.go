package drills

import (
	"testing"

	"github.com/osdr/osdr/drills/drillstest"
	"github.com/osdr/osdr/internal/run"
)

// The HTML report must render in a browser with no server: headless Chromium opens the file and the
// screenshot shows the timeline's bars in their colours.
func TestHTMLReportRendersTheTimelineInABrowser(t *testing.T) {
	dir := t.TempDir()
	if err := sampleReport().WriteAll(run.Run{Dir: dir}); err != nil {
		t.Fatal(err)
	}
	img := drillstest.Screenshot(t, run.Run{Dir: dir}.ReportHTML())
	for span, px := range drillstest.TimelinePixels(img) {
		if px < 1000 {
			t.Errorf("the screenshot shows %d pixels of the %s bars; the timeline did not render", px, span)
		}
	}
}
