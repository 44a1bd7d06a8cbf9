// Package wait polls real state until a condition holds, with exponential backoff and a deadline: the one
// way osdr waits, never a fixed sleep.
package wait
