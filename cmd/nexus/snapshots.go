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

	"github.com/spf13/cobra"

	"github.com/keystone/nexus/internal/lake"
	"github.com/keystone/nexus/internal/pipeline"
)

func newSnapshotsCmd(a *app) *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   "snapshots",
		Short: "List the lake's snapshots: each commit of a run, replay, rollback or repair",
		Long: `Every run commits its tables at once as a new snapshot; readers always see one
snapshot whole. This lists the snapshots retention keeps (the last 10, and any
that was current within the last hour), newest first, with what each changed.
Read an older one with 'nexus query --snapshot N'; make it current again with
'nexus rollback N'.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			lk, err := a.openLake()
			if errors.Is(err, lake.ErrDamagedPointer) && !lake.IsRemote(a.cfg.Lake) {
				// Listing is what it takes to choose a snapshot to roll back to.
				fmt.Fprintln(os.Stderr, "warning:", err)
				lk, err = lake.OpenUnpinned(a.cfg.Lake)
			}
			if err != nil {
				return err
			}
			ids, err := lk.SnapshotIDs()
			if err != nil {
				return err
			}
			var snaps []*lake.Snapshot
			for i := len(ids) - 1; i >= 0; i-- {
				s, err := lk.ReadSnapshot(ids[i])
				if err != nil {
					// One damaged snapshot file does not hide the others.
					fmt.Fprintln(os.Stderr, "warning:", err)
					continue
				}
				snaps = append(snaps, s)
			}
			if format == "json" {
				enc := json.NewEncoder(os.Stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(snaps)
			}
			if len(snaps) == 0 {
				fmt.Println("no snapshots yet in", lk.Location(), "- run `nexus demo` or `nexus run`")
				return nil
			}
			return printSnapshots(os.Stdout, snaps, lk.SnapshotID())
		},
	}
	cmd.Flags().StringVar(&format, "format", "table", "output format: table or json")
	return cmd
}

func printSnapshots(w io.Writer, snaps []*lake.Snapshot, current int64) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "snapshot\tcommitted (UTC)\tkind\trun\ttables\tchanged")
	for _, s := range snaps {
		mark := ""
		if s.ID == current {
			mark = " *"
		}
		changed := strings.Join(s.Changed, ", ")
		if len(s.Changed) > 4 {
			changed = strings.Join(s.Changed[:4], ", ") + fmt.Sprintf(" … (+%d)", len(s.Changed)-4)
		}
		if len(s.Removed) > 0 {
			changed += fmt.Sprintf("; removed %d", len(s.Removed))
		}
		fmt.Fprintf(tw, "%d%s\t%s\t%s\t%s\t%d\t%s\n", s.ID, mark, s.CreatedAt.Format(time.DateTime), s.Kind, s.RunID, len(s.Tables), changed)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintln(w, "* current")
	return err
}

func newRollbackCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "rollback SNAPSHOT",
		Short: "Make an older snapshot current again (a new commit; nothing is deleted)",
		Long: `Commit a new snapshot with the table versions of SNAPSHOT (see 'nexus snapshots').
Nothing is deleted: rolling forward again is another rollback to the newer
snapshot, while retention keeps it. The next 'nexus run' rebuilds what its
inputs say is out of date.`,
		Example: "  nexus rollback 12",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := strconv.ParseInt(args[0], 10, 64)
			if err != nil || id <= 0 {
				return fmt.Errorf("rollback: %q is not a snapshot number (see `nexus snapshots`)", args[0])
			}
			lk, unlock, err := a.openExistingLakeForWrite()
			if errors.Is(err, lake.ErrDamagedPointer) && !lake.IsRemote(a.cfg.Lake) {
				s, rerr := lake.RecoverPointer(a.cfg.Lake, id, lake.NewRunID(time.Now()))
				if rerr != nil {
					return errors.Join(err, rerr)
				}
				fmt.Printf("the current snapshot pointer was damaged; rolled back to snapshot %d: committed snapshot %d\n", id, s.ID)
				return nil
			}
			if err != nil {
				return err
			}
			defer unlock()
			from := lk.SnapshotID()
			if id == from {
				fmt.Printf("snapshot %d is already current: nothing to do\n", id)
				return nil
			}
			s, err := lk.Rollback(id, lake.NewRunID(time.Now()))
			if err != nil {
				return err
			}
			fmt.Printf("rolled back to snapshot %d: committed snapshot %d (%d table(s) changed, %d removed; was %d)\n",
				id, s.ID, len(s.Changed), len(s.Removed), from)
			return nil
		},
	}
}

func newDoctorCmd(a *app) *cobra.Command {
	var (
		repair  bool
		source  string
		project string
		format  string
	)
	cmd := &cobra.Command{
		Use:   "doctor",
		Short: "Verify every table of the current snapshot against its files; --repair fixes damaged ones",
		Long: `Check every table of the current snapshot: its manifest is readable, and each
