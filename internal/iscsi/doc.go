// Package iscsi speaks iscsiadm for every osdr feature: it builds the only iscsiadm command lines osdr runs, in a
// shape that cannot log out more than one named session and is safe to hand to a remote shell, and it reads
// iscsiadm's output and exit codes exactly as open-iscsi 2.1.11 writes them, refusing anything it does not
// recognise. It runs nothing itself.
package iscsi
