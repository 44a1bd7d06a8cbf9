// Package internal groups the shared plumbing of osdr (OpenStack clients, SSH, waiting) in its
// subpackages; it holds no code of its own.
package internal
