// Package compute is nova-compute on every compute host. It carries out what the compute API casts to a host
// (reboots, starts, stops, volume attaches and detaches) and answers its calls (reserve_block_device_name), one
// operation per instance at a time, each reported as an event of the request's instance action; it drives the
// guests through a virt.Driver and the volumes through the volume API, as ComputeManager and the libvirt driver
// do. It models the service itself: heartbeats, a stopped service whose casts wait in its queue, init_host when
// it starts again, and the power-state sync (_sync_power_states), which asks the compute API to stop guests
// found shut down.
package compute
