// Package inject breaks a cloud the way a power cut does (closing exactly the named iSCSI sessions, destroying
// guests) and restores it from the record each fault saves before it acts.
package inject
