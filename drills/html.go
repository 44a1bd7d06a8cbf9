package drills

import (
	"fmt"
	"html/template"
	"io"
	"time"

	"github.com/osdr/osdr/recover"
	"github.com/osdr/osdr/suites"
)

// BarColours are the colours of the timeline's bars, by phase outcome and recovery step. Bars are opaque, so
// a screenshot shows exactly these colours (drillstest finds the lanes by them).
var BarColours = map[string]string{
	"phase":                         "#afb8c1",
	"phase-failed":                  "#cf222e",
	"fault":                         "#cf222e",
	string(recover.StepDBClean):     "#8250df",
	string(recover.StepReboot):      "#0969da",
	string(recover.StepReattach):    "#2da44e",
	string(recover.StepGuestReboot): "#bf8700",
	"verified":                      "#57606a",
}

// legend lists the instance lanes' steps in the order the recovery takes them.
var legend = []struct{ Class, Label string }{
	{"fault", "fault"}, {string(recover.StepDBClean), "DB clean"}, {string(recover.StepReboot), "reboot"},
	{string(recover.StepReattach), "reattach"}, {string(recover.StepGuestReboot), "guest reboot"}, {"verified", "verified"},
}

// The page is self-contained: inline CSS, no script, no external asset, so it renders from a file, an
// artifact store or a mail attachment with no server. What broke comes first, then the time axis, then the
// tables a reader checks details in.
var htmlTemplate = template.Must(template.New("report").Funcs(template.FuncMap{
	"seconds": func(f float64) string { return fmt.Sprintf("%.1fs", f) },
	"clock":   clock,
	"elapsed": elapsed,
	"css":     func(s string) template.CSS { return template.CSS(s) },
}).Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>osdr drill {{.R.Drill}}: {{.R.Outcome}}</title>
<style>
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px;color:#1d232a;background:#fff}
h1{font-size:22px;margin:0 0 4px} h2{font-size:17px;margin:28px 0 8px}
.meta{color:#555;font-size:13px}
.badge{display:inline-block;padding:2px 10px;border-radius:10px;color:#fff;font-weight:600;font-size:13px}
.passed,.recovered,.ok{background:#1a7f37} .failed{background:#cf222e} .aborted,.excluded,.skipped{background:#6e7781} .interrupted,.shutoff{background:#bc4c00}
table{border-collapse:collapse;font-size:13px;width:100%} th,td{text-align:left;padding:4px 8px;border-bottom:1px solid #d8dee4;vertical-align:top}
th{background:#f6f8fa}
tr.step td:first-child{padding-left:28px}
.err{color:#cf222e;white-space:pre-wrap}
#what-broke-first{border:2px solid #cf222e;border-radius:6px;padding:4px 16px 8px;margin:16px 0;background:#fff5f5}
#what-broke-first h2{margin:8px 0;color:#cf222e}
.axis{display:grid;grid-template-columns:260px 1fr;align-items:center;row-gap:6px;font-size:13px}
.lane-label{padding-right:8px;overflow:hidden;white-space:nowrap;text-overflow:ellipsis}
.track{position:relative;height:22px;background:#f6f8fa;border-radius:3px}
.ticks{position:relative;height:18px;border-bottom:1px solid #8c959f}
.tick{position:absolute;bottom:0;height:18px;border-left:1px solid #8c959f;padding-left:3px;font-size:11px;color:#57606a;white-space:nowrap}
.bar{position:absolute;top:3px;height:16px;border-radius:2px;overflow:hidden;white-space:nowrap;font-size:11px;line-height:16px;color:#fff;text-indent:3px}
.bar.phase{color:#1d232a} .bar.phase,.bar.phase-failed{box-shadow:inset -1px 0 #fff}
{{range $class, $colour := .Colours}}.bar.{{$class}},.legend i.{{$class}}{background:{{css $colour}}}
{{end}}.legend span{display:inline-block;margin:8px 12px 0 0;font-size:12px} .legend i{display:inline-block;width:12px;height:12px;border-radius:2px;margin-right:4px;vertical-align:-2px}
footer{margin-top:32px;color:#57606a;font-size:12px}
</style></head><body>
<h1>Drill {{.R.Drill}} <span class="badge {{.R.Outcome}}" id="outcome">{{.R.Outcome}}</span></h1>
<div class="meta">run {{.R.RunID}} · cloud {{.R.Cloud}} · {{.R.Started.UTC.Format "2006-01-02 15:04:05"}} – {{clock .R.Finished}} UTC · recovery time {{seconds .R.RecoverySeconds}} · <span id="version">osdr {{.R.Version.Version}}{{with .R.Version.Commit}} (commit {{.}}{{with $.R.Version.Date}}, built {{.}}{{end}}){{end}}, {{.R.Version.GoVersion}}</span></div>
{{with .Broke}}<section id="what-broke-first"><h2>What broke first</h2>
{{with .Phase}}<p class="first-phase">Phase <b>{{.Name}}</b> failed at {{clock .Finished}} UTC: <span class="err">{{.Error}}</span></p>{{else}}<p class="first-phase">No phase failed.</p>{{end}}
{{with .Check}}<p class="first-check">Check <b>{{.Name}}</b> {{.State}}: <span class="err">{{.Message}}</span></p>{{else}}<p class="first-check">{{$.NoCheckFailed}}</p>{{end}}
</section>{{end}}
<p id="summary">{{.R.Summary}}</p>
{{range .R.Notes}}<p class="err note">{{.}}</p>{{end}}

<h2>Timeline</h2>
<div class="axis" id="timeline">
<div></div><div class="ticks">{{range .Ticks}}<span class="tick" style="left:{{.Left}}%">{{.Label}}</span>{{end}}</div>
{{range .Lanes}}<div class="lane-label">{{.Label}}{{with .Verdict}} <span class="badge {{.}}">{{.}}</span>{{end}}</div>
<div class="track lane" data-lane="{{.Label}}">{{range .Bars}}<div class="bar {{.Class}}" style="left:{{.Left}}%;width:{{.Width}}%" title="{{.Title}}">{{.Text}}</div>{{end}}</div>
{{end}}</div>
<div class="legend">{{range .Legend}}<span><i class="{{.Class}}"></i>{{.Label}}</span>{{end}}</div>

<h2>Phases, in the order they ran</h2>
<table id="phases"><tr><th>Phase</th><th>Start (UTC)</th><th>Duration</th><th>Result</th></tr>
{{range .Phases}}<tr class="{{.Kind}}"><td>{{.Name}}</td><td>{{clock .Start}}</td><td>{{elapsed .Start .End}}</td><td>{{if .OK}}<span class="badge ok">ok</span>{{else}}<span class="badge failed">failed</span><div class="err">{{.Error}}</div>{{end}}</td></tr>
{{end}}</table>

{{if .R.Strategies}}<h2>Recovery strategies, side by side</h2>
<table id="strategies"><tr><th>Strategy</th><th>Result</th><th>Recovery time</th><th>API requests</th><th>DB rows changed</th><th>HARD reboots</th><th>Guest reboots</th><th>Checks</th></tr>
{{range .R.Strategies}}<tr data-strategy="{{.Strategy}}"><td>{{.Strategy}}{{range $k, $v := .Classes}}<br><small>{{$v}} {{$k}}</small>{{end}}{{with .FellBack}}<br><small>{{.}} fell back</small>{{end}}</td>
<td><span class="badge {{.Outcome}}">{{.Outcome}}</span>{{with .Error}}<div class="err">{{.}}</div>{{end}}</td>
<td>{{seconds .RecoverySeconds}}</td><td>{{.Cost.APIRequests.Total}}</td><td>{{.Cost.DBRowsChanged}}</td><td>{{.Cost.HardReboots}}</td><td>{{.Cost.GuestReboots}}</td>
<td>{{.ChecksPassed}} passed{{with .ChecksFailed}}, {{len .}} failed{{range .}}<div class="err">{{.}}</div>{{end}}{{end}}{{with .ChecksSkipped}}, {{len .}} skipped{{range .}}<div>{{.}}</div>{{end}}{{end}}</td></tr>
{{end}}</table>{{end}}

<h2>Instances</h2>
<table id="instances"><tr><th>Instance</th><th>Host</th><th>Verdict</th><th>Recovery</th><th>Recovery time</th></tr>
{{range .Instances}}<tr data-instance="{{.I.ID}}"><td>{{.Place}}<br><small>{{.I.ID}}</small></td><td>{{.I.Host}}</td>
<td><span class="badge {{.Verdict}}">{{.Verdict}}</span>{{with .Why}}<div class="err">{{.}}</div>{{end}}</td>
<td>{{.I.Outcome}}{{with .I.Error}}<div class="err">{{.}}</div>{{end}}</td>
<td>{{seconds .I.RecoverySeconds}}{{range $k, $v := .I.StepSeconds}}<br><small>{{$k}} {{seconds $v}}</small>{{end}}</td></tr>
{{end}}</table>

<h2>Verification</h2>
{{if .R.Specs}}<table id="verification"><tr><th>Check</th><th>Family</th><th>Result</th></tr>
{{range .R.Specs}}<tr><td>{{.Name}}</td><td>{{.Labels}}</td><td><span class="badge {{.State}}">{{.State}}</span>{{with .Message}}<div class="err">{{.}}</div>{{end}}</td></tr>
{{end}}</table>{{else}}<p id="verification">{{.NoVerification}}</p>{{end}}
<footer>Written by osdr {{.R.Version.Version}}.</footer>
</body></html>
`))

// elapsed is a phase's duration as a reader wants it: milliseconds at most, "<1ms" for the instant ones.
func elapsed(start, end time.Time) string {
	d := end.Sub(start)
	if d < time.Millisecond {
		return "<1ms"
	}
	return d.Round(time.Millisecond).String()
}

// htmlPage is what the template shows, worked out from the report.
type htmlPage struct {
	R         *Report
	Colours   map[string]string
	Legend    []struct{ Class, Label string }
	Broke     *brokeFirst
	Ticks     []htmlTick
	Lanes     []htmlLane
	Phases    []htmlPhase
	Instances []htmlInstance
	// NoCheckFailed and NoVerification say why a failed run shows no failed check, or no checks at all.
	NoCheckFailed, NoVerification string
}

// brokeFirst is the first failed phase and the first failed check of a run that did not pass.
type brokeFirst struct {
	Phase *PhaseRecord
	Check *SpecResult
}

type htmlTick struct{ Left, Label string }

type htmlLane struct {
	Label   string
	Verdict string
	Bars    []htmlBar
}

type htmlBar struct {
	Class, Title, Text string
	Left, Width        string
}

// htmlPhase is a row of the phase table: a phase of the drill, or a cloud-wide step of its recovery (the DB
// clean) under the phase it ran in.
type htmlPhase struct {
	Kind       string // phase or step
	Name       string
	Start, End time.Time
	OK         bool
	Error      string
}

type htmlInstance struct {
	I            InstanceReport
	Place        string
	Verdict, Why string
}

func (r *Report) writeHTML(w io.Writer) error {
	axis := newTimeAxis(r.Started, r.Finished)
	page := htmlPage{R: r, Colours: BarColours, Legend: legend, Ticks: axis.ticks()}
	phases := r.phasesInRunOrder()
	dbClean, cleaned := r.dbClean()

	phaseLane := htmlLane{Label: "drill phases"}
	for _, p := range phases {
		class, result := "phase", "ok"
		if !p.OK {
			class, result = "phase-failed", "failed"
		}
		phaseLane.Bars = append(phaseLane.Bars, axis.bar(class, p.Name, fmt.Sprintf("%s %s–%s UTC: %s", p.Name, clock(p.Started), clock(p.Finished), result), p.Started, p.Finished))
		name := p.Name
		if p.Strategy != "" {
			name += " (" + p.Strategy + ")"
		}
		page.Phases = append(page.Phases, htmlPhase{Kind: "phase", Name: name, Start: p.Started, End: p.Finished, OK: p.OK, Error: p.Error})
		if cleaned && p.Name == PhaseRecover && !dbClean.Start.Before(p.Started) && !dbClean.Start.After(p.Finished) {
			page.Phases = append(page.Phases, htmlPhase{Kind: "step", Name: "DB clean (recovery step 2)", Start: dbClean.Start, End: dbClean.End, OK: true})
		}
	}
	page.Lanes = append(page.Lanes, phaseLane)
	if cleaned {
		page.Lanes = append(page.Lanes, htmlLane{Label: "DB clean (all instances)", Bars: []htmlBar{axis.span(dbClean)}})
	}
	for i, in := range r.Instances {
		verdict, why := r.Verdict(in)
		row := htmlInstance{I: in, Place: place(in, i, len(r.Instances)), Verdict: verdict, Why: why}
		page.Instances = append(page.Instances, row)
		lane := htmlLane{Label: row.Place, Verdict: verdict}
		for _, s := range in.Timeline {
			// The DB clean has its own lane: it is one step for the whole cloud.
			if s.Name != string(recover.StepDBClean) {
				lane.Bars = append(lane.Bars, axis.span(s))
			}
		}
		page.Lanes = append(page.Lanes, lane)
	}

	if len(r.Specs) == 0 {
		page.NoVerification = "No verification ran: " + r.stoppedBefore(phases, PhaseVerify)
	}
	if r.Outcome != OutcomePassed {
		page.Broke = r.brokeFirst(phases)
		page.NoCheckFailed = "No verification check failed."
		if len(r.Specs) == 0 {
			page.NoCheckFailed = page.NoVerification
		}
	}
	return htmlTemplate.Execute(w, page)
}

// brokeFirst finds the first phase that failed, in run order, and the first check that did not pass.
func (r *Report) brokeFirst(phases []PhaseRecord) *brokeFirst {
	var b brokeFirst
	for i := range phases {
		if !phases[i].OK {
			b.Phase = &phases[i]
			break
		}
	}
	for i := range r.Specs {
		if r.Specs[i].State != string(suites.StatePassed) {
			b.Check = &r.Specs[i]
			break
		}
	}
	return &b
}

// stoppedBefore says why a phase did not run: the run stopped at the phase that failed.
func (r *Report) stoppedBefore(phases []PhaseRecord, phase string) string {
	for _, p := range phases {
		if !p.OK {
			return fmt.Sprintf("the drill stopped when phase %s failed, before %s.", p.Name, phase)
		}
	}
	return fmt.Sprintf("the drill ended (%s) before %s.", r.Outcome, phase)
}

// dbClean is the recovery's DB clean: one step for the whole cloud, recorded in the journal and carried in
// every recovered instance's timeline.
func (r *Report) dbClean() (Span, bool) {
	for _, in := range r.Instances {
		for _, s := range in.Timeline {
			if s.Name == string(recover.StepDBClean) {
				return s, true
			}
		}
	}
	return Span{}, false
}

func clock(t time.Time) string { return t.UTC().Format("15:04:05") }

// timeAxis places times between the drill's start and end as percentages of the timeline's width.
type timeAxis struct {
	start, end time.Time
}

func newTimeAxis(start, end time.Time) timeAxis {
	if !end.After(start) {
		end = start.Add(time.Second)
	}
	return timeAxis{start: start, end: end}
}

func (a timeAxis) pct(t time.Time) float64 {
	p := float64(t.Sub(a.start)) / float64(a.end.Sub(a.start)) * 100
	return min(max(p, 0), 100)
}

// bar places one bar; a sub-second one is still drawn, half a percent wide. Its text is left out where it
// would be cut to a letter or two; the title still names it.
func (a timeAxis) bar(class, text, title string, start, end time.Time) htmlBar {
	left := a.pct(start)
	width := min(max(a.pct(end)-left, 0.5), 100-left)
	if width < 5 {
		text = ""
	}
	return htmlBar{Class: class, Text: text, Title: title, Left: fmt.Sprintf("%.2f", left), Width: fmt.Sprintf("%.2f", width)}
}

func (a timeAxis) span(s Span) htmlBar {
	return a.bar(s.Name, "", fmt.Sprintf("%s %s–%s UTC", s.Name, clock(s.Start), clock(s.End)), s.Start, s.End)
}

// tickSteps are the intervals a clock-time axis is marked at; the axis takes the first that leaves at most
// maxTicks marks.
var tickSteps = []time.Duration{
	time.Second, 2 * time.Second, 5 * time.Second, 10 * time.Second, 15 * time.Second, 30 * time.Second,
	time.Minute, 2 * time.Minute, 5 * time.Minute, 10 * time.Minute, 15 * time.Minute, 30 * time.Minute,
	time.Hour, 2 * time.Hour, 6 * time.Hour, 12 * time.Hour, 24 * time.Hour,
}

const maxTicks = 8

// ticks marks the axis at round clock times (03:00:30, 03:01:00, …).
func (a timeAxis) ticks() []htmlTick {
	total := a.end.Sub(a.start)
	step := tickSteps[len(tickSteps)-1]
	for _, s := range tickSteps {
		if total/s < maxTicks {
			step = s
			break
		}
	}
	layout := "15:04:05"
	if step >= time.Minute {
		layout = "15:04"
	}
	var out []htmlTick
	for t := a.start.Truncate(step); !t.After(a.end); t = t.Add(step) {
		if t.Before(a.start) {
			continue
		}
		out = append(out, htmlTick{Left: fmt.Sprintf("%.2f", a.pct(t)), Label: t.UTC().Format(layout)})
	}
	return out
}
