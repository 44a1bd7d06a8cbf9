package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
	tclog "github.com/testcontainers/testcontainers-go/log"

	"github.com/osdr/osdr/internal/version"
)

func main() {
	// The lab says which database it chose and why; testcontainers' banners (engine version, registry
	// credentials) would only bury that.
	tclog.SetDefault(tclog.NewNoopLogger())
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := newRootCommand().ExecuteContext(ctx)
	stop()
	var exit *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exit) && exit.Exited():
		// osdr has said why on its own output; its status is the demo's.
		os.Exit(exit.ExitCode())
	default:
		fmt.Fprintln(os.Stderr, "osdr-lab:", err)
		os.Exit(1)
	}
}

func newRootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:   "osdr-lab",
		Short: "osdr's lab: a simulated OpenStack cloud, and a demo drill run with osdr against it",
		Long: `osdr-lab serves a simulated OpenStack cloud for CI, demos and trying osdr out, and runs the demo: a
complete drill, run by the osdr binary beside it, against a simulated cloud. It is built beside osdr
(make build) and never shipped in the operator image; osdr sim and osdr demo run it.`,
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       version.Get().Version,
	}
	root.AddCommand(newSimCommand(), newDemoCommand(), newBenchTableCommand())
	return root
}
