package inventory

// StuckState is how an attach or detach that a power loss interrupted, or a driver that records less, left a
// data volume's records in Cinder's and Nova's databases.
type StuckState string

const (
	// StuckAttaching: attachment_update ran (volume and attachment attaching, the connection exported) but
	// nova-compute had not saved the connection_info on the BDM.
	StuckAttaching StuckState = "attaching"
	// StuckDetaching: os-begin_detaching ran (volume detaching); the attachment and the BDM are as they were.
	StuckDetaching StuckState = "detaching"
	// StuckReserved: attachment_create (or os-reserve) ran: the volume is reserved for the instance, whose BDM
	// has no connection_info yet.
	StuckReserved StuckState = "reserved"
	// StuckErrorAttaching: attachment_update failed on the volume service: the attachment (and the volume's
	// status) error_attaching; the BDM has no connection_info.
	StuckErrorAttaching StuckState = "error_attaching"
	// StuckCinderOnly: Cinder's attachment is whole, Nova's BDM destroyed.
	StuckCinderOnly StuckState = "cinder-only"
	// StuckNovaOnly: Nova's BDM is whole, Cinder's attachment deleted (the volume available).
	StuckNovaOnly StuckState = "nova-only"
	// StuckNoConnectionInfo: the BDM has no connection_info at all.
	StuckNoConnectionInfo StuckState = "no-connection-info"
	// StuckNoTargetIQN: the volume driver named the iSCSI target only in its lists (target_iqns,
	// target_portals, target_luns), so neither Cinder's attachment nor Nova's BDM has target_iqn.
	StuckNoTargetIQN StuckState = "no-target-iqn"
)

// StuckStates lists every state, in the order they are seeded.
var StuckStates = []StuckState{
	StuckAttaching, StuckDetaching, StuckReserved, StuckErrorAttaching,
	StuckCinderOnly, StuckNovaOnly, StuckNoConnectionInfo, StuckNoTargetIQN,
}

// StuckStatuses are the volume statuses an interrupted operation leaves, over which a bare share is spread.
var StuckStatuses = []StuckState{StuckAttaching, StuckDetaching, StuckReserved, StuckErrorAttaching}
