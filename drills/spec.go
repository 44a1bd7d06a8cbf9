package drills

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"io"
	"net/url"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
	"gopkg.in/yaml.v3"

	"github.com/osdr/osdr/inject"
	"github.com/osdr/osdr/internal/bounds"
	"github.com/osdr/osdr/internal/cloud"
	"github.com/osdr/osdr/internal/settings"
	"github.com/osdr/osdr/recover"
	"github.com/osdr/osdr/suites"
)

// APIVersion is the drill file format this osdr reads.
const APIVersion = "osdr.dev/v1"

// Drill is a drill file: what to break, on which cloud, within which limits, and how to prove the recovery.
type Drill struct {
	APIVersion   string       `json:"apiVersion"`
	Kind         string       `json:"kind"`
	Name         string       `json:"name"`
	Description  string       `json:"description,omitempty"`
	Cloud        CloudRef     `json:"cloud"`
	Guards       Guards       `json:"guards"`
	Targets      Targets      `json:"targets"`
	Faults       []FaultSpec  `json:"faults"`
	Recovery     Recovery     `json:"recovery,omitempty"`
	Verification Verification `json:"verification,omitempty"`
	Reports      Reports      `json:"reports,omitempty"`
	// Schedule is when the drill is meant to run, in cron's format. The scheduler that runs it (cron, a
	// systemd timer, a Kubernetes CronJob) keeps its own copy; osdr checks this one and lists its next runs.
	Schedule string `json:"schedule,omitempty"`
}

// CloudRef names the cloud through the settings contract; empty fields fall back to the environment.
type CloudRef struct {
	OSCloud   string `json:"osCloud,omitempty"`
	Inventory string `json:"inventory,omitempty"`
}

// Guards are the hard limits that keep a drill off production: checked before anything is touched.
type Guards struct {
	// Staging must be true: the author states, in the file, that the cloud is a staging cloud.
	Staging bool `json:"staging"`
	// AllowedEndpoints lists the Keystone URLs the drill may run against; the cloud's auth URL must be one.
	AllowedEndpoints []string `json:"allowedEndpoints"`
	// AllowedRegions, when set, lists the regions it may run in.
	AllowedRegions []string `json:"allowedRegions,omitempty"`
	MaxHosts       int      `json:"maxHosts"`
	MaxInstances   int      `json:"maxInstances"`
	MaxVolumes     int      `json:"maxVolumes"`
}

// Targets select instances by id, name, tag or host; the union is the drill's scope.
type Targets struct {
	Instances []string `json:"instances,omitempty"`
	Names     []string `json:"names,omitempty"`
	Tags      []string `json:"tags,omitempty"`
	Hosts     []string `json:"hosts,omitempty"`
}

// FaultSpec is one fault from the fault registry, applied to every target.
type FaultSpec struct {
	Kind string `json:"kind"`
}

// Recovery is the recovery policy, the same choices `osdr recover` takes.
type Recovery struct {
	GuestReboot string `json:"guestReboot,omitempty"` // fstab (default), all, none
	// Strategies are the recovery strategies the drill runs, in order (default: guide). With two, the drill
	// breaks the targets, recovers them with the first and proves it, then breaks them again the same way
	// and recovers them with the second, and reports both side by side.
	Strategies  []string `json:"strategies,omitempty"`
	Concurrency int      `json:"concurrency,omitempty"`
	APIRate     float64  `json:"apiRate,omitempty"`
	Timeout     Duration `json:"timeout,omitempty"`
}

// Verification selects the suites' spec families and how long the cloud may take to converge.
type Verification struct {
	Labels   string   `json:"labels,omitempty"`
	Deadline Duration `json:"deadline,omitempty"`
}

// Reports says where reports go besides the run directory.
type Reports struct {
	// MetricsTextfile is a node_exporter textfile collector path (written atomically).
	MetricsTextfile string `json:"metricsTextfile,omitempty"`
	// Pushgateway is a Prometheus Pushgateway URL to push the drill's metrics to.
	Pushgateway string `json:"pushgateway,omitempty"`
}

// Duration is a time.Duration written as "90s" or "10m" in YAML.
type Duration struct{ time.Duration }

func parseDuration(s string) (Duration, error) {
	v, err := time.ParseDuration(s)
	if err != nil {
		return Duration{}, fmt.Errorf("duration %q: want a Go duration such as 90s or 10m", s)
	}
	return Duration{v}, nil
}

// UnmarshalYAML reads a drill file's duration.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return errors.New("want a Go duration such as 90s or 10m")
	}
	v, err := parseDuration(n.Value)
	*d = v
	return err
}

