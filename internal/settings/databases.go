package settings

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"
)

const redactedPassword = "***"

// DSN is one parsed go-sql-driver database DSN, set to read DATETIME columns as UTC time.Time values: Nova and
// Cinder store naive UTC timestamps. It prints with its password masked.
type DSN struct {
	config *mysql.Config
}

// Config returns a copy of the driver configuration, for mysql.NewConnector.
func (d DSN) Config() *mysql.Config { return d.config.Clone() }

// String is the DSN with its password masked: user:***@tcp(host:3306)/nova?….
func (d DSN) String() string {
	if d.config == nil {
		return "not configured"
	}
	masked := d.config.Clone()
	if masked.Passwd != "" {
		masked.Passwd = redactedPassword
	}
	return masked.FormatDSN()
}

// GoString keeps %#v from printing the password.
func (d DSN) GoString() string { return d.String() }

// LogValue keeps slog from recording the password.
func (d DSN) LogValue() slog.Value { return slog.StringValue(d.String()) }

// Databases are the Cinder database and the Nova cell databases, as far as they were configured.
type Databases struct {
	cinder       DSN
	cinderSource string
	novaCells    []DSN
	novaSource   string
}

func (r *resolution) databases() (Databases, error) {
	var d Databases
	allow, allowSource, allowErr := r.pickBool("insecure DSN files", r.flags.AllowInsecureDSNFile, FlagAllowInsecureDSNFile, EnvAllowInsecureDSNFile)
	limit, limitErr := FileLimit{What: "DSN file", Bytes: MaxDSNFileBytes, Env: EnvMaxDSNFileBytes}.withOverride(r.getenv)
	if err := errors.Join(allowErr, limitErr); err != nil {
		return d, err
	}
	files := secretFiles{allowInsecure: allow, allowSource: allowSource, limit: limit}
	cinderRaw, cinderSource, cinderErr := r.dsnSetting(files, "Cinder database DSN", r.flags.CinderDBDSNFile, FlagCinderDBDSNFile, EnvCinderDBDSN, EnvCinderDBDSNFile)
	if cinderErr == nil && cinderRaw != "" {
		d.cinderSource = cinderSource
		if d.cinder, cinderErr = ParseDSN(cinderRaw); cinderErr != nil {
			cinderErr = &Error{Setting: "Cinder database DSN", Source: cinderSource, Err: cinderErr}
		}
	}
	novaRaw, novaSource, novaErr := r.dsnSetting(files, "Nova database DSNs", r.flags.NovaDBDSNFile, FlagNovaDBDSNFile, EnvNovaDBDSN, EnvNovaDBDSNFile)
	if novaErr == nil && novaRaw != "" {
		d.novaSource = novaSource
		if d.novaCells, novaErr = parseCells(novaRaw); novaErr != nil {
			novaErr = &Error{Setting: "Nova database DSNs", Source: novaSource, Err: novaErr}
		}
	}
	return d, errors.Join(cinderErr, novaErr)
}

// dsnSetting returns the raw DSN text: from the flag's file, else from the variable or its _FILE twin (never
// both: one of them would be silently ignored).
func (r *resolution) dsnSetting(files secretFiles, setting, flagFile, flagName, envName, envFileName string) (raw, source string, err error) {
	if flagFile != "" {
		return r.readSecretFile(files, setting, "--"+flagName, flagFile)
	}
	value, file := r.getenv(envName), r.getenv(envFileName)
	switch {
	case value != "" && file != "":
		return "", "", &Error{Setting: setting, Source: "$" + envName + " and $" + envFileName, Err: errors.New("both are set; set only one")}
	case file != "":
		return r.readSecretFile(files, setting, "$"+envFileName, file)
	case value != "":
		return value, "$" + envName, nil
	default:
		return "", "", nil
	}
}

// secretFiles is how secret files are read: whether one others can read is only warned about, and who said so,
// and how large one may be.
type secretFiles struct {
	allowInsecure bool
	allowSource   string
	limit         FileLimit
}

