package settings

import (
	"context"
	"encoding/pem"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

const (
	testPassword = "s3cr3t-keystone-pa55"
	cloudsYAML   = `clouds:
  staging:
    auth:
      auth_url: %s
      username: admin
      project_name: admin
      user_domain_name: Default
      project_domain_name: Default
    region_name: RegionOne
    interface: %s
    identity_api_version: 3
    compute_api_version: "2.93"
  production:
    auth:
      auth_url: http://127.0.0.1:1/v3
      username: admin
      password: not-this-one
      project_name: admin
      user_domain_name: Default
      project_domain_name: Default
`
	secureYAML = `clouds:
  staging:
    auth:
      password: %s
`
)

// cloudsDir writes clouds.yaml (pointing staging at authURL) and secure.yaml into a temporary directory and
// returns the environment that names them.
func cloudsDir(t *testing.T, authURL, iface string) map[string]string {
	t.Helper()
	dir := t.TempDir()
	return map[string]string{
		"HOME":                t.TempDir(),
		EnvOSClientConfigFile: writeFile(t, dir, "clouds.yaml", fmt.Sprintf(cloudsYAML, authURL, iface), 0o600),
		EnvOSClientSecureFile: writeFile(t, dir, "secure.yaml", fmt.Sprintf(secureYAML, testPassword), 0o600),
	}
}

func with(env map[string]string, more ...string) map[string]string {
	out := map[string]string{}
	for k, v := range env {
		out[k] = v
	}
	for i := 0; i+1 < len(more); i += 2 {
		out[more[i]] = more[i+1]
	}
	return out
}

// adminOpenrc is the environment an admin-openrc.sh of the captured cloud sets.
func adminOpenrc(authURL string) map[string]string {
	return map[string]string{
		EnvOSAuthURL: authURL, EnvOSUsername: "admin", EnvOSPassword: testPassword, EnvOSProjectName: "admin",
		EnvOSUserDomainName: "Default", EnvOSProjectDomainName: "Default",
	}
}

func TestCloudsYAMLMergedWithSecureYAML(t *testing.T) {
	keystone := newFakeKeystone(t, testPassword, false)
	env := cloudsDir(t, keystone.URL(), "public")
	tests := []struct {
		name string
		args []string
		env  map[string]string
	}{
		{"from OS_CLOUD", nil, with(env, EnvOSCloud, "staging")},
		{"flag wins over OS_CLOUD", []string{"--os-cloud", "staging"}, with(env, EnvOSCloud, "production")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := mustResolve(t, tt.args, tt.env)
			if got := s.Cloud.Name(); got != "staging" {
				t.Fatalf("cloud name = %q, want staging", got)
			}
			if got := s.Cloud.AuthURL(); got != keystone.URL() {
				t.Errorf("AuthURL = %q, want %q", got, keystone.URL())
			}
			if got := s.Cloud.Region(); got != "RegionOne" {
				t.Errorf("Region = %q, want RegionOne", got)
			}
			if _, _, err := s.Cloud.Connect(context.Background()); err != nil {
				t.Fatalf("Connect: %v", err)
			}
			requests := keystone.Requests()
			user := requests[len(requests)-1].Auth.Identity.Password.User
			scope := requests[len(requests)-1].Auth.Scope.Project
			if user.Name != "admin" || user.Domain.Name != "Default" || user.Password != testPassword {
				t.Errorf("Keystone got user %+v, want admin in Default with the secure.yaml password", user)
			}
			if scope.Name != "admin" || scope.Domain.Name != "Default" {
				t.Errorf("Keystone got scope %+v, want project admin in Default", scope)
			}
		})
	}
}

func TestCloudsYAMLFoundOnTheSearchPath(t *testing.T) {
	home := t.TempDir()
	path := writeFile(t, home, ".config/openstack/clouds.yaml", fmt.Sprintf(cloudsYAML, "http://127.0.0.1:5000/v3", "public"), 0o600)
	s := mustResolve(t, nil, map[string]string{"HOME": home, EnvOSCloud: "staging"})
	if got := s.Cloud.AuthURL(); got != "http://127.0.0.1:5000/v3" {
		t.Errorf("AuthURL = %q, want the one of %s", got, path)
	}
	if !strings.Contains(s.Cloud.String(), path) {
		t.Errorf("String() = %q, want it to name %s", s.Cloud.String(), path)
	}
}

