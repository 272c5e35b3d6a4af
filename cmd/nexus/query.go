package main

import (
	"fmt"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/keystone/nexus/internal/catalog"
	"github.com/keystone/nexus/internal/engine"
	"github.com/keystone/nexus/internal/lake"
)

func newQueryCmd(a *app) *cobra.Command {
	var (
		format   string
		snapshot int64
		estimate bool
		maxScan  string
	)
	cmd := &cobra.Command{
		Use:   "query [flags] \"SQL\"",
		Short: "Run SQL on the lake with DuckDB",
		Long: `Run one SQL statement on the lake. Every published table is a view named
<layer>.<table> (bronze.orders, quarantine.bronze_orders, later silver.* and gold.*)
that reads exactly the files its manifest lists.`,
		Example: `  nexus query "SELECT order_status, count(*) FROM bronze.orders GROUP BY 1 ORDER BY 2 DESC"
  nexus query --format csv "SELECT * FROM bronze.sellers LIMIT 10"`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			lk, err := a.openLake()
			if err != nil {
				return err
			}
			if cmd.Flags().Changed("snapshot") {
				if snapshot < 1 {
					return fmt.Errorf("--snapshot %d: snapshot ids start at 1 (see nexus snapshots)", snapshot)
				}
				if lk, err = lk.At(cmd.Context(), snapshot); err != nil {
					return err
				}
			}
			eng, err := a.openEngine(cmd.Context(), lk)
			if err != nil {
				return err
			}
			defer eng.Close()
			if len(eng.Tables()) == 0 && len(eng.Damaged()) == 0 {
				return engine.ErrNoTables
			}
			if estimate || maxScan != "" {
				est, err := catalog.Estimate(cmd.Context(), eng.DB(), lk, eng.Tables(), args[0])
				if err != nil {
					return err
				}
				if estimate {
					printEstimate(est)
					return nil
				}
				budget, err := catalog.ParseBytes(maxScan)
				if err != nil {
					return fmt.Errorf("--max-scan: %w", err)
				}
				if est.Bytes > budget {
					printEstimate(est)
					return fmt.Errorf("query refused: Athena would scan %s, more than --max-scan %s", catalog.DecimalBytes(float64(est.Bytes)), maxScan)
				}
			}
			res, err := eng.Query(cmd.Context(), args[0])
			if err != nil {
				return fmt.Errorf("query: %w", err)
			}
			return res.Write(os.Stdout, format)
		},
	}
	cmd.Flags().StringVar(&format, "format", "table", "output format: table, csv or json")
	cmd.Flags().Int64Var(&snapshot, "snapshot", 0, "read this older snapshot instead of the current one (ids: nexus snapshots)")
	cmd.Flags().BoolVar(&estimate, "estimate", false, "do not run the query: print the bytes Athena would scan for it and the price")
	cmd.Flags().StringVar(&maxScan, "max-scan", "", "refuse the query when Athena would scan more than this (e.g. 1GB)")
	return cmd
}

// printEstimate prints what Athena would scan for a query, per table scan.
func printEstimate(est *catalog.ScanEstimate) {
	fmt.Printf("%-32s %-13s %12s  %s\n", "table", "files", "bytes", "columns")
	for _, s := range est.Scans {
		files := fmt.Sprintf("%d/%d", s.Files, s.FilesTotal)
		if s.UpperBound {
			files += " (≤)"
		}
		fmt.Printf("%-32s %-13s %12s  %s\n", s.Table, files, catalog.DecimalBytes(float64(s.Bytes)), strings.Join(s.Columns, ", "))
	}
	fmt.Printf("Athena would scan %s (%d bytes); billed %s (rounded up to the MB, 10 MB at least): US$%.6f at US$%.0f per TB\n",
		catalog.DecimalBytes(float64(est.Bytes)), est.Bytes, catalog.DecimalBytes(float64(est.Billed)), est.USD, catalog.AthenaUSDPerTB)
}

func newTablesCmd(a *app) *cobra.Command {
	var all bool
	cmd := &cobra.Command{
		Use:   "tables",
		Short: "List the lake's published tables with rows, versions and last update",
		Long: `List the lake's published tables with rows, versions and last update. Empty
quarantine tables (a gate that quarantined nothing) are left out unless --all.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			lk, err := a.openLake()
			if err != nil {
				return err
			}
			ms, err := lk.Manifests()
			if err != nil {
				return err
			}
			damaged := map[string]bool{}
			for _, f := range lk.Check() {
				damaged[f.Table] = true
			}
			if len(ms) == 0 && len(damaged) == 0 {
				fmt.Println("no tables published yet in", lk.Location(), "- run `nexus demo` or `nexus ingest`")
				return nil
			}
			shown, hidden := visibleTables(ms, all)
			tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
			fmt.Fprintln(tw, "table\trows\tversion\tfiles\tbytes\tupdated (UTC)\trun\t")
			for _, m := range shown {
				name := m.Name()
				if damaged[name] {
					name += " (DAMAGED)"
				}
				fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%s\t%s\t%s\t\n", name, m.Rows, m.Version, len(m.Files),
					humanBytes(m.Bytes), m.CreatedAt.UTC().Format(time.DateTime), m.RunID)
			}
			// A table whose manifest cannot be read has no row to show.
			for _, t := range lk.Tables() {
				if t.Err != nil {
					fmt.Fprintf(tw, "%s (DAMAGED)\t-\t-\t-\t-\t-\t-\t\n", t.Name)
				}
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			if len(damaged) > 0 {
				fmt.Printf("%d damaged table(s): `nexus doctor` says what is wrong, `nexus doctor --repair` fixes them\n", len(damaged))
			}
			if hidden > 0 {
				fmt.Printf("(%d empty quarantine table(s) not shown; --all lists them)\n", hidden)
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&all, "all", false, "also list empty quarantine tables")
	return cmd
}

// visibleTables leaves out the empty quarantine tables unless all: every gated
// table has one, and a first user reads 27 empty tables as noise.
func visibleTables(ms []*lake.Manifest, all bool) (shown []*lake.Manifest, hidden int) {
	for _, m := range ms {
		if !all && m.Layer == lake.Quarantine && m.Rows == 0 {
			hidden++
			continue
		}
		shown = append(shown, m)
	}
	return shown, hidden
}

func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
