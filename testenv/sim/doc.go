// Package sim assembles the simulated cloud: a database server, the control plane (testenv/cloud) and the
// compute hosts and guests (testenv/hosts) over one topology, and writes the files (clouds.yaml, openrc,
// osdr.env, inventory.yaml, sim.json) that point every osdr command and the openstack CLI at it.
package sim
