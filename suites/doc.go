// Package suites holds the Ginkgo verification specs that prove a recovery: attachments, instance states,
// guest reachability and data integrity, checked against the manifest taken before the loss.
package suites
