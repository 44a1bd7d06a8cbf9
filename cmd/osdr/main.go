package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/osdr/osdr/drills"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	root, prof := newRoot()
	err := root.ExecuteContext(ctx)
	stop()
	if perr := prof.stop(); perr != nil {
		fmt.Fprintln(os.Stderr, "osdr: profile:", perr)
	}
	if err != nil {
		fmt.Fprintln(terminalSafe{os.Stderr}, errorLine(err))
		os.Exit(exitCode(err))
	}
}

// errorLine is how a failed command ends on stderr: "osdr: " and the error, except for problems in a file,
// which start with "file:line:column:" so editors and CI annotations can jump to them.
func errorLine(err error) string {
	var invalid *drills.ValidationError
	if errors.As(err, &invalid) {
		return err.Error()
	}
	return "osdr: " + err.Error()
}
