package recover

import (
	"fmt"
)

// Strategy is how a recovery brings instances back. Both are the same engine with the same journal, manifest,
// dry-run, undo and reports; they differ in what they change.
type Strategy string

const (
	// StrategyGuide is the Operations Guide's procedure for every instance in scope: clean the databases of
	// every data volume, HARD reboot, reattach each volume through Nova, reboot guests whose fstab needs it.
	StrategyGuide Strategy = "guide"
	// StrategyMinimal touches only what is broken. Nova's libvirt driver (every release since at least
	// Queens, through 2026.1) rebuilds the domain on a HARD reboot from the block device mappings and
	// connects each volume again from its stored connection_info, so os-brick logs the iSCSI sessions back
	// in; a power loss leaves those records whole. An instance whose records are whole gets that one
	// reboot and a proof on its compute host; every other instance, and any whose proof fails, gets the
	// guide's steps for its own volumes.
	StrategyMinimal Strategy = "minimal"
)

// ParseStrategy validates a --strategy value.
func ParseStrategy(s string) (Strategy, error) {
	switch st := Strategy(s); st {
	case StrategyGuide, StrategyMinimal:
		return st, nil
	}
	return "", fmt.Errorf("--strategy %q: want guide or minimal", s)
}

// Class is what the minimal strategy found an instance to need.
type Class string

const (
	// ClassRebootOnly: every data volume's records are whole and agree (Cinder in-use with one live
	// attachment, one live Nova BDM whose connection_info names the iSCSI target, portal and LUN Cinder
	// records), and each target portal answers from the compute host. One HARD reboot brings it back.
	ClassRebootOnly Class = "reboot-only"
	// ClassStuck: some record is not whole (a volume attaching, detaching, reserved or in error; an
	// attachment on one side only; connection_info missing or without iSCSI details), or a portal does
	// not answer. It gets the guide's steps for its volumes.
	ClassStuck Class = "stuck"
	// ClassKept: the instance keeps its state (stopped or paused before the loss) and its records are
	// whole: nothing is changed; its next start connects its volumes.
	ClassKept Class = "kept"
)
