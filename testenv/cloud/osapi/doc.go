// Package osapi is the request plumbing the simulated OpenStack APIs share, as their WSGI stacks share it:
// keystonemiddleware's token check, microversion negotiation (Nova's and Cinder's rules), request ids, the
// fault bodies and error messages (webob's, oslo's, jsonschema's), request bodies read as the Python services
// read them, the faults injected into requests (package model draws them; here they strike, before the
// service processes a request or after it answered), and the audit log of every mutating call.
package osapi
