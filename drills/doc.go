// Package drills runs disaster-recovery drills: it reads a YAML drill, enforces its guards, and drives
// preflight, fault injection, recovery and verification to a report, restoring what it broke on any failure.
package drills
