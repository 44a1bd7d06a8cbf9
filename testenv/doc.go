// Package testenv provides what tests, the simulation and the demo stand on: a MySQL-compatible database
// (an explicit DSN, a container, or an embedded server) with the real Cinder and Nova schemas loaded.
// No product package imports it.
package testenv
