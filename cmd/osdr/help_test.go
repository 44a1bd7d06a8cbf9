package main

import (
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// Every command that does something teaches with examples, and no flag's usage text is mistaken for a type
// name (pflag reads a backquoted word in a usage text as the flag's type).
func TestEveryCommandsHelpHasExamplesAndPlainFlagTypes(t *testing.T) {
	var walk func(*cobra.Command)
	walk = func(c *cobra.Command) {
		if c.Runnable() && c.GroupID != groupLab && c.Name() != "help" && c.Name() != "completion" {
			if strings.TrimSpace(c.Example) == "" {
				t.Errorf("`%s` has no Examples in its help", c.CommandPath())
			}
			c.Flags().VisitAll(func(f *pflag.Flag) {
				if strings.Contains(f.Usage, "`") {
					t.Errorf("`%s --%s`: a backquoted word in its usage becomes the type name: %q", c.CommandPath(), f.Name, f.Usage)
				}
			})
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(newRootCommand())
}
