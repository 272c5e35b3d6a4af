package main

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/keystone/nexus/internal/catalog"
)

func newCatalogCostCmd(a *app) *cobra.Command {
	u := catalog.DefaultUsage()
	var (
		format string
		factor float64
	)
	cmd := &cobra.Command{
		Use:   "cost",
		Short: "Estimate the monthly AWS bill of the lake: S3 storage and requests, Athena scans, Glue",
		Long: `Price a month of the lake on AWS (us-east-1 list prices), line by line, each
line with its quantity, its unit price and how the quantity was obtained:

  S3 storage     the data files of the current snapshot and of the older
                 snapshots kept, from the manifests
  S3 requests    what a run writes and reads (the last commit's new files,
                 manifests and Athena symlink manifests) × the runs of the
                 schedule's cron in 30 days; what Athena and the dashboard's
                 server read for each dashboard view and analyst query
  Athena         the statements the dashboard's analyses run (default view),
                 each estimated as ` + "`nexus query --estimate`" + ` does (columns × files
                 from the Parquet footers, 10 MB minimum), × views a day
  Glue           catalog requests (a sync after each run, a GetTable per table
                 a query reads) and objects stored, beyond the free tiers

The deck's cost slide prices the same bill with the default usage. It only
reads the lake.`,
		Example: `  nexus catalog cost
  nexus catalog cost --dashboard-views-per-day 500 --analyst-queries-per-day 0
  nexus catalog cost --data-factor 100 --format json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if format != "table" && format != "json" {
				return fmt.Errorf("--format %q: want table or json", format)
			}
			for _, f := range []struct {
				name string
				v    float64
			}{{"dashboard-views-per-day", u.DashboardViewsPerDay}, {"analyst-queries-per-day", u.AnalystQueriesPerDay},
				{"reader-hosts", u.ReaderHosts}, {"runs-per-month", u.RunsPerMonth}} {
				if f.v < 0 {
					return fmt.Errorf("--%s %v: want 0 or more", f.name, f.v)
				}
			}
			if factor <= 0 {
				return fmt.Errorf("--data-factor %v: want a positive multiple of the lake's size", factor)
			}
			if !cmd.Flags().Changed("runs-per-month") {
				plan, err := a.cfg.Schedule.Compile()
				if err != nil {
					return fmt.Errorf("the schedule of %s: %w", a.configName(), err)
				}
				now := time.Now()
				u.RunsPerMonth = float64(plan.Ticks(now, now.AddDate(0, 0, catalog.DaysPerMonth)))
				u.RunsFrom = fmt.Sprintf("cron %q, %s, over the next %d days", plan.Cron, plan.Timezone, catalog.DaysPerMonth)
			} else {
				u.RunsFrom = "--runs-per-month"
			}
			lk, eng, err := a.openLakeEngine(cmd.Context())
			if err != nil {
				return err
			}
			defer eng.Close()
			if len(eng.Tables()) == 0 {
				return fmt.Errorf("no tables published yet in %s: nothing to price (`nexus run` builds the lake)", lk.Location())
			}
			fp, err := catalog.Measure(cmd.Context(), eng.DB(), lk, eng.Tables())
			if err != nil {
				return err
			}
			bill := fp.Bill(u, factor)
			if format == "json" {
				enc := json.NewEncoder(os.Stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(struct {
					Bill    catalog.Bill        `json:"bill"`
					Queries []catalog.QueryScan `json:"queries"`
				}{bill, fp.Queries})
			}
			return printBill(bill, fp)
		},
	}
	cmd.Flags().Float64Var(&u.DashboardViewsPerDay, "dashboard-views-per-day", u.DashboardViewsPerDay, "dashboard views a day; each runs the dashboard's statements on Athena")
	cmd.Flags().Float64Var(&u.AnalystQueriesPerDay, "analyst-queries-per-day", u.AnalystQueriesPerDay, "ad hoc Athena queries a day, each priced as the average dashboard statement")
	cmd.Flags().Float64Var(&u.RunsPerMonth, "runs-per-month", u.RunsPerMonth, "scheduled runs a month (default: the ticks of the schedule's cron in 30 days)")
	cmd.Flags().Float64Var(&u.ReaderHosts, "reader-hosts", u.ReaderHosts, "machines that mirror the lake (the dashboard's server); each fetches a run's new files")
	cmd.Flags().Float64Var(&factor, "data-factor", 1, "price the lake at this multiple of its size (bytes scale; counts of files and requests do not)")
	cmd.Flags().StringVar(&format, "format", "table", "output format: table or json")
	return cmd
}

// printBill writes the bill as a table, then how each quantity was
// obtained, the dashboard's statements and the assumptions.
func printBill(b catalog.Bill, fp *catalog.Footprint) error {
	scale := ""
	if b.Scale != 1 {
		scale = fmt.Sprintf(" at %g× its size", b.Scale)
	}
	fmt.Printf("Monthly AWS bill of %s (snapshot %d)%s, us-east-1 list prices\n\n", b.Lake, b.Snapshot, scale)
	w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintf(w, "service\titem\t%12s\tunit\t%10s\tunit price\t%10s\n", "quantity", "free", "US$/month")
	for _, l := range b.Lines {
		free := ""
		if l.Free > 0 {
			free = quantity(l.Free)
		}
		fmt.Fprintf(w, "%s\t%s\t%12s\t%s\t%10s\t%s\t%10s\n", l.Service, l.Item, quantity(l.Quantity), l.Unit, free, unitPrice(l), usd(l.USD))
	}
	fmt.Fprintf(w, "total\t\t%12s\t\t%10s\t\t%10s\n", "", "", usd(b.USD))
	if err := w.Flush(); err != nil {
		return err
	}
	fmt.Println("\nHow each quantity was obtained:")
	for _, l := range b.Lines {
		fmt.Printf("  %s %s: %s\n", l.Service, l.Item, l.How)
	}
	fmt.Println("\nThe dashboard's statements (default view), as `nexus query --estimate` prices them:")
	w = tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintf(w, "  analysis\t%6s\t%5s\t%10s\t%10s\n", "tables", "files", "scanned", "billed")
	for _, q := range fp.Queries {
		scanned := float64(q.Bytes) * b.Scale
		fmt.Fprintf(w, "  %s\t%6d\t%5d\t%10s\t%10s\n", q.Analysis, q.Tables, q.Files, catalog.DecimalBytes(scanned), catalog.DecimalBytes(float64(catalog.AthenaBilled(scanned))))
	}
	if err := w.Flush(); err != nil {
		return err
	}
	fmt.Println("\nAssumptions:")
	for _, s := range b.Assumptions {
		fmt.Println("  - " + s)
	}
	return nil
}

// quantity writes a quantity with thousands separators, or 3 significant
// decimals below 10.
func quantity(v float64) string {
	if v < 10 && v != float64(int64(v)) {
		return strings.TrimRight(strings.TrimRight(fmt.Sprintf("%.3f", v), "0"), ".")
	}
	s := fmt.Sprintf("%.0f", v)
	var out []byte
	for i := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			out = append(out, ',')
		}
		out = append(out, s[i])
	}
	return string(out)
}

func unitPrice(l catalog.Line) string {
	if l.Per == 1 {
		return fmt.Sprintf("$%g per %s", l.Price, strings.TrimSuffix(l.Unit, "s"))
	}
	return fmt.Sprintf("$%g per %s", l.Price, quantity(l.Per))
}

// usd writes dollars: cents, or more decimals for a line under a cent.
func usd(v float64) string {
	if v != 0 && v < 0.01 {
		return fmt.Sprintf("%.4f", v)
	}
	return fmt.Sprintf("%.2f", v)
}
