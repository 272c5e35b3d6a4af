package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode/utf8"

	"github.com/spf13/cobra"

	"github.com/keystone/nexus/internal/lake"
	"github.com/keystone/nexus/internal/schedule/runstore"
)

func newRunsCmd(a *app) *cobra.Command {
	var (
		job, status, format string
		limit               int
		cycles              bool
	)
	cmd := &cobra.Command{
		Use:   "runs",
		Short: "List the runs of the scheduled jobs (the run store), newest first",
		Long: `List the runs of jobs that the scheduler, 'nexus trigger' and 'nexus backfill'
recorded in <lake>/_nexus/runs.db: job, logical date, status, attempts, time,
rows, the snapshot committed and the error. 'nexus runs show RUN' gives the
attempts, steps and failed checks of one run. Read-only.`,
		Example: `  nexus runs
  nexus runs --job olist_silver_to_gold --status failed
  nexus runs show 42 --format json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkFormat(format); err != nil {
				return err
			}
			if st := runstore.Status(status); st != "" && !st.Valid() {
				return fmt.Errorf("--status %q: want one of %v", status, runstore.Statuses())
			}
			if !lake.IsRemote(a.cfg.Lake) {
				if _, err := lake.OpenUnpinned(a.cfg.Lake); err != nil {
					return err // no lake there: say so, as every read command does
				}
			}
			storeRoot, err := a.runStoreRoot()
			if err != nil {
				return err
			}
			st, err := runstore.OpenStoreRead(storeRoot)
			if errors.Is(err, runstore.ErrNoStore) {
				if format == "json" {
					fmt.Println("[]")
					return nil
				}
				if lake.IsRemote(a.cfg.Lake) {
					// The run store of a lake on S3 is the scheduler's machine's:
					// "no runs yet" would deny the runs made there.
					fmt.Printf("no runs recorded on this machine for %s (its run store would be %s): each machine keeps its own; run 'nexus runs' on the scheduler's machine (or with its --state-dir)\n",
						a.cfg.Lake, lake.MetaPath(storeRoot, runstore.StoreFile))
					return nil
				}
				fmt.Println("no scheduled runs yet: start 'nexus scheduler', or run a job with 'nexus trigger JOB' (this lists the scheduler's jobs; a 'nexus run' or 'nexus check' shows in 'nexus snapshots' and 'nexus report quality')")
				return nil
			}
			if err != nil {
				return err
			}
			defer st.Close()
			if cycles {
				cs, err := st.Cycles(cmd.Context(), limit)
				if err != nil {
					return err
				}
				return writeList(format, cs, printCycles)
			}
			runs, err := st.Runs(cmd.Context(), runstore.RunFilter{Job: job, Status: runstore.Status(status), Limit: limit})
			if err != nil {
				return err
			}
			return writeList(format, runs, printRuns)
		},
	}
	cmd.Flags().StringVar(&job, "job", "", "only this job")
	cmd.Flags().StringVar(&status, "status", "", fmt.Sprintf("only this status, one of %v", runstore.Statuses()))
	cmd.Flags().IntVar(&limit, "limit", 20, "at most this many runs (0: all)")
	cmd.Flags().StringVar(&format, "format", "table", "output format: table or json")
	cmd.Flags().BoolVar(&cycles, "cycles", false, "list the cycles instead (skipped ticks included: overrun, paused, missed), newest first")
	cmd.AddCommand(newRunsShowCmd(a))
	return cmd
}

func newRunsShowCmd(a *app) *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   "show RUN",
		Short: "Show one run: its attempts, their steps and errors, the checks that failed",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkFormat(format); err != nil {
				return err
			}
			id, err := strconv.ParseInt(args[0], 10, 64)
			if err != nil || id <= 0 {
				return fmt.Errorf("run %q: want a run number (nexus runs lists them)", args[0])
			}
			storeRoot, err := a.runStoreRoot()
			if err != nil {
				return err
			}
			st, err := runstore.OpenStoreRead(storeRoot)
			if err != nil {
				return err
			}
			defer st.Close()
			r, err := st.Run(cmd.Context(), id)
			if err != nil {
				return err
			}
			attempts, err := st.Attempts(cmd.Context(), id)
			if err != nil {
				return err
			}
			if format == "json" {
				return writeJSON(os.Stdout, struct {
					*runstore.Run
					AttemptList []runstore.Attempt `json:"attempt_list"`
				}{r, attempts})
			}
			printRunDetail(os.Stdout, r, attempts)
			return nil
		},
	}
	cmd.Flags().StringVar(&format, "format", "table", "output format: table or json")
	return cmd
}

func checkFormat(f string) error {
	if f != "table" && f != "json" {
		return fmt.Errorf("--format %q: want table or json", f)
	}
	return nil
}

// writeList prints items as a JSON array (never null) or as print's table.
func writeList[T any](format string, items []T, print func(io.Writer, []T)) error {
	if format == "json" {
		if items == nil {
			items = []T{}
		}
		return writeJSON(os.Stdout, items)
	}
	print(os.Stdout, items)
	return nil
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func printRuns(w io.Writer, runs []runstore.Run) {
	if len(runs) == 0 {
		fmt.Fprintln(w, "no run matches")
		return
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "run\tcycle\tjob\tdate\tstatus\tattempts\tstarted\ttime\trows in\trows out\tquarantined\tsnapshot\terror")
	for _, r := range runs {
		snap := "-"
		if r.Snapshot > 0 {
			snap = strconv.FormatInt(r.Snapshot, 10)
		}
		fmt.Fprintf(tw, "%d\t%d\t%s\t%s\t%s\t%d\t%s\t%s\t%d\t%d\t%d\t%s\t%s\n", r.ID, r.CycleID, r.Job, r.LogicalDate, r.Status, r.Attempts,
			r.Started.Local().Format("2006-01-02 15:04:05"), r.Duration().Round(time.Millisecond), r.RowsIn, r.RowsOut, r.Quarantined, snap,
			clipLine(r.Error, 80))
	}
	tw.Flush()
}

// clipLine is s on one line, cut to at most n bytes at a character boundary.
func printCycles(w io.Writer, cs []runstore.Cycle) {
	if len(cs) == 0 {
		fmt.Fprintln(w, "no cycle yet")
		return
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "cycle\tdate\ttick\ttrigger\tstatus\tstarted\ttime\treason")
	for _, c := range cs {
		tick := "-"
		if !c.Tick.IsZero() {
			tick = c.Tick.Local().Format("2006-01-02 15:04:05")
		}
		took := "-"
		if !c.Ended.IsZero() {
			took = c.Ended.Sub(c.Started).Round(time.Millisecond).String()
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", c.ID, c.LogicalDate, tick, c.Trigger, c.Status,
			c.Started.Local().Format("2006-01-02 15:04:05"), took, clipLine(c.Reason, 80))
	}
	tw.Flush()
}

func clipLine(s string, n int) string {
	s = strings.ReplaceAll(s, "\n", " ")
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

func printRunDetail(w io.Writer, r *runstore.Run, attempts []runstore.Attempt) {
	fmt.Fprintf(w, "run %d: %s for %s, %s after %s (cycle %d)\n", r.ID, r.Job, r.LogicalDate, r.Status, attemptsText(r.Attempts), r.CycleID)
	fmt.Fprintf(w, "started %s, took %s", r.Started.Local().Format(time.RFC3339), r.Duration().Round(time.Millisecond))
	if r.Snapshot > 0 {
		fmt.Fprintf(w, ", committed snapshot %d", r.Snapshot)
	}
	if r.LakeRun != "" {
		fmt.Fprintf(w, ", lake run %s", r.LakeRun)
	}
	fmt.Fprintln(w)
	if r.Note != "" {
		fmt.Fprintln(w, r.Note)
	}
	if r.Error != "" {
		fmt.Fprintf(w, "%s: %s\n", errorLabel(*r), r.Error)
	}
	for _, at := range attempts {
		fmt.Fprintf(w, "\nattempt %d: %s at %s", at.N, at.Status, at.Started.Local().Format("15:04:05"))
		if !at.Ended.IsZero() {
			fmt.Fprintf(w, " (%s)", at.Ended.Sub(at.Started).Round(time.Millisecond))
		}
		fmt.Fprintln(w)
		if at.Error != "" {
			kind := "permanent"
			if at.Transient {
				kind = "transient"
			}
			fmt.Fprintf(w, "  error (%s): %s\n", kind, at.Error)
		}
		if len(at.Steps) > 0 {
			tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "  step\tkind\tstatus\trows in\trows out\tquarantined\ttime\terror")
			for _, s := range at.Steps {
				fmt.Fprintf(tw, "  %s\t%s\t%s\t%d\t%d\t%d\t%.3fs\t%s\n", s.Name, s.Kind, s.Status, s.RowsIn, s.RowsOut, s.Quarantined, s.Seconds, clipLine(s.Error, 80))
			}
			tw.Flush()
		}
		if len(at.Checks) > 0 {
			fmt.Fprintln(w, "  failed checks:")
			tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "  table\tcheck\tseverity\tblocking\trows failed\tobserved")
			for _, c := range at.Checks {
				fmt.Fprintf(tw, "  %s\t%s\t%s\t%t\t%d\t%s\n", c.Table, c.CheckID, c.Severity, c.Blocking, c.RowsFailed, clipLine(c.Observed, 60))
			}
			tw.Flush()
		}
	}
}
