// Package store is what the simulated services keep their state with: the MySQL connections in the settings
// the code relies on, transactions, the services' clock, and the ids the services generate, seeded so that a
// cloud built twice from one seed names the same things.
package store
