// Package cloud assembles the simulated OpenStack control plane: Keystone v3 (package keystone), Nova's compute
// API v2.1 with nova-conductor and nova-compute (packages nova and nova/compute), Cinder v3 (package cinder) and
// Glance's image API (package glance), each on its own loopback port, Nova's and Cinder's state in MySQL in the
// real schemas, so SQL run against those databases changes what the APIs answer exactly as on a real cloud.
// The services meet where real ones do: Nova reaches Cinder through the volume API (package nova/volume) and
// its compute hosts through casts and calls, nova-compute drives guests through a virt.Driver, and every API
// runs behind keystonemiddleware and the shared request pipeline (package osapi).
//
// A Profile picks the release played and configures each service for it (microversions, version documents,
// Nova's dangling-mapping cleanup, Cinder's reset-status quirks); the legacy profile plays the Operations
// Guide's nova-volume-era volumes table, whose instance_id column holds Nova's numeric instances.id, with Zed's
// Nova in front of it. Operations take seeded, scalable time (Config.LatencyScale), and SetFaults makes requests
// fail like a control plane under a disaster, before or after they are processed (package model). The audit
// log records every mutating call and what nova-compute did by itself. Provision writes a topology (package
// inventory) into the databases as the services would have.
package cloud
