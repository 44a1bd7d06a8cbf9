package settings

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
)

// shellSafe values need no quoting in a POSIX shell, nor in tools that read KEY=value files without a shell.
var shellSafe = regexp.MustCompile(`^[A-Za-z0-9_@%+=:,./-]+$`)

// RenderEnv writes values, keyed by the Env* names, as the content of an osdr.env: one KEY=value line per
// non-empty value, in EnvNames order, quoted so that `set -a; . osdr.env; set +a` restores every value byte for
// byte. A name outside the contract is an error: a new setting is added to the contract first.
func RenderEnv(values map[string]string) (string, error) {
	names := EnvNames()
	var unknown []string
	for name := range values {
		if !slices.Contains(names, name) {
			unknown = append(unknown, name)
		}
	}
	if len(unknown) > 0 {
		slices.Sort(unknown)
		return "", fmt.Errorf("render osdr.env: %s not in the settings contract", strings.Join(unknown, ", "))
	}
	var b strings.Builder
	b.WriteString("# osdr settings; load with: set -a; . ./osdr.env; set +a\n")
	for _, name := range names {
		value := values[name]
		if value == "" {
			continue
		}
		if strings.ContainsRune(value, 0) {
			return "", fmt.Errorf("render osdr.env: %s holds a NUL byte, which no environment can carry", name)
		}
		fmt.Fprintf(&b, "%s=%s\n", name, shellQuote(value))
	}
	return b.String(), nil
}

func shellQuote(value string) string {
	if shellSafe.MatchString(value) {
		return value
	}
	return "'" + strings.ReplaceAll(value, "'", `'\''`) + "'"
}

// WriteEnvFile writes RenderEnv's content to path, readable by its owner only (it may hold DSN passwords),
// replacing any previous file whole.
func WriteEnvFile(path string, values map[string]string) (err error) {
	content, err := RenderEnv(values)
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".osdr.env-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer func() {
		if err != nil {
			err = errors.Join(err, os.Remove(tmp.Name()))
		}
	}()
	if _, err := tmp.WriteString(content); err != nil {
		return errors.Join(fmt.Errorf("write %s: %w", path, err), tmp.Close())
	}
	if err := tmp.Sync(); err != nil {
		return errors.Join(fmt.Errorf("write %s: %w", path, err), tmp.Close())
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
