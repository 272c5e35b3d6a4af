package main

import (
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/keystone/nexus/internal/lake"
	"github.com/keystone/nexus/internal/outputs"
	"github.com/keystone/nexus/internal/pipeline"
	"github.com/keystone/nexus/internal/progress"
	"github.com/keystone/nexus/internal/quality"
	"github.com/keystone/nexus/internal/report"
)

func newRunCmd(a *app) *cobra.Command {
	var (
		source    string
		onDrift   string
		force     bool
		switchSrc bool
		project   string
		noGates   bool
		noRep     bool
	)
	cmd := &cobra.Command{
		Use:   "run",
		Short: "Run the pipeline: ingest the CSV files, then build Silver and Gold",
		Long: `Ingest the source files into Bronze and build every Silver and Gold model, under
one run id, and print one summary (step, rows in/out, quarantined, time). Only
what changed is redone. The run record is kept under <lake>/_nexus/runs/.`,
		Example: `  nexus run --source data/generated
  nexus run --source ~/olist --force`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if source == "" {
				source = a.cfg.Source
			}
			if onDrift == "" {
				onDrift = a.cfg.OnDrift
			}
			lk, unlock, err := a.openLakeForWrite()
			if err != nil {
				return err
			}
			defer unlock()
			sum, err := runPipeline(cmd, a, lk, pipeline.Options{SourceDir: source, OnDrift: onDrift, Force: force, SwitchSource: switchSrc, Rerun: rerunArgs(cmd, "switch-source"), ProjectDir: project, NoGates: noGates}, !noRep)
			if err != nil {
				return err
			}
			printRun(os.Stdout, sum, earlierVerdicts(a, lk, sum))
			if sum.Err() != nil {
				return exitError{1}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&source, "source", "", "directory with the Olist CSV files, or a landing zone of dt=YYYY-MM-DD folders (default \"data/generated\")")
	cmd.Flags().StringVar(&onDrift, "on-drift", "", "what an extra source column does: fail (default) or evolve")
	cmd.Flags().BoolVar(&force, "force", false, "re-ingest and rebuild everything, even when unchanged")
	cmd.Flags().BoolVar(&switchSrc, "switch-source", false, "let plain source files replace the tables a landing zone built, or a landing zone replace tables of plain files (refused without it)")
	cmd.Flags().StringVar(&project, "project", "", "project directory with extra or overriding models/<layer>/*.sql and suites/*.yaml")
	cmd.Flags().BoolVar(&noGates, "no-gates", false, "build the models without their quality suites (no checks, no quarantine)")
	cmd.Flags().BoolVar(&noRep, "no-reports", false, "do not refresh the reports, charts, dashboard export and deck after the run")
	return cmd
}

func runPipeline(cmd *cobra.Command, a *app, lk *lake.Lake, opts pipeline.Options, reports bool) (*pipeline.Summary, error) {
	bars := progress.New(os.Stderr, progress.IsTerminal(os.Stderr))
	opts.Progress = bars.Update
	opts.Logger = a.log
	opts.Engine = a.engineOptions(0)
	if reports {
		opts.Finish = outputs.Refresh
	}
	if opts.RunID == "" {
		opts.RunID = lake.NewRunID(time.Now())
	}
	sum, err := pipeline.Run(cmd.Context(), lk, opts)
	bars.Wait()
	if err != nil && sum == nil {
		// A run that stopped before its summary: its id finds its record.
		err = fmt.Errorf("run %s: %w", opts.RunID, err)
	}
	return sum, err
}

// rowsIn is what entered a step's gate: the records a Bronze ingest read, or
// the rows a model built.
func rowsIn(st pipeline.Step) int64 { return st.RowsIn }

// earlierVerdicts are the latest verdicts, from earlier runs, of the tables
// the run s did not judge (unchanged ones are not checked again): what the
// dashboard and the quality report count with the run's. Nil when the
// history cannot be read (the summary then says nothing of them; the
// reason is logged).
func earlierVerdicts(a *app, lk *lake.Lake, s *pipeline.Summary) []quality.Result {
	judged := map[string]bool{}
	for _, c := range s.Checks() {
		judged[c.Table] = true
	}
	hist, err := pipeline.VerdictHistory(lk, 0)
	if err != nil {
		a.log.Warn("the verdicts of earlier runs are not shown", "err", err)
		return nil
	}
	var out []quality.Result
	for _, r := range pipeline.LatestVerdicts(hist).Results {
		if !judged[r.Table] {
			out = append(out, r)
		}
	}
	return out
}

// printRun prints a run's summary; earlier are the latest verdicts of the
// tables it did not judge (earlierVerdicts), told in one line.
func printRun(w io.Writer, s *pipeline.Summary, earlier []quality.Result) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "step\tstatus\tbuild\trows in\trows out\tquarantined\ttable rows\ttime\t")
	var q int64
	for _, st := range s.Steps {
		if st.Kind == pipeline.StepReport { // files, not rows
			fmt.Fprintf(tw, "%s\t%s\t\t-\t-\t-\t-\t%s\t\n", st.Name, st.Status, st.Duration.Round(time.Millisecond))
			continue
		}
		kind, table := "", "-"
		if st.Kind == pipeline.StepModel {
			kind = buildKind(st.Status == pipeline.StepBuilt, st.Incremental)
		}
		if st.Status != pipeline.StepFailed && st.Status != pipeline.StepSkipped {
			table = strconv.FormatInt(st.TableRows, 10)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%d\t%s\t%s\t\n", st.Name, st.Status, kind, rowsIn(st), st.RowsOut, st.Quarantined, table, st.Duration.Round(time.Millisecond))
		q += st.Quarantined
	}
	tw.Flush()
	fmt.Fprintln(w, "rows in: records read (bronze) or rows a model built (incremental: the rows of the keys it rebuilt), before its quality gate; rows out: rows published; rows in = rows out + quarantined (0 for an unchanged step); table rows: the table after the step")
	for _, st := range s.Steps {
		if st.Status == pipeline.StepBuilt { // a failed build's error says what happened
			printFullReason(w, st.Name, st.FullReason, st.FullExpected)
		}
	}
	for _, st := range s.Steps {
		if st.Error != "" {
			fmt.Fprintf(w, "FAILED %s: %s\n", st.Name, st.Error)
		}
	}
	if checks := s.Checks(); len(checks) > 0 {
		t := quality.TallyOf(checks)
		// A failed row check quarantines its rows and the table is still
		// published; only a blocking failure stops a table.
		failed := fmt.Sprintf("%d failed", t.Fail)
		switch {
		case t.Fail > 0 && t.Blocking == t.Fail:
			failed += " (all blocking)"
		case t.Fail > 0:
			rest := "the others quarantined their rows"
			switch {
			case t.Blocking == 0 && t.Fail == 1:
				rest = "it quarantined its rows"
			case t.Blocking == 0:
				rest = "they quarantined their rows"
			case t.Fail-t.Blocking == 1:
				rest = "the other quarantined its rows"
			}
			failed += fmt.Sprintf(" (%d blocking; %s)", t.Blocking, rest)
		}
		noun := "checks"
		if t.Checks == 1 {
			noun = "check"
		}
		fmt.Fprintf(w, "\nquality gates: %d %s, %s, %d warnings\n", t.Checks, noun, failed, t.Warn)
		printChecks(w, checks, false)
	}
	if len(earlier) > 0 {
		tables := map[string]bool{}
		for _, c := range earlier {
			tables[c.Table] = true
		}
		t := quality.TallyOf(earlier)
		fmt.Fprintf(w, "not judged in this run (unchanged): %d table(s) keep the verdicts of earlier runs: %d checks, %d failed, %d warnings (nexus report quality lists them)\n",
			len(tables), t.Checks, t.Fail, t.Warn)
	}
	if s.Batches != nil {
		fmt.Fprintln(w, s.Batches)
	}
	if s.SourceSwitch != nil {
		fmt.Fprintln(w, s.SourceSwitch)
	}
	if s.NothingToDo() {
		fmt.Fprintln(w, "nothing to do: every input is unchanged since the last run")
	}
	switch {
	case s.Sales == nil:
	case len(s.Sales.NotBuilt) > 0:
		fmt.Fprintf(w, "sales quarantined: unknown (%s not built in this run)\n", strings.Join(s.Sales.NotBuilt, ", "))
	default:
		orders := "orders"
		if s.Sales.Orders == 1 {
			orders = "order"
		}
		unreadable := ""
		if n := s.Sales.Unreadable; n > 0 {
			records := "records"
			if n == 1 {
				records = "record"
			}
			unreadable = fmt.Sprintf("; and %d %s of the sales files that Bronze could not parse, not in these figures (nexus quarantine list)", n, records)
		}
		fmt.Fprintf(w, "sales quarantined: %d %s, %s%s\n", s.Sales.Orders, orders, report.FormatBRLCents(float64(s.Sales.PaymentCents)/100), unreadable)
	}
	fmt.Fprintf(w, "run %s %s in %s (%d row(s) quarantined by this run)\n", s.RunID, s.Status, s.Duration.Round(time.Millisecond), q)
	for _, r := range s.Reports {
		fmt.Fprintf(w, "report: %s\n", r)
	}
}
