package sim

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"sigs.k8s.io/yaml"

	"github.com/osdr/osdr/internal/durable"
	"github.com/osdr/osdr/internal/settings"
	"github.com/osdr/osdr/testenv/cloud"
)

// CloudName is the clouds.yaml entry of the simulated cloud.
const CloudName = "osdr-sim"

// Files the simulation writes into its state directory.
const (
	FileCloudsYAML = "clouds.yaml"
	FileOpenRC     = "openrc"
	FileEnv        = "osdr.env"
	FileInventory  = "inventory.yaml"
	FileSimJSON    = "sim.json"
	DirRuns        = "runs"
)

// Machine is one compute host or guest as sim.json lists it.
type Machine struct {
	Name     string `json:"name"`
	Instance string `json:"instance,omitempty"`
	Address  string `json:"address"`
	Port     int    `json:"port"`
	User     string `json:"user"`
	Key      string `json:"key"`
}

// Description is sim.json: everything a test or a person needs to reach the simulated cloud.
type Description struct {
	Profile    string    `json:"profile"`
	Region     string    `json:"region"`
	Identity   string    `json:"identity_url"`
	Compute    string    `json:"compute_url"`
	Volume     string    `json:"volume_url"`
	Username   string    `json:"username"`
	Password   string    `json:"password"`
	Project    string    `json:"project"`
	CinderDSN  string    `json:"cinder_db_dsn"`
	NovaDSN    string    `json:"nova_db_dsn"`
	Database   string    `json:"database_server"` // container, dsn or embedded
	Hosts      []Machine `json:"hosts"`
	Guests     []Machine `json:"guests"`
	KnownHosts string    `json:"known_hosts,omitempty"`
	SSHKey     string    `json:"ssh_key,omitempty"`
	RunsDir    string    `json:"runs_dir"`
	// ControlURL and ControlToken reach the running simulation (`osdr-lab sim power-cut`, `osdr-lab sim audit`).
	ControlURL   string `json:"control_url"`
	ControlToken string `json:"control_token"`
	// Stuck lists the volumes `--stuck` left stuck, with their instance and state.
	Stuck []cloud.StuckVolume `json:"stuck,omitempty"`
}

// ReadDescription reads a running simulation's sim.json.
func ReadDescription(stateDir string) (Description, error) {
	var d Description
	raw, err := os.ReadFile(filepath.Join(stateDir, FileSimJSON))
	if err != nil {
		return d, fmt.Errorf("read sim.json (is %s the state directory of `osdr-lab sim up`?): %w", stateDir, err)
	}
	if err := json.Unmarshal(raw, &d); err != nil {
		return d, fmt.Errorf("parse %s: %w", FileSimJSON, err)
	}
	return d, nil
}

func (s *Sim) path(name string) string { return filepath.Join(s.stateDir, name) }

// describe collects sim.json's content.
func (s *Sim) describe() (Description, error) {
	dir, err := filepath.Abs(s.stateDir)
	if err != nil {
		return Description{}, err
	}
	admin := s.Cloud.Admin()
	ep := s.Cloud.Endpoints()
	d := Description{
		Profile: s.Cloud.Profile().Name, Region: "RegionOne", Identity: ep.Identity, Compute: ep.Compute, Volume: ep.Volume,
		Username: admin.UserName, Password: admin.Password, Project: admin.ProjectName,
		CinderDSN: s.CinderDSN, NovaDSN: s.NovaDSN, Database: string(s.ServerKind),
		RunsDir: filepath.Join(dir, DirRuns), Stuck: s.Stuck,
	}
	if s.control != nil {
		d.ControlURL, d.ControlToken = s.control.url, s.control.token
	}
	d.Hosts, d.Guests, d.SSHKey, d.KnownHosts, err = s.machines(dir)
	return d, err
}

