package iscsi

import (
	"fmt"
	"strings"
	"time"
)

// ProbeTimeout bounds a portal probe: a target that takes longer to accept a TCP connection would not let a
// reboot's logins through either (os-brick's login timeout is 15 s per attempt).
const ProbeTimeout = 5 * time.Second

// Probe is the command that tells, on a compute host, whether a target portal accepts TCP connections: it
// opens and closes one, with bash's /dev/tcp (no netcat on a compute host is assumed), within ProbeTimeout.
// Unlike a SendTargets discovery it writes no node records and needs no discovery credentials. Exit 0: the
// portal answered; 124: no answer within the timeout; anything else: refused or unreachable.
func Probe(p Portal) string {
	return fmt.Sprintf("timeout %d bash -c ': </dev/tcp/%s/%d'", int(ProbeTimeout/time.Second), p.IP.Unmap().String(), p.Port)
}

// ProbeResult says what a probe's exit status means.
func ProbeResult(p Portal, exit int, stderr string) error {
	switch exit {
	case 0:
		return nil
	case 124:
		return fmt.Errorf("portal %s did not accept a connection within %v", p, ProbeTimeout)
	}
	first, _, _ := strings.Cut(strings.TrimSpace(stderr), "\n")
	return fmt.Errorf("portal %s refused or unreachable (exit %d: %s)", p, exit, showLine(first))
}
