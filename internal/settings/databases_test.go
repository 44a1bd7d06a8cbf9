package settings

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

const (
	cinderDSN = "cinder:c1nder-pa55@tcp(127.0.0.1:3306)/cinder"
	cell0DSN  = "nova:n0va-pa55@tcp(127.0.0.1:3306)/nova_cell0"
	cell1DSN  = "nova:n0va-pa55@tcp(127.0.0.1:3306)/nova"
)

func TestDatabaseDSNSources(t *testing.T) {
	dir := t.TempDir()
	cinderFile := writeFile(t, dir, "cinder.dsn", "\n  "+cinderDSN+"  \n", 0o600)
	otherCinderFile := writeFile(t, dir, "other-cinder.dsn", "cinder:x@tcp(127.0.0.2:3306)/cinder_flag\n", 0o600)
	openCinderFile := writeFile(t, dir, "open-cinder.dsn", cinderDSN, 0o644)
	// A comma in a password is fine one DSN per line.
	novaFile := writeFile(t, dir, "nova.dsn", "nova:p,w@tcp(127.0.0.1:3306)/nova_cell0\nnova:p,w@tcp(127.0.0.1:3306)/nova\n\n", 0o600)
	tests := []struct {
		name         string
		args         []string
		env          map[string]string
		wantCinderDB string
		wantSource   string
		wantCells    []string
		wantWarnings int
	}{
		{
			name:         "variables",
			env:          map[string]string{EnvCinderDBDSN: cinderDSN, EnvNovaDBDSN: cell1DSN},
			wantCinderDB: "cinder", wantSource: "$" + EnvCinderDBDSN, wantCells: []string{"nova"},
		},
		{
			name:         "_FILE variables, whitespace trimmed",
			env:          map[string]string{EnvCinderDBDSNFile: cinderFile, EnvNovaDBDSNFile: novaFile},
			wantCinderDB: "cinder", wantSource: "$" + EnvCinderDBDSNFile + "=" + cinderFile, wantCells: []string{"nova_cell0", "nova"},
		},
		{
			name:         "flag file wins over the variables",
			args:         []string{"--" + FlagCinderDBDSNFile, otherCinderFile, "--" + FlagNovaDBDSNFile, novaFile},
			env:          map[string]string{EnvCinderDBDSN: cinderDSN, EnvNovaDBDSN: cell1DSN},
			wantCinderDB: "cinder_flag", wantSource: "--" + FlagCinderDBDSNFile + "=" + otherCinderFile, wantCells: []string{"nova_cell0", "nova"},
		},
		{
			name:         "one Nova DSN per cell, comma-separated",
			env:          map[string]string{EnvCinderDBDSN: cinderDSN, EnvNovaDBDSN: cell0DSN + ", " + cell1DSN + ","},
			wantCinderDB: "cinder", wantSource: "$" + EnvCinderDBDSN, wantCells: []string{"nova_cell0", "nova"},
		},
		{
			name:         "file readable by others is used, with a warning, when the operator accepts it",
			env:          map[string]string{EnvCinderDBDSNFile: openCinderFile, EnvNovaDBDSN: cell1DSN, EnvAllowInsecureDSNFile: "true"},
			wantCinderDB: "cinder", wantSource: "$" + EnvCinderDBDSNFile + "=" + openCinderFile, wantCells: []string{"nova"}, wantWarnings: 1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := mustResolve(t, tt.args, tt.env)
			cinder, err := s.Databases.Cinder()
			if err != nil {
				t.Fatalf("Cinder: %v", err)
			}
			if got := cinder.Config().DBName; got != tt.wantCinderDB {
				t.Errorf("Cinder database = %q, want %q", got, tt.wantCinderDB)
			}
			if !strings.Contains(s.Databases.String(), "("+tt.wantSource+")") {
				t.Errorf("Databases = %q, want source %s", s.Databases, tt.wantSource)
			}
			cells, err := s.Databases.NovaCells()
			if err != nil {
				t.Fatalf("NovaCells: %v", err)
			}
			var names []string
			for _, cell := range cells {
				names = append(names, cell.Config().DBName)
			}
			if !slices.Equal(names, tt.wantCells) {
				t.Errorf("Nova cells = %q, want %q", names, tt.wantCells)
			}
			if len(s.Warnings) != tt.wantWarnings {
				t.Errorf("warnings = %q, want %d", s.Warnings, tt.wantWarnings)
			}
		})
	}
}

