package settings

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/osdr/osdr/internal/sshx"
	"sigs.k8s.io/yaml"
)

const (
	defaultSSHPort = 22
	maxTCPPort     = 65535
)

// ErrNoAddress is wrapped when a guest has neither an inventory entry nor an address to reach it at.
var ErrNoAddress = errors.New("no address to reach it at")

// machineEntry is a compute host, guest or jump host as the inventory writes it. Every field is optional: an
// empty one falls back to the defaults.
type machineEntry struct {
	Address string        `json:"address,omitempty"`
	Port    int           `json:"port,omitempty"`
	User    string        `json:"user,omitempty"`
	Key     string        `json:"key,omitempty"`
	Jump    *machineEntry `json:"jump,omitempty"`
}

type inventoryDefaults struct {
	User       string `json:"user,omitempty"`
	Key        string `json:"key,omitempty"`
	KnownHosts string `json:"known_hosts,omitempty"`
	Port       int    `json:"port,omitempty"`
}

// inventory is an inventory file as read, its relative paths made relative to its directory.
type inventory struct {
	defaults inventoryDefaults
	hosts    map[string]machineEntry
	guests   map[string]machineEntry
}

// inventoryFile keeps each entry raw so that a strict decoding error can name the entry it is in.
type inventoryFile struct {
	Defaults json.RawMessage            `json:"defaults"`
	Hosts    map[string]json.RawMessage `json:"hosts"`
	Guests   map[string]json.RawMessage `json:"guests"`
}

// Machines says how to reach compute hosts and guests over SSH: the inventory's entries over the defaults of
// the flags, the environment and the inventory, in that order.
type Machines struct {
	inventory string // the inventory file, empty when there is none
	source    string
	hosts     map[string]machineEntry
	guests    map[string]machineEntry

	user       string
	key        string
	port       int
	knownHosts string
	insecure   bool
}

func (r *resolution) machines() (*Machines, error) {
	m := &Machines{insecure: r.flags.InsecureIgnoreHostKeys}
	path, source, inventoryErr := r.pickPath("inventory", r.flags.Inventory, FlagInventory, EnvInventory)
	key, _, keyErr := r.pickPath("SSH key", r.flags.SSHKey, FlagSSHKey, EnvSSHKey)
	knownHosts, _, knownHostsErr := r.pickPath("known_hosts file", r.flags.KnownHosts, FlagKnownHosts, EnvKnownHosts)
	limit, limitErr := FileLimit{What: "inventory", Bytes: MaxInventoryBytes, Env: EnvMaxInventoryBytes}.withOverride(r.getenv)
	if err := errors.Join(inventoryErr, keyErr, knownHostsErr, limitErr); err != nil {
		return nil, err
	}
	var inv inventory
	if path != "" {
		var err error
		if inv, err = loadInventory(path, limit); err != nil {
			return nil, &Error{Setting: "inventory", Source: source + "=" + path, Err: err}
		}
		m.inventory, m.source, m.hosts, m.guests = path, source, inv.hosts, inv.guests
	}
	user, _ := r.pick(r.flags.SSHUser, FlagSSHUser, EnvSSHUser)
	m.user = cmp.Or(user, inv.defaults.User)
	m.key = cmp.Or(key, inv.defaults.Key)
	m.knownHosts = cmp.Or(knownHosts, inv.defaults.KnownHosts)
	m.port = cmp.Or(inv.defaults.Port, defaultSSHPort)
	if m.insecure {
		r.warn("SSH host keys are not verified (--%s): anyone on the network path can impersonate the hosts", FlagInsecureIgnoreHostKeys)
	}
	return m, nil
}

// loadInventory reads the inventory strictly: a misspelt field would otherwise silently send osdr to the wrong
// machine or as the wrong user.
func loadInventory(path string, limit FileLimit) (inventory, error) {
	var inv inventory
	opened, err := os.Open(path)
	if err != nil {
		return inv, withoutPath(err)
	}
	defer opened.Close()
	content, err := readLimited(opened, limit)
	if err != nil {
		return inv, err
	}
	return parseInventory(content, filepath.Dir(path))
}

// parseInventory reads an inventory's content; relative paths in it are relative to dir.
func parseInventory(content []byte, dir string) (inventory, error) {
	var inv inventory
	// YAMLToJSONStrict refuses duplicate keys: two entries for one host would leave one of them unused.
	asJSON, err := yaml.YAMLToJSONStrict(content)
	if err != nil {
		return inv, err
	}
	var file inventoryFile
	if err := decodeStrict(asJSON, &file); err != nil {
		return inv, fmt.Errorf("top level (defaults, hosts, guests): %w", err)
	}
	paths := filePaths{dir: dir}
	var errs []error
	if len(file.Defaults) > 0 {
		errs = append(errs, decodeStrict(file.Defaults, &inv.defaults))
		errs = append(errs, checkPort(inv.defaults.Port))
		inv.defaults.Key = paths.resolve(inv.defaults.Key, &errs)
		inv.defaults.KnownHosts = paths.resolve(inv.defaults.KnownHosts, &errs)
		errs = prefixErrors("defaults", errs)
	}
	inv.hosts, errs = decodeEntries("hosts", file.Hosts, paths, errs)
	inv.guests, errs = decodeEntries("guests", file.Guests, paths, errs)
	return inv, errors.Join(errs...)
}

