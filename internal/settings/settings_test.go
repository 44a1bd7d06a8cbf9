package settings

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"testing"

	"github.com/spf13/pflag"
)

// TestNoSecretOnTheCommandLine pins the contract's promise: no flag takes a password or a DSN, only files.
func TestNoSecretOnTheCommandLine(t *testing.T) {
	fs := pflag.NewFlagSet("osdr", pflag.ContinueOnError)
	AddFlags(fs)
	secret := regexp.MustCompile(`password|secret|token|dsn$|credential`)
	fs.VisitAll(func(f *pflag.Flag) {
		if secret.MatchString(f.Name) {
			t.Errorf("flag --%s takes a secret on the command line", f.Name)
		}
	})
}

func TestRedaction(t *testing.T) {
	keystone := newFakeKeystone(t, testPassword, false)
	secrets := []string{testPassword, "c1nder-pa55", "n0va-pa55", "app-cred-s3cret"}
	env := with(adminOpenrc(keystone.URL()),
		EnvOSAppCredentialSecret, "app-cred-s3cret",
		EnvCinderDBDSN, cinderDSN,
		EnvNovaDBDSN, cell0DSN+","+cell1DSN)
	s := mustResolve(t, nil, env)
	if _, _, err := s.Cloud.Connect(context.Background()); err != nil {
		t.Fatal(err)
	}
	cinder, err := s.Databases.Cinder()
	if err != nil {
		t.Fatal(err)
	}
	var slogText, slogJSON bytes.Buffer
	slog.New(slog.NewTextHandler(&slogText, nil)).Info("settings", "settings", s, "cinder", cinder)
	slog.New(slog.NewJSONHandler(&slogJSON, nil)).Info("settings", "settings", s, "databases", s.Databases)
	asJSON, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	renderings := map[string]string{
		"String":        s.String(),
		"%v":            fmt.Sprintf("%v", s),
		"%+v":           fmt.Sprintf("%+v", s),
		"%#v":           fmt.Sprintf("%#v", s),
		"%+v of a copy": fmt.Sprintf("%+v", *s),
		"%#v of a copy": fmt.Sprintf("%#v", *s),
		"cloud %+v":     fmt.Sprintf("%+v", s.Cloud),
		"cloud %#v":     fmt.Sprintf("%#v", s.Cloud),
		"databases %+v": fmt.Sprintf("%+v", s.Databases),
		"databases %#v": fmt.Sprintf("%#v", s.Databases),
		"DSN %+v":       fmt.Sprintf("%+v", cinder),
		"DSN %#v":       fmt.Sprintf("%#v", cinder),
		"slog text":     slogText.String(),
		"slog JSON":     slogJSON.String(),
		"encoding/json": string(asJSON),
		"warnings":      strings.Join(s.Warnings, "\n"),
	}
	for name, text := range renderings {
		for _, secret := range secrets {
			if strings.Contains(text, secret) {
				t.Errorf("%s shows secret %q:\n%s", name, secret, text)
			}
		}
	}
	if want := "cinder:***@tcp(127.0.0.1:3306)/cinder?"; !strings.HasPrefix(cinder.String(), want) {
		t.Errorf("DSN = %q, want it to start %q", cinder, want)
	}
	if !strings.Contains(s.String(), "nova:***@tcp(127.0.0.1:3306)/nova_cell0") || !strings.Contains(s.String(), keystone.URL()) {
		t.Errorf("String() = %q, want the masked Nova DSNs and the auth URL", s)
	}
}
