package settings

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/spf13/pflag"
)

// leaked is the password every scenario below hides somewhere it does not belong.
const leaked = "Pw-9zq4-n0t-f0r-y0ur-eyes"

// renderings are every way the settings and the flags can be printed.
func renderings(t *testing.T, flags *Flags, s *Settings) map[string]string {
	t.Helper()
	var text, json bytes.Buffer
	slog.New(slog.NewTextHandler(&text, nil)).Info("resolved", "flags", flags, "settings", s)
	slog.New(slog.NewJSONHandler(&json, nil)).Info("resolved", "flags", flags, "settings", s)
	out := map[string]string{
		"flags %v": fmt.Sprintf("%v", flags), "flags %+v": fmt.Sprintf("%+v", flags), "flags %#v": fmt.Sprintf("%#v", flags),
		"slog text": text.String(), "slog JSON": json.String(),
	}
	if s != nil {
		out["settings %v"], out["settings %+v"], out["settings %#v"] = fmt.Sprintf("%v", s), fmt.Sprintf("%+v", s), fmt.Sprintf("%#v", s)
		out["warnings"] = strings.Join(s.Warnings, "\n")
	}
	return out
}

func TestSecretsAreNeverShown(t *testing.T) {
	dir := t.TempDir()
	dsn := "root:" + leaked + "@tcp(127.0.0.1:3306)/cinder"
	clouds := writeFile(t, dir, "clouds.yaml", "clouds:\n  staging:\n    auth: {auth_url: \"http://127.0.0.1:5000/v3\", username: admin}\n", 0o600)
	secureYAML := func(name, content string) string { return writeFile(t, dir, name, content, 0o600) }
	named := map[string]string{"HOME": dir, EnvOSClientConfigFile: clouds, EnvOSCloud: "staging"}
	openrc := map[string]string{"HOME": dir, EnvOSAuthURL: "http://127.0.0.1:5000/v3", EnvOSUsername: "admin", EnvOSPassword: leaked}
	malformedFile := writeFile(t, dir, "malformed.dsn", "root:"+leaked+"@tcp(127.0.0.1:3306)/cinder?parseTime="+leaked+"\n", 0o600)
	tests := []struct {
		name      string
		args      []string
		env       map[string]string
		wantDSNIs bool // the error wraps ErrLooksLikeDSN
	}{
		// A DSN where a path goes, on the command line and in the environment.
		{"--cinder-db-dsn-file", []string{"--" + FlagCinderDBDSNFile, dsn}, nil, true},
		{"--nova-db-dsn-file, a unix socket", []string{"--" + FlagNovaDBDSNFile, "nova:" + leaked + "@unix(/run/mysqld/mysqld.sock)/nova"}, nil, true},
		{"$OSDR_CINDER_DB_DSN_FILE", nil, map[string]string{EnvCinderDBDSNFile: dsn}, true},
		{"$OSDR_NOVA_DB_DSN_FILE without an address", nil, map[string]string{EnvNovaDBDSNFile: "nova:" + leaked + "@/nova"}, true},
		{"--inventory", []string{"--" + FlagInventory, dsn}, nil, true},
		{"$OSDR_INVENTORY", nil, map[string]string{EnvInventory: dsn}, true},
		{"--ssh-key", []string{"--" + FlagSSHKey, dsn}, nil, true},
		{"--known-hosts", []string{"--" + FlagKnownHosts, dsn}, nil, true},
		{"--runs-dir", []string{"--" + FlagRunsDir, dsn}, nil, true},
		{"--os-cacert", []string{"--" + FlagOSCACert, dsn}, openrc, true},
		{"$OS_CACERT of a clouds.yaml entry", nil, with(named, EnvOSCACert, dsn), true},
		{"$OS_CERT and $OS_KEY", nil, with(openrc, EnvOSCert, dsn, EnvOSKey, dsn), true},
		{"$OS_CLIENT_CONFIG_FILE", nil, with(named, EnvOSClientConfigFile, dsn), true},
		{"$OS_CLIENT_SECURE_FILE", nil, with(named, EnvOSClientSecureFile, dsn), true},
		// Malformed DSNs: the driver's messages quote what they could not parse.
		{"unterminated address", nil, map[string]string{EnvCinderDBDSN: "root:" + leaked + "@tcp(127.0.0.1:3306/cinder"}, false},
		{"password with a slash, no database", nil, map[string]string{EnvCinderDBDSN: "root:" + leaked + "/x@tcp(127.0.0.1:3306)"}, false},
		{"password as a parameter's value", nil, map[string]string{EnvCinderDBDSN: "root:x@tcp(127.0.0.1:3306)/cinder?parseTime=" + leaked}, false},
		{"password as a TLS config name", nil, map[string]string{EnvCinderDBDSN: "root:x@tcp(127.0.0.1:3306)/cinder?tls=" + leaked}, false},
		{"password in a database name", nil, map[string]string{EnvCinderDBDSN: "root:x@tcp(127.0.0.1:3306)/cinder%" + leaked}, false},
		{"a malformed second cell", nil, map[string]string{EnvNovaDBDSN: cell0DSN + ",nova:" + leaked + "/x@tcp(127.0.0.1:3306)"}, false},
		{"a malformed DSN file", []string{"--" + FlagCinderDBDSNFile, malformedFile}, nil, false},
		// Keystone.
		{"credentials in the auth URL", nil, with(openrc, EnvOSAuthURL, "http://admin:"+leaked+"@127.0.0.1:5000/v3"), false},
		{"an auth URL that does not parse", nil, with(openrc, EnvOSAuthURL, "http://admin:"+leaked+"%zz@127.0.0.1:5000/v3"), false},
		{"secure.yaml, unterminated quote", nil, with(named, EnvOSClientSecureFile, secureYAML("s1.yaml", "clouds:\n  staging:\n    auth:\n      password: \""+leaked+"\n")), false},
		{"secure.yaml, a colon too many", nil, with(named, EnvOSClientSecureFile, secureYAML("s2.yaml", "clouds:\n  staging:\n    auth:\n      password: "+leaked+": x\n")), false},
		{"secure.yaml, auth a string", nil, with(named, EnvOSClientSecureFile, secureYAML("s3.yaml", "clouds:\n  staging:\n    auth: "+leaked+"\n")), false},
		{"secure.yaml, password a list", nil, with(named, EnvOSClientSecureFile, secureYAML("s4.yaml", "clouds:\n  staging:\n    auth:\n      password: ["+leaked+"]\n")), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs := pflag.NewFlagSet("osdr", pflag.ContinueOnError)
			flags := AddFlags(fs)
			if err := fs.Parse(tt.args); err != nil {
				t.Fatal(err)
			}
			s, err := flags.Resolve(func(name string) string { return tt.env[name] })
			if err == nil {
				t.Fatalf("Resolve succeeded: %s", s)
			}
			if strings.Contains(err.Error(), leaked) {
				t.Errorf("the error shows the password: %v", err)
			}
			if got := errors.Is(err, ErrLooksLikeDSN); got != tt.wantDSNIs {
				t.Errorf("errors.Is(%v, ErrLooksLikeDSN) = %v, want %v", err, got, tt.wantDSNIs)
			}
			for name, text := range renderings(t, flags, nil) {
				if strings.Contains(text, leaked) {
					t.Errorf("%s shows the password: %s", name, text)
				}
			}
		})
	}
}

