// Package cloud is the opened cloud: the one place the settings contract becomes handles. It holds the
// OpenStack API clients, the Cinder and Nova databases, the SSH machines (compute hosts and guests), the
// cloud's identity and its lock, each opened on first use, so a dry run that needs no SSH never dials and a
// --from-db snapshot never authenticates. Every product package receives a *Cloud; none opens its own.
package cloud
