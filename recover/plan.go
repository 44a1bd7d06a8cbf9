package recover

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/osdr/osdr/internal/cloud"
	"github.com/osdr/osdr/internal/iscsi"
)

// GuestRebootPolicy says which guests step 5 reboots from inside.
type GuestRebootPolicy string

const (
	// GuestRebootFstab reboots guests whose /etc/fstab names a reattached volume (the guide: "if a volume has an
	// entry into fstab, you should now simply restart the instance").
	GuestRebootFstab GuestRebootPolicy = "fstab"
	GuestRebootAll   GuestRebootPolicy = "all"
	GuestRebootNone  GuestRebootPolicy = "none"
)

// ParseGuestRebootPolicy validates a --guest-reboot value.
func ParseGuestRebootPolicy(s string) (GuestRebootPolicy, error) {
	switch p := GuestRebootPolicy(s); p {
	case GuestRebootFstab, GuestRebootAll, GuestRebootNone:
		return p, nil
	}
	return "", fmt.Errorf("--guest-reboot %q: want fstab, all or none", s)
}

// Plan is everything a recovery will do, in order, with real ids: printed by --dry-run and saved with every run.
type Plan struct {
	RunID string `json:"run_id"`
	// Strategy is how the run recovers; a plan saved before strategies existed is the guide's.
	Strategy    Strategy          `json:"strategy,omitempty"`
	Manifest    string            `json:"manifest"`
	Scope       Scope             `json:"scope"`
	GuestReboot GuestRebootPolicy `json:"guest_reboot"`
	DB          *DBPlan           `json:"db"`
	Instances   []InstancePlan    `json:"instances"`
	Excluded    []Exclusion       `json:"excluded,omitempty"`
	Warnings    []string          `json:"warnings,omitempty"`
	// Identity sets the cloud the manifest was taken on beside this cloud, part by part.
	Identity cloud.Comparison `json:"identity,omitempty"`
}

// InstancePlan is steps 3 to 5 for one instance.
type InstancePlan struct {
	ID       string   `json:"id"`
	Name     string   `json:"name"`
	Host     string   `json:"host"`
	Reboot   *Action  `json:"reboot,omitempty"` // nil: the instance keeps its state (stopped, paused, ...)
	Reattach []Action `json:"reattach,omitempty"`
	Guest    []Action `json:"guest,omitempty"`
	Note     string   `json:"note,omitempty"`
	// Class and ClassWhy are the minimal strategy's verdict on the instance. A reboot-only instance's
	// Reattach and Guest actions run only if its proof fails, after its volumes alone are cleaned.
	Class    Class    `json:"class,omitempty"`
	ClassWhy string   `json:"class_why,omitempty"`
	Prove    []Action `json:"prove,omitempty"`
}

// fallbackOnly says whether the instance's reattach and guest actions run only when its proof fails.
func (in InstancePlan) fallbackOnly() bool { return in.Class == ClassRebootOnly }

// strategy is the plan's strategy; plans saved before there were strategies carried out the guide's.
func (p *Plan) strategy() Strategy {
	if p.Strategy == "" {
		return StrategyGuide
	}
	return p.Strategy
}

// Action is one API call or SSH command, as it will be sent.
type Action struct {
	Kind    string `json:"kind"`           // "api" or "ssh"
	Role    string `json:"role,omitempty"` // for guest commands: fstab, boot-id, reboot
	Target  string `json:"target"`
	Command string `json:"command"`
	Volume  string `json:"volume,omitempty"`
	Device  string `json:"device,omitempty"`
	When    string `json:"when,omitempty"` // a condition checked at run time
}

// rebootAction is step 3 for an instance: always HARD.
func rebootAction(instanceID string) Action {
	return Action{Kind: "api", Target: "nova", Command: fmt.Sprintf(`POST /servers/%s/action {"reboot": {"type": "HARD"}}`, instanceID)}
}

