package settings

import (
	"cmp"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack"
	"github.com/gophercloud/utils/v2/openstack/clientconfig"
	"sigs.k8s.io/yaml"

	"github.com/osdr/osdr/internal/osapi"
)

// The clientconfig library fills gaps from the process environment by itself (os.Getenv, <prefix>AUTH_URL and
// so on). The contract has already read the environment through the caller's getenv, so the library's own
// lookups are pointed at a prefix nobody sets: otherwise a test, or the simulation, would silently pick up the
// operator's real OS_PASSWORD.
const libraryEnvPrefix = "OSDR_SETTINGS_RESOLVED_NO_ENV_"

// siteCloudsDir is openstacksdk's system-wide configuration directory, the last place clouds.yaml is looked for.
const siteCloudsDir = "/etc/openstack"

// Cloud is the OpenStack cloud the command works on: resolved from clouds.yaml or the OS_* variables, contacted
// only by Connect. Its zero value is "not configured".
type Cloud struct {
	name      string // clouds.yaml entry; empty when the OS_* variables describe the cloud
	source    string // what named it: --os-cloud, $OS_CLOUD or $OS_AUTH_URL
	file      string // the clouds.yaml read, if any
	config    clientconfig.Cloud
	region    string
	iface     gophercloud.Availability
	tlsConfig *tls.Config
	debugLog  io.Writer // where --debug logs the HTTP exchanges; nil without --debug

	mu       sync.Mutex
	provider *gophercloud.ProviderClient
}

// clientOptions are python-openstackclient's options that apply over either kind of cloud: each is its flag,
// else its variable, else (for a clouds.yaml entry) the entry's own value. An empty source means not given.
type clientOptions struct {
	region, regionSource string
	caCert, caCertSource string
	insecure             bool
	insecureSource       string
	debug                bool
}

func (r *resolution) clientOptions() (clientOptions, error) {
	var o clientOptions
	var insecureErr, debugErr error
	o.region, o.regionSource = r.pick(r.flags.OSRegionName, FlagOSRegionName, EnvOSRegionName)
	o.caCert, o.caCertSource = r.pick(r.flags.OSCACert, FlagOSCACert, EnvOSCACert)
	o.insecure, o.insecureSource, insecureErr = r.pickBool("TLS verification", r.flags.Insecure, FlagInsecure, EnvOSInsecure)
	o.debug, _, debugErr = r.pickBool("debug log", r.flags.Debug, FlagDebug, EnvDebug)
	return o, errors.Join(insecureErr, debugErr)
}

func (r *resolution) cloud() (*Cloud, error) {
	opts, err := r.clientOptions()
	if err != nil {
		return nil, err
	}
	name, source := r.pick(r.flags.OSCloud, FlagOSCloud, EnvOSCloud)
	var c *Cloud
	switch {
	case name != "":
		if r.getenv(EnvOSAuthURL) != "" {
			// A leftover openrc must not mix another cloud's credentials into the named one.
			r.warn("$%s and the other OS_* credentials are ignored: the cloud is clouds.yaml entry %q (%s)", EnvOSAuthURL, name, source)
		}
		c, err = r.cloudFromYAML(name, source, opts)
	case r.getenv(EnvOSAuthURL) != "":
		c, err = r.cloudFromEnv(opts)
	default:
		return &Cloud{}, nil
	}
	if err != nil {
		return nil, err
	}
	if opts.debug {
		c.debugLog = os.Stderr
	}
	return c, nil
}

// cloudFromYAML takes the named entry whole from clouds.yaml, merged with secure.yaml and clouds-public.yaml as
// openstacksdk does. Only the client options apply on top: the region is how one region of a multi-region
// entry is chosen.
func (r *resolution) cloudFromYAML(name, source string, opts clientOptions) (*Cloud, error) {
	fail := func(err error) (*Cloud, error) {
		return nil, &Error{Setting: fmt.Sprintf("cloud %q", name), Source: source, Err: err}
	}
	files := &cloudsFiles{getenv: r.getenv}
	config, err := clientconfig.GetCloudFromYAML(&clientconfig.ClientOpts{Cloud: name, RegionName: opts.region, YAMLOpts: files})
	if err != nil {
		return fail(err)
	}
	if config.AuthInfo == nil || config.AuthInfo.AuthURL == "" {
		return fail(fmt.Errorf("the entry in %s has no auth.auth_url", files.cloudsFile))
	}
	if err := checkAuthURL(config.AuthInfo.AuthURL); err != nil {
		return fail(err)
	}
	region := cmp.Or(opts.region, config.RegionName)
	if len(config.Regions) > 0 {
		names := make([]string, len(config.Regions))
		for i, reg := range config.Regions {
			names[i] = reg.Name
		}
		if region != "" && !slices.Contains(names, region) {
			return fail(fmt.Errorf("region %q (%s) is not one of its regions %v", region, cmp.Or(opts.regionSource, "region_name"), names))
		}
		region = cmp.Or(region, names[0])
	}
	c := &Cloud{name: name, source: source, file: files.cloudsFile, config: *config, region: region}
	if c.iface, err = parseInterface(config.EndpointType); err != nil {
		return fail(err)
	}
	entry := "clouds.yaml entry " + strconv.Quote(name)
	tlsFiles := tlsFiles{
		ca: config.CACertFile, caSource: "cacert of the " + entry,
		cert: config.ClientCertFile, key: config.ClientKeyFile, certSource: "cert and key of the " + entry,
		insecure: config.Verify != nil && !*config.Verify, insecureSource: "verify: false in the " + entry,
	}
	if opts.caCertSource != "" {
		tlsFiles.ca, tlsFiles.caSource = opts.caCert, opts.caCertSource
	}
	if opts.insecureSource != "" {
		tlsFiles.insecure, tlsFiles.insecureSource = opts.insecure, opts.insecureSource
	}
	if c.tlsConfig, err = r.loadTLS(tlsFiles); err != nil {
		return fail(err)
	}
	return c, nil
}

