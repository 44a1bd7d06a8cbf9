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

// A command lists only the flags it reads: undo-db reads the databases and the runs, never SSH.
func TestACommandShowsOnlyTheFlagsItUses(t *testing.T) {
	root := newRootCommand()
	for _, tc := range []struct {
		path    []string
		has     []string
		hasNone []string
	}{
		{[]string{"recover", "undo-db"}, []string{"cinder-db-dsn-file", "runs-dir"}, []string{"ssh-key", "inventory", "os-cloud", "known-hosts"}},
		{[]string{"inject", "restore"}, []string{"inventory", "ssh-key", "runs-dir"}, []string{"cinder-db-dsn-file", "os-cloud"}},
		{[]string{"runs", "list"}, []string{"runs-dir"}, []string{"os-cloud", "ssh-key", "cinder-db-dsn-file"}},
		{[]string{"recover"}, []string{"os-cloud", "cinder-db-dsn-file", "inventory", "runs-dir", "debug", "insecure"}, nil},
	} {
		c, _, err := root.Find(tc.path)
		if err != nil {
			t.Fatal(err)
		}
		for _, name := range tc.has {
			if c.Flags().Lookup(name) == nil {
				t.Errorf("%s has no --%s", c.CommandPath(), name)
			}
		}
		for _, name := range tc.hasNone {
			if c.Flags().Lookup(name) != nil {
				t.Errorf("%s lists --%s, which it never reads", c.CommandPath(), name)
			}
		}
	}
}
