// Package durable writes files so that a crash leaves either the old or the new content whole, and the
// directory entry on disk: the manifest, backups, records and reports a recovery depends on after a crash.
package durable
