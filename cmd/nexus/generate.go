package main

import (
	"fmt"
	"os"
	"path/filepath"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/keystone/nexus/internal/olist"
	"github.com/keystone/nexus/internal/progress"
	"github.com/keystone/nexus/internal/report"
)

func newGenerateCmd(a *app) *cobra.Command {
	var (
		out       string
		scale     float64
		seed      int64
		force     bool
		dailyFrom string
	)
	cmd := &cobra.Command{
		Use:   "generate",
		Short: "Write a synthetic Olist data set (the 9 CSV files) at any scale",
		Long: `Write the nine Olist CSV files with the original names, headers and formatting
(quoting, CRLF reviews with multi-line comments, BOM translation file, Brazilian
local timestamps), consistent keys, realistic distributions and the known data
quirks at realistic rates. --scale 1 is about the real size (99 k orders, 1 M
geolocation rows, ~125 MB). Output is deterministic for a seed. The planted
quirks are listed in _planted.jsonl beside the files.

With --daily-from YYYY-MM-DD, --out becomes a landing zone: dt=<the day
before>/ holds everything known before that date, then one dt=YYYY-MM-DD/
folder per later day holds what became known that day (new orders, items,
payments and customers; a new version of every order whose status changed;
reviews; products and sellers first sold), each with its own _planted.jsonl.
Applying the folders in date order gives back the data set generated without
--daily-from.

When --out already holds the same data set (seed, scale, unchanged files),
nothing is written. Any other Olist files there (another seed or scale, edited
files, real data) are replaced only with --force.`,
		Example: `  nexus generate --out data/generated --scale 0.01
  nexus generate --out /tmp/olist10 --scale 10 --seed 7
  nexus generate --out data/landing --scale 0.1 --daily-from 2018-01-01`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !cmd.Flags().Changed("scale") {
				scale = a.cfg.Scale
			}
			if !cmd.Flags().Changed("seed") {
				seed = a.cfg.Seed
			}
			if out == "" {
				out = a.cfg.Source
			}
			if scale <= 0 {
				return fmt.Errorf("--scale must be positive, got %g", scale)
			}
			if cmd.Flags().Changed("daily-from") {
				d, err := time.Parse(time.DateOnly, dailyFrom)
				if err != nil || d.Format(time.DateOnly) != dailyFrom {
					return fmt.Errorf("--daily-from must be a date YYYY-MM-DD, got %q", dailyFrom)
				}
			}
			ex, err := olist.InspectOutput(out, olist.GenOptions{Scale: scale, Seed: seed, DailyFrom: dailyFrom})
			if err != nil {
				return err
			}
			switch {
			case ex.State == olist.OutputSame && !force:
				if dailyFrom != "" {
					fmt.Printf("%s already holds this landing zone (scale %g, seed %d, daily from %s): nothing to do (--force writes it again)\n", out, scale, seed, dailyFrom)
					return nil
				}
				fmt.Printf("%s already holds this data set (scale %g, seed %d): nothing to do (--force writes it again)\n", out, scale, seed)
				return nil
			case ex.State != olist.OutputEmpty && ex.State != olist.OutputSame && !force:
				return fmt.Errorf("generate: %s holds %s; pass --force to replace it, or choose another --out", out, ex.Desc)
			}
			if dailyFrom != "" {
				return generateDaily(cmd, out, scale, seed, dailyFrom)
			}
			rep, elapsed, err := generate(cmd, out, scale, seed)
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
			fmt.Fprintln(tw, "file\trows\tbytes\t")
			var rows, bytes int64
			for _, f := range rep.Files {
				fmt.Fprintf(tw, "%s\t%d\t%s\t\n", f.Path, f.Rows, report.FormatBytes(f.Bytes))
				rows += f.Rows
				bytes += f.Bytes
			}
			fmt.Fprintf(tw, "total\t%d\t%s\t\n", rows, report.FormatBytes(bytes))
			tw.Flush()
			fmt.Printf("generated scale %g seed %d in %s\n", scale, seed, elapsed.Round(time.Millisecond))
			return nil
		},
	}
	cmd.Flags().StringVar(&out, "out", "", "output directory (default \"data/generated\")")
	cmd.Flags().Float64Var(&scale, "scale", 0.1, "size relative to the real data set (1 ≈ 1.55 M rows)")
	cmd.Flags().Int64Var(&seed, "seed", 42, "random seed; the same seed and scale give the same bytes")
	cmd.Flags().StringVar(&dailyFrom, "daily-from", "", "write a landing zone: the base batch before this date (YYYY-MM-DD), then one dt= folder per later day")
	cmd.Flags().BoolVar(&force, "force", false, "replace the Olist files already in --out (another data set, edited or real files)")
	return cmd
}

func generate(cmd *cobra.Command, out string, scale float64, seed int64) (olist.GenReport, time.Duration, error) {
	if err := os.MkdirAll(out, 0o755); err != nil {
		return olist.GenReport{}, 0, fmt.Errorf("generate: %w", err)
	}
	bars := progress.New(os.Stderr, progress.IsTerminal(os.Stderr))
	start := time.Now()
	rep, err := olist.Generate(cmd.Context(), out, olist.GenOptions{Scale: scale, Seed: seed, Progress: bars.Update})
	bars.Wait()
	if err != nil {
		return rep, 0, fmt.Errorf("generate: %w", err)
	}
	return rep, time.Since(start), nil
}

// generateDaily writes a landing zone and prints, per file, the rows of the
// base batch, of the daily drops and of the final state they add up to.
func generateDaily(cmd *cobra.Command, out string, scale float64, seed int64, dailyFrom string) error {
	if err := os.MkdirAll(out, 0o755); err != nil {
		return fmt.Errorf("generate: %w", err)
	}
	bars := progress.New(os.Stderr, progress.IsTerminal(os.Stderr))
	start := time.Now()
	rep, err := olist.GenerateDaily(cmd.Context(), out, olist.GenOptions{Scale: scale, Seed: seed, DailyFrom: dailyFrom, Progress: bars.Update})
	bars.Wait()
	if err != nil {
		return fmt.Errorf("generate: %w", err)
	}
	elapsed := time.Since(start)
	base := map[string]int64{}
	daily := map[string]int64{}
	for _, d := range rep.Drops {
		for _, f := range d.Files {
			if d.Base {
				base[f.Table] += f.Rows
			} else {
				daily[f.Table] += f.Rows
			}
		}
	}
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "file\tbase rows\tdaily rows\tfinal rows\t")
	for _, f := range rep.Final.Files {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t\n", filepath.Base(f.Path), base[f.Table], daily[f.Table], f.Rows)
	}
	tw.Flush()
	first, last := rep.Drops[0], rep.Drops[len(rep.Drops)-1]
	fmt.Printf("landing zone %s: base batch %s, then %d daily drops", out, filepath.Base(first.Dir), len(rep.Drops)-1)
	if len(rep.Drops) > 1 {
		fmt.Printf(" (%s .. %s)", rep.Drops[1].Date, last.Date)
	}
	fmt.Printf("\ngenerated scale %g seed %d, daily from %s, in %s\n", scale, seed, rep.DailyFrom, elapsed.Round(time.Millisecond))
	return nil
}
