package drills

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"regexp"
	"strings"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/osdr/osdr/inject"
	"github.com/osdr/osdr/internal/cloud"
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
	Schedule     string       `json:"schedule,omitempty"`
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
	GuestReboot string   `json:"guestReboot,omitempty"` // fstab (default), all, none
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

func (d *Duration) UnmarshalJSON(b []byte) error {
	s := strings.Trim(string(b), `"`)
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("duration %q: want a Go duration such as 90s or 10m", s)
	}
	d.Duration = v
	return nil
}

func (d Duration) MarshalJSON() ([]byte, error) { return []byte(`"` + d.String() + `"`), nil }

// ValidationError lists every problem of a drill file, each with the field it concerns.
type ValidationError struct {
	File     string
	Problems []string
}

func (e *ValidationError) Error() string {
	return fmt.Sprintf("drill %s is not valid:\n  - %s", e.File, strings.Join(e.Problems, "\n  - "))
}

var namePattern = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)

// Load reads and validates a drill file.
func Load(path string, faultKinds []string) (*Drill, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read drill: %w", err)
	}
	return Parse(path, raw, faultKinds)
}

// Parse decodes a drill strictly (unknown fields are errors) and validates it against the fault kinds the
// registry knows.
func Parse(name string, raw []byte, faultKinds []string) (*Drill, error) {
	var d Drill
	if err := yaml.UnmarshalStrict(raw, &d); err != nil {
		return nil, &ValidationError{File: name, Problems: []string{err.Error()}}
	}
	if problems := d.validate(faultKinds); len(problems) > 0 {
		return nil, &ValidationError{File: name, Problems: problems}
	}
	return &d, nil
}

func (d *Drill) validate(faultKinds []string) []string {
	var p []string
	add := func(format string, args ...any) { p = append(p, fmt.Sprintf(format, args...)) }
	addErr := func(err error) {
		if err != nil {
			p = append(p, err.Error())
		}
	}
	if d.APIVersion != APIVersion {
		add("apiVersion: %q, want %q", d.APIVersion, APIVersion)
	}
	if d.Kind != "Drill" {
		add("kind: %q, want \"Drill\"", d.Kind)
	}
	if !namePattern.MatchString(d.Name) {
		add("name: %q must be lowercase letters, digits and dashes (it names runs, locks and metrics)", d.Name)
	}
	if !d.Guards.Staging {
		add("guards.staging: must be true: drills break clouds and run only on staging")
	}
	if len(d.Guards.AllowedEndpoints) == 0 {
		add("guards.allowedEndpoints: list the Keystone URLs this drill may run against")
	}
	for i, e := range d.Guards.AllowedEndpoints {
		if u, err := url.Parse(e); err != nil || u.Scheme == "" || u.Host == "" {
			add("guards.allowedEndpoints[%d]: %q is not an absolute URL", i, e)
		}
	}
	for _, g := range []struct {
		field string
		v     int
	}{{"maxHosts", d.Guards.MaxHosts}, {"maxInstances", d.Guards.MaxInstances}, {"maxVolumes", d.Guards.MaxVolumes}} {
		if err := inject.LimitRange.Check("guards."+g.field, g.v); err != nil {
			add("%v (the blast radius is always bounded)", err)
		}
	}
	if len(d.Targets.Instances)+len(d.Targets.Names)+len(d.Targets.Tags)+len(d.Targets.Hosts) == 0 {
		add("targets: select instances by instances, names, tags or hosts")
	}
	if len(d.Faults) == 0 {
		add("faults: name at least one fault")
	}
	for i, f := range d.Faults {
		if !contains(faultKinds, f.Kind) {
			add("faults[%d].kind: %q is not a fault osdr knows (%s)", i, f.Kind, strings.Join(faultKinds, ", "))
		}
	}
	switch d.Recovery.GuestReboot {
	case "", "fstab", "all", "none":
	default:
		add("recovery.guestReboot: %q, want fstab, all or none", d.Recovery.GuestReboot)
	}
	// Zero (or absent) takes the default; anything else must be in range.
	if c := d.Recovery.Concurrency; c != 0 {
		addErr(recover.ConcurrencyRange.Check("recovery.concurrency", c))
	}
	addErr(cloud.APIRateRange.Check("recovery.apiRate", d.Recovery.APIRate))
	if t := d.Recovery.Timeout.Duration; t != 0 {
		addErr(recover.WaitRange.Check("recovery.timeout", t))
	}
	if t := d.Verification.Deadline.Duration; t != 0 {
		addErr(suites.DeadlineRange.Check("verification.deadline", t))
	}
	if d.Reports.Pushgateway != "" {
		if u, err := url.Parse(d.Reports.Pushgateway); err != nil || u.Scheme == "" || u.Host == "" {
			add("reports.pushgateway: %q is not an absolute URL", d.Reports.Pushgateway)
		}
	}
	return p
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// ErrGuard means a guard refused the drill before anything was touched.
var ErrGuard = errors.New("drill refused by its guards")

// CheckEndpoint refuses a cloud whose Keystone URL or region the drill does not allow.
func (g Guards) CheckEndpoint(authURL, region string) error {
	if !g.Staging {
		return fmt.Errorf("%w: guards.staging is not true", ErrGuard)
	}
	if !contains(normalizeURLs(g.AllowedEndpoints), normalizeURL(authURL)) {
		return fmt.Errorf("%w: Keystone %s is not in guards.allowedEndpoints %v", ErrGuard, authURL, g.AllowedEndpoints)
	}
	if len(g.AllowedRegions) > 0 && !contains(g.AllowedRegions, region) {
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
