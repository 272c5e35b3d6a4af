package main

import (
	"fmt"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/keystone/nexus/internal/engine"
	"github.com/keystone/nexus/internal/server"
)

func newReportDashboardCmd(a *app) *cobra.Command {
	var out string
	cmd := &cobra.Command{
		Use:   "dashboard",
		Short: "Write the KPI dashboard of the whole lake as one self-contained HTML file",
		Long: `Write dashboard.html: the page of 'nexus serve' with the numbers of the whole lake
(no filter) embedded, and its CSS and JS inlined: it opens from disk, offline.
Filters need the live dashboard, 'nexus serve'.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			lk, err := a.openLake()
			if err != nil {
				return err
			}
			if err := a.makeOut(out); err != nil {
				return err
			}
			eng, err := engine.Open(cmd.Context(), lk, a.engineOptions(2))
			if err != nil {
				return err
			}
			defer eng.Close()
			if len(eng.Tables()) == 0 {
				return engine.ErrNoTables
			}
			path, err := server.WriteDashboard(cmd.Context(), eng.DB(), lk, out)
			if err != nil {
				return err
			}
			fmt.Println("wrote", path)
			return nil
		},
	}
	cmd.Flags().StringVar(&out, "out", filepath.Join(reportsDir, "dashboard"), "output directory (not the lake: a report only reads it)")
	return cmd
}
