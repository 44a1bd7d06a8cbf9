package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sync"

	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"
	"golang.org/x/term"

	"github.com/osdr/osdr/recover"
)

// progress shows a recovery as it happens.
type progress interface {
	recover.Progress
	Done()
}

// newProgress picks the view: JSON lines with -o json; otherwise the plan of a new run printed first (when
// printPlan: `osdr recover` shows it, a drill does not), then a live bar per instance on a terminal, plain
// lines elsewhere (logs, CI, cron mail).
func newProgress(w io.Writer, format string, printPlan bool) progress {
	if format == "json" {
		return &jsonProgress{enc: json.NewEncoder(w)}
	}
	return &textProgress{w: w, printPlan: printPlan, bars: isTerminal(w)}
}

type jsonProgress struct {
	mu  sync.Mutex
	enc *json.Encoder
}

func (p *jsonProgress) Planned(*recover.Plan, bool) {}

func (p *jsonProgress) Event(e recover.Event) {
	p.mu.Lock()
	defer p.mu.Unlock()
	_ = p.enc.Encode(event{Type: "event", Event: e})
}

func (p *jsonProgress) Done() {}

// textProgress prints the plan of a new run, then either draws bars or writes one line per event.
type textProgress struct {
	mu        sync.Mutex
	w         io.Writer
	printPlan bool
	bars      bool
	view      *barProgress
}

func (p *textProgress) Planned(plan *recover.Plan, resumed bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.printPlan && !resumed {
		_ = plan.WriteText(p.w)
	}
	if p.bars {
		p.view = newBarProgress(p.w, plan)
	}
}

func (p *textProgress) Event(e recover.Event) {
	p.mu.Lock()
	view := p.view
	if view == nil {
		defer p.mu.Unlock()
		fmt.Fprintln(p.w, eventLine(e))
		return
	}
	p.mu.Unlock()
	view.Event(e)
}

func (p *textProgress) Done() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.view != nil {
		p.view.Done()
	}
}

func eventLine(e recover.Event) string {
	line := fmt.Sprintf("%s %-36s %-12s %-7s", e.Time.Format("15:04:05"), e.Instance, e.Step, e.Phase)
	if e.Volume != "" {
		line += " volume " + e.Volume
	}
	if e.Message != "" {
		line += " " + e.Message
	}
	return line
}

// barProgress draws one bar per instance: its length is the instance's actions, its label the step it is in.
type barProgress struct {
	mu     sync.Mutex
	p      *mpb.Progress
	bars   map[string]*mpb.Bar
	status map[string]*string
}

func newBarProgress(w io.Writer, plan *recover.Plan) *barProgress {
	bp := &barProgress{p: mpb.New(mpb.WithOutput(w), mpb.WithWidth(32)), bars: map[string]*mpb.Bar{}, status: map[string]*string{}}
	for _, in := range plan.Instances {
		total := int64(len(in.Reattach))
		if in.Reboot != nil {
			total++
		}
		if len(in.Guest) > 0 {
			total++
		}
		status := "waiting"
		bp.status[in.ID] = &status
		name := in.Name
		if name == "" {
			name = in.ID
		}
		bp.bars[in.ID] = bp.p.AddBar(max(total, 1),
			mpb.PrependDecorators(decor.Name(fmt.Sprintf("%-20.20s", name)), decor.CountersNoUnit(" %d/%d")),
			mpb.AppendDecorators(decor.Any(func(decor.Statistics) string {
				bp.mu.Lock()
				defer bp.mu.Unlock()
				return *bp.status[in.ID]
			})),
		)
	}
	return bp
}

func (bp *barProgress) Event(e recover.Event) {
	bar, ok := bp.bars[e.Instance]
	if !ok {
		return
	}
	bp.mu.Lock()
	*bp.status[e.Instance] = string(e.Step) + " " + string(e.Phase)
	if e.Phase == recover.PhaseFailed {
		*bp.status[e.Instance] = string(e.Step) + " FAILED: " + e.Message
	}
	bp.mu.Unlock()
	switch e.Phase {
	case recover.PhaseDone, recover.PhaseSkipped:
		if e.Step != recover.StepDBClean && e.Step != recover.StepSnapshot {
			bar.Increment()
		}
	case recover.PhaseFailed:
		bar.Abort(false)
	}
}

func (bp *barProgress) Done() {
	for _, bar := range bp.bars {
		if !bar.Completed() {
			bar.Abort(false)
		}
	}
	bp.p.Wait()
}

// isTerminal says whether w is a terminal a person watches (colours, live bars) rather than a log or a pipe.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}
