package settings

import (
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"

	"github.com/spf13/pflag"

	"github.com/osdr/osdr/internal/run"
)

// ErrNotConfigured is wrapped by the errors of settings a command needs but nobody gave.
var ErrNotConfigured = errors.New("not configured")

// Error names the setting that is wrong and where its value came from (a flag or an environment variable), so
// the operator knows what to fix.
type Error struct {
	// Setting is what the value is for, e.g. "Cinder database DSN".
	Setting string
	// Source is the flag (--inventory) or variable ($OSDR_INVENTORY) the value came from, or the list of places
	// that could have given it.
	Source string
	Err    error
}

func (e *Error) Error() string { return fmt.Sprintf("%s (%s): %v", e.Setting, e.Source, e.Err) }
func (e *Error) Unwrap() error { return e.Err }

// Flags holds the contract's flags as parsed. An empty value means "not given": the environment applies. Callers
// that name a setting another way (a drill file's cloud) may fill a field before Resolve.
type Flags struct {
	OSCloud      string
	OSRegionName string
	OSCACert     string
	// Insecure and Debug are nil when not given, so that --insecure=false can override $OS_INSECURE.
	Insecure               *bool
	Debug                  *bool
	CinderDBDSNFile        string
	NovaDBDSNFile          string
	AllowInsecureDSNFile   *bool
	Inventory              string
	SSHKey                 string
	SSHUser                string
	KnownHosts             string
	InsecureIgnoreHostKeys bool
	RunsDir                string
}

// AddFlags registers on fs the flags of the parts of the contract a command uses (all of them when none is
// named).
func AddFlags(fs *pflag.FlagSet, parts ...Part) *Flags {
	if len(parts) == 0 {
		parts = []Part{PartCloud, PartDatabases, PartMachines, PartRuns}
	}
	f := &Flags{}
	for _, p := range parts {
		switch p {
		case PartCloud:
			fs.StringVar(&f.OSCloud, FlagOSCloud, "", "clouds.yaml entry of the cloud (default $OS_CLOUD; without either, the OS_* variables)")
			fs.StringVar(&f.OSRegionName, FlagOSRegionName, "", "region of the cloud, one of a clouds.yaml entry's regions (default $OS_REGION_NAME, else the entry's region_name or first region)")
			fs.StringVar(&f.OSCACert, FlagOSCACert, "", "CA bundle the cloud's API certificates are verified against, over clouds.yaml's cacert (default $OS_CACERT)")
			optionalBoolFlag(fs, &f.Insecure, FlagInsecure, "do not verify the cloud's API certificates: anyone on the path can read and change the requests (default $OS_INSECURE, else clouds.yaml's verify)")
			optionalBoolFlag(fs, &f.Debug, FlagDebug, "log every HTTP exchange with the cloud's APIs to stderr, tokens and passwords redacted (default $"+EnvDebug+")")
		case PartDatabases:
			fs.StringVar(&f.CinderDBDSNFile, FlagCinderDBDSNFile, "", "file holding the Cinder database DSN (default $OSDR_CINDER_DB_DSN_FILE or $OSDR_CINDER_DB_DSN)")
			fs.StringVar(&f.NovaDBDSNFile, FlagNovaDBDSNFile, "", "file holding the Nova cell database DSNs, one per line (default $OSDR_NOVA_DB_DSN_FILE or $OSDR_NOVA_DB_DSN)")
			optionalBoolFlag(fs, &f.AllowInsecureDSNFile, FlagAllowInsecureDSNFile, "use a DSN file that others, or a group this process is not in, can read or change, with a warning instead of refusing it (default $"+EnvAllowInsecureDSNFile+")")
		case PartMachines:
			fs.StringVar(&f.Inventory, FlagInventory, "", "YAML inventory of SSH endpoints for compute hosts and guests (default $OSDR_INVENTORY)")
			fs.StringVar(&f.SSHKey, FlagSSHKey, "", "default SSH private key (default $OSDR_SSH_KEY)")
			fs.StringVar(&f.SSHUser, FlagSSHUser, "", "default SSH user (default $OSDR_SSH_USER)")
			fs.StringVar(&f.KnownHosts, FlagKnownHosts, "", "known_hosts file that SSH host keys are verified against (default $OSDR_KNOWN_HOSTS, else ~/.ssh/known_hosts)")
			fs.BoolVar(&f.InsecureIgnoreHostKeys, FlagInsecureIgnoreHostKeys, false, "accept any SSH host key: anyone on the path can impersonate the hosts")
		case PartRuns:
			fs.StringVar(&f.RunsDir, FlagRunsDir, "", "directory holding one directory per run (default $OSDR_RUNS_DIR, else ./"+defaultRunsDir+")")
		}
	}
	return f
}

// Part is one part of the contract a command reads; a command registers the flags of the parts it uses, and
// reads the rest of the contract (if it needs any) from the environment alone.
type Part int

const (
	PartCloud     Part = iota // clouds.yaml / OS_*, TLS, --debug
	PartDatabases             // the Cinder and Nova DSNs
	PartMachines              // the inventory and SSH
	PartRuns                  // the runs directory
)