// readSecretFile reads a file holding a secret, refusing one others can read or change (see
// InsecureFileError). Its errors name the file once, in the source, and only when it does not look like a DSN.
// The checks are made on the opened file, so a file swapped after them is not read.
func (r *resolution) readSecretFile(files secretFiles, setting, source, path string) (content, sourceWithPath string, err error) {
	if looksLikeDSN(path) {
		return "", "", &Error{Setting: setting, Source: source, Err: fmt.Errorf("%w: this takes the path of a file that holds the DSN", ErrLooksLikeDSN)}
	}
	sourceWithPath = source + "=" + path
	fail := func(err error) (string, string, error) {
		return "", "", &Error{Setting: setting, Source: sourceWithPath, Err: withoutPath(err)}
	}
	file, err := os.Open(path)
	if err != nil {
		return fail(err)
	}
	defer file.Close()
	info, err := file.Stat()
	if err != nil {
		return fail(err)
	}
	if problem := secretFileProblem(path, info); problem != nil {
		if !files.allowInsecure {
			return fail(problem)
		}
		r.warn("%s (%s): %v (accepted: %s)", setting, sourceWithPath, problem, files.allowSource)
	}
	raw, err := readLimited(file, files.limit)
	if err != nil {
		return fail(err)
	}
	content = strings.TrimSpace(string(raw))
	if content == "" {
		return fail(errors.New("the file is empty"))
	}
	return content, sourceWithPath, nil
}

// ParseDSN validates a go-sql-driver DSN. Its errors never quote the DSN: it may hold a password.
func ParseDSN(raw string) (DSN, error) {
	config, err := mysql.ParseDSN(raw)
	if err != nil {
		return DSN{}, dsnProblem(err)
	}
	if config.DBName == "" {
		return DSN{}, errors.New("the DSN names no database (…/dbname)")
	}
	config.ParseTime = true
	config.Loc = time.UTC
	return DSN{config: config}, nil
}

// parseCells reads the Nova cell DSNs. A DSN may itself hold a comma (in its password, or charset=a,b), so a
// value with several lines (a _FILE) is split on lines only; a one-line value is split on commas.
func parseCells(raw string) ([]DSN, error) {
	separator, hint := ",", fmt.Sprintf(" (a DSN holding a comma goes one per line in $%s)", EnvNovaDBDSNFile)
	if strings.Contains(raw, "\n") {
		separator, hint = "\n", ""
	}
	var parts []string
	for part := range strings.SplitSeq(raw, separator) {
		if part = strings.TrimSpace(part); part != "" {
			parts = append(parts, part)
		}
	}
	cells := make([]DSN, 0, len(parts))
	seen := map[string]int{}
	for i, part := range parts {
		cell, err := ParseDSN(part)
		if err != nil {
			return nil, fmt.Errorf("cell DSN %d of %d: %w%s", i+1, len(parts), err, hint)
		}
		// The same database twice would have every statement of the recovery applied to it twice.
		formatted := cell.config.FormatDSN()
		if first, dup := seen[formatted]; dup {
			return nil, fmt.Errorf("cell DSNs %d and %d are the same database %s", first, i+1, cell)
		}
		seen[formatted] = i + 1
		cells = append(cells, cell)
	}
	return cells, nil
}

// Cinder is the Cinder database.
func (d Databases) Cinder() (DSN, error) {
	if d.cinder.config == nil {
		return DSN{}, &Error{Setting: "Cinder database DSN", Source: fmt.Sprintf("--%s, $%s or $%s", FlagCinderDBDSNFile, EnvCinderDBDSN, EnvCinderDBDSNFile), Err: ErrNotConfigured}
	}
	return d.cinder, nil
}

// NovaCells are the Nova cell databases in the order given; each holds its cell's block_device_mapping.
func (d Databases) NovaCells() ([]DSN, error) {
	if len(d.novaCells) == 0 {
		return nil, &Error{Setting: "Nova database DSNs", Source: fmt.Sprintf("--%s, $%s or $%s", FlagNovaDBDSNFile, EnvNovaDBDSN, EnvNovaDBDSNFile), Err: ErrNotConfigured}
	}
	return append([]DSN(nil), d.novaCells...), nil
}

// String describes both databases with passwords masked.
func (d Databases) String() string {
	cinder := "Cinder not configured"
	if d.cinder.config != nil {
		cinder = fmt.Sprintf("Cinder %s (%s)", d.cinder, d.cinderSource)
	}
	nova := "Nova not configured"
	if len(d.novaCells) > 0 {
		cells := make([]string, len(d.novaCells))
		for i, cell := range d.novaCells {
			cells[i] = cell.String()
		}
		nova = fmt.Sprintf("Nova cells [%s] (%s)", strings.Join(cells, ", "), d.novaSource)
	}
	return cinder + "; " + nova
}

// GoString keeps %#v from printing the passwords.
func (d Databases) GoString() string { return d.String() }
