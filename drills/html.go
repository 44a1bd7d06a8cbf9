package drills

import (
	"fmt"
	"html/template"
	"io"
	"time"
)

// The page is self-contained: inline CSS, no script, no external asset, so it renders from a file, an
// artifact store or a mail attachment with no server.
var htmlTemplate = template.Must(template.New("report").Funcs(template.FuncMap{
	"seconds": func(f float64) string { return fmt.Sprintf("%.1fs", f) },
	"clock":   func(t time.Time) string { return t.UTC().Format("15:04:05") },
	"elapsed": elapsed,
}).Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>osdr drill {{.R.Drill}}: {{.R.Outcome}}</title>
<style>
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px;color:#1d232a;background:#fff}
h1{font-size:22px;margin:0 0 4px} h2{font-size:17px;margin:28px 0 8px}
.meta{color:#555;font-size:13px}
.badge{display:inline-block;padding:2px 10px;border-radius:10px;color:#fff;font-weight:600;font-size:13px}
.passed,.recovered{background:#1a7f37} .failed{background:#cf222e} .aborted,.excluded,.skipped{background:#6e7781} .interrupted{background:#bc4c00}
table{border-collapse:collapse;font-size:13px;width:100%} th,td{text-align:left;padding:4px 8px;border-bottom:1px solid #d8dee4;vertical-align:top}
th{background:#f6f8fa}
.timeline{position:relative;height:22px;background:#f6f8fa;border-radius:3px;min-width:420px}
.span{position:absolute;top:3px;height:16px;border-radius:2px;opacity:.9}
.fault{background:#cf222e} .db-clean{background:#8250df} .reboot{background:#0969da} .reattach{background:#1f883d} .guest-reboot{background:#bf8700} .verified{background:#57606a}
.legend span{display:inline-block;margin-right:12px;font-size:12px} .legend i{display:inline-block;width:12px;height:12px;border-radius:2px;margin-right:4px;vertical-align:-2px}
.err{color:#cf222e;white-space:pre-wrap}
</style></head><body>
<h1>Drill {{.R.Drill}} <span class="badge {{.R.Outcome}}">{{.R.Outcome}}</span></h1>
<div class="meta">run {{.R.RunID}} · cloud {{.R.Cloud}} · {{.R.Started.UTC.Format "2006-01-02 15:04:05"}} – {{clock .R.Finished}} UTC · recovery time {{seconds .R.RecoverySeconds}}</div>
<p>{{.R.Summary}}</p>
{{range .R.Notes}}<p class="err">{{.}}</p>{{end}}
<h2>Recovery timeline per instance</h2>
<div class="legend"><span><i class="fault"></i>fault</span><span><i class="db-clean"></i>DB clean</span><span><i class="reboot"></i>reboot</span><span><i class="reattach"></i>reattach</span><span><i class="guest-reboot"></i>guest reboot</span><span><i class="verified"></i>verified</span></div>
<table><tr><th>Instance</th><th>Host</th><th>Outcome</th><th>Recovery time</th><th style="width:50%">Timeline ({{clock .R.Started}} – {{clock .R.Finished}})</th></tr>
{{range .Rows}}<tr><td>{{.I.Name}}<br><small>{{.I.ID}}</small></td><td>{{.I.Host}}</td><td><span class="badge {{.I.Outcome}}">{{.I.Outcome}}</span>{{if .I.Error}}<div class="err">{{.I.Error}}</div>{{end}}</td>
<td>{{seconds .I.RecoverySeconds}}{{range $k, $v := .I.StepSeconds}}<br><small>{{$k}} {{seconds $v}}</small>{{end}}</td>
<td><div class="timeline">{{range .Bars}}<div class="span {{.Name}}" style="left:{{.Left}}%;width:{{.Width}}%" title="{{.Name}} {{clock .Start}}–{{clock .End}}"></div>{{end}}</div></td></tr>
{{end}}</table>
<h2>Phases</h2>
<table><tr><th>Phase</th><th>Start</th><th>Duration</th><th>Result</th></tr>
{{range .R.Phases}}<tr><td>{{.Name}}</td><td>{{clock .Started}}</td><td>{{elapsed .Started .Finished}}</td><td>{{if .OK}}<span class="badge passed">ok</span>{{else}}<span class="badge failed">failed</span><div class="err">{{.Error}}</div>{{end}}</td></tr>
{{end}}</table>
{{if .R.Specs}}<h2>Verification</h2>
<table><tr><th>Spec</th><th>Labels</th><th>Result</th></tr>
{{range .R.Specs}}<tr><td>{{.Name}}</td><td>{{.Labels}}</td><td><span class="badge {{.State}}">{{.State}}</span>{{if .Message}}<div class="err">{{.Message}}</div>{{end}}</td></tr>
{{end}}</table>{{end}}
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

type htmlBar struct {
	Span
	Left, Width string
}

type htmlRow struct {
	I    InstanceReport
	Bars []htmlBar
}

func (r *Report) writeHTML(w io.Writer) error {
	total := r.Finished.Sub(r.Started)
	if total <= 0 {
		total = time.Second
	}
	pct := func(d time.Duration) float64 {
		p := float64(d) / float64(total) * 100
		return min(max(p, 0), 100)
	}
	var rows []htmlRow
	for _, in := range r.Instances {
		row := htmlRow{I: in}
		for _, s := range in.Timeline {
			left := pct(s.Start.Sub(r.Started))
			width := max(pct(s.End.Sub(s.Start)), 0.5) // a sub-second step is still visible
			row.Bars = append(row.Bars, htmlBar{Span: s, Left: fmt.Sprintf("%.2f", left), Width: fmt.Sprintf("%.2f", min(width, 100-left))})
		}
		rows = append(rows, row)
	}
	return htmlTemplate.Execute(w, struct {
		R    *Report
		Rows []htmlRow
	}{r, rows})
}