// UnmarshalJSON reads a duration from JSON, the way MarshalJSON writes it.
func (d *Duration) UnmarshalJSON(b []byte) error {
	v, err := parseDuration(strings.Trim(string(b), `"`))
	*d = v
	return err
}

func (d Duration) MarshalJSON() ([]byte, error) { return []byte(`"` + d.String() + `"`), nil }

// Problem is one thing wrong with a drill file, and where: Line and Column count from 1. A YAML syntax error
// has the line yaml.v3 gives and no column; a problem with no place (an empty file) has neither.
type Problem struct {
	Line    int
	Column  int
	Message string
}

// ValidationError lists every problem of a drill file, each where it is.
type ValidationError struct {
	File     string
	Problems []Problem
}

// Error renders one "file:line:column: problem" line per problem, the form editors and CI annotations jump to.
func (e *ValidationError) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		switch {
		case p.Column > 0:
			lines[i] = fmt.Sprintf("%s:%d:%d: %s", e.File, p.Line, p.Column, p.Message)
		case p.Line > 0:
			lines[i] = fmt.Sprintf("%s:%d: %s", e.File, p.Line, p.Message)
		default:
			lines[i] = fmt.Sprintf("%s: %s", e.File, p.Message)
		}
	}
	return strings.Join(lines, "\n")
}

var namePattern = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)

// Load reads and validates a drill file. A file over settings.DrillFileLimit is refused before it is read.
func Load(path string, faultKinds []string) (*Drill, error) {
	raw, err := settings.DrillFileLimit.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return Parse(path, raw, faultKinds)
}

// Parse decodes a drill strictly and validates it against the fault kinds the registry knows. It names every
// problem it finds, not the first, each at its line and column: unknown or repeated fields, values of the
// wrong type, and whatever would stop the drill from running.
func Parse(name string, raw []byte, faultKinds []string) (*Drill, error) {
	root, problem := parseYAML(raw)
	if problem != nil {
		return nil, &ValidationError{File: name, Problems: []Problem{*problem}}
	}
	var d Drill
	dec := &fileDecoder{nodes: map[string]*yaml.Node{}, keys: map[string]*yaml.Node{}, bad: map[string]bool{}}
	dec.decode(root, reflect.ValueOf(&d).Elem(), "")
	for _, p := range d.validate(faultKinds) {
		dec.report(p.field, p.message)
	}
	if len(dec.problems) > 0 {
		slices.SortStableFunc(dec.problems, func(a, b Problem) int { return cmp.Or(cmp.Compare(a.Line, b.Line), cmp.Compare(a.Column, b.Column)) })
		return nil, &ValidationError{File: name, Problems: dec.problems}
	}
	return &d, nil
}

// yamlLine is where yaml.v3 says a syntax error is; it gives no column.
var yamlLine = regexp.MustCompile(`^yaml: line (\d+): `)

// parseYAML reads the file's one document as nodes, which keep every value's line and column.
func parseYAML(raw []byte) (*yaml.Node, *Problem) {
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	var doc yaml.Node
	switch err := dec.Decode(&doc); {
	case errors.Is(err, io.EOF):
		return nil, &Problem{Message: "the file is empty: a drill starts with apiVersion: " + APIVersion}
	case err != nil:
		p := Problem{Message: "YAML: " + strings.TrimPrefix(err.Error(), "yaml: ")}
		if m := yamlLine.FindStringSubmatch(err.Error()); m != nil {
			p.Line, _ = strconv.Atoi(m[1])
			p.Message = "YAML: " + strings.TrimPrefix(err.Error(), m[0])
		}
		return nil, &p
	}
	var next yaml.Node
	if err := dec.Decode(&next); !errors.Is(err, io.EOF) {
		return nil, &Problem{Line: next.Line, Column: next.Column, Message: "a drill file holds one YAML document; this is a second"}
	}
	return doc.Content[0], nil
}

// fileDecoder decodes a drill from its YAML nodes field by field, so that it reports every problem where it
// is instead of stopping at the first, and remembers where each field was for the checks that follow.
type fileDecoder struct {
	problems []Problem
	// nodes are the fields' values by path (guards.maxHosts, faults[1].kind), keys their keys.
	nodes, keys map[string]*yaml.Node
	// bad are the paths whose value could not be decoded: the checks of their meaning would only repeat it.
	bad map[string]bool
}

func (f *fileDecoder) problem(n *yaml.Node, format string, args ...any) {
	f.problems = append(f.problems, Problem{Line: n.Line, Column: n.Column, Message: fmt.Sprintf(format, args...)})
}

