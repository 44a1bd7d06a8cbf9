package inject

import (
	"context"
	"fmt"
	"regexp"
	"strings"
)

const kindDestroy = "virsh-destroy"

// Domain is one row of `virsh list --all`.
type Domain struct {
	ID    string // "-" when not running
	Name  string
	State string // running, shut off, paused, ...
}

// domainName is what Nova names domains (instance-%08x) and what the shell may see unquoted.
var domainName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]*$`)

// ParseVirshList reads `virsh list --all`: a header, a dashed rule, one row per domain. Any other line is an
// error, never skipped: unexpected tool output must stop a fault, not shrink it.
func ParseVirshList(out string) ([]Domain, error) {
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	if len(lines) < 2 || !strings.HasPrefix(strings.TrimSpace(lines[0]), "Id") || strings.Trim(strings.TrimSpace(lines[1]), "-") != "" {
		return nil, fmt.Errorf("virsh list --all: unexpected output %q", firstLines(out))
	}
	var domains []Domain
	for _, line := range lines[2:] {
		if strings.TrimSpace(line) == "" {
			continue
		}
		f := strings.Fields(line)
		if len(f) < 3 || !domainName.MatchString(f[1]) {
			return nil, fmt.Errorf("virsh list --all: cannot read line %q", line)
		}
		domains = append(domains, Domain{ID: f[0], Name: f[1], State: strings.Join(f[2:], " ")})
	}
	return domains, nil
}

func firstLines(s string) string {
	if len(s) > 200 {
		return s[:200] + "…"
	}
	return s
}

func listDomains(ctx context.Context, hosts Hosts, host string) ([]Domain, error) {
	r, err := hosts.RunOnHost(ctx, host, "virsh list --all")
	if err != nil {
		return nil, fmt.Errorf("list domains on %s: %w", host, err)
	}
	if r.ExitCode != 0 {
		return nil, fmt.Errorf("list domains on %s: virsh exited %d: %s", host, r.ExitCode, strings.TrimSpace(r.Stderr))
	}
	domains, err := ParseVirshList(r.Stdout)
	if err != nil {
		return nil, fmt.Errorf("list domains on %s: %w", host, err)
	}
	return domains, nil
}

// guestDestroy is the hypervisor side of a power cut: `virsh destroy` pulls the instance's virtual plug.
type guestDestroy struct{}

func (guestDestroy) Name() string { return "guest-destroy" }

func destroyAction(fault, host, instance, domain string) Action {
	return Action{Fault: fault, Kind: kindDestroy, Host: host, Instance: instance, Domain: domain,
		Command: "virsh destroy " + domain, Restore: "virsh start " + domain, State: StatePlanned}
}

func (f guestDestroy) Plan(ctx context.Context, hosts Hosts, sel Selection) ([]Action, error) {
	var actions []Action
	for _, in := range sel.Instances {
		if !domainName.MatchString(in.DomainName) {
			return nil, fmt.Errorf("instance %s: domain name %q is not one Nova gives", in.ID, in.DomainName)
		}
		domains, err := listDomains(ctx, hosts, in.Host)
		if err != nil {
			return nil, err
		}
		state := ""
		for _, d := range domains {
			if d.Name == in.DomainName {
				state = d.State
			}
		}
		switch state {
		case "running", "paused":
			actions = append(actions, destroyAction(f.Name(), in.Host, in.ID, in.DomainName))
		case "":
			return nil, fmt.Errorf("instance %s: host %s has no domain %s", in.ID, in.Host, in.DomainName)
		default:
			return nil, fmt.Errorf("instance %s: domain %s on %s is %s: nothing to destroy", in.ID, in.DomainName, in.Host, state)
		}
	}
	return actions, nil
}

func actDestroy(ctx context.Context, hosts Hosts, a *Action) error {
	r, err := hosts.RunOnHost(ctx, a.Host, "virsh destroy "+a.Domain)
	if err != nil {
		return fmt.Errorf("destroy %s on %s: %w", a.Domain, a.Host, err)
	}
	if r.ExitCode != 0 {
		return fmt.Errorf("destroy %s on %s: virsh exited %d: %s", a.Domain, a.Host, r.ExitCode, strings.TrimSpace(r.Stderr))
	}
	if !strings.Contains(r.Stdout, "Domain '"+a.Domain+"' destroyed") && !strings.Contains(r.Stdout, "Domain "+a.Domain+" destroyed") {
		return fmt.Errorf("destroy %s on %s: unexpected answer %q", a.Domain, a.Host, strings.TrimSpace(r.Stdout))
	}
	return nil
}

// undoDestroy starts the domain again unless something (Nova's reboot in a recovery) already did.
func undoDestroy(ctx context.Context, hosts Hosts, a *Action) error {
	domains, err := listDomains(ctx, hosts, a.Host)
	if err != nil {
		return err
	}
	for _, d := range domains {
		if d.Name == a.Domain && d.State == "running" {
			return nil
		}
	}
	r, err := hosts.RunOnHost(ctx, a.Host, "virsh start "+a.Domain)
	if err != nil {
		return fmt.Errorf("start %s on %s: %w", a.Domain, a.Host, err)
	}
	if r.ExitCode != 0 {
		return fmt.Errorf("start %s on %s: virsh exited %d: %s", a.Domain, a.Host, r.ExitCode, strings.TrimSpace(r.Stderr))
	}
	return nil
}

// hostPowerLoss is the whole host losing power: every volume session closed, each with its own -r, and
// every running domain destroyed.
type hostPowerLoss struct{}

func (hostPowerLoss) Name() string { return "host-power-loss" }

func (f hostPowerLoss) Plan(ctx context.Context, hosts Hosts, sel Selection) ([]Action, error) {
	if len(sel.Hosts) == 0 {
		return nil, fmt.Errorf("host-power-loss needs --host")
	}
	var actions []Action
	for _, host := range sel.Hosts {
		sessions, err := listSessions(ctx, hosts, host)
		if err != nil {
			return nil, err
		}
		// The sessions of the instances' volumes, by their recorded targets: a session of no volume the
		// manifest knows (the host's own storage) is left alone, as are volumes whose target is unknown.
		type volumeOf struct {
			instance string
			volume   Volume
		}
		byIQN := map[string]volumeOf{}
		for _, in := range sel.Instances {
			if in.Host != host {
				continue
			}
			for _, v := range in.Volumes {
				if v.DriverVolumeType == "iscsi" && v.IQN != "" {
					byIQN[v.IQN] = volumeOf{instance: in.ID, volume: v}
				}
			}
		}
		for _, s := range sessions {
			owner, ok := byIQN[s.IQN]
			if !ok {
				continue
			}
			delete(byIQN, s.IQN) // a second session of the same target is closed by the first's logout
			a, err := logoutAction(f.Name(), Instance{ID: owner.instance, Host: host}, owner.volume, sessions)
			if err != nil {
				return nil, err
			}
			actions = append(actions, a)
		}
		domains, err := listDomains(ctx, hosts, host)
		if err != nil {
			return nil, err
		}
		instanceByDomain := map[string]string{}
		for _, in := range sel.Instances {
			instanceByDomain[in.DomainName] = in.ID
		}
		for _, d := range domains {
			if d.State == "running" || d.State == "paused" {
				actions = append(actions, destroyAction(f.Name(), host, instanceByDomain[d.Name], d.Name))
			}
		}
	}
	return actions, nil
}

// domainDown: the domain is no longer running on the host (or the hypervisor forgot it).
func domainDown(ctx context.Context, hosts Hosts, a Action) (bool, string, error) {
	domains, err := listDomains(ctx, hosts, a.Host)
	if err != nil {
		return false, "", err
	}
	for _, d := range domains {
		if d.Name == a.Domain {
			return d.State != "running", "domain " + d.State, nil
		}
	}
	return true, "", nil
}
