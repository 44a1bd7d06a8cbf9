package settings

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/pflag"
)

// resolveWith parses args as the contract's flags and resolves them against env, as a command would.
func resolveWith(t *testing.T, args []string, env map[string]string) (*Settings, error) {
	t.Helper()
	fs := pflag.NewFlagSet("osdr", pflag.ContinueOnError)
	flags := AddFlags(fs)
	if err := fs.Parse(args); err != nil {
		t.Fatalf("parse flags %q: %v", args, err)
	}
	return flags.Resolve(func(name string) string { return env[name] })
}

func mustResolve(t *testing.T, args []string, env map[string]string) *Settings {
	t.Helper()
	s, err := resolveWith(t, args, env)
	if err != nil {
		t.Fatalf("resolve: %v", err)
	}
	return s
}

// refused resolves args and env, wants a *settings.Error whose message names each of want, and returns it.
func refused(t *testing.T, args []string, env map[string]string, want ...string) error {
	t.Helper()
	_, err := resolveWith(t, args, env)
	if err == nil {
		t.Fatal("Resolve succeeded, want an error")
	}
	var settingErr *Error
	if !errors.As(err, &settingErr) {
		t.Errorf("error %v is not a *settings.Error", err)
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not contain %q", err, w)
		}
	}
	return err
}

// writeFile writes content into dir/name with mode and returns its path.
func writeFile(t *testing.T, dir, name, content string, mode os.FileMode) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
	// WriteFile's mode is filtered by the umask; the tests about permissions need the exact one.
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
	return path
}