// cloudFromEnv reads an openrc: the OS_* variables.
func (r *resolution) cloudFromEnv(opts clientOptions) (*Cloud, error) {
	env := r.getenv
	config := clientconfig.Cloud{
		AuthInfo: &clientconfig.AuthInfo{
			AuthURL:                     env(EnvOSAuthURL),
			Username:                    env(EnvOSUsername),
			UserID:                      env(EnvOSUserID),
			Password:                    env(EnvOSPassword),
			ProjectName:                 env(EnvOSProjectName),
			ProjectID:                   env(EnvOSProjectID),
			UserDomainName:              env(EnvOSUserDomainName),
			UserDomainID:                env(EnvOSUserDomainID),
			ProjectDomainName:           env(EnvOSProjectDomainName),
			ProjectDomainID:             env(EnvOSProjectDomainID),
			ApplicationCredentialID:     env(EnvOSAppCredentialID),
			ApplicationCredentialName:   env(EnvOSAppCredentialName),
			ApplicationCredentialSecret: env(EnvOSAppCredentialSecret),
		},
		RegionName:     opts.region,
		EndpointType:   env(EnvOSInterface),
		CACertFile:     opts.caCert,
		ClientCertFile: env(EnvOSCert),
		ClientKeyFile:  env(EnvOSKey),
	}
	c := &Cloud{source: "$" + EnvOSAuthURL, config: config, region: config.RegionName}
	if err := checkAuthURL(config.AuthInfo.AuthURL); err != nil {
		return nil, &Error{Setting: "cloud", Source: "$" + EnvOSAuthURL, Err: err}
	}
	var err error
	if c.iface, err = parseInterface(config.EndpointType); err != nil {
		return nil, &Error{Setting: "cloud interface", Source: "$" + EnvOSInterface, Err: err}
	}
	c.tlsConfig, err = r.loadTLS(tlsFiles{
		ca: config.CACertFile, caSource: opts.caCertSource,
		cert: config.ClientCertFile, key: config.ClientKeyFile, certSource: "$" + EnvOSCert + " and $" + EnvOSKey,
		insecure: opts.insecure, insecureSource: opts.insecureSource,
	})
	if err != nil {
		return nil, err
	}
	return c, nil
}

// parseInterface accepts the endpoint interfaces Keystone catalogs have, in both spellings openstacksdk accepts;
// anything else is a typo that would otherwise silently select the public endpoints.
func parseInterface(value string) (gophercloud.Availability, error) {
	switch strings.TrimSuffix(value, "URL") {
	case "", "public":
		return gophercloud.AvailabilityPublic, nil
	case "internal":
		return gophercloud.AvailabilityInternal, nil
	case "admin":
		return gophercloud.AvailabilityAdmin, nil
	}
	return "", fmt.Errorf("interface %q is not public, internal or admin", value)
}

// tlsFiles are a cloud's TLS settings, each with where it came from.
type tlsFiles struct {
	ca, caSource          string
	cert, key, certSource string
	insecure              bool
	insecureSource        string
}