// report places a check's problem at its field: at the value of a single value, at the key of a list, a
// mapping or an empty field. A field the file lacks takes the place of the nearest enclosing one it has.
func (f *fileDecoder) report(field, message string) {
	for path := field; ; path = parent(path) {
		if f.bad[path] {
			return
		}
		if n, ok := f.nodes[path]; ok {
			if k, ok := f.keys[path]; ok && (path != field || n.Kind != yaml.ScalarNode || n.ShortTag() == "!!null") {
				n = k
			}
			f.problem(n, "%s", message)
			return
		}
		if path == "" {
			f.problems = append(f.problems, Problem{Line: 1, Column: 1, Message: message})
			return
		}
	}
}

// parent is the path of the field that holds this one: guards for guards.maxHosts, faults for faults[1].
func parent(path string) string {
	if i := strings.LastIndexAny(path, ".["); i >= 0 {
		return path[:i]
	}
	return ""
}

func (f *fileDecoder) decode(n *yaml.Node, v reflect.Value, path string) {
	f.nodes[path] = n
	if n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	// An empty field (key: with no value) is an absent one.
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return
	}
	fail := func(format string, args ...any) {
		f.bad[path] = true
		f.problem(n, "%s: "+format, append([]any{name(path)}, args...)...)
	}
	if u, ok := v.Addr().Interface().(yaml.Unmarshaler); ok {
		if err := n.Decode(u); err != nil {
			fail("%v", err)
		}
		return
	}
	switch v.Kind() {
	case reflect.Struct:
		f.mapping(n, v, path, fail)
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			fail("want a list, not %s", describe(n))
			return
		}
		items := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
		for i, item := range n.Content {
			f.decode(item, items.Index(i), fmt.Sprintf("%s[%d]", path, i))
		}
		v.Set(items)
	default:
		tags, typed := scalarTags[v.Kind()]
		if n.Kind != yaml.ScalarNode || (typed && !slices.Contains(tags, n.ShortTag())) || n.Decode(v.Addr().Interface()) != nil {
			fail("want %s, not %s", scalarKinds[v.Kind()], describe(n))
		}
	}
}

// mapping decodes a YAML mapping into a struct by the fields' JSON names, the names the drill format
// documents.
func (f *fileDecoder) mapping(n *yaml.Node, v reflect.Value, path string, fail func(string, ...any)) {
	fields := map[string]int{}
	var names []string
	for i := range v.NumField() {
		name, _, _ := strings.Cut(v.Type().Field(i).Tag.Get("json"), ",")
		fields[name] = i
		names = append(names, name)
	}
	if n.Kind != yaml.MappingNode {
		fail("want a mapping of %s, not %s", strings.Join(names, ", "), describe(n))
		return
	}
	seen := map[string]*yaml.Node{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		key, value := n.Content[i], n.Content[i+1]
		field := key.Value
		if path != "" {
			field = path + "." + key.Value
		}
		if first, ok := seen[key.Value]; ok {
			f.problem(key, "%s: given twice (first on line %d)", field, first.Line)
			continue
		}
		seen[key.Value] = key
		idx, ok := fields[key.Value]
		if !ok {
			f.problem(key, "%s: unknown field (%s has %s)", field, name(path), strings.Join(names, ", "))
			continue
		}
		f.keys[field] = key
		f.decode(value, v.Field(idx), field)
	}
}

// name is how problems name a path: the path itself, or "the drill" for the file's top level.
func name(path string) string {
	if path == "" {
		return "the drill"
	}
	return path
}

// scalarTags are the YAML types a number or a boolean field takes. yaml.v3 alone would cut 2.5 to 2 for a
// whole number and read yes as true; a drill says exactly what it means.
var scalarTags = map[reflect.Kind][]string{
	reflect.Int: {"!!int"}, reflect.Float64: {"!!int", "!!float"}, reflect.Bool: {"!!bool"},
}

var scalarKinds = map[reflect.Kind]string{
	reflect.String: "a string", reflect.Bool: "true or false", reflect.Int: "a whole number", reflect.Float64: "a number",
}

// describe names what a node holds, as a problem quotes it.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	}
	return strconv.Quote(n.Value)
}

// fieldProblem is a problem of a drill's meaning, named by the field it concerns.
type fieldProblem struct {
	field, message string
}

