package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/keystone/nexus/internal/lake"
	"github.com/keystone/nexus/internal/outputs"
	"github.com/keystone/nexus/internal/pipeline"
	"github.com/keystone/nexus/internal/quality"
	"github.com/keystone/nexus/internal/transform"
)

func newCheckCmd(a *app) *cobra.Command {
	var (
		layer, table, format, project string
	)
	cmd := &cobra.Command{
		Use:   "check",
		Short: "Run the quality suites on the published tables (records the verdicts, changes no table)",
		Long: `Run the quality suites (internal/quality/suites/*.yaml, plus --project DIR/suites)
on what is published and print a verdict per check. No table is changed, but the
results are kept in the run history for the quality report and the dashboard (not on
a read-only lake). A run also counts row_accounting, one check per model it builds
(rows built = rows published + rows quarantined), which only a build can run: a run
reports more checks than this command. Exit status 1 when a check of severity error fails.`,
		Example: `  nexus check
  nexus check --layer gold --format json
  nexus check --table silver.orders`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, suites, err := pipeline.LoadGated(project)
			if err != nil {
				return err
			}
			lk, eng, err := a.openLakeEngine(cmd.Context())
			if err != nil {
				return err
			}
			defer eng.Close()
			run, err := pipeline.Check(cmd.Context(), lk, eng, suites, layer, table)
			if err != nil {
				return err
			}
			// On a read-only lake the run is not recorded: its id names
			// nothing in the history, so it is not printed.
			recorded := fmt.Sprintf("run %s", run.RunID)
			if err := pipeline.RecordCheck(lk, run); errors.Is(err, pipeline.ErrHistoryReadOnly) {
				fmt.Fprintln(os.Stderr, "note:", err)
				recorded = "not recorded"
			} else if err != nil {
				return err
			}
			if format == "json" {
				enc := json.NewEncoder(os.Stdout)
				enc.SetIndent("", "  ")
				if err := enc.Encode(run); err != nil {
					return err
				}
			} else {
				printChecks(os.Stdout, run.Results, true)
				fmt.Printf("%s in %s (%s)\n", tally(run.Results), run.Duration.Round(time.Millisecond), recorded)
			}
			if run.Failed() {
				return exitError{1}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&layer, "layer", "", "only tables of this layer (one with suites: silver and gold built in)")
	cmd.Flags().StringVar(&table, "table", "", "only this table (layer.table or table)")
	cmd.Flags().StringVar(&format, "format", "table", "output format: table or json")
	cmd.Flags().StringVar(&project, "project", "", "project directory with extra suites/*.yaml and models")
	return cmd
}

// tally counts verdicts: "165 checks: 143 passed, 17 warnings, 5 failed (0 blocking)".
func tally(results []quality.Result) string {
	t := quality.TallyOf(results)
	return fmt.Sprintf("%d checks: %d passed, %d warnings, %d failed (%d blocking)", t.Checks, t.Pass, t.Warn, t.Fail, t.Blocking)
}

// printChecks prints a verdict table; all=false prints only failures and warnings.
func printChecks(w io.Writer, results []quality.Result, all bool) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "table\tcheck\tkind\tverdict\tchecked\tfailed\tdetail")
	n := 0
	for _, r := range results {
		if !all && r.Verdict == quality.VerdictPass {
			continue
		}
		n++
		detail := r.Observed
		if detail == "" && len(r.Examples) > 0 {
			detail = r.Examples[0].Reason
		}
		// Long enough for an incremental build's detail (the table's
		// counts, then the rows rebuilt and those they replace); the whole
		// text is in the run record and in --format json.
		if len(detail) > 140 {
			detail = detail[:137] + "..."
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%d\t%s\n", r.Table, r.CheckID, r.Kind, r.Verdict, r.RowsChecked, r.RowsFailed, detail)
	}
	if n > 0 {
		tw.Flush()
	}
}

func newQuarantineCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "quarantine",
		Short: "Inspect and replay quarantined rows",
		Long: `Rows that fail a quarantine rule leave the flow and land in quarantine.<layer>_<table>
with every column, the failed checks and the reasons; malformed source records
land in quarantine.bronze_<table>. These commands list, show and replay them.`,
	}
	var format, check, showProject string
	var limit int
	list := &cobra.Command{
		Use:   "list",
		Short: "Count quarantined rows by table and check",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, eng, err := a.openLakeEngine(cmd.Context())
			if err != nil {
				return err
			}
			defer eng.Close()
			res, err := pipeline.QuarantineSummary(cmd.Context(), eng)
			if err != nil {
				return err
			}
			return res.Write(os.Stdout, format)
		},
	}
	list.Flags().StringVar(&format, "format", "table", "output format: table, csv or json")
	show := &cobra.Command{
		Use:   "show TABLE",
		Short: "Show quarantined rows of a table (e.g. silver_orders or bronze_order_reviews)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			lk, eng, err := a.openLakeEngine(cmd.Context())
			if err != nil {
				return err
			}
			defer eng.Close()
			res, err := pipeline.QuarantineRows(cmd.Context(), eng, args[0], check, limit)
			if err != nil {
				return err
			}
			// CSV and JSON stay parseable: notes go to stderr.
			note := os.Stdout
			if format == "csv" || format == "json" {
				note = os.Stderr
			}
			if check == "" && len(res.Rows) == 0 {
				// An empty quarantine is said in words; CSV and JSON keep
				// their shape (a header, []).
				if format != "table" {
					if err := res.Write(os.Stdout, format); err != nil {
						return err
					}
				}
				fmt.Fprintln(note, pipeline.NoQuarantinedRows(args[0], lk.SnapshotID()))
				return nil
			}
			// A mistyped id and a check that quarantined nothing look alike:
			// an id the suite does not have is an error, before any output.
			var known string
			if check != "" && len(res.Rows) == 0 {
				if known, err = knownCheck(args[0], check, showProject); err != nil {
					return err
				}
			}
			if format == "table" { // one block per row: the reasons are long
				err = res.WriteRecords(os.Stdout)
			} else {
				err = res.Write(os.Stdout, format)
			}
			if err != nil {
				return err
			}
			if check != "" && len(res.Rows) == 0 {
				if known != "" {
					fmt.Fprintln(note, known)
					return nil
				}
				// Say what the rows there did fail.
				failed, err := pipeline.QuarantineFailures(cmd.Context(), eng, args[0])
				if err != nil {
					return err
				}
				what := "its rows failed: " + strings.Join(failed, ", ")
				if all, err := pipeline.QuarantineCount(cmd.Context(), eng, args[0], ""); err != nil {
					return err
				} else if all == 0 {
					what = "it is empty"
				}
				fmt.Fprintf(note, "no row of quarantine.%s failed %q; %s\n", pipeline.QuarantineTable(args[0]), check, what)
				return nil
			}
			if limit <= 0 || len(res.Rows) < limit {
				return nil // every row is shown
			}
			total, err := pipeline.QuarantineCount(cmd.Context(), eng, args[0], check)
			if err != nil {
				return err
			}
			if total > int64(len(res.Rows)) {
				fmt.Fprintf(note, "showing %d of %d rows (--limit 0 shows all)\n", len(res.Rows), total)
			}
			return nil
		},
	}
	show.Flags().StringVar(&showProject, "project", "", "project directory with extra suites (to tell their check ids)")
	show.Flags().StringVar(&check, "check", "", "only rows that failed this check id, or of this error type for bronze_ tables (as quarantine list prints them; an error type in any case)")
	show.Flags().IntVar(&limit, "limit", 50, "at most this many rows (0 = all)")
	show.Flags().StringVar(&format, "format", "table", "output format: table, csv or json")
	var project string
	replay := &cobra.Command{
		Use:   "replay TABLE",
		Short: "Re-check quarantined rows with the current rules; move those that pass back",
		Long: `Re-run the rows in quarantine.<layer>_<table> through the table's current quality
suite (after a rule or data fix). Rows that now pass are appended to the published
table as a new version; the others stay quarantined with their current reasons.
Nothing is lost or duplicated. TABLE is the model (silver.orders) or its
quarantine (silver_orders). Downstream tables are rebuilt by the next run.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			lk, unlock, err := a.openExistingLakeForWrite()
			if err != nil {
				return err
			}
			defer unlock()
			g, suites, err := pipeline.LoadGated(project)
			if err != nil {
				return err
			}
			eng, err := a.openEngine(cmd.Context(), lk)
			if err != nil {
				return err
			}
			defer eng.Close()
			model := pipeline.ModelOfQuarantine(args[0])
			runID := lake.NewRunID(time.Now())
			res, err := transform.Replay(cmd.Context(), lk, eng, g, suites, model, runID)
			if err != nil {
				return err
			}
			if err := a.commit(lk, lake.CommitReplay, runID); err != nil {
				return err
			}
			fmt.Printf("%s: %d quarantined row(s) replayed: %d moved back into %s, %d still quarantined\n",
				model, res.Replayed, res.Moved, model, res.Kept)
			return nil
		},
	}
	replay.Flags().StringVar(&project, "project", "", "project directory with extra suites and models")
	cmd.AddCommand(list, show, replay)
	return cmd
}

func newReportCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{Use: "report", Short: "Write static reports"}
	var out string
	var runs int
	q := &cobra.Command{
		Use:   "quality",
		Short: "Write the HTML validation report of the latest run, with the trend of the last runs",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			lk, err := a.openLake()
			if err != nil {
				return err
			}
			if err := a.makeOut(out); err != nil {
				return err
			}
			path, err := outputs.WriteQualityReport(lk, out, runs)
			if err != nil {
				return err
			}
			fmt.Println("wrote", path)
			return nil
		},
	}
	q.Flags().StringVar(&out, "out", reportsDir, "output directory (not the lake: a report only reads it)")
	q.Flags().IntVar(&runs, "runs", 12, "runs shown in the trend")
	cmd.AddCommand(q, newReportDashboardCmd(a), newReportChartsCmd(a), newReportDeckCmd(a))
	return cmd
}

// knownCheck checks the --check of quarantine show against the suite of a
// model's quarantine: an id it does not have is an error naming its
// quarantine rules; of a table-level check or a keep rule it returns a note
// that it quarantines nothing. A Bronze quarantine's error types are no suite's: not
// checked.
func knownCheck(table, check, project string) (note string, err error) {
	if strings.HasPrefix(pipeline.QuarantineTable(table), lake.Bronze+"_") {
		return "", nil
	}
	_, suites, err := pipeline.LoadGated(project)
	if err != nil {
		return "", err
	}
	model := pipeline.ModelOfQuarantine(table)
	s := suites[model]
	if s == nil {
		return "", nil // no suite: nothing to tell
	}
	id := strings.TrimSpace(check)
	var rules []string
	for _, c := range s.Checks {
		switch {
		case c.ID == id && !c.RowLevel():
			return fmt.Sprintf("%s of %s judges the table, not its rows: it quarantines none", id, model), nil
		case c.ID == id && !c.Quarantine():
			return fmt.Sprintf("%s of %s quarantines no row: a row that fails it stays in %s, its id in %s", id, model, model, quality.FlagsColumn), nil
		case c.ID == id:
			return "", nil
		case c.Quarantine():
			rules = append(rules, c.ID)
		}
	}
	rulesText := "it has no quarantine rule"
	if len(rules) > 0 {
		rulesText = "its quarantine rules: " + strings.Join(rules, ", ")
	}
	if project == "" {
		rulesText += "; a project's checks: pass --project DIR"
	}
	return "", fmt.Errorf("quarantine show: the suite of %s has no check %q (%s)", model, id, rulesText)
}
