// Package cloud is the simulated OpenStack control plane: Keystone v3, Nova compute v2.1 and Cinder v3 HTTP
// APIs, each on its own loopback port, keeping every piece of Nova's and Cinder's state in MySQL in the real
// schemas, so SQL run against those databases changes what the APIs answer exactly as on a real cloud. The
// compute side (reboots, starts, stops, the power-state sync, a restarting nova-compute) follows Nova's compute
// manager and drives guests through a virt.Driver. Only Keystone's users and tokens and the flavor and volume
// type catalogues live in memory: the schemas carry no tables for them.
package cloud
