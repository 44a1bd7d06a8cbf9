package cloud

import "github.com/osdr/osdr/testenv/cloud/inventory"

// DiskBus is the bus an instance's disks are on, which names them (package inventory).
type DiskBus = inventory.DiskBus

const (
	DiskBusVirtio = inventory.DiskBusVirtio
	DiskBusSCSI   = inventory.DiskBusSCSI
)
