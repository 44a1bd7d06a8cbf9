// Package keystone is the simulated identity service: Keystone v3's version documents and /v3/auth/tokens for
// one admin account (password and token methods, project scope, Fernet-shaped tokens of Keystone's default
// one-hour lifetime), the service catalog the other services publish their versioned URLs in, and the token
// validation keystonemiddleware asks of it. Users and tokens live in memory: the simulated databases are Nova's
// and Cinder's.
package keystone