func (r *resolution) loadTLS(f tlsFiles) (*tls.Config, error) {
	config := &tls.Config{InsecureSkipVerify: f.insecure} // #nosec G402 -- only on the operator's explicit choice
	if f.insecure {
		r.warn("TLS certificates of the cloud's APIs are not verified (%s): anyone on the network path can read and change the requests", f.insecureSource)
	}
	if err := checkPath("CA certificates of the cloud", f.caSource, f.ca); err != nil {
		return nil, err
	}
	if looksLikeDSN(f.cert) || looksLikeDSN(f.key) {
		return nil, &Error{Setting: "client certificate of the cloud", Source: f.certSource, Err: ErrLooksLikeDSN}
	}
	if f.ca != "" {
		pem, err := os.ReadFile(f.ca)
		if err != nil {
			return nil, &Error{Setting: "CA certificates of the cloud", Source: f.caSource, Err: err}
		}
		config.RootCAs = x509.NewCertPool()
		if !config.RootCAs.AppendCertsFromPEM(pem) {
			return nil, &Error{Setting: "CA certificates of the cloud", Source: f.caSource, Err: fmt.Errorf("no PEM certificate in %s", f.ca)}
		}
	}
	if (f.cert == "") != (f.key == "") {
		return nil, &Error{Setting: "client certificate of the cloud", Source: f.certSource, Err: errors.New("a client certificate needs both the certificate and the key file")}
	}
	if f.cert != "" {
		pair, err := tls.LoadX509KeyPair(f.cert, f.key)
		if err != nil {
			return nil, &Error{Setting: "client certificate of the cloud", Source: f.certSource, Err: err}
		}
		config.Certificates = []tls.Certificate{pair}
	}
	return config, nil
}

// Configured reports whether a cloud was named by --os-cloud, $OS_CLOUD or $OS_AUTH_URL.
func (c *Cloud) Configured() bool { return c.config.AuthInfo != nil }

// Name is the clouds.yaml entry, empty when the OS_* variables describe the cloud.
func (c *Cloud) Name() string { return c.name }

// AuthURL is the Keystone URL as configured; drill guards compare it to their allow-list.
func (c *Cloud) AuthURL() string {
	if !c.Configured() {
		return ""
	}
	return c.config.AuthInfo.AuthURL
}

// Region is the region whose endpoints are used; empty means the catalog's first match.
func (c *Cloud) Region() string { return c.region }

// EndpointOpts selects the cloud's endpoints in the service catalog.
func (c *Cloud) EndpointOpts() gophercloud.EndpointOpts {
	return gophercloud.EndpointOpts{Region: c.region, Availability: c.iface}
}

func (c *Cloud) notConfigured() error {
	return &Error{Setting: "cloud", Source: fmt.Sprintf("--%s, $%s or $%s", FlagOSCloud, EnvOSCloud, EnvOSAuthURL), Err: ErrNotConfigured}
}

