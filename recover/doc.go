// Package recover is the recovery engine: it carries out the Operations Guide's disaster-recovery procedure
// (manifest, database clean, reboot once, reattach, guest reboot) with a plan, a journal and resumption.
//
// The package name shadows the builtin recover(); files that import it keep no panic handling.
package recover
