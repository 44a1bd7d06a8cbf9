package main

import (
	"fmt"
	"runtime/debug"

	"github.com/spf13/cobra"
)

func newRootCommand() *cobra.Command {
	root, _ := newRoot()
	return root
}

// newRoot builds the command tree and the profiles its --cpu-profile and --heap-profile ask for.
func newRoot() (*cobra.Command, *profiles) {
	prof := &profiles{}
	root := &cobra.Command{
		Use:   "osdr",
		Short: "Rehearse and perform OpenStack disaster recovery after a power loss",
		Long: `osdr rehearses a power loss on a staging OpenStack cloud, recovers the cloud with the Operations
Guide's disaster-recovery procedure, proves the result, and runs all of it as scheduled, reported drills.
The same binary performs a real recovery after a real power cut.`,
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       version(),
	}
	root.AddGroup(
		&cobra.Group{ID: groupOperate, Title: "Recovery and drills:"},
		&cobra.Group{ID: groupLab, Title: "Lab commands (run by " + labBinary + ", which the operator image does not ship):"},
	)
	for _, cmd := range []*cobra.Command{newSnapshotCommand(), newRecoverCommand(), newVerifyCommand(), newInjectCommand(), newDrillCommand(), newRunsCommand()} {
		cmd.GroupID = groupOperate
		root.AddCommand(cmd)
	}
	root.AddCommand(newLabCommands()...)
	root.AddCommand(newVersionCommand())
	prof.addFlags(root)
	root.PersistentPreRunE = func(*cobra.Command, []string) error { return prof.start() }
	return root, prof
}

func version() string {
	info, ok := debug.ReadBuildInfo()
	if !ok || info.Main.Version == "" {
		return "(devel)"
	}
	return info.Main.Version
}

func newVersionCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the osdr version",
		Example: `  osdr version
  osdr version -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, err := fmt.Fprintln(cmd.OutOrStdout(), "osdr", version())
			return err
		},
	}
}
