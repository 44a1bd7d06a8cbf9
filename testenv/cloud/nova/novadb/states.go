package novadb

// The vm_states a reboot of each kind may start from (nova/compute/vm_states.py, ALLOW_SOFT_REBOOT and
// ALLOW_HARD_REBOOT): the compute API checks them, and nova-compute retries an interrupted reboot from them.
var (
	AllowSoftReboot = []string{"active"}
	AllowHardReboot = []string{"active", "stopped", "paused", "suspended", "error"}
)
