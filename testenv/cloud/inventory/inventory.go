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

// DiskBus is the bus an instance's disks are on (the image's hw_disk_bus), which names them in the guest.
type DiskBus string

const (
	DiskBusVirtio DiskBus = "virtio" // virtio-blk: /dev/vda, /dev/vdb, ...
	DiskBusSCSI   DiskBus = "scsi"   // virtio-scsi: /dev/sda, /dev/sdb, ...
)

// DevicePrefix is how the libvirt driver names a disk on the bus (blockinfo.get_dev_prefix_for_disk_bus, Nova
// 26 (Zed) to 33 (2026.1)): vd for virtio, sd for scsi; an unknown bus names none.
func (b DiskBus) DevicePrefix() string {
	switch b {
	case DiskBusVirtio, "":
		return "/dev/vd"
	case DiskBusSCSI:
		return "/dev/sd"
	}
	return ""
}

// RootDevice is the instance's root disk: instances.root_device_name, the boot volume's or the image's.
func (i Instance) RootDevice() string { return i.DiskBus.DevicePrefix() + "a" }

// Topology is a cloud's compute hosts and the instances and volumes on them. Provision fills in every field
// left empty (ids, devices, MACs, attachment and BDM ids) and returns the completed topology.
type Topology struct {
	Controller  string // runs nova-conductor, nova-scheduler and cinder-scheduler; default "controller"
	StorageHost string // runs cinder-volume; default Controller
	StorageIP   string // where the storage backends answer (the iSCSI portal's address); default 127.0.0.1
	Hosts       []Host
	Instances   []Instance
	// ActionHistory records each instance's past in Nova's instance actions, as a cloud that booted and
	// attached through the API has it: a create action, then an attach_volume action per data volume.
	ActionHistory bool
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
	DiskBus   DiskBus       // default virtio
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
	Device      string  // default the root device for the boot volume, the next free name on the bus for data volumes
	Boot        bool    // the instance boots from it (boot index 0)
	Backend     Backend // default iscsi
	Multiattach bool
	// AttachmentID and BDMUUID are filled in by Provision: the Cinder attachment and the Nova mapping.
	AttachmentID string
	BDMUUID      string
}
