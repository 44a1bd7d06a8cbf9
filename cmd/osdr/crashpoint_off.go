//go:build !osdr_crashpoints

package main

import "github.com/osdr/osdr/recover"

// crashHook is nil in every build but the tests' (crashpoint_on.go): nothing interrupts a recovery between
// its journal entries.
func crashHook() func(recover.Entry) { return nil }