func TestNamedCloudIgnoresLeftoverOpenrc(t *testing.T) {
	keystone := newFakeKeystone(t, testPassword, false)
	env := with(cloudsDir(t, keystone.URL(), "public"), EnvOSCloud, "staging",
		EnvOSAuthURL, "http://127.0.0.1:1/v3", EnvOSUsername, "someone-else", EnvOSPassword, "other-cloud-password")
	s := mustResolve(t, nil, env)
	if _, _, err := s.Cloud.Connect(context.Background()); err != nil {
		t.Fatalf("Connect: %v", err)
	}
	if user := keystone.Requests()[0].Auth.Identity.Password.User; user.Name != "admin" || user.Password != testPassword {
		t.Errorf("Keystone got user %q with password %q, want the clouds.yaml user and secure.yaml password", user.Name, user.Password)
	}
	if !slices.ContainsFunc(s.Warnings, func(w string) bool { return strings.Contains(w, "$"+EnvOSAuthURL) }) {
		t.Errorf("warnings %q do not mention the ignored $%s", s.Warnings, EnvOSAuthURL)
	}
}

func TestCloudFromOpenrc(t *testing.T) {
	keystone := newFakeKeystone(t, testPassword, false)
	openrc := map[string]string{EnvOSAuthURL: keystone.URL(), EnvOSRegionName: "RegionOne"}
	tests := []struct {
		name  string
		env   map[string]string
		check func(t *testing.T, got authRequest)
	}{
		{
			name: "names",
			env: with(openrc, EnvOSUsername, "admin", EnvOSPassword, testPassword, EnvOSProjectName, "admin",
				EnvOSUserDomainName, "Default", EnvOSProjectDomainName, "Default"),
			check: func(t *testing.T, got authRequest) {
				user, project := got.Auth.Identity.Password.User, got.Auth.Scope.Project
				if user.Name != "admin" || user.Domain.Name != "Default" || project.Name != "admin" || project.Domain.Name != "Default" {
					t.Errorf("Keystone got user %+v scope %+v", user, project)
				}
			},
		},
		{
			name: "ids",
			env: with(openrc, EnvOSUserID, "f0496e725281437e8913e294ce51f9bd", EnvOSPassword, testPassword,
				EnvOSProjectID, "d00ca05326dd493190682fa4363830ba"),
			check: func(t *testing.T, got authRequest) {
				if got.Auth.Identity.Password.User.ID != "f0496e725281437e8913e294ce51f9bd" || got.Auth.Scope.Project.ID != "d00ca05326dd493190682fa4363830ba" {
					t.Errorf("Keystone got %+v, want the user and project ids", got.Auth)
				}
			},
		},
		{
			name: "ids for domains",
			env: with(openrc, EnvOSUsername, "admin", EnvOSPassword, testPassword, EnvOSProjectName, "admin",
				EnvOSUserDomainID, "default", EnvOSProjectDomainID, "default"),
			check: func(t *testing.T, got authRequest) {
				if got.Auth.Identity.Password.User.Domain.ID != "default" || got.Auth.Scope.Project.Domain.ID != "default" {
					t.Errorf("Keystone got %+v, want domain ids", got.Auth)
				}
			},
		},
		{
			name: "application credential",
			env:  with(openrc, EnvOSAppCredentialID, "4a1f", EnvOSAppCredentialSecret, testPassword),
			check: func(t *testing.T, got authRequest) {
				if !slices.Equal(got.Auth.Identity.Methods, []string{"application_credential"}) || got.Auth.Identity.ApplicationCredential.ID != "4a1f" {
					t.Errorf("Keystone got identity %+v, want application credential 4a1f", got.Auth.Identity)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := mustResolve(t, nil, tt.env)
			if s.Cloud.Name() != "" || s.Cloud.AuthURL() != keystone.URL() || s.Cloud.Region() != "RegionOne" {
				t.Fatalf("cloud = %s, want the OS_* cloud at %s in RegionOne", s.Cloud, keystone.URL())
			}
			before := len(keystone.Requests())
			if _, _, err := s.Cloud.Connect(context.Background()); err != nil {
				t.Fatalf("Connect: %v", err)
			}
			tt.check(t, keystone.Requests()[before])
		})
	}
}

func TestCloudSettingErrors(t *testing.T) {
	dir := t.TempDir()
	clouds := writeFile(t, dir, "clouds.yaml", fmt.Sprintf(cloudsYAML, "http://127.0.0.1:5000/v3", "public")+`
  no-auth-url:
    auth: {username: admin}
  bad-interface:
    auth: {auth_url: "http://127.0.0.1:5000/v3"}
    interface: intrenal
  two-regions:
    auth: {auth_url: "http://127.0.0.1:5000/v3"}
    regions: [RegionOne, RegionTwo]
`, 0o600)
	notPEM := writeFile(t, dir, "ca.pem", "not a certificate\n", 0o600)
	broken := writeFile(t, dir, "broken.yaml", "clouds: [\n", 0o600)
	openrc := map[string]string{"HOME": dir, EnvOSAuthURL: "http://127.0.0.1:5000/v3", EnvOSUsername: "admin", EnvOSPassword: testPassword}
	named := map[string]string{"HOME": dir, EnvOSClientConfigFile: clouds}
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want []string
	}{
		{"unknown cloud", nil, with(named, EnvOSCloud, "nope"), []string{`cloud "nope"`, "$OS_CLOUD", "nope does not exist"}},
		{"missing clouds.yaml", []string{"--os-cloud", "staging"}, with(named, EnvOSClientConfigFile, filepath.Join(dir, "missing.yaml")), []string{"--os-cloud", "missing.yaml", "no such file"}},
		{"malformed clouds.yaml", nil, with(named, EnvOSCloud, "staging", EnvOSClientConfigFile, broken), []string{"parse", broken}},
		{"entry without auth_url", nil, with(named, EnvOSCloud, "no-auth-url"), []string{`cloud "no-auth-url"`, "auth_url"}},
		{"bad interface in clouds.yaml", nil, with(named, EnvOSCloud, "bad-interface"), []string{`cloud "bad-interface"`, `"intrenal"`}},
		{"region not in regions", nil, with(named, EnvOSCloud, "two-regions", EnvOSRegionName, "RegionThree"), []string{`"RegionThree"`, "RegionTwo"}},
		{"bad OS_INTERFACE", nil, with(openrc, EnvOSInterface, "intrenal"), []string{"$OS_INTERFACE", `"intrenal"`}},
		{"bad OS_INSECURE", nil, with(openrc, EnvOSInsecure, "maybe"), []string{"$OS_INSECURE", `"maybe"`}},
		{"CA file without certificates", nil, with(openrc, EnvOSCACert, notPEM), []string{"$OS_CACERT", notPEM}},
		{"client certificate without key", nil, with(openrc, EnvOSCert, notPEM), []string{"$OS_CERT", "both"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			refused(t, tt.args, tt.env, tt.want...)
		})
	}
}

