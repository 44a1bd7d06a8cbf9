// Package settings resolves the one settings contract every osdr command reads — the cloud (clouds.yaml or the
// OS_* variables), the Cinder and Nova databases, the machines reached over SSH, and the runs directory — from
// flags or the environment, flag first, without ever taking a password on the command line or letting one
// reach a log line. It also writes that contract back out as a sourceable osdr.env, so there is one list of
// names for both directions.
package settings
