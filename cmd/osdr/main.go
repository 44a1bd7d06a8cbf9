// Command osdr rehearses and performs OpenStack disaster recovery after a power loss.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	tclog "github.com/testcontainers/testcontainers-go/log"
)

func main() {
	// osdr demo and osdr sim up say which database they chose and why; testcontainers' banners (engine
	// version, registry credentials) would only bury that on an operator's terminal.
	tclog.SetDefault(tclog.NewNoopLogger())
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := newRootCommand().ExecuteContext(ctx)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "osdr:", err)
		os.Exit(exitCode(err))
	}
}
