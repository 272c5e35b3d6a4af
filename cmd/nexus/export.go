package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/keystone/nexus/internal/schedule"
)

func newExportCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "export TARGET --out DIR",
		Short: "Write the schedule (nexus.yaml's schedule: section) for Airflow or GitHub Actions",
		Long: `Write the jobs of the schedule as files for the tools you already run. Each
task runs 'nexus trigger JOB --date D --retries 0' with --lake, --source (and
--config when a nexus.yaml was read): nexus does the work and records it in its
run store, the tool schedules, retries and alerts.`,
	}
	for _, d := range schedule.ExportDefs() {
		cmd.AddCommand(newExportTargetCmd(a, d))
	}
	return cmd
}

func newExportTargetCmd(a *app, d schedule.ExportDef) *cobra.Command {
	var out, bin, source string
	cmd := &cobra.Command{
		Use:   string(d.Target) + " --out DIR",
		Short: "Write DIR/" + d.File + ": " + d.Doc,
		Args:  cobra.NoArgs,
		RunE: func(_ *cobra.Command, _ []string) error {
			plan, err := a.cfg.Schedule.Compile()
			if err != nil {
				return err
			}
			o := schedule.ExportOptions{NexusBin: bin, Lake: a.cfg.Lake, Source: a.cfg.Source, Config: a.configPath}
			if source != "" {
				o.Source = source
			}
			if o.Config == "" {
				// The tasks must read the nexus.yaml the export read.
				if _, err := os.Stat("nexus.yaml"); err == nil {
					o.Config = "nexus.yaml"
				} else if !errors.Is(err, fs.ErrNotExist) {
					return err
				}
			}
			if d.AbsolutePaths {
				for _, p := range []*string{&o.Lake, &o.Source, &o.Config, &o.NexusBin} {
					// A bare binary name is looked up on the PATH.
					if *p == "" || p == &o.NexusBin && !strings.ContainsRune(*p, filepath.Separator) {
						continue
					}
					if *p, err = filepath.Abs(*p); err != nil {
						return err
					}
				}
			}
			path, err := d.Write(plan, o, out)
			if err != nil {
				return err
			}
			fmt.Printf("wrote %s: %d job(s) on %q (%s)\n", path, len(plan.Jobs), plan.Cron, plan.Location)
			return nil
		},
	}
	cmd.Flags().StringVar(&out, "out", "", "directory to write "+d.File+" into (created when missing)")
	_ = cmd.MarkFlagRequired("out") // the flag exists
	cmd.Flags().StringVar(&bin, "nexus-bin", "", "nexus binary the tasks run (default: airflow: nexus on the PATH; github-actions: built from the checkout)")
	cmd.Flags().StringVar(&source, "source", "", "source directory or landing zone the tasks ingest (default: source of nexus.yaml)")
	return cmd
}
