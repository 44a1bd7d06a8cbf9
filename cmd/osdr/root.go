package main

import (
	"fmt"

	"github.com/spf13/cobra"

	buildinfo "github.com/osdr/osdr/internal/version"
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
	root.PersistentPreRunE = func(cmd *cobra.Command, _ []string) error {
		// Names osdr prints come from tenants (instances, volumes) and from files; whatever the writers are
		// (a terminal, a test's buffer), they reach them with control characters shown, not acted on.
		cmd.Root().SetOut(terminalSafe{cmd.OutOrStdout()})
		cmd.Root().SetErr(terminalSafe{cmd.ErrOrStderr()})
		return prof.start()
	}
	return root, prof
}

// version is the one line --version and `osdr version` print: the release, then the commit and build date
// when the build knows them, and the Go toolchain.
func version() string {
	v := buildinfo.Get()
	line := v.Version
	if v.Commit != "" {
		line += " (commit " + v.Commit
		if v.Date != "" {
			line += ", " + v.Date
		}
		line += ")"
	}
	return line + " " + v.GoVersion
}

func newVersionCommand() *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print the osdr version, commit, build date and Go version",
		Example: `  osdr version
  osdr version -o json | jq -r .version.commit`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			out, err := newOutput(cmd, "version", output)
			if err != nil {
				return err
			}
			v := buildinfo.Get()
			out.res.Version = &VersionOutcome{Version: v.Version, Commit: v.Commit, BuildDate: v.Date, GoVersion: v.GoVersion}
			fmt.Fprintln(out.text(), "osdr", version())
			return out.finish(nil)
		},
	}
	addOutputFlag(cmd, &output)
	return cmd
}
