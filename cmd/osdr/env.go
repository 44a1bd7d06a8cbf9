package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/osdr/osdr/internal/cloud"
	"github.com/osdr/osdr/internal/settings"
)

// openCloud resolves the settings contract, prints its warnings, and opens the cloud it names; nothing is
// contacted until a command needs it.
func openCloud(cmd *cobra.Command, flags *settings.Flags, opts cloud.Options) (*cloud.Cloud, error) {
	s, err := flags.Resolve(os.Getenv)
	if err != nil {
		return nil, err
	}
	for _, w := range s.Warnings {
		fmt.Fprintln(cmd.ErrOrStderr(), "osdr: warning:", w)
	}
	opts.Warnings = cmd.ErrOrStderr()
	return cloud.Open(s, opts), nil
}
