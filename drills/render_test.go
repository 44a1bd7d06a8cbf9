package drills

import (
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"golang.org/x/net/html"

	"github.com/osdr/osdr/drills/drillstest"
)

// rows are the texts of a table's data rows, cell by cell.
func rows(t *testing.T, table *html.Node) [][]string {
	t.Helper()
	if table == nil {
		t.Fatal("no such table")
	}
	var out [][]string
	for _, tr := range drillstest.ByTag(table, "tr") {
		var cells []string
		for _, td := range drillstest.ByTag(tr, "td") {
			cells = append(cells, drillstest.Text(td))
		}
		if len(cells) > 0 {
			out = append(out, cells)
		}
	}
	return out
}

func column(rows [][]string, i int) []string {
	var out []string
	for _, r := range rows {
		out = append(out, r[i])
	}
	return out
}

// rendered writes the report's files and keeps its page with the test's artifacts.
func rendered(t *testing.T, r *Report) string {
	t.Helper()
	rn := writeReports(t, r)
	page, err := os.ReadFile(rn.ReportHTML())
	if err != nil {
		t.Fatal(err)
	}
	kept := filepath.Join(drillstest.ArtifactDir(t), "report.html")
	if err := os.WriteFile(kept, page, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("report page: %s", kept)
	return kept
}

// A manager reads the page in a browser: what broke first at the top, the phases in the order they ran with
// the DB clean as a line of its own, one lane per instance on a clock-time axis with the verdict the
// verification gave it, the checks, and which osdr wrote it. Headless Chromium renders the file and the test
// reads the DOM it built.
func TestAManagerReadsTheReportInABrowser(t *testing.T) {
	r := sampleReport()
	page := rendered(t, r)
	doc := drillstest.DOM(t, page)

	if got := drillstest.Text(drillstest.ByID(doc, "outcome")); got != "failed" {
		t.Errorf("outcome badge %q", got)
	}
	broke := drillstest.ByID(doc, "what-broke-first")
	if broke == nil {
		t.Fatal("a failed drill's page does not say what broke first")
	}
	for class, want := range map[string]string{
		"first-phase": "Phase verify failed at 03:01:25 UTC: 1 check(s) failed: web-2: no answer on 10.0.0.12:22",
		"first-check": "Check instance web-2: guest answers and sees its disks and mounts failed: web-2 (" + web2 + "): no answer on 10.0.0.12:22 <script>alert(1)</script>",
	} {
		if got := drillstest.Text(drillstest.ByClass(broke, class)[0]); !strings.HasPrefix(got, want) {
			t.Errorf("what broke first: %q, want %q", got, want)
		}
	}
	var order []string
	for n := range doc.Descendants() {
		if id := drillstest.Attr(n, "id"); n.Type == html.ElementNode && id != "" {
			order = append(order, id)
		}
	}
	if want := []string{"outcome", "version", "what-broke-first", "summary", "timeline", "phases", "instances", "verification"}; !slices.Equal(order, want) {
		t.Errorf("the page's sections %q, want %q: what broke first at the top", order, want)
	}
	if phases := column(rows(t, drillstest.ByID(doc, "phases")), 0); !slices.Equal(phases, []string{
		"guards", "snapshot", "preflight", "inject", "observe", "recover", "DB clean (recovery step 2)", "verify"}) {
		t.Errorf("phases %q, want them in the order they ran with the DB clean under recover", phases)
	}

	var lanes []string
	for _, lane := range drillstest.ByClass(doc, "lane") {
		lanes = append(lanes, drillstest.Attr(lane, "data-lane"))
	}
	if want := []string{"drill phases", "DB clean (all instances)", "batch-1 (#1 of 4)", "db-1 (#2 of 4)", "web-1 (#3 of 4)", "web-2 (#4 of 4)"}; !slices.Equal(lanes, want) {
		t.Errorf("lanes %q, want %q", lanes, want)
	}
	var labels []string
	for _, l := range drillstest.ByClass(doc, "lane-label") {
		labels = append(labels, drillstest.Text(l))
	}
	if want := []string{"drill phases", "DB clean (all instances)", "batch-1 (#1 of 4) excluded", "db-1 (#2 of 4) shutoff", "web-1 (#3 of 4) recovered", "web-2 (#4 of 4) failed"}; !slices.Equal(labels, want) {
		t.Errorf("lane labels %q, want the verification's verdicts %q", labels, want)
	}
	var ticks []string
	for _, tick := range drillstest.ByClass(doc, "tick") {
		ticks = append(ticks, drillstest.Text(tick))
	}
	if want := []string{"03:00:00", "03:00:15", "03:00:30", "03:00:45", "03:01:00", "03:01:15", "03:01:30"}; !slices.Equal(ticks, want) {
		t.Errorf("time axis ticks %q, want %q", ticks, want)
	}
	instances := rows(t, drillstest.ByID(doc, "instances"))
	if got := column(instances, 2); !slices.Equal(got[:3], []string{"excluded excluded: its volumes are not iSCSI", "shutoff ended SHUTOFF", "recovered"}) || !strings.HasPrefix(got[3], "failed check") {
		t.Errorf("instance verdicts %q", got)
	}
	if got := column(instances, 3); !slices.Equal(got, []string{"excluded excluded: its volumes are not iSCSI", "recovered", "recovered", "recovered"}) {
		t.Errorf("recovery outcomes %q", got)
	}
	if checks := rows(t, drillstest.ByID(doc, "verification")); len(checks) != 4 || !strings.HasPrefix(checks[3][2], "failed web-2") {
		t.Errorf("a failed drill's page lost its verification table: %q", checks)
	}
	if got := drillstest.Text(drillstest.ByID(doc, "version")); !strings.HasPrefix(got, "osdr ") || !strings.HasSuffix(got, runtime.Version()) {
		t.Errorf("the page does not say which osdr wrote it: %q", got)
	}

	raw, err := os.ReadFile(page)
	if err != nil {
		t.Fatal(err)
	}
	text := strings.ReplaceAll(string(raw), "https://keystone.staging.example.net:5000/v3", "")
	for _, banned := range []string{"<script", "http://", "https://", "<link", "<img", "\x1b[", "[FAILED]", "Ginkgo", "ginkgo"} {
		if strings.Contains(text, banned) {
			t.Errorf("the page has %q: it must be self-contained, with the checks' causes and no raw test output", banned)
		}
	}
}

// A drill whose recovery failed never verified: its page says so where the checks would be, and names the
// phase that failed first.
func TestAFailedRecoverysPageSaysNoVerificationRan(t *testing.T) {
	doc := drillstest.DOM(t, rendered(t, failedRecoveryReport()))
	broke := drillstest.ByID(doc, "what-broke-first")
	if broke == nil {
		t.Fatal("no what-broke-first section")
	}
	const noVerification = "No verification ran: the drill stopped when phase recover failed, before verify."
	for class, want := range map[string]string{
		"first-phase": "Phase recover failed at 03:01:10 UTC: 1 of 3 instance(s) did not recover",
		"first-check": noVerification,
	} {
		if got := drillstest.Text(drillstest.ByClass(broke, class)[0]); got != want {
			t.Errorf("what broke first: %q, want %q", got, want)
		}
	}
	if got := drillstest.Text(drillstest.ByID(doc, "verification")); got != noVerification {
		t.Errorf("verification section %q", got)
	}
	var verdicts []string
	for _, row := range rows(t, drillstest.ByID(doc, "instances")) {
		verdicts = append(verdicts, row[2])
	}
	if want := []string{"recovered", "recovered", "failed guest never answered"}; !slices.Equal(verdicts, want) {
		t.Errorf("without checks the recovery's outcome stands: %q, want %q", verdicts, want)
	}
}

// A passed drill's page does not open on a failure box.
func TestAPassedDrillsPageHasNothingBroken(t *testing.T) {
	r := sampleReport()
	r.Outcome = OutcomePassed
	for i := range r.Phases {
		r.Phases[i].OK, r.Phases[i].Error = true, ""
	}
	doc := drillstest.DOM(t, rendered(t, r))
	if drillstest.ByID(doc, "what-broke-first") != nil {
		t.Error("a passed drill's page says something broke")
	}
}

// The screenshot shows the lanes as a person sees them: the DB clean's lane above the instances', one lane of
// reboot bars per recovered instance, and in each the reattach after the reboot. The colours the page draws
// the bars in are the ones the screenshot is searched for.
func TestTheScreenshotShowsOneLanePerInstance(t *testing.T) {
	img := drillstest.Screenshot(t, rendered(t, sampleReport()))
	clean := drillstest.Bands(img, BarColours["db-clean"])
	reboots := drillstest.Bands(img, BarColours["reboot"])
	reattaches := drillstest.Bands(img, BarColours["reattach"])
	if len(clean) != 1 || len(reboots) != 3 || len(reattaches) != 3 {
		t.Fatalf("bands of DB clean %v, reboot %v, reattach %v: want 1, 3 and 3", clean, reboots, reattaches)
	}
	if clean[0].Bottom > reboots[0].Top {
		t.Errorf("the DB clean's lane %v is not above the instances' %v", clean[0], reboots[0])
	}
	for i := range reboots {
		reboot, reattach := reboots[i], reattaches[i]
		if reattach.Top != reboot.Top || reattach.Left < reboot.Right-2 {
			t.Errorf("lane %d: reattach %v does not follow reboot %v in the same lane", i, reattach, reboot)
		}
		if reboot.Pixels < 1000 {
			t.Errorf("lane %d: %d pixels of reboot; the bar did not render", i, reboot.Pixels)
		}
	}
	for span, px := range drillstest.TimelinePixels(img) {
		if px < 1000 {
			t.Errorf("TimelinePixels finds %d pixels of %s bars", px, span)
		}
	}
}
