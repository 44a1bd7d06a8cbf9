// Package cloudtest is what the simulated cloud's tests share: a started cloud on fresh databases, clients of
// its APIs, raw requests with exact answers, and reads of the rows the services keep.
package cloudtest