// reattachAction is step 4 for one volume, at the device the manifest recorded.
func reattachAction(a Attachment) Action {
	return Action{Kind: "api", Target: "nova", Volume: a.VolumeID, Device: a.Device,
		Command: fmt.Sprintf(`POST /servers/%s/os-volume_attachments {"volumeAttachment": {"volumeId": %q, "device": %q}}`, a.InstanceID, a.VolumeID, a.Device)}
}

// whenProofFails is the condition of a reboot-only instance's fallback actions.
const whenProofFails = "the proof fails: its volumes alone cleaned in the databases first"

// proveAction is the host side of a reboot-only instance's proof: the sessions of its volumes logged in, each
// with its LUN's disk present and running. Nova's and Cinder's side is read from the listings the waits share.
func proveAction(host string) Action {
	return Action{Kind: "ssh", Role: roleProve, Target: host, Command: iscsi.ListSessionsDetail().String(),
		When: "after the reboot: each volume's session logged in, its LUN's disk present and running"}
}

// Guest commands of step 5; the boot id tells a rebooted guest from one that never went down.
const (
	GuestCmdFstab  = "cat /etc/fstab"
	GuestCmdBootID = "cat /proc/sys/kernel/random/boot_id"
	guestCmdReboot = "shutdown -r now"
)

const (
	roleFstab  = "fstab"
	roleBootID = "boot-id"
	roleReboot = "reboot"
	roleProve  = "prove"
)

func guestActions(policy GuestRebootPolicy, login cloud.Login, devices []string) []Action {
	if policy == GuestRebootNone {
		return nil
	}
	when := ""
	var acts []Action
	if policy == GuestRebootFstab {
		acts = append(acts, Action{Kind: "ssh", Role: roleFstab, Target: login.Endpoint, Command: GuestCmdFstab})
		when = "/etc/fstab names one of " + strings.Join(devices, ", ")
	}
	return append(acts,
		Action{Kind: "ssh", Role: roleBootID, Target: login.Endpoint, Command: GuestCmdBootID, When: when},
		Action{Kind: "ssh", Role: roleReboot, Target: login.Endpoint, Command: login.AsRoot(guestCmdReboot), When: when},
		Action{Kind: "ssh", Role: roleBootID, Target: login.Endpoint, Command: GuestCmdBootID, When: "until it differs from the boot id before"},
	)
}

// guestCommand returns the plan's command for a role.
func guestCommand(in InstancePlan, role string) (string, bool) {
	for _, a := range in.Guest {
		if a.Role == role {
			return a.Command, true
		}
	}
	return "", false
}