func (d *Drill) validate(faultKinds []string) []fieldProblem {
	var p []fieldProblem
	add := func(field, format string, args ...any) {
		p = append(p, fieldProblem{field, fmt.Sprintf(format, args...)})
	}
	addErr := func(field string, err error) {
		if err != nil {
			p = append(p, fieldProblem{field, err.Error()})
		}
	}
	if d.APIVersion != APIVersion {
		add("apiVersion", "apiVersion: %q, want %q", d.APIVersion, APIVersion)
	}
	if d.Kind != "Drill" {
		add("kind", "kind: %q, want \"Drill\"", d.Kind)
	}
	if !namePattern.MatchString(d.Name) {
		add("name", "name: %q must be lowercase letters, digits and dashes (it names runs, locks and metrics)", d.Name)
	}
	if !d.Guards.Staging {
		add("guards.staging", "guards.staging: must be true: drills break clouds and run only on staging")
	}
	if len(d.Guards.AllowedEndpoints) == 0 {
		add("guards.allowedEndpoints", "guards.allowedEndpoints: list the Keystone URLs this drill may run against")
	}
	for i, e := range d.Guards.AllowedEndpoints {
		field := fmt.Sprintf("guards.allowedEndpoints[%d]", i)
		addErr(field, checkURL(field, e))
	}
	for _, g := range []struct {
		field string
		v     int
	}{{"maxHosts", d.Guards.MaxHosts}, {"maxInstances", d.Guards.MaxInstances}, {"maxVolumes", d.Guards.MaxVolumes}} {
		if err := inject.LimitRange.Check("guards."+g.field, g.v); err != nil {
			add("guards."+g.field, "%v (the blast radius is always bounded)", err)
		}
	}
	if len(d.Targets.Instances)+len(d.Targets.Names)+len(d.Targets.Tags)+len(d.Targets.Hosts) == 0 {
		add("targets", "targets: select instances by instances, names, tags or hosts")
	}
	if len(d.Faults) == 0 {
		add("faults", "faults: name at least one fault")
	}
	for i, f := range d.Faults {
		if !slices.Contains(faultKinds, f.Kind) {
			add(fmt.Sprintf("faults[%d].kind", i), "faults[%d].kind: %q is not a fault osdr knows (%s)", i, f.Kind, strings.Join(faultKinds, ", "))
		}
	}
	switch d.Recovery.GuestReboot {
	case "", "fstab", "all", "none":
	default:
		add("recovery.guestReboot", "recovery.guestReboot: %q, want fstab, all or none", d.Recovery.GuestReboot)
	}
	seen := map[string]bool{}
	for i, st := range d.Recovery.Strategies {
		field := fmt.Sprintf("recovery.strategies[%d]", i)
		switch _, err := recover.ParseStrategy(st); {
		case err != nil:
			add(field, "%s: %q, want guide or minimal", field, st)
		case seen[st]:
			add(field, "%s: %q is listed twice", field, st)
		}
		seen[st] = true
	}
	// Zero (or absent) takes the default; anything else must be in range.
	if c := d.Recovery.Concurrency; c != 0 {
		addErr("recovery.concurrency", recover.ConcurrencyRange.Check("recovery.concurrency", c))
	}
	addErr("recovery.apiRate", cloud.APIRateRange.Check("recovery.apiRate", d.Recovery.APIRate))
	if t := d.Recovery.Timeout.Duration; t != 0 {
		addErr("recovery.timeout", recover.WaitRange.Check("recovery.timeout", t))
	}
	if t := d.Verification.Deadline.Duration; t != 0 {
		addErr("verification.deadline", suites.DeadlineRange.Check("verification.deadline", t))
	}
	if l := d.Verification.Labels; l != "" {
		addErr("verification.labels", checkLabels(l))
	}
	if t := d.Reports.MetricsTextfile; t != "" && (!filepath.IsAbs(t) || filepath.Ext(t) != ".prom") {
		// node_exporter's textfile collector reads only *.prom files, and the drill's working directory is
		// nobody's business.
		add("reports.metricsTextfile", "reports.metricsTextfile: %q must be an absolute path ending in .prom, the files node_exporter's textfile collector reads", t)
	}
	if u := d.Reports.Pushgateway; u != "" {
		addErr("reports.pushgateway", checkURL("reports.pushgateway", u))
	}
	if s := d.Schedule; s != "" {
		if _, err := parseSchedule(s); err != nil {
			add("schedule", "schedule: %v", err)
		}
	}
	return p
}

// strategies are the recovery strategies the drill runs, in order.
func (d *Drill) strategies() []recover.Strategy {
	if len(d.Recovery.Strategies) == 0 {
		return []recover.Strategy{recover.StrategyGuide}
	}
	out := make([]recover.Strategy, len(d.Recovery.Strategies))
	for i, s := range d.Recovery.Strategies {
		out[i] = recover.Strategy(s)
	}
	return out
}

