package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/osdr/osdr/internal/run"
	"github.com/osdr/osdr/internal/settings"
)

func newRunsCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "runs",
		Short: "List, show and prune the runs directory: snapshots, recoveries, injections and drills",
		Long: `Every snapshot, recovery, injection and drill keeps its evidence in a directory of its own under the runs
directory (--runs-dir, $OSDR_RUNS_DIR), and records what it was, on which cloud, when and how it ended.`,
	}
	cmd.AddCommand(newRunsListCommand(), newRunsShowCommand(), newRunsPruneCommand())
	return cmd
}

// runsDir resolves the runs directory alone: listing runs needs no cloud.
func runsDir(flags *settings.Flags) (run.Store, error) {
	s, err := flags.Resolve(os.Getenv)
	if err != nil {
		return run.Store{}, err
	}
	return s.Runs, nil
}

func newRunsListCommand() *cobra.Command {
	var output string
	var kinds []string
	var flags *settings.Flags
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the runs, newest first",
		Example: `  osdr runs list
  osdr runs list --kind recovery,drill -o json | jq -r '.runs[] | select(.status == "running") | .id'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			out, err := newOutput(cmd, "runs list", output)
			if err != nil {
				return err
			}
			return out.finish(func() error {
				store, err := runsDir(flags)
				if err != nil {
					return err
				}
				var ks []run.Kind
				for _, k := range kinds {
					ks = append(ks, run.Kind(k))
				}
				if out.res.Runs, err = store.History(ks...); err != nil {
					return err
				}
				writeRuns(out.text(), out.res.Runs)
				return nil
			}())
		},
	}
	flags = settings.AddFlags(cmd.Flags(), settings.PartRuns)
	cmd.Flags().StringSliceVar(&kinds, "kind", nil, "only runs of these kinds: snapshot, recovery, inject, drill")
	addOutputFlag(cmd, &output)
	return cmd
}

func writeRuns(w io.Writer, runs []run.Meta) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "RUN\tKIND\tSTATUS\tSTARTED\tTOOK\tINSTANCES\tCLOUD")
	for _, m := range runs {
		took := "-"
		if !m.Ended.IsZero() {
			took = m.Ended.Sub(m.Started).Round(time.Second).String()
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%s\n", m.ID, m.Kind, m.Status, m.Started.Format(time.RFC3339), took, m.Instances, orDash(m.Cloud))
	}
	tw.Flush()
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func newRunsShowCommand() *cobra.Command {
	var output string
	var flags *settings.Flags
	cmd := &cobra.Command{
		Use:   "show RUN_ID|latest",
		Short: "Show one run: what it was, how it ended, and the files it kept",
		Example: `  osdr runs show latest
  osdr runs show 20261125T081500.042Z-recovery-3fa9c2 -o json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			out, err := newOutput(cmd, "runs show", output)
			if err != nil {
				return err
			}
			return out.finish(func() error {
				store, err := runsDir(flags)
				if err != nil {
					return err
				}
				m, err := showRun(store, args[0])
				if err != nil {
					return err
				}
				out.res.Runs = []run.Meta{m}
				out.run(run.Run{ID: m.ID, Kind: m.Kind, Dir: m.Dir})
				w := out.text()
				fmt.Fprintf(w, "Run %s\n  kind %s, status %s\n  cloud %s\n  started %s", m.ID, m.Kind, m.Status, orDash(m.Cloud), m.Started.Format(time.RFC3339))
				if !m.Ended.IsZero() {
					fmt.Fprintf(w, ", ended %s (%s)", m.Ended.Format(time.RFC3339), m.Ended.Sub(m.Started).Round(time.Second))
				}
				fmt.Fprintf(w, "\n  instances %d\n", m.Instances)
				if m.Detail != "" {
					fmt.Fprintf(w, "  %s\n", m.Detail)
				}
				entries, err := os.ReadDir(m.Dir)
				if err != nil {
					return fmt.Errorf("list run %s: %w", m.ID, err)
				}
				var files []string
				for _, e := range entries {
					files = append(files, e.Name())
				}
				fmt.Fprintf(w, "  %s: %s\n", m.Dir, strings.Join(files, ", "))
				return nil
			}())
		},
	}
	flags = settings.AddFlags(cmd.Flags(), settings.PartRuns)
	addOutputFlag(cmd, &output)
	return cmd
}

// showRun reads one run's record, the newest of any kind for "latest".
func showRun(store run.Store, id string) (run.Meta, error) {
	if id != latest {
		rn, err := store.Find(id)
		if err != nil {
			return run.Meta{}, err
		}
		return rn.ReadMeta()
	}
	history, err := store.History()
	if err != nil {
		return run.Meta{}, err
	}
	if len(history) == 0 {
		return run.Meta{}, fmt.Errorf("%w: %s holds no runs", run.ErrNoRun, store.Dir)
	}
	return history[0], nil
}

func newRunsPruneCommand() *cobra.Command {
	var output string
	var keep int
	var olderThan time.Duration
	var dryRun bool
	var flags *settings.Flags
	cmd := &cobra.Command{
		Use:   "prune (--keep N | --older-than DURATION)",
		Short: "Remove old finished runs, sparing unfinished ones and each cloud's newest snapshot",
		Long: `prune removes the runs that are both beyond the newest --keep and older than --older-than (either alone is
enough), never an unfinished run (it may be resumed) nor the newest successful snapshot of each cloud (the
best evidence for a real recovery).`,
		Example: `  osdr runs prune --keep 50 --older-than 720h --dry-run
  osdr runs prune --older-than 2160h`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			out, err := newOutput(cmd, "runs prune", output)
			if err != nil {
				return err
			}
			return out.finish(func() error {
				if keep == 0 && olderThan == 0 {
					return errors.New("name what to prune with --keep N, --older-than DURATION, or both")
				}
				if keep < 0 || olderThan < 0 {
					return fmt.Errorf("--keep %d and --older-than %s must not be negative", keep, olderThan)
				}
				store, err := runsDir(flags)
				if err != nil {
					return err
				}
				if out.res.Runs, err = store.Prune(keep, olderThan, time.Now(), dryRun); err != nil {
					return err
				}
				verb := "Removed"
				if dryRun {
					verb = "Would remove"
				}
				w := out.text()
				fmt.Fprintf(w, "%s %d run(s)\n", verb, len(out.res.Runs))
				writeRuns(w, out.res.Runs)
				return nil
			}())
		},
	}
	fs := cmd.Flags()
	flags = settings.AddFlags(fs, settings.PartRuns)
	fs.IntVar(&keep, "keep", 0, "keep the newest N runs")
	fs.DurationVar(&olderThan, "older-than", 0, "remove only runs started longer ago than this")
	fs.BoolVar(&dryRun, "dry-run", false, "say what would be removed and remove nothing")
	addOutputFlag(cmd, &output)
	return cmd
}
