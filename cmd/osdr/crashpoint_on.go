//go:build osdr_crashpoints

package main

import (
	"os"
	"strconv"

	"github.com/osdr/osdr/recover"
)

func crashHook() func(recover.Entry) {
	n, err := strconv.Atoi(os.Getenv(envCrashAfter))
	if err != nil || n <= 0 {
		return nil
	}
	return func(e recover.Entry) {
		if e.Seq == n {
			os.Exit(137)
		}
	}
}