// String lists the flags given. Flags hold what the operator typed, which may be a secret where a path goes:
// a value that looks like a DSN is withheld.
func (f *Flags) String() string {
	var given []string
	add := func(name, value string) {
		switch {
		case value == "":
		case looksLikeDSN(value):
			given = append(given, "--"+name+"=(withheld: it looks like a DSN)")
		default:
			given = append(given, "--"+name+"="+value)
		}
	}
	addBool := func(name string, value *bool) {
		if value != nil {
			add(name, strconv.FormatBool(*value))
		}
	}
	add(FlagOSCloud, f.OSCloud)
	add(FlagOSRegionName, f.OSRegionName)
	add(FlagOSCACert, f.OSCACert)
	addBool(FlagInsecure, f.Insecure)
	addBool(FlagDebug, f.Debug)
	add(FlagCinderDBDSNFile, f.CinderDBDSNFile)
	add(FlagNovaDBDSNFile, f.NovaDBDSNFile)
	addBool(FlagAllowInsecureDSNFile, f.AllowInsecureDSNFile)
	add(FlagInventory, f.Inventory)
	add(FlagSSHKey, f.SSHKey)
	add(FlagSSHUser, f.SSHUser)
	add(FlagKnownHosts, f.KnownHosts)
	if f.InsecureIgnoreHostKeys {
		add(FlagInsecureIgnoreHostKeys, "true")
	}
	add(FlagRunsDir, f.RunsDir)
	return strings.Join(given, " ")
}

// GoString keeps %#v from printing a DSN given where a path goes.
func (f *Flags) GoString() string { return f.String() }

// LogValue keeps slog, whose JSON handler would otherwise marshal the fields, from recording one.
func (f *Flags) LogValue() slog.Value { return slog.StringValue(f.String()) }

// optionalBool is a boolean flag that knows whether it was given.
type optionalBool struct{ value **bool }

func optionalBoolFlag(fs *pflag.FlagSet, value **bool, name, usage string) {
	fs.VarPF(optionalBool{value}, name, "", usage).NoOptDefVal = "true"
}

func (o optionalBool) Type() string { return "bool" }

func (o optionalBool) String() string {
	if *o.value == nil {
		return ""
	}
	return strconv.FormatBool(**o.value)
}

func (o optionalBool) Set(text string) error {
	v, err := strconv.ParseBool(text)
	if err != nil {
		return err
	}
	*o.value = &v
	return nil
}

// Settings is the resolved contract. Printing it (fmt, slog) never shows a password.
type Settings struct {
	Cloud     *Cloud
	Databases Databases
	Machines  *Machines
	Runs      run.Store
	// Warnings are things that work but that the operator should hear about (a DSN file others can read, host
	// keys not verified); callers print them.
	Warnings []string
}

// resolution carries what every part of the contract needs while it is being resolved.
type resolution struct {
	flags    *Flags
	getenv   func(string) string
	warnings []string
}

func (r *resolution) warn(format string, args ...any) {
	r.warnings = append(r.warnings, fmt.Sprintf(format, args...))
}

// pick returns the flag's value when it was given, else the environment variable's, with where it came from.
func (r *resolution) pick(flagValue, flagName, envName string) (value, source string) {
	if flagValue != "" {
		return flagValue, "--" + flagName
	}
	if v := r.getenv(envName); v != "" {
		return v, "$" + envName
	}
	return "", ""
}

// pickBool is pick for a yes/no setting: the flag when given, else the variable as strconv.ParseBool reads it.
func (r *resolution) pickBool(setting string, flagValue *bool, flagName, envName string) (value bool, source string, err error) {
	if flagValue != nil {
		return *flagValue, "--" + flagName, nil
	}
	text := r.getenv(envName)
	if text == "" {
		return false, "", nil
	}
	if value, err = strconv.ParseBool(text); err != nil {
		return false, "", &Error{Setting: setting, Source: "$" + envName, Err: fmt.Errorf("%q is not a boolean", text)}
	}
	return value, "$" + envName, nil
}

// Resolve reads the contract from the flags and, where a flag was not given, from getenv (os.Getenv outside
// tests). Every invalid setting is reported, not just the first. Settings a command may not need (the cloud,
// the databases) may be absent; asking for them later returns an error wrapping ErrNotConfigured.
func (f *Flags) Resolve(getenv func(string) string) (*Settings, error) {
	r := &resolution{flags: f, getenv: getenv}
	cloud, cloudErr := r.cloud()
	databases, dbErr := r.databases()
	machines, machinesErr := r.machines()
	runs, runsErr := r.runs()
	if err := errors.Join(cloudErr, dbErr, machinesErr, runsErr, r.limits()); err != nil {
		return nil, err
	}
	return &Settings{Cloud: cloud, Databases: databases, Machines: machines, Runs: runs, Warnings: r.warnings}, nil
}

// String describes the settings for an operator, passwords masked.
func (s *Settings) String() string {
	return strings.Join([]string{
		"cloud: " + s.Cloud.String(),
		"databases: " + s.Databases.String(),
		"machines: " + s.Machines.String(),
		"runs: " + s.Runs.String(),
	}, "\n")
}

// GoString keeps %#v from printing the passwords the settings hold.
func (s *Settings) GoString() string { return s.String() }

// LogValue is what slog records: the same masked description, one attribute per part.
func (s *Settings) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("cloud", s.Cloud.String()),
		slog.String("databases", s.Databases.String()),
		slog.String("machines", s.Machines.String()),
		slog.String("runs", s.Runs.String()),
	)
}
