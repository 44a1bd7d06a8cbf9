// Package virt is the seam between the simulated control plane and the simulated compute hosts: the calls
// Nova's compute manager makes of its virt driver (libvirt on a real cloud), with an in-memory Fake that
// behaves like Nova's own FakeDriver for tests that need no hosts.
package virt
