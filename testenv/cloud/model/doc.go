// Package model is how the simulated cloud's work takes time and how its API requests fail. The latency model
// draws each operation's duration log-normally around what it takes on a real libvirt/LVM cloud, from a seed
// and at a scale; fault injection draws, from its own seed, which requests fail, how the client sees it (an
// error answer, a hang, a dropped connection) and whether the service processed the request first.
package model
