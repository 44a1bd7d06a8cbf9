// Command osdr rehearses and performs OpenStack disaster recovery after a power loss. It is the operator
// binary, the one that recovers a real cloud at night and the only one in the container image, so it links
// nothing of the lab: the simulated cloud and the demo are osdr-lab's, which `osdr sim` and `osdr demo` run.
package main
