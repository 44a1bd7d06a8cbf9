package inventory

// Backend is the kind of storage a volume lives on.
type Backend string

const (
	BackendISCSI Backend = "iscsi" // LVM exported over iSCSI (tgt)
	BackendRBD   Backend = "rbd"   // Ceph
	BackendNFS   Backend = "nfs"
)

// InstanceState is how a provisioned instance is left.
type InstanceState string

const (
	StateActive  InstanceState = "active"
	StateStopped InstanceState = "stopped"
)

// Topology is a cloud's compute hosts and the instances and volumes on them. Provision fills in every field
// left empty (ids, devices, MACs, attachment and BDM ids) and returns the completed topology.
type Topology struct {
	Controller  string // runs nova-conductor, nova-scheduler and cinder-scheduler; default "controller"
	StorageHost string // runs cinder-volume; default Controller
	StorageIP   string // where the storage backends answer (the iSCSI portal's address); default 127.0.0.1
	Hosts       []Host
	Instances   []Instance
}

// Host is a compute host running nova-compute.
type Host struct {
	Name string // as Nova reports it (OS-EXT-SRV-ATTR:host)
	IP   string // its address, recorded in volume connectors
}

// Instance is a server with its volumes.
type Instance struct {
	ID        string // uuid; generated when empty
	Name      string
	Host      string
	State     InstanceState // default active
	Flavor    string        // default m1.tiny
	Addresses []Address
	Volumes   []Volume
}

// Address is one of an instance's IP addresses on a network.
type Address struct {
	Network  string // the network's label, the key of the server's addresses
	Addr     string
	Floating bool   // a floating IP, associated with the instance's first fixed address on Network
	MAC      string // the port's MAC; generated when empty (one port per network)
}

// Volume is a Cinder volume attached to its instance.
type Volume struct {
	ID          string // uuid; generated when empty
	Name        string
	SizeGB      int     // default 1
	Device      string  // default /dev/vda for the boot volume, /dev/vdb, /dev/vdc, ... for data volumes
	Boot        bool    // the instance boots from it (boot index 0)
	Backend     Backend // default iscsi
	Multiattach bool
	// AttachmentID and BDMUUID are filled in by Provision: the Cinder attachment and the Nova mapping.
	AttachmentID string
	BDMUUID      string
}