func TestCloudRegionOfAMultiRegionEntry(t *testing.T) {
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
	env := map[string]string{"HOME": dir, EnvOSClientConfigFile: clouds, EnvOSCloud: "staging"}
	tests := []struct {
		region    string
		want      string
		wantIface string
	}{
		{"", "RegionOne", "public"},
		{"RegionTwo", "RegionTwo", "internal"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			s := mustResolve(t, nil, with(env, EnvOSRegionName, tt.region))
			eo := s.Cloud.EndpointOpts()
			if eo.Region != tt.want || string(eo.Availability) != tt.wantIface {
				t.Errorf("endpoint options = %+v, want region %s interface %s", eo, tt.want, tt.wantIface)
			}
		})
	}
}

func TestServiceClientsFromTheCatalog(t *testing.T) {
	keystone := newFakeKeystone(t, testPassword, false)
	tests := []struct {
		name        string
		env         map[string]string
		compute     string
		volume      string
		wantErrPart string
	}{
		{
			name:    "public endpoints",
			env:     map[string]string{EnvOSRegionName: "RegionOne"},
			compute: "http://127.0.0.1:8774/v2.1/",
			volume:  "http://127.0.0.1:8776/v3/d00ca05326dd493190682fa4363830ba/",
		},
		{
			name:    "internal endpoints",
			env:     map[string]string{EnvOSRegionName: "RegionOne", EnvOSInterface: "internal"},
			compute: "http://127.0.0.1:18774/v2.1/",
			volume:  "http://127.0.0.1:18776/v3/d00ca05326dd493190682fa4363830ba/",
		},
		{
			name:        "region without endpoints",
			env:         map[string]string{EnvOSRegionName: "RegionTwo"},
			wantErrPart: `find the compute endpoint (region "RegionTwo"`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := adminOpenrc(keystone.URL())
			for k, v := range tt.env {
				env[k] = v
			}
			s := mustResolve(t, nil, env)
			before := len(keystone.Requests())
			compute, err := s.Cloud.Compute(context.Background())
			if tt.wantErrPart != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErrPart) {
					t.Fatalf("Compute error = %v, want one containing %q", err, tt.wantErrPart)
				}
				return
			}
			if err != nil {
				t.Fatalf("Compute: %v", err)
			}
			volume, err := s.Cloud.BlockStorage(context.Background())
			if err != nil {
				t.Fatalf("BlockStorage: %v", err)
			}
			if compute.Endpoint != tt.compute || volume.Endpoint != tt.volume {
				t.Errorf("endpoints = %s, %s; want %s, %s", compute.Endpoint, volume.Endpoint, tt.compute, tt.volume)
			}
			if n := len(keystone.Requests()) - before; n != 1 {
				t.Errorf("Keystone got %d token requests for two service clients, want 1", n)
			}
			if compute.ProviderClient.TokenID != "gAAAAABfake-fernet-token" {
				t.Errorf("token = %q, want the X-Subject-Token", compute.ProviderClient.TokenID)
			}
		})
	}
}

