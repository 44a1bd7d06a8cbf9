// Command osdr-lab is osdr's lab: the simulated OpenStack cloud (osdr-lab sim) and the demo that runs a
// drill with osdr against it (osdr-lab demo). It links what the lab stands on (a MySQL server, the container
// client, the test helpers), so it is a binary of its own, never shipped in the operator image: the osdr
// that recovers a real cloud carries none of it, and runs osdr-lab for `osdr sim` and `osdr demo`.
package main
