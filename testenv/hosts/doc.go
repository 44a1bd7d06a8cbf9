// Package hosts simulates the cloud's machines: compute hosts and the guests their domains run, each an SSH
// server on 127.0.0.1 with its own host key, answering iscsiadm, virsh, a portal probe (bash's /dev/tcp under
// coreutils' timeout) and a guest's commands byte for byte as the real tools do, so that osdr's SSH client,
// its parsers and its guest checks run unchanged against it. Its Cluster is the control plane's virt.Driver
// (libvirt and os-brick on each host) and cuts the hosts' power on demand. The storage portals answer while
// the control plane says their backend is up (Backends); iSCSI logins and logouts, and a guest's commands,
// take the time a real machine takes, scaled like the control plane's latency model (SetLatencyScale).
//
// A machine that is down keeps its port and resets every connection at once, where a real one would let the
// client time out. Whatever the simulation does not reproduce answers with a message starting "osdr-sim:"
// instead of a guess.
package hosts
