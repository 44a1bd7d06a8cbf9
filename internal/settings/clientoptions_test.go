package settings

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/osdr/osdr/internal/osapi"
)

func TestRegionOption(t *testing.T) {
	dir := t.TempDir()
	clouds := writeFile(t, dir, "clouds.yaml", `clouds:
  staging:
    auth: {auth_url: "http://127.0.0.1:5000/v3"}
    regions:
      - RegionOne
      - name: RegionTwo
        values:
          interface: internal
`, 0o600)
	named := map[string]string{"HOME": dir, EnvOSClientConfigFile: clouds, EnvOSCloud: "staging"}
	openrc := map[string]string{"HOME": dir, EnvOSAuthURL: "http://127.0.0.1:5000/v3", EnvOSUsername: "admin", EnvOSPassword: testPassword}
	tests := []struct {
		name      string
		args      []string
		env       map[string]string
		want      string
		wantIface string
	}{
		{"entry's first region", nil, named, "RegionOne", "public"},
		{"flag picks a region of the entry", []string{"--os-region-name", "RegionTwo"}, named, "RegionTwo", "internal"},
		{"variable picks a region of the entry", nil, with(named, EnvOSRegionName, "RegionTwo"), "RegionTwo", "internal"},
		{"flag wins over the variable", []string{"--os-region-name", "RegionOne"}, with(named, EnvOSRegionName, "RegionTwo"), "RegionOne", "public"},
		{"flag over an openrc's variable", []string{"--os-region-name", "RegionTwo"}, with(openrc, EnvOSRegionName, "RegionOne"), "RegionTwo", "public"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			eo := mustResolve(t, tt.args, tt.env).Cloud.EndpointOpts()
			if eo.Region != tt.want || string(eo.Availability) != tt.wantIface {
				t.Errorf("endpoint options = %+v, want region %s interface %s", eo, tt.want, tt.wantIface)
			}
		})
	}
	refused(t, []string{"--os-region-name", "RegionThree"}, with(named, EnvOSRegionName, "RegionTwo"), `"RegionThree" (--os-region-name)`, "RegionTwo")
}

