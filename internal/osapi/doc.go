// Package osapi is osdr's one way to talk to Nova and Cinder: gophercloud v2 clients with microversions
// negotiated once, every request (Keystone's included) through one Transport that rate-limits, times out each
// attempt, retries reads that failed transiently and, for --debug, logs the exchange with its secrets redacted;
// answers in the shapes the engine uses, and errors classified so callers know what may be retried.
package osapi