// WriteText renders the plan for people: every statement, call and command with its ids.
func (p *Plan) WriteText(w io.Writer) error {
	b := &strings.Builder{}
	fmt.Fprintf(b, "Recovery plan %s (manifest %s, strategy %s)\n", p.RunID, p.Manifest, p.strategy())
	fmt.Fprintf(b, "Step 1  manifest: %d instance(s) in scope\n", len(p.Instances))
	if len(p.Identity) > 0 {
		fmt.Fprintf(b, "        cloud of the manifest and this cloud:\n")
		for _, f := range p.Identity {
			fmt.Fprintf(b, "          %-22s %-8s recorded %s; now %s\n", f.Field, f.Verdict, f.Recorded, f.Now)
		}
	}
	if p.strategy() == StrategyMinimal {
		counts := map[Class]int{}
		for _, in := range p.Instances {
			counts[in.Class]++
		}
		fmt.Fprintf(b, "        strategy minimal: %d reboot-only, %d stuck (the guide's steps for their volumes), %d kept as they are\n",
			counts[ClassRebootOnly], counts[ClassStuck], counts[ClassKept])
	}
	if p.DB != nil {
		scope := ""
		if p.strategy() == StrategyMinimal {
			scope = "; stuck instances' volumes only, and a reboot-only instance's alone if its proof fails"
		}
		fmt.Fprintf(b, "Step 2  clean the database (Cinder schema: %s; one transaction per database; rows backed up first%s)\n", p.DB.CinderSchema, scope)
		if len(p.DB.Statements) == 0 {
			fmt.Fprintf(b, "        nothing to clean\n")
		}
		for _, s := range p.DB.Statements {
			rows := "changes exactly the rows it locks"
			if s.ExpectedRows >= 0 {
				rows = fmt.Sprintf("matches %d row(s) now", s.ExpectedRows)
			}
			fmt.Fprintf(b, "        [%s] %s  -- %s\n", s.Database, s.SQL, rows)
		}
		for _, ws := range p.DB.WriteSets {
			fmt.Fprintf(b, "        [%s] Galera write set: %d row(s), about %d bytes (limits: %d rows, %d bytes; 0 is none)\n", ws.Database, ws.Rows, ws.Bytes, ws.MaxRows, ws.MaxBytes)
		}
	}
	fmt.Fprintf(b, "Step 3  reboot (HARD, once per instance; done when the server runs and nova-compute's compute_reboot_instance event says Success)\n")
	for _, in := range p.Instances {
		class := ""
		if in.Class != "" {
			class = fmt.Sprintf("  [%s: %s]", in.Class, in.ClassWhy)
		}
		if in.Reboot == nil {
			fmt.Fprintf(b, "        %s (%s): no reboot: %s%s\n", in.ID, in.Name, in.Note, class)
			continue
		}
		fmt.Fprintf(b, "        %s (%s) on %s: %s%s\n", in.ID, in.Name, in.Host, in.Reboot.Command, class)
	}
	for _, in := range p.Instances {
		for i, a := range in.Prove {
			if i == 0 {
				fmt.Fprintf(b, "Proof   (reboot-only instances: Nova lists each volume on the server, Cinder shows it in-use there, and on the host:)\n")
			}
			fmt.Fprintf(b, "        %s: ssh %s %q  (%s)\n", in.ID, a.Target, a.Command, a.When)
		}
	}
	fmt.Fprintf(b, "Step 4  reattach (per instance in device order; done when Cinder shows the volume in-use on the server and Nova lists it)\n")
	for _, in := range p.Instances {
		for _, a := range in.Reattach {
			if in.fallbackOnly() {
				fmt.Fprintf(b, "        %s  (if %s)\n", a.Command, whenProofFails)
				continue
			}
			fmt.Fprintf(b, "        %s\n", a.Command)
		}
	}
	fmt.Fprintf(b, "Step 5  guest reboot (policy %s)\n", p.GuestReboot)
	for _, in := range p.Instances {
		for _, a := range in.Guest {
			if in.fallbackOnly() {
				a.When = strings.Join(slices.DeleteFunc([]string{whenProofFails, a.When}, func(s string) bool { return s == "" }), " and ")
			}
			if a.When != "" {
				fmt.Fprintf(b, "        ssh %s %q  (if %s)\n", a.Target, a.Command, a.When)
			} else {
				fmt.Fprintf(b, "        ssh %s %q\n", a.Target, a.Command)
			}
		}
	}
	excluded := p.Excluded
	if p.DB != nil {
		excluded = append(append([]Exclusion(nil), excluded...), p.DB.Skipped...)
	}
	if len(excluded) > 0 {
		fmt.Fprintf(b, "Left out\n")
		for _, e := range excluded {
			fmt.Fprintf(b, "        %s %s: %s\n", e.Kind, e.ID, e.Reason)
		}
	}
	for _, warning := range p.Warnings {
		fmt.Fprintf(b, "Warning: %s\n", warning)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// WriteJSON renders the plan for machines.
func (p *Plan) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(p)
}

// minCalls is the fewest API calls steps 3 to 5 of the plan can make: a reboot per instance rebooted and an
// attach per volume reattached.
func (p *Plan) minCalls() int {
	n := 0
	for _, in := range p.Instances {
		if in.Reboot != nil {
			n++
		}
		if !in.fallbackOnly() {
			n += len(in.Reattach)
		}
	}
	return n
}
