// Package glance is the simulated image service: the read side of Glance's image API v2 for the one image
// every image-booted instance was built from. The OpenStack CLI builds an image client for server list and
// server show and fails when the catalog has no image service, so a cloud without one would not answer the CLI
// as a real cloud does.
package glance
