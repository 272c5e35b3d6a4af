package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/keystone/nexus/internal/analytics"
	"github.com/keystone/nexus/internal/engine"
)

func newAnalyzeCmd(a *app) *cobra.Command {
	var format, from, to, state, category string
	var list strings.Builder
	for _, an := range analytics.Analyses {
		fmt.Fprintf(&list, "  %-16s %s\n", an.Name, an.Description)
	}
	cmd := &cobra.Command{
		Use:   "analyze NAME [flags]",
		Short: "Run an analysis on the Gold tables (monthly sales, top products, RFM, CLV, ...)",
		Long: `Run one of the analyses behind the dashboard and the deck on the lake's Gold
tables and print its result. Only sales count (orders neither canceled nor
unavailable); revenue is the sum of item prices, freight excluded.

Analyses:
` + list.String() + `
Filters: --from/--to bound the purchase date (Brazilian business date,
inclusive), --state is the customer's state on the order (UF, e.g. SP),
--category a product category (category_en, see 'nexus analyze' output of
top-categories). The json format prints the typed result; table and csv a
flat table (table with thousands separators and percentages, csv with plain
numbers).`,
		Example: `  nexus analyze monthly-sales
  nexus analyze rfm --format json
  nexus analyze top-products --state SP --from 2018-01-01 --to 2018-06-30
  nexus analyze kpis --category health_beauty --format csv`,
		Args:      cobra.MaximumNArgs(1),
		ValidArgs: analytics.Names(),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				fmt.Fprint(cmd.OutOrStdout(), "Analyses (nexus analyze NAME):\n"+list.String())
				return nil
			}
			an, ok := analytics.Lookup(args[0])
			if !ok {
				return fmt.Errorf("unknown analysis %q; one of: %s", args[0], strings.Join(analytics.Names(), ", "))
			}
			switch format {
			case "table", "csv", "json":
			default:
				return fmt.Errorf("unknown format %q (want table, csv or json)", format)
			}
			f, err := analytics.ParseFilter(from, to, state, category)
			if err != nil {
				return flagError(err)
			}
			_, eng, err := a.openLakeEngine(cmd.Context())
			if err != nil {
				return err
			}
			defer eng.Close()
			if len(eng.Tables()) == 0 {
				return engine.ErrNoTables
			}
			if f.State != "" || f.Category != "" {
				// As the API does: a state or category the lake does not
				// have is an error, not a table of zeros.
				v, err := analytics.LoadFilterValues(cmd.Context(), eng.DB())
				if err != nil {
					return fmt.Errorf("analyze %s: %w (has the lake been built? run 'nexus run' or 'nexus demo')", an.Name, err)
				}
				if err := v.Check(f); err != nil {
					return flagError(err)
				}
			}
			res, err := an.Run(cmd.Context(), eng.DB(), f)
			if err != nil {
				return fmt.Errorf("analyze %s: %w (has the lake been built? run 'nexus run' or 'nexus demo')", an.Name, err)
			}
			return writeAnalysis(os.Stdout, res, format)
		},
	}
	cmd.Flags().StringVar(&format, "format", "table", "output format: table, csv or json")
	cmd.Flags().StringVar(&from, "from", "", "first purchase date, YYYY-MM-DD (inclusive)")
	cmd.Flags().StringVar(&to, "to", "", "last purchase date, YYYY-MM-DD (inclusive)")
	cmd.Flags().StringVar(&state, "state", "", "customer state on the order (UF), e.g. SP")
	cmd.Flags().StringVar(&category, "category", "", "product category (category_en), e.g. health_beauty")
	return cmd
}

// flagError names the flag of a bad filter value (--state, not state).
func flagError(err error) error {
	var fe *analytics.FilterError
	if errors.As(err, &fe) {
		return fmt.Errorf("--%s: %s", fe.Param, fe.Msg)
	}
	return err
}

func writeAnalysis(w io.Writer, res any, format string) error {
	if format == "json" {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(res)
	}
	t, err := analytics.Tabulate(res, format == "table")
	if err != nil {
		return err
	}
	return t.Write(w, format)
}
