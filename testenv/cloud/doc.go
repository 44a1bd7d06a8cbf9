// Package cloud is the simulated OpenStack control plane: Keystone v3, Nova compute v2.1 and Cinder v3 HTTP
// APIs, each on its own loopback port, keeping every piece of Nova's and Cinder's state in MySQL in the real
// schemas, so SQL run against those databases changes what the APIs answer exactly as on a real cloud. The
// compute side (reboots, starts, stops, volume attaches and detaches, the power-state sync, a restarting
// nova-compute) follows Nova's compute manager and drives guests through a virt.Driver; volumes attach through
// Cinder attachments as Nova's compute API makes them. One deliberate difference: libvirt ignores the device
// name an attach asks for and takes the next free vdX, while the simulation takes the name asked for when it is
// free (what a recovery reattaching at the recorded device gets once the stale mappings are gone) and the next
// free vdX otherwise.
//
// A Profile picks the release played (microversions, version documents, Nova's dangling-mapping cleanup,
// Cinder's reset-status quirks); the legacy profile plays the Operations Guide's nova-volume-era volumes table,
// whose instance_id column holds Nova's numeric instances.id, with Zed's Nova in front of it. Operations take
// seeded, scalable time (Config.LatencyScale), and SetFaults makes requests fail like a control plane under a
// disaster, before or after they are processed. The audit log records every mutating call. Only Keystone's
// users and tokens and the flavor and volume type catalogues live in memory: the schemas carry no tables for
// them.
package cloud