func TestDSNReadsTimesAsUTC(t *testing.T) {
	s := mustResolve(t, nil, map[string]string{EnvCinderDBDSN: cinderDSN + "?parseTime=false&loc=Local"})
	cinder, err := s.Databases.Cinder()
	if err != nil {
		t.Fatal(err)
	}
	config := cinder.Config()
	if !config.ParseTime || config.Loc != time.UTC {
		t.Errorf("parseTime=%v loc=%v, want true and UTC", config.ParseTime, config.Loc)
	}
	config.DBName = "changed"
	if again, _ := s.Databases.Cinder(); again.Config().DBName != "cinder" {
		t.Error("changing the returned config changed the settings")
	}
}

func TestDatabaseDSNErrors(t *testing.T) {
	dir := t.TempDir()
	emptyFile := writeFile(t, dir, "empty.dsn", " \n", 0o600)
	missing := filepath.Join(dir, "missing.dsn")
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want []string
	}{
		{"variable and its _FILE", nil, map[string]string{EnvCinderDBDSN: cinderDSN, EnvCinderDBDSNFile: emptyFile}, []string{"$" + EnvCinderDBDSN + " and $" + EnvCinderDBDSNFile, "only one"}},
		{"missing file from the flag", []string{"--" + FlagNovaDBDSNFile, missing}, nil, []string{"--" + FlagNovaDBDSNFile, "missing.dsn", "no such file"}},
		{"missing file from the variable", nil, map[string]string{EnvCinderDBDSNFile: missing}, []string{"$" + EnvCinderDBDSNFile, "no such file"}},
		{"empty file", nil, map[string]string{EnvNovaDBDSNFile: emptyFile}, []string{"$" + EnvNovaDBDSNFile, "empty"}},
		{"malformed DSN", nil, map[string]string{EnvCinderDBDSN: "cinder:c1nder-pa55@tcp(127.0.0.1:3306/cinder"}, []string{"$" + EnvCinderDBDSN, "invalid DSN"}},
		{"no database name", nil, map[string]string{EnvCinderDBDSN: "cinder:c1nder-pa55@tcp(127.0.0.1:3306)/"}, []string{"$" + EnvCinderDBDSN, "names no database"}},
		{"malformed cell", nil, map[string]string{EnvNovaDBDSN: cell0DSN + ",nova:n0va-pa55@tcp(127.0.0.1"}, []string{"$" + EnvNovaDBDSN, "cell DSN 2 of 2"}},
		{"comma in a password on one line", nil, map[string]string{EnvNovaDBDSN: "nova:p,w@tcp(127.0.0.1:3306)/nova"}, []string{"cell DSN 1 of 2", "one per line in $" + EnvNovaDBDSNFile}},
		{"same cell twice", nil, map[string]string{EnvNovaDBDSN: cell1DSN + "," + cell1DSN}, []string{"cell DSNs 1 and 2 are the same database"}},
		{"both databases wrong", nil, map[string]string{EnvCinderDBDSN: "nope", EnvNovaDBDSN: "nope"}, []string{"Cinder database DSN", "Nova database DSNs"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := refused(t, tt.args, tt.env, tt.want...)
			for _, password := range []string{"c1nder-pa55", "n0va-pa55"} {
				if strings.Contains(err.Error(), password) {
					t.Errorf("error %q shows a password", err)
				}
			}
		})
	}
}

func TestDatabasesNotConfigured(t *testing.T) {
	s := mustResolve(t, nil, nil)
	if _, err := s.Databases.Cinder(); !errors.Is(err, ErrNotConfigured) || !strings.Contains(err.Error(), "$"+EnvCinderDBDSN) {
		t.Errorf("Cinder error = %v, want ErrNotConfigured naming $%s", err, EnvCinderDBDSN)
	}
	if _, err := s.Databases.NovaCells(); !errors.Is(err, ErrNotConfigured) || !strings.Contains(err.Error(), "--"+FlagNovaDBDSNFile) {
		t.Errorf("NovaCells error = %v, want ErrNotConfigured naming --%s", err, FlagNovaDBDSNFile)
	}
	if got := fmt.Sprint(s.Databases); got != "Cinder not configured; Nova not configured" {
		t.Errorf("Databases = %q", got)
	}
}

