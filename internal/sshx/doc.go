// Package sshx runs commands on compute hosts and guests over SSH for every osdr feature: one verified,
// reused connection per endpoint (optionally through a jump host), with failures typed so callers can tell an
// unknown or changed host key, a refused key, an unreachable machine and a connection that dropped mid-command
// (the expected end of `shutdown -r now`) apart.
package sshx