file it lists exists with the recorded size and a Parquet footer. Prints one
line per finding; exit status 1 when something is damaged.

With --repair, a damaged Silver or Gold table (or its quarantine) is rebuilt
from its inputs; a damaged Bronze table is re-ingested from --source when its
file is there, else rolled back to its newest intact version in a kept
snapshot. The fix is one new snapshot; the output says which action each table
got.`,
		Example: `  nexus doctor
  nexus doctor --repair --source data/generated`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !repair {
				lk, err := a.openLake()
				if err != nil {
					return err
				}
				findings := lk.Check()
				if err := printFindings(os.Stdout, lk, findings, format); err != nil {
					return err
				}
				if len(findings) > 0 {
					return exitError{1}
				}
				return nil
			}
			if source == "" {
				source = a.cfg.Source
			}
			lk, unlock, err := a.openExistingLakeForWrite()
			if err != nil {
				return err
			}
			defer unlock()
			before := lk.Check()
			if err := printFindings(os.Stdout, lk, before, format); err != nil {
				return err
			}
			if len(before) == 0 {
				return nil
			}
			repairs, snap, err := pipeline.RepairLake(cmd.Context(), lk, pipeline.DoctorOptions{
				SourceDir: source, OnDrift: a.cfg.OnDrift, ProjectDir: project, Logger: a.log,
				Engine: a.engineOptions(0),
			})
			incomplete := errors.Is(err, pipeline.ErrRepairIncomplete)
			if err != nil && !incomplete {
				return err
			}
			fmt.Println()
			tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "table\trepair\tdetail")
			failed := 0
			for _, r := range repairs {
				fmt.Fprintf(tw, "%s\t%s\t%s\n", r.Table, r.Action, r.Detail)
				if r.Action == pipeline.RepairFailed {
					failed++
				}
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			if incomplete {
				fmt.Println("nothing committed: a table could not be repaired, and a partial repair would leave tables that disagree; `nexus run --source DIR` rebuilds from the source files")
				return exitError{1}
			}
			if snap != nil {
				fmt.Printf("committed snapshot %d\n", snap.ID)
			}
			after := lk.Check()
			fmt.Printf("after repair: %d finding(s)\n", len(after))
			if failed > 0 || len(after) > 0 {
				return exitError{1}
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&repair, "repair", false, "rebuild, re-ingest or roll back the damaged tables (one new snapshot)")
	cmd.Flags().StringVar(&source, "source", "", "where damaged Bronze tables can be re-ingested from (default: the configured source)")
	cmd.Flags().StringVar(&project, "project", "", "project directory with extra or overriding models and suites")
	cmd.Flags().StringVar(&format, "format", "table", "output format: table or json")
	return cmd
}

func printFindings(w io.Writer, lk *lake.Lake, findings []lake.Finding, format string) error {
	if format == "json" {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		if findings == nil {
			findings = []lake.Finding{}
		}
		return enc.Encode(map[string]any{"snapshot": lk.SnapshotID(), "findings": findings})
	}
	n := len(lk.Tables())
	if len(findings) == 0 {
		_, err := fmt.Fprintf(w, "snapshot %d: %d table(s), all intact\n", lk.SnapshotID(), n)
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "table\tversion\tproblem\tfile\tdetail")
	damaged := map[string]bool{}
	for _, f := range findings {
		damaged[f.Table] = true
		file := f.File
		if file == "" {
			file = "-"
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\n", f.Table, f.Version, f.Problem, file, f.Detail)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintf(w, "snapshot %d: %d of %d table(s) damaged, %d finding(s); `nexus doctor --repair` fixes them\n",
		lk.SnapshotID(), len(damaged), n, len(findings))
	return err
}