// otherGroup is a group this process is not in, or -1 when it cannot give a file one (not root).
func otherGroup(t *testing.T) int {
	t.Helper()
	if os.Geteuid() != 0 {
		return -1
	}
	for gid := 4242; ; gid++ {
		if !inProcessGroups(gid) {
			return gid
		}
	}
}

func TestDSNFilePermissions(t *testing.T) {
	foreign := otherGroup(t)
	tests := []struct {
		mode         os.FileMode
		foreignGroup bool
		want         []string // in the refusal; none: accepted
	}{
		{mode: 0o600},
		{mode: 0o400},
		{mode: 0o640},
		{mode: 0o440},
		{mode: 0o700}, // execute bits let nobody read it
		{mode: 0o611},
		{mode: 0o640, foreignGroup: true, want: []string{"mode 0640", "its group, which this process is not in, can read it", "chgrp it to a group of this process", "or chmod 600"}},
		{mode: 0o644, want: []string{"mode 0644", "others can read it", "chmod 600", "chmod 640"}},
		{mode: 0o604, want: []string{"mode 0604", "others can read it"}},
		{mode: 0o602, want: []string{"mode 0602", "others can change it"}},
		{mode: 0o660, want: []string{"mode 0660", "its group can change it", "chmod 600"}},
		{mode: 0o620, want: []string{"mode 0620", "its group can change it"}},
		{mode: 0o666, want: []string{"mode 0666", "others can read it, others can change it, its group can change it"}},
		{mode: 0o644, foreignGroup: true, want: []string{"others can read it", "its group, which this process is not in, can read it", "chmod 600"}},
	}
	for _, tt := range tests {
		name := fmt.Sprintf("%04o", tt.mode)
		if tt.foreignGroup {
			name += " in a group of others"
		}
		t.Run(name, func(t *testing.T) {
			if tt.foreignGroup && foreign < 0 {
				t.Skip("only root can give a file a group it is not in")
			}
			path := writeFile(t, t.TempDir(), "cinder.dsn", cinderDSN, tt.mode)
			group := groupName(os.Getegid())
			if tt.foreignGroup {
				if err := os.Chown(path, -1, foreign); err != nil {
					t.Fatal(err)
				}
				group = groupName(foreign)
			}
			args := []string{"--" + FlagCinderDBDSNFile, path}
			if len(tt.want) == 0 {
				if s := mustResolve(t, args, nil); len(s.Warnings) != 0 {
					t.Errorf("warnings %q, want none", s.Warnings)
				}
				return
			}
			err := refused(t, args, nil, append(tt.want, path, "group "+group, "--"+FlagAllowInsecureDSNFile)...)
			var insecure *InsecureFileError
			if !errors.As(err, &insecure) || insecure.Path != path || insecure.Mode != tt.mode {
				t.Errorf("error %v is not an InsecureFileError for %s, mode %04o", err, path, tt.mode)
			}
			for _, accept := range []struct {
				args []string
				env  map[string]string
			}{
				{append(args, "--"+FlagAllowInsecureDSNFile), nil},
				{args, map[string]string{EnvAllowInsecureDSNFile: "1"}},
			} {
				s := mustResolve(t, accept.args, accept.env)
				if len(s.Warnings) != 1 || !strings.Contains(s.Warnings[0], tt.want[0]) || !strings.Contains(s.Warnings[0], "accepted") {
					t.Errorf("accepted with %v %v: warnings %q, want one saying %q", accept.args, accept.env, s.Warnings, tt.want[0])
				}
			}
			refused(t, append(args, "--"+FlagAllowInsecureDSNFile+"=false"), map[string]string{EnvAllowInsecureDSNFile: "true"}, tt.want[0])
		})
	}
	refused(t, nil, map[string]string{EnvCinderDBDSN: cinderDSN, EnvAllowInsecureDSNFile: "perhaps"}, "$"+EnvAllowInsecureDSNFile, `"perhaps"`)
}
