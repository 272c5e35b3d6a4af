package main

import (
	"fmt"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/keystone/nexus/internal/report"
)

func newReportChartsCmd(a *app) *cobra.Command {
	var out string
	cmd := &cobra.Command{
		Use:   "charts",
		Short: "Write the analysis charts as PNG and SVG",
		Long: `Run the analyses on the published Gold tables and write each chart as <name>.png
(1200×675) and <name>.svg: revenue and orders by month, top categories, RFM
segments, review score on time vs late, delivery days, and a tile map of revenue
by state. Fonts are embedded in the binary; nothing is downloaded.`,
		Example: `  nexus report charts
  nexus report charts --out ./charts`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			start := time.Now()
			_, eng, err := a.openLakeEngine(cmd.Context())
			if err != nil {
				return err
			}
			defer eng.Close()
			if err := a.makeOut(out); err != nil {
				return err
			}
			files, err := report.WriteCharts(cmd.Context(), eng.DB(), out)
			if err != nil {
				return err
			}
			for _, f := range files {
				fmt.Printf("%-22s %s\n%-22s %s\n", f.Name, f.PNG, "", f.SVG)
			}
			fmt.Printf("%d charts in %s\n", len(files), time.Since(start).Round(time.Millisecond))
			return nil
		},
	}
	cmd.Flags().StringVar(&out, "out", filepath.Join(reportsDir, "charts"), "output directory (not the lake: a report only reads it)")
	return cmd
}
