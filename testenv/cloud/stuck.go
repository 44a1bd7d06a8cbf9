package cloud

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"

	"github.com/osdr/osdr/testenv/cloud/cinder"
	"github.com/osdr/osdr/testenv/cloud/inventory"
	"github.com/osdr/osdr/testenv/cloud/nova/compute"
)

// StuckState is how an interrupted operation, or a driver that records less, left a volume (package inventory).
type StuckState = inventory.StuckState

const (
	StuckAttaching        = inventory.StuckAttaching
	StuckDetaching        = inventory.StuckDetaching
	StuckReserved         = inventory.StuckReserved
	StuckErrorAttaching   = inventory.StuckErrorAttaching
	StuckCinderOnly       = inventory.StuckCinderOnly
	StuckNovaOnly         = inventory.StuckNovaOnly
	StuckNoConnectionInfo = inventory.StuckNoConnectionInfo
	StuckNoTargetIQN      = inventory.StuckNoTargetIQN
)

// ErrNoSuchState means the profile's volume service never leaves a volume in the state asked for (the legacy
// profile's nova-volume has no reserved or error_attaching).
var ErrNoSuchState = cinder.ErrNoSuchState

// StuckShares is the share (0 to 1) of the cloud's attached iSCSI data volumes to leave in each state.
type StuckShares map[StuckState]float64

// ParseStuckShares reads `osdr-lab sim up --stuck`: a bare share ("0.05") is spread evenly over the volume
// statuses an interrupted operation leaves (attaching, detaching, reserved, error_attaching); otherwise
// state=share pairs separated by commas ("attaching=0.01,nova-only=0.02"). The empty string seeds nothing.
func ParseStuckShares(s string) (StuckShares, error) {
	out := StuckShares{}
	if strings.TrimSpace(s) == "" {
		return out, nil
	}
	if share, err := strconv.ParseFloat(s, 64); err == nil {
		for _, st := range inventory.StuckStatuses {
			out[st] = share / float64(len(inventory.StuckStatuses))
		}
		return out, out.Validate()
	}
	for _, pair := range strings.Split(s, ",") {
		name, value, ok := strings.Cut(strings.TrimSpace(pair), "=")
		if !ok {
			return nil, fmt.Errorf("--stuck %q: want a share such as 0.05, or state=share pairs such as attaching=0.01", s)
		}
		share, err := strconv.ParseFloat(value, 64)
		if err != nil {
			return nil, fmt.Errorf("--stuck %s: share %q is not a number", name, value)
		}
		st := StuckState(name)
		if _, dup := out[st]; dup {
			return nil, fmt.Errorf("--stuck: %s given twice", name)
		}
		out[st] = share
	}
	return out, out.Validate()
}

// Validate refuses unknown states, shares outside 0 to 1, and shares adding up to more than every volume.
func (s StuckShares) Validate() error {
	total := 0.0
	for st, share := range s {
		if !slices.Contains(inventory.StuckStates, st) {
			return fmt.Errorf("--stuck: unknown state %q (known: %s)", st, joinStates(inventory.StuckStates))
		}
		if math.IsNaN(share) || share < 0 || share > 1 {
			return fmt.Errorf("--stuck %s=%v: a share is 0 to 1", st, share)
		}
		total += share
	}
	if total > 1+1e-9 {
		return fmt.Errorf("--stuck: the shares add up to %v, more than every volume", total)
	}
	return nil
}

func joinStates(states []StuckState) string {
	names := make([]string, len(states))
	for i, st := range states {
		names[i] = string(st)
	}
	return strings.Join(names, ", ")
}

// StuckVolume is one volume SeedStuck left stuck.
type StuckVolume struct {
	Volume   string     `json:"volume"`
	Instance string     `json:"instance"`
	State    StuckState `json:"state"`
}

// SeedStuck leaves a share of a provisioned topology's attached iSCSI data volumes (not boot volumes, not
// multi-attached ones) in each stuck state, through the services' own steps (cinder.Service.LeaveStuck,
// nova.Service.LeaveStuck). Which volumes is drawn from Config.Seed, so a seed picks the same volumes on every
// run; a share that is not zero leaves at least one volume. It returns them by state, then volume id.
func (c *Cloud) SeedStuck(ctx context.Context, t Topology, shares StuckShares) ([]StuckVolume, error) {
	if err := shares.Validate(); err != nil {
		return nil, err
	}
	type candidate struct {
		inst Instance
		vol  Volume
	}
	var eligible []candidate
	for _, inst := range t.Instances {
		for _, v := range inst.Volumes {
			if !v.Boot && !v.Multiattach && cmp.Or(v.Backend, BackendISCSI) == BackendISCSI {
				eligible = append(eligible, candidate{inst, v})
			}
		}
	}
	counts := map[StuckState]int{}
	total := 0
	for _, st := range inventory.StuckStates {
		share := shares[st]
		if share == 0 {
			continue
		}
		counts[st] = max(1, int(math.Round(share*float64(len(eligible)))))
		total += counts[st]
		if c.profile.Legacy() && (st == StuckReserved || st == StuckErrorAttaching) {
			return nil, fmt.Errorf("--stuck %s: %w on profile %s", st, ErrNoSuchState, c.profile.Name)
		}
	}
	if total > len(eligible) {
		return nil, fmt.Errorf("--stuck: %d volumes asked for, the cloud has %d attached iSCSI data volumes", total, len(eligible))
	}
	hostIPs := map[string]string{}
	for _, h := range t.Hosts {
		hostIPs[h.Name] = cmp.Or(h.IP, "127.0.0.1")
	}
	order := rand.New(rand.NewPCG(uint64(c.cfg.Seed), 0x57c4)).Perm(len(eligible))
	var out []StuckVolume
	for _, st := range inventory.StuckStates {
		for range counts[st] {
			e := eligible[order[len(out)]]
			v := cinder.StuckVolume{VolumeID: e.vol.ID, InstanceUUID: e.inst.ID, AttachmentID: e.vol.AttachmentID,
				Connector: compute.Connector(e.inst.Host, hostIPs[e.inst.Host], e.vol.Device)}
			attachment, info, err := c.cinder.LeaveStuck(ctx, st, v)
			if err == nil {
				err = c.nova.LeaveStuck(ctx, st, e.inst.ID, e.vol.ID, attachment, info)
			}
			if err != nil {
				return nil, fmt.Errorf("leave volume %s of %s %s: %w", e.vol.ID, e.inst.Name, st, err)
			}
			out = append(out, StuckVolume{Volume: e.vol.ID, Instance: e.inst.ID, State: st})
		}
	}
	slices.SortStableFunc(out, func(a, b StuckVolume) int {
		return cmp.Or(cmp.Compare(slices.Index(inventory.StuckStates, a.State), slices.Index(inventory.StuckStates, b.State)),
			cmp.Compare(a.Volume, b.Volume))
	})
	return out, nil
}
