package main

import (
	"fmt"
	"io"
	"os"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/keystone/nexus/internal/ingest"
	"github.com/keystone/nexus/internal/lake"
	"github.com/keystone/nexus/internal/progress"
	"github.com/keystone/nexus/internal/report"
)

func newIngestCmd(a *app) *cobra.Command {
	var (
		source    string
		onDrift   string
		force     bool
		switchSrc bool
		tables    []string
	)
	cmd := &cobra.Command{
		Use:   "ingest",
		Short: "Ingest the 9 Olist CSV files (or .csv.gz) into the Bronze layer",
		Long: `Read the nine Olist CSV files from --source and publish one Bronze Parquet table
per file, typed by the source contract, with lineage columns (_source_file,
_source_line, _ingest_run_id, _ingested_at, _batch).

A malformed record (wrong field count, bad number or timestamp, broken quoting,
invalid UTF-8, a NUL byte) goes to quarantine.bronze_<table> with its line, raw
text and reason; for every file, records read = rows written + rows quarantined.
A file-level problem (missing, empty, not a regular file, wrong header or
delimiter, mostly binary, not UTF-8) fails that table only and leaves its
published version untouched; the exit status is 1.
Unchanged inputs are skipped (size + content hash).

When --source holds dt=YYYY-MM-DD folders (a landing zone, e.g. from 'nexus
generate --daily-from'), each folder is one batch: a new folder is appended, a
folder whose files changed replaces that batch only, a removed folder is
reported and its rows stay; every row carries _batch, the folder's date.`,
		Example: `  nexus ingest --source data/generated
  nexus ingest --source data/landing            # dt=YYYY-MM-DD folders, one batch each
  nexus ingest --source ~/olist --on-drift evolve --lake /data/lake`,
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
			res, err := runIngest(cmd, a, lk, ingest.Options{SourceDir: source, OnDrift: onDrift, Force: force, SwitchSource: switchSrc, Rerun: rerunArgs(cmd, "switch-source"), Tables: tables})
			if err != nil {
				return err
			}
			printIngest(os.Stdout, res)
			if err := a.commit(lk, lake.CommitRun, res.RunID); err != nil {
				return err
			}
			if len(res.Failed()) > 0 {
				return exitError{1}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&source, "source", "", "directory with the Olist CSV files, or a landing zone of dt=YYYY-MM-DD folders (default \"data/generated\")")
	cmd.Flags().StringVar(&onDrift, "on-drift", "", "what an extra column in a file does: fail (default) or evolve (kept as a text column)")
	cmd.Flags().BoolVar(&force, "force", false, "re-ingest tables whose inputs are unchanged")
	cmd.Flags().BoolVar(&switchSrc, "switch-source", false, "let plain source files replace the tables a landing zone built, or a landing zone replace tables of plain files (refused without it)")
	cmd.Flags().StringSliceVar(&tables, "table", nil, "ingest only these tables (repeatable), e.g. --table orders")
	return cmd
}

// runIngest runs an ingest with progress bars on a terminal and logs.
func runIngest(cmd *cobra.Command, a *app, lk *lake.Lake, opts ingest.Options) (ingest.Result, error) {
	bars := progress.New(os.Stderr, progress.IsTerminal(os.Stderr))
	opts.Progress = bars.Update
	opts.Logger = a.log
	if opts.RunID == "" {
		opts.RunID = lake.NewRunID(time.Now())
	}
	start := time.Now()
	res, err := ingest.Run(cmd.Context(), lk, opts)
	bars.Wait()
	a.log.Info("ingest done", "run", res.RunID, "elapsed", time.Since(start))
	return res, err
}

func printIngest(w io.Writer, res ingest.Result) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "table\tstatus\tread\twritten\tquarantined\tread=written+quar.\tversion\tCSV\tParquet\ttime\t\n")
	var read, written, quar int64
	var dur time.Duration
	for _, t := range res.Tables {
		if t.Status == ingest.StatusFailed {
			fmt.Fprintf(tw, "%s\t%s\t-\t-\t-\t-\t-\t-\t-\t-\t\n", t.Table, t.Status)
			continue
		}
		ok := "ok"
		if t.RecordsRead != t.RowsWritten+t.RowsQuarantined {
			ok = "MISMATCH"
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%s\t%d\t%s\t%s\t%s\t\n", t.Table, t.Status, t.RecordsRead, t.RowsWritten,
			t.RowsQuarantined, ok, t.Version, report.FormatBytes(t.InputBytes), report.FormatBytes(t.ParquetBytes), t.Duration.Round(time.Millisecond))
		read, written, quar = read+t.RecordsRead, written+t.RowsWritten, quar+t.RowsQuarantined
		dur = max(dur, t.Duration)
	}
	fmt.Fprintf(tw, "total\t\t%d\t%d\t%d\t\t\t\t\t\t\n", read, written, quar)
	tw.Flush()
	unchanged := 0
	for _, t := range res.Tables {
		if t.Status == ingest.StatusUnchanged {
			unchanged++
		}
	}
	if c := res.BatchChanges(); c != nil {
		fmt.Fprintln(w, c)
	}
	if res.Switch != nil {
		fmt.Fprintln(w, res.Switch)
	}
	if unchanged == len(res.Tables) {
		fmt.Fprintln(w, "nothing to do: every input is unchanged since its published version")
	}
	for _, t := range res.Failed() {
		fmt.Fprintf(w, "FAILED %s: %v\n", t.Table, t.Err)
	}
	if quar > 0 {
		fmt.Fprintf(w, "%d malformed record(s) quarantined: nexus query \"SELECT * FROM quarantine.bronze_<table>\"\n", quar)
	}
	fmt.Fprintf(w, "run %s\n", res.RunID)
}