// TestPathsWithAnAtAreStillPaths keeps the DSN check from refusing real paths: systemd's credentials of a
// templated unit, and a colon alone.
func TestPathsWithAnAtAreStillPaths(t *testing.T) {
	for _, path := range []string{"/run/credentials/osdr-drill@night.service/cinder-dsn", "/srv/osdr/run:1/inventory.yaml", "relative@dir/file", "/srv/a@b:c"} {
		if looksLikeDSN(path) {
			t.Errorf("%q is taken for a DSN", path)
		}
	}
}

func TestResolvedSecretsAreNeverShown(t *testing.T) {
	dir := t.TempDir()
	cinderFile := writeFile(t, dir, "cinder.dsn", "cinder:"+leaked+"@tcp(127.0.0.1:3306)/cinder\n", 0o600)
	fs := pflag.NewFlagSet("osdr", pflag.ContinueOnError)
	flags := AddFlags(fs)
	if err := fs.Parse([]string{"--" + FlagCinderDBDSNFile, cinderFile, "--insecure", "--debug"}); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{
		EnvOSAuthURL: "http://127.0.0.1:5000/v3", EnvOSUsername: "admin", EnvOSPassword: leaked,
		EnvOSAppCredentialID: "4a1f", EnvOSAppCredentialSecret: leaked,
		EnvNovaDBDSN: "nova:" + leaked + "@tcp(127.0.0.1:3306)/nova_cell0,nova:" + leaked + "@tcp(127.0.0.1:3306)/nova",
	}
	s, err := flags.Resolve(func(name string) string { return env[name] })
	if err != nil {
		t.Fatal(err)
	}
	for name, text := range renderings(t, flags, s) {
		if strings.Contains(text, leaked) {
			t.Errorf("%s shows the password: %s", name, text)
		}
	}
}
