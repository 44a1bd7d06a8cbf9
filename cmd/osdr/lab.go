package main

import (
	"fmt"
	"os"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/osdr/osdr/internal/sibling"
)

const (
	groupOperate = "operate"
	groupLab     = "lab"
	labBinary    = "osdr-lab"
)

// newLabCommand offers a command of osdr-lab as osdr's own, git-style. The lab links a MySQL server, the
// container client and the test helpers, which the binary that recovers a real cloud must not carry; so
// osdr has only the name and the help, and hands the arguments to osdr-lab untouched.
func newLabCommand(use, short, long string) *cobra.Command {
	name, _, _ := strings.Cut(use, " ")
	return &cobra.Command{
		Use:   use,
		Short: short,
		Long: long + "\n\nA lab command: osdr runs `" + labBinary + " " + name + "` with the same arguments (" + labBinary +
			" next to osdr, else on\nPATH); `osdr " + name + " --help` shows its flags.",
		GroupID:               groupLab,
		Args:                  cobra.ArbitraryArgs,
		DisableFlagParsing:    true,
		DisableFlagsInUseLine: true,
		RunE: func(_ *cobra.Command, args []string) error {
			lab, err := sibling.Find(labBinary)
			if err != nil {
				return fmt.Errorf("`osdr %s` belongs to the lab binary, and %w.\nBuild both binaries with `make build` (bin/osdr and bin/osdr-lab), or run the lab from the source tree with osdr on PATH: go run ./cmd/osdr-lab %s", name, err, name)
			}
			// osdr-lab takes this process's place: the terminal's signals reach it, and its exit status is
			// the command's.
			err = syscall.Exec(lab, append([]string{lab, name}, args...), os.Environ())
			return fmt.Errorf("run %s: %w", lab, err)
		},
	}
}

func newLabCommands() []*cobra.Command {
	return []*cobra.Command{
		newLabCommand("demo [flags]", "Run a complete drill against a simulated cloud started in-process",
			"demo starts a simulated cloud, writes a drill for it and runs it with `osdr drill run`: a power loss of one\nhost's storage path, recovered with the guide's procedure, verified and reported."),
		newLabCommand("sim up|power-cut|audit [flags]", "Serve a simulated OpenStack cloud (up, power-cut, audit) for CI, demos and trying osdr out",
			"sim up serves a simulated cloud on loopback and writes the settings contract (DIR/osdr.env) that points\nevery osdr command at it; sim power-cut cuts power to its hosts; sim audit prints its mutating calls."),
	}
}