// Connect authenticates to Keystone once; later calls return the same provider, which re-authenticates by
// itself when its token expires (a recovery of many instances outlasts a token).
func (c *Cloud) Connect(ctx context.Context) (*gophercloud.ProviderClient, gophercloud.EndpointOpts, error) {
	eo := c.EndpointOpts()
	if !c.Configured() {
		return nil, eo, c.notConfigured()
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.provider != nil {
		return c.provider, eo, nil
	}
	// AuthOptions rewrites domain fields in place; the resolved settings stay as they were read.
	auth := *c.config.AuthInfo
	ao, err := clientconfig.AuthOptions(&clientconfig.ClientOpts{AuthInfo: &auth, EnvPrefix: libraryEnvPrefix})
	if err != nil {
		return nil, eo, fmt.Errorf("build the Keystone credentials of %s: %w", c.describe(), err)
	}
	ao.AllowReauth = true
	provider, err := openstack.NewClient(ao.IdentityEndpoint)
	if err != nil {
		return nil, eo, fmt.Errorf("Keystone URL of %s: %w", c.describe(), err)
	}
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.TLSClientConfig = c.tlsConfig.Clone()
	// The Transport is in place before the first token is asked for: gophercloud's re-authentication copies
	// the client as it is at login, and renewing a token must be rate-limited, timed and logged like the rest.
	provider.HTTPClient = http.Client{Transport: osapi.NewTransport(transport, c.debugLog)}
	if err := openstack.Authenticate(ctx, provider, *ao); err != nil {
		return nil, eo, fmt.Errorf("authenticate to Keystone at %s (%s): %w", ao.IdentityEndpoint, c.describe(), err)
	}
	c.provider = provider
	return provider, eo, nil
}

// Compute is a Nova client of the cloud, at the base microversion.
func (c *Cloud) Compute(ctx context.Context) (*gophercloud.ServiceClient, error) {
	return c.serviceClient(ctx, "compute", openstack.NewComputeV2)
}

// BlockStorage is a Cinder v3 client of the cloud, at the base microversion.
func (c *Cloud) BlockStorage(ctx context.Context) (*gophercloud.ServiceClient, error) {
	return c.serviceClient(ctx, "block-storage", openstack.NewBlockStorageV3)
}

func (c *Cloud) serviceClient(ctx context.Context, service string, newClient func(*gophercloud.ProviderClient, gophercloud.EndpointOpts) (*gophercloud.ServiceClient, error)) (*gophercloud.ServiceClient, error) {
	provider, eo, err := c.Connect(ctx)
	if err != nil {
		return nil, err
	}
	client, err := newClient(provider, eo)
	if err != nil {
		return nil, fmt.Errorf("find the %s endpoint (region %q, interface %s) of %s: %w", service, eo.Region, eo.Availability, c.describe(), err)
	}
	return client, nil
}

// describe says which cloud this is and where it was configured, for messages.
func (c *Cloud) describe() string {
	switch {
	case !c.Configured():
		return "no cloud"
	case c.name == "":
		return "the cloud of the OS_* variables"
	default:
		return fmt.Sprintf("cloud %q of %s (%s)", c.name, c.file, c.source)
	}
}

// String describes the cloud without any secret: no password, application credential secret or token.
func (c *Cloud) String() string {
	if !c.Configured() {
		return "not configured"
	}
	auth := c.config.AuthInfo
	text := fmt.Sprintf("%s: auth URL %s, region %q, interface %s, user %q, project %q",
		c.describe(), auth.AuthURL, c.region, c.iface,
		cmp.Or(auth.Username, auth.UserID, auth.ApplicationCredentialName, auth.ApplicationCredentialID),
		cmp.Or(auth.ProjectName, auth.ProjectID))
	if c.tlsConfig.InsecureSkipVerify {
		text += ", TLS certificates NOT verified"
	}
	if c.debugLog != nil {
		text += ", HTTP exchanges logged (--" + FlagDebug + ")"
	}
	return text
}

// GoString keeps %#v from printing the credentials.
func (c *Cloud) GoString() string { return c.String() }

// cloudsFiles finds clouds.yaml, secure.yaml and clouds-public.yaml where openstacksdk does, reading the
// environment through the contract's getenv rather than the process's.
type cloudsFiles struct {
	getenv     func(string) string
	cloudsFile string // the clouds.yaml read, for messages
}

func (f *cloudsFiles) LoadCloudsYAML() (map[string]clientconfig.Cloud, error) {
	path := f.getenv(EnvOSClientConfigFile)
	if err := checkPath("clouds.yaml", "$"+EnvOSClientConfigFile, path); err != nil {
		return nil, err
	}
	if path == "" {
		path = f.find("clouds")
	}
	if path == "" {
		return nil, fmt.Errorf("no clouds.yaml in %s and $%s is not set", strings.Join(f.searchPath(), ", "), EnvOSClientConfigFile)
	}
	f.cloudsFile = path
	var clouds clientconfig.Clouds
	if err := readYAML(path, &clouds); err != nil {
		return nil, err
	}
	return clouds.Clouds, nil
}

// LoadSecureCloudsYAML returns no clouds when there is no secure.yaml: it is optional.
func (f *cloudsFiles) LoadSecureCloudsYAML() (map[string]clientconfig.Cloud, error) {
	path := cmp.Or(f.getenv(EnvOSClientSecureFile), f.find("secure"))
	if err := checkPath("secure.yaml", "$"+EnvOSClientSecureFile, path); err != nil {
		return nil, err
	}
	if path == "" {
		return nil, nil
	}
	var clouds clientconfig.Clouds
	if err := readYAML(path, &clouds); err != nil {
		return nil, err
	}
	return clouds.Clouds, nil
}

// LoadPublicCloudsYAML returns no clouds when there is no clouds-public.yaml: only profiles need it.
func (f *cloudsFiles) LoadPublicCloudsYAML() (map[string]clientconfig.Cloud, error) {
	path := f.find("clouds-public")
	if path == "" {
		return nil, nil
	}
	var clouds clientconfig.PublicClouds
	if err := readYAML(path, &clouds); err != nil {
		return nil, err
	}
	return clouds.Clouds, nil
}

func (f *cloudsFiles) searchPath() []string {
	var dirs []string
	if cwd, err := os.Getwd(); err == nil {
		dirs = append(dirs, cwd)
	}
	if home := f.getenv("HOME"); home != "" {
		dirs = append(dirs, filepath.Join(home, ".config", "openstack"))
	}
	return append(dirs, siteCloudsDir)
}

// find returns the first <base>.yaml or <base>.yml on the search path, or "".
func (f *cloudsFiles) find(base string) string {
	for _, dir := range f.searchPath() {
		for _, ext := range []string{".yaml", ".yml"} {
			path := filepath.Join(dir, base+ext)
			if info, err := os.Stat(path); err == nil && info.Mode().IsRegular() {
				return path
			}
		}
	}
	return ""
}

// readYAML reads a clouds file leniently: clouds.yaml carries keys for other tools that osdr does not use.
func readYAML(path string, into any) error {
	content, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if err := yaml.Unmarshal(content, into); err != nil {
		return fmt.Errorf("parse %s: %w", path, err)
	}
	return nil
}