func TestConnectFailures(t *testing.T) {
	keystone := newFakeKeystone(t, testPassword, false)
	t.Run("wrong password is not cached and not shown", func(t *testing.T) {
		s := mustResolve(t, nil, with(adminOpenrc(keystone.URL()), EnvOSPassword, "wrong-pa55word"))
		for range 2 {
			_, _, err := s.Cloud.Connect(context.Background())
			if err == nil {
				t.Fatal("Connect succeeded with a wrong password")
			}
			if strings.Contains(err.Error(), "wrong-pa55word") {
				t.Errorf("error %q shows the password", err)
			}
		}
		if n := len(keystone.Requests()); n != 2 {
			t.Errorf("Keystone got %d requests, want 2: a failed authentication must not be cached", n)
		}
	})
	t.Run("not configured", func(t *testing.T) {
		s := mustResolve(t, nil, nil)
		if s.Cloud.Configured() || s.Cloud.AuthURL() != "" {
			t.Fatalf("cloud = %s, want not configured", s.Cloud)
		}
		_, _, err := s.Cloud.Connect(context.Background())
		if !errors.Is(err, ErrNotConfigured) || !strings.Contains(err.Error(), "$OS_CLOUD") {
			t.Errorf("Connect error = %v, want ErrNotConfigured naming $OS_CLOUD", err)
		}
		if _, err := s.Cloud.BlockStorage(context.Background()); !errors.Is(err, ErrNotConfigured) {
			t.Errorf("BlockStorage error = %v, want ErrNotConfigured", err)
		}
	})
}

func TestConnectOverTLS(t *testing.T) {
	keystone := newFakeKeystone(t, testPassword, true)
	caFile := writeFile(t, t.TempDir(), "ca.pem", string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: keystone.server.Certificate().Raw})), 0o600)
	openrc := adminOpenrc(keystone.URL())
	tests := []struct {
		name         string
		env          map[string]string
		wantOK       bool
		wantWarnings int
	}{
		{"CA from OS_CACERT", with(openrc, EnvOSCACert, caFile), true, 0},
		{"unknown CA", openrc, false, 0},
		{"verification off", with(openrc, EnvOSInsecure, "true"), true, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := mustResolve(t, nil, tt.env)
			_, _, err := s.Cloud.Connect(context.Background())
			if (err == nil) != tt.wantOK {
				t.Errorf("Connect error = %v, want success %v", err, tt.wantOK)
			}
			if len(s.Warnings) != tt.wantWarnings {
				t.Errorf("warnings = %q, want %d", s.Warnings, tt.wantWarnings)
			}
		})
	}
}