// writeStateFiles writes every file, each atomically, after the cloud answers.
func (s *Sim) writeStateFiles() error {
	d, err := s.describe()
	if err != nil {
		return err
	}
	clouds := map[string]any{"clouds": map[string]any{CloudName: map[string]any{
		"auth": map[string]any{
			"auth_url": d.Identity, "username": d.Username, "password": d.Password, "project_name": d.Project,
			"user_domain_name": "Default", "project_domain_name": "Default",
		},
		"region_name": d.Region, "interface": "public", "identity_api_version": 3,
	}}}
	cloudsYAML, err := yaml.Marshal(clouds)
	if err != nil {
		return err
	}
	openrc := strings.Join([]string{
		"# Source me: . " + s.path(FileOpenRC),
		"export OS_AUTH_URL=" + shq(d.Identity),
		"export OS_USERNAME=" + shq(d.Username),
		"export OS_PASSWORD=" + shq(d.Password),
		"export OS_PROJECT_NAME=" + shq(d.Project),
		"export OS_USER_DOMAIN_NAME=Default",
		"export OS_PROJECT_DOMAIN_NAME=Default",
		"export OS_REGION_NAME=" + shq(d.Region),
		"export OS_INTERFACE=public",
		"export OS_IDENTITY_API_VERSION=3",
		"",
	}, "\n")
	env := envOf(d)
	envFile, err := settings.RenderEnv(env)
	if err != nil {
		return err
	}
	inventory, err := yaml.Marshal(inventoryOf(d))
	if err != nil {
		return err
	}
	simJSON, err := json.MarshalIndent(d, "", "  ")
	if err != nil {
		return err
	}
	for name, content := range map[string][]byte{
		FileCloudsYAML: cloudsYAML, FileOpenRC: []byte(openrc), FileEnv: []byte(envFile),
		FileInventory: inventory, FileSimJSON: append(simJSON, '\n'),
	} {
		if err := durable.WriteFile(s.path(name), content, 0o600); err != nil {
			return fmt.Errorf("write %s: %w", name, err)
		}
	}
	return nil
}

// Env is the settings contract of the simulated cloud: what osdr.env holds.
func (s *Sim) Env() (map[string]string, error) {
	d, err := s.describe()
	if err != nil {
		return nil, err
	}
	return envOf(d), nil
}

func envOf(d Description) map[string]string {
	dir := filepath.Dir(d.RunsDir)
	env := map[string]string{
		settings.EnvOSClientConfigFile: filepath.Join(dir, FileCloudsYAML),
		settings.EnvOSCloud:            CloudName,
		settings.EnvCinderDBDSN:        d.CinderDSN,
		settings.EnvNovaDBDSN:          d.NovaDSN,
		settings.EnvRunsDir:            d.RunsDir,
	}
	if len(d.Hosts)+len(d.Guests) > 0 {
		env[settings.EnvInventory] = filepath.Join(dir, FileInventory)
		env[settings.EnvSSHKey] = d.SSHKey
		env[settings.EnvKnownHosts] = d.KnownHosts
	}
	return env
}

// inventoryOf renders the settings contract's inventory for the simulated machines.
func inventoryOf(d Description) map[string]any {
	entry := func(m Machine) map[string]any {
		return map[string]any{"address": m.Address, "port": m.Port, "user": m.User, "key": m.Key}
	}
	hosts, guests := map[string]any{}, map[string]any{}
	for _, h := range d.Hosts {
		hosts[h.Name] = entry(h)
	}
	for _, g := range d.Guests {
		guests[g.Instance] = entry(g)
	}
	inv := map[string]any{"hosts": hosts, "guests": guests}
	if d.KnownHosts != "" {
		inv["defaults"] = map[string]any{"known_hosts": d.KnownHosts, "key": d.SSHKey}
	}
	return inv
}

func shq(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

func sortedMachines(ms []Machine) []Machine {
	sort.Slice(ms, func(i, j int) bool { return ms[i].Name < ms[j].Name })
	return ms
}

// machines lists the SSH endpoints of the simulated compute hosts and guests, with the client key and
// known_hosts file that reach them.
func (s *Sim) machines(dir string) (hostList, guests []Machine, key, knownHosts string, err error) {
	hostList, guests, key, knownHosts, err = clusterMachines{s.cluster}.Machines(dir)
	return sortedMachines(hostList), sortedMachines(guests), key, knownHosts, err
}