// decodeEntries decodes one section of entries, appending its problems to all.
func decodeEntries(section string, raw map[string]json.RawMessage, paths filePaths, all []error) (map[string]machineEntry, []error) {
	entries := make(map[string]machineEntry, len(raw))
	for _, name := range slices.Sorted(maps.Keys(raw)) {
		var entry machineEntry
		errs := []error{decodeStrict(raw[name], &entry)}
		errs = append(errs, checkPort(entry.Port))
		entry.Key = paths.resolve(entry.Key, &errs)
		if entry.Jump != nil {
			jumpErrs := []error{checkPort(entry.Jump.Port)}
			if entry.Jump.Address == "" {
				jumpErrs = append(jumpErrs, errors.New("address is required"))
			}
			if entry.Jump.Jump != nil {
				jumpErrs = append(jumpErrs, errors.New("a jump host is reached directly: it has no jump of its own"))
			}
			entry.Jump.Key = paths.resolve(entry.Jump.Key, &jumpErrs)
			errs = append(errs, prefixErrors("jump", jumpErrs)...)
		}
		all = append(all, prefixErrors(section+"."+name, errs)...)
		entries[name] = entry
	}
	return entries, all
}

// decodeStrict decodes one JSON value, refusing fields the inventory does not have.
func decodeStrict(data []byte, into any) error {
	decoder := json.NewDecoder(bytes.NewReader(data))
	decoder.DisallowUnknownFields()
	err := decoder.Decode(into)
	var typeErr *json.UnmarshalTypeError
	if errors.As(err, &typeErr) {
		return fmt.Errorf("field %q: got a %s, want %s", typeErr.Field, typeErr.Value, typeErr.Type)
	}
	return err
}

func checkPort(port int) error {
	if port < 0 || port > maxTCPPort {
		return fmt.Errorf("port %d is out of range 1-%d", port, maxTCPPort)
	}
	return nil
}

// prefixErrors names where in the inventory each non-nil error is.
func prefixErrors(where string, errs []error) []error {
	var prefixed []error
	for _, err := range errs {
		if err != nil {
			prefixed = append(prefixed, fmt.Errorf("%s: %w", where, err))
		}
	}
	return prefixed
}

// filePaths resolves the key and known_hosts paths an inventory names.
type filePaths struct{ dir string }

// resolve makes a relative path relative to the inventory's directory, so an inventory and its keys can move
// together. "~" is refused rather than guessed at: osdr does not run in a shell that would expand it.
func (p filePaths) resolve(path string, errs *[]error) string {
	switch {
	case path == "" || filepath.IsAbs(path):
		return path
	case strings.HasPrefix(path, "~"):
		*errs = append(*errs, fmt.Errorf("path %q: ~ is not expanded; write the full path", path))
		return path
	default:
		return filepath.Join(p.dir, path)
	}
}

// Host is the SSH endpoint of a compute host, by the name Nova reports for it. Without an inventory entry the
// host is reached at that name.
func (m *Machines) Host(name string) (sshx.Endpoint, error) {
	if name == "" {
		return sshx.Endpoint{}, errors.New("SSH endpoint of a compute host: empty host name")
	}
	return m.endpoint(name, name, m.hosts[name]), nil
}

// Guest is the SSH endpoint of an instance's guest. Without an inventory entry the guest is reached at the first
// of addresses (the instance's addresses as Nova lists them).
func (m *Machines) Guest(instanceID string, addresses []string) (sshx.Endpoint, error) {
	entry := m.guests[instanceID]
	fallback := ""
	if i := slices.IndexFunc(addresses, func(a string) bool { return a != "" }); i >= 0 {
		fallback = addresses[i]
	}
	if entry.Address == "" && fallback == "" {
		return sshx.Endpoint{}, fmt.Errorf("SSH endpoint of guest %s: no inventory entry and %w", instanceID, ErrNoAddress)
	}
	return m.endpoint(instanceID, fallback, entry), nil
}

func (m *Machines) endpoint(name, fallbackAddress string, entry machineEntry) sshx.Endpoint {
	endpoint := sshx.Endpoint{
		Name:    name,
		Address: cmp.Or(entry.Address, fallbackAddress),
		Port:    cmp.Or(entry.Port, m.port),
		User:    cmp.Or(entry.User, m.user),
		KeyFile: cmp.Or(entry.Key, m.key),
	}
	if entry.Jump != nil {
		jump := m.endpoint(entry.Jump.Address, "", *entry.Jump)
		endpoint.Jump = &jump
	}
	return endpoint
}

// SSHConfig is the part of the SSH client's configuration the contract decides.
func (m *Machines) SSHConfig() sshx.Config {
	return sshx.Config{
		KnownHostsFile:         m.knownHosts,
		InsecureIgnoreHostKeys: m.insecure,
		DefaultKeyFile:         m.key,
		DefaultUser:            m.user,
	}
}

// String describes where the machines are reached and how host keys are checked.
func (m *Machines) String() string {
	inventory := "no inventory (hosts by name, guests by first address)"
	if m.inventory != "" {
		inventory = fmt.Sprintf("inventory %s (%s): %d hosts, %d guests", m.inventory, m.source, len(m.hosts), len(m.guests))
	}
	hostKeys := "host keys verified against " + cmp.Or(m.knownHosts, "~/.ssh/known_hosts")
	if m.insecure {
		hostKeys = "host keys NOT verified (--" + FlagInsecureIgnoreHostKeys + ")"
	}
	return fmt.Sprintf("%s; default user %q, key %q, port %d; %s", inventory, m.user, m.key, m.port, hostKeys)
}
