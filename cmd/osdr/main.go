package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
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
		fmt.Fprintln(os.Stderr, "osdr:", err)
		os.Exit(exitCode(err))
	}
}
