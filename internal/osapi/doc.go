// Package osapi is osdr's one way to talk to Nova and Cinder: gophercloud v2 clients with microversions
// negotiated once, every request through one rate limiter, answers in the shapes the engine uses, and errors
// classified so callers know what may be retried.
package osapi