// TestCACertAndInsecureOptions connects to a Keystone over TLS whose CA only caFile holds, from a clouds.yaml
// entry whose own cacert is wrong (or whose verify is off) and from an openrc.
func TestCACertAndInsecureOptions(t *testing.T) {
	keystone := newFakeKeystone(t, testPassword, true)
	dir := t.TempDir()
	caFile := writeFile(t, dir, "ca.pem", string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: keystone.server.Certificate().Raw})), 0o600)
	otherCA := writeFile(t, dir, "other-ca.pem", string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: selfSignedCA(t)})), 0o600)
	clouds := writeFile(t, dir, "clouds.yaml", fmt.Sprintf(`clouds:
  wrong-ca:
    auth: {auth_url: %[1]q, username: admin, password: %[2]q, project_name: admin, user_domain_name: Default, project_domain_name: Default}
    cacert: %[3]q
  unverified:
    auth: {auth_url: %[1]q, username: admin, password: %[2]q, project_name: admin, user_domain_name: Default, project_domain_name: Default}
    verify: false
`, keystone.URL(), testPassword, otherCA), 0o600)
	named := func(cloud string) map[string]string {
		return map[string]string{"HOME": dir, EnvOSClientConfigFile: clouds, EnvOSCloud: cloud}
	}
	openrc := adminOpenrc(keystone.URL())
	tests := []struct {
		name        string
		args        []string
		env         map[string]string
		wantOK      bool
		wantWarning string // in the one warning; empty: no warning
	}{
		{"entry's own wrong cacert", nil, named("wrong-ca"), false, ""},
		{"--os-cacert over the entry's", []string{"--os-cacert", caFile}, named("wrong-ca"), true, ""},
		{"$OS_CACERT over the entry's", nil, with(named("wrong-ca"), EnvOSCACert, caFile), true, ""},
		{"--os-cacert over $OS_CACERT", []string{"--os-cacert", caFile}, with(named("wrong-ca"), EnvOSCACert, otherCA), true, ""},
		{"--os-cacert for an openrc", []string{"--os-cacert", caFile}, openrc, true, ""},
		{"--insecure", []string{"--insecure"}, named("wrong-ca"), true, "(--insecure)"},
		{"--insecure for an openrc", []string{"--insecure"}, openrc, true, "(--insecure)"},
		{"$OS_INSECURE", nil, with(openrc, EnvOSInsecure, "true"), true, "($OS_INSECURE)"},
		{"--insecure=false over $OS_INSECURE", []string{"--insecure=false"}, with(openrc, EnvOSInsecure, "true"), false, ""},
		{"entry's verify: false", nil, named("unverified"), true, `(verify: false in the clouds.yaml entry "unverified")`},
		{"--insecure=false over the entry's verify: false", []string{"--insecure=false"}, named("unverified"), false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := mustResolve(t, tt.args, tt.env)
			_, _, err := s.Cloud.Connect(context.Background())
			if (err == nil) != tt.wantOK {
				t.Errorf("Connect error = %v, want success %v", err, tt.wantOK)
			}
			switch {
			case tt.wantWarning == "" && len(s.Warnings) != 0:
				t.Errorf("warnings %q, want none", s.Warnings)
			case tt.wantWarning != "" && (len(s.Warnings) != 1 || !strings.Contains(s.Warnings[0], tt.wantWarning)):
				t.Errorf("warnings %q, want one saying %q", s.Warnings, tt.wantWarning)
			}
			if tt.wantWarning != "" && !strings.Contains(s.Cloud.String(), "NOT verified") {
				t.Errorf("String() = %q, want it to say the certificates are not verified", s.Cloud)
			}
		})
	}
	refused(t, nil, with(openrc, EnvOSCACert, otherCA+".missing"), "CA certificates of the cloud", "$OS_CACERT", "no such file")
	refused(t, []string{"--os-cacert", clouds}, openrc, "--os-cacert", "no PEM certificate")
}

// selfSignedCA is a CA that signed nothing the tests serve (httptest's servers all share one certificate).
func selfSignedCA(t *testing.T) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	template := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "another CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, template, template, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func TestDebugOption(t *testing.T) {
	keystone := newFakeKeystone(t, testPassword, false)
	openrc := adminOpenrc(keystone.URL())
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		wantLog bool
	}{
		{"off", nil, openrc, false},
		{"--debug", []string{"--debug"}, openrc, true},
		{"$OSDR_DEBUG", nil, with(openrc, EnvDebug, "1"), true},
		{"--debug=false over $OSDR_DEBUG", []string{"--debug=false"}, with(openrc, EnvDebug, "true"), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := mustResolve(t, tt.args, tt.env)
			var log bytes.Buffer
			if s.Cloud.debugLog != nil {
				s.Cloud.debugLog = &log // stderr, in a real run
			}
			provider, _, err := s.Cloud.Connect(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if _, ok := provider.HTTPClient.Transport.(*osapi.Transport); !ok {
				t.Errorf("the provider's transport is a %T, want osapi's: Keystone's requests must be timed and limited too", provider.HTTPClient.Transport)
			}
			if got := log.Len() > 0; got != tt.wantLog {
				t.Fatalf("logged %v, want %v:\n%s", got, tt.wantLog, log.String())
			}
			if !tt.wantLog {
				return
			}
			for _, want := range []string{"REQ: POST " + keystone.URL() + "/auth/tokens", `"password":"***"`, "RESP: 201 Created", "X-Subject-Token: {SHA256}"} {
				if !strings.Contains(log.String(), want) {
					t.Errorf("the log does not show %q:\n%s", want, log.String())
				}
			}
			for _, secret := range []string{testPassword, "gAAAAABfake-fernet-token"} {
				if strings.Contains(log.String(), secret) {
					t.Errorf("the log shows %q", secret)
				}
			}
		})
	}
	refused(t, nil, with(openrc, EnvDebug, "loud"), "debug log", "$"+EnvDebug, `"loud"`)
}