// checkURL requires an absolute http(s) URL without credentials: URLs are printed in messages and reports,
// and a password has no place in a drill file.
func checkURL(field, raw string) error {
	u, err := url.Parse(raw)
	switch {
	case err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https"):
		return fmt.Errorf("%s: %q is not an absolute http(s) URL", field, raw)
	case u.User != nil:
		return fmt.Errorf("%s: the URL carries credentials; a drill file holds none (they would be printed with the URL)", field)
	}
	return nil
}

// checkLabels refuses a label expression the verification would refuse.
func checkLabels(expr string) error {
	if _, err := suites.ParseLabels(expr); err != nil {
		return fmt.Errorf("verification.labels: %w", err)
	}
	return nil
}

// parseSchedule reads the standard five-field cron format and its descriptors (@daily, @weekly, @every 1h),
// as cron(8) and Kubernetes CronJobs do; Kubernetes uses this same parser.
func parseSchedule(s string) (cron.Schedule, error) {
	// A time zone in the expression is not portable: Kubernetes refuses it (a CronJob has timeZone for that)
	// and cron(8) does not read it. The schedule runs in the scheduler's time zone.
	if strings.HasPrefix(s, "TZ=") || strings.HasPrefix(s, "CRON_TZ=") {
		return nil, fmt.Errorf("%q: leave the time zone out of the schedule; it runs in the scheduler's", s)
	}
	sched, err := cron.ParseStandard(s)
	if err != nil {
		return nil, fmt.Errorf("%q is not a cron schedule (minute hour day-of-month month day-of-week, or @daily, @weekly, …): %w", s, err)
	}
	if sched.Next(time.Now()).IsZero() {
		return nil, fmt.Errorf("%q never fires", s)
	}
	return sched, nil
}

// NextRunsRange is how many upcoming runs NextRuns lists at most.
var NextRunsRange = bounds.Range[int]{Min: 1, Max: 1000}

// NextRuns lists the next n times a drill schedule fires after from, in from's time zone: the scheduler's
// (cron(8) and a CronJob without timeZone run in their host's local time).
func NextRuns(schedule string, from time.Time, n int) ([]time.Time, error) {
	if err := NextRunsRange.Check("runs", n); err != nil {
		return nil, err
	}
	sched, err := parseSchedule(schedule)
	if err != nil {
		return nil, fmt.Errorf("schedule: %w", err)
	}
	out := make([]time.Time, 0, n)
	for t := from; len(out) < n; {
		t = sched.Next(t)
		if t.IsZero() {
			break
		}
		out = append(out, t)
	}
	return out, nil
}

// ErrGuard means a guard refused the drill before anything was touched.
var ErrGuard = errors.New("drill refused by its guards")

// CheckEndpoint refuses a cloud whose Keystone URL or region the drill does not allow.
func (g Guards) CheckEndpoint(authURL, region string) error {
	if !g.Staging {
		return fmt.Errorf("%w: guards.staging is not true", ErrGuard)
	}
	if !slices.Contains(normalizeURLs(g.AllowedEndpoints), normalizeURL(authURL)) {
		return fmt.Errorf("%w: Keystone %s is not in guards.allowedEndpoints %v", ErrGuard, authURL, g.AllowedEndpoints)
	}
	if len(g.AllowedRegions) > 0 && !slices.Contains(g.AllowedRegions, region) {
		return fmt.Errorf("%w: region %q is not in guards.allowedRegions %v", ErrGuard, region, g.AllowedRegions)
	}
	return nil
}

// CheckBlastRadius refuses a drill whose resolved targets exceed its limits.
func (g Guards) CheckBlastRadius(hosts, instances, volumes int) error {
	var over []string
	if hosts > g.MaxHosts {
		over = append(over, fmt.Sprintf("%d hosts > maxHosts %d", hosts, g.MaxHosts))
	}
	if instances > g.MaxInstances {
		over = append(over, fmt.Sprintf("%d instances > maxInstances %d", instances, g.MaxInstances))
	}
	if volumes > g.MaxVolumes {
		over = append(over, fmt.Sprintf("%d volumes > maxVolumes %d", volumes, g.MaxVolumes))
	}
	if len(over) > 0 {
		return fmt.Errorf("%w: blast radius: %s", ErrGuard, strings.Join(over, ", "))
	}
	return nil
}

// normalizeURL compares URLs the way Keystone serves them: scheme and host case-insensitive, no trailing slash.
func normalizeURL(s string) string {
	u, err := url.Parse(strings.TrimRight(s, "/"))
	if err != nil {
		return s
	}
	u.Scheme, u.Host = strings.ToLower(u.Scheme), strings.ToLower(u.Host)
	return u.String()
}

func normalizeURLs(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = normalizeURL(s)
	}
	return out
}
