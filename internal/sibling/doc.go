// Package sibling finds the other binary of osdr's pair, which `make build` puts side by side: osdr runs
// osdr-lab for its lab commands, and the lab's demo runs osdr.
package sibling
