package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/keystone/nexus/internal/analytics"
	"github.com/keystone/nexus/internal/engine"
)

func newAnalyzeCmd(a *app) *cobra.Command {
	var format, from, to, state, category string
	// Everything about the analyses (names, help, parameters) comes from the
	// registry: a flag per parameter name, shared by the analyses that take it.
	var list strings.Builder
	params := map[string]*paramFlag{}
	var order []string
	for _, an := range analytics.Registry() {
		fmt.Fprintf(&list, "  %-16s %s\n", an.Name, an.Description)
		for _, p := range an.Params {
			fmt.Fprintf(&list, "  %-16s   --%s N: %s (default %d, %d to %d)\n", "", p.Name, p.Description, p.Default, p.Min, p.Max)
			if params[p.Name] == nil {
				params[p.Name] = &paramFlag{}
				order = append(order, p.Name)
			}
			params[p.Name].takers = append(params[p.Name].takers, an.Name)
			params[p.Name].usage = append(params[p.Name].usage,
				fmt.Sprintf("%s: %s (default %d, %d to %d)", an.Name, p.Description, p.Default, p.Min, p.Max))
		}
	}
	cmd := &cobra.Command{
		Use:   "analyze NAME [flags]",
		Short: "Run an analysis on the Gold tables (monthly sales, top products, RFM, CLV, ...)",
		Long: `Run one of the analyses behind the dashboard and the deck on the lake's Gold
tables and print its result. Only sales count (orders neither canceled nor
unavailable); revenue is the sum of item prices, freight excluded. NAME is
also the analysis' API endpoint under 'nexus serve' (/api/NAME, with the same
parameters).

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
  nexus analyze top-products --limit 20 --state SP --from 2018-01-01 --to 2018-06-30
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
			for _, name := range order {
				if cmd.Flags().Changed(name) && !slices.ContainsFunc(an.Params, func(p analytics.Param) bool { return p.Name == name }) {
					return fmt.Errorf("--%s: not a parameter of %s (for %s)", name, an.Name, strings.Join(params[name].takers, ", "))
				}
			}
			vals, err := analytics.ParseArgs(an.Params, func(name string) (string, bool) {
				return params[name].text, cmd.Flags().Changed(name)
			})
			if err != nil {
				return flagError(err)
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
					return fmt.Errorf("analyze %s: %w", an.Name, err)
				}
				if err := v.Check(f); err != nil {
					return flagError(err)
				}
			}
			res, err := an.Run(cmd.Context(), eng.DB(), f, vals)
			if err != nil {
				return fmt.Errorf("analyze %s: %w", an.Name, err)
			}
			return writeAnalysis(os.Stdout, res, format)
		},
	}
	cmd.Flags().StringVar(&format, "format", "table", "output format: table, csv or json")
	cmd.Flags().StringVar(&from, "from", "", "first purchase date, YYYY-MM-DD (inclusive)")
	cmd.Flags().StringVar(&to, "to", "", "last purchase date, YYYY-MM-DD (inclusive)")
	cmd.Flags().StringVar(&state, "state", "", "customer state on the order (UF), e.g. SP")
	cmd.Flags().StringVar(&category, "category", "", "product category (category_en), e.g. health_beauty")
	for _, name := range order {
		cmd.Flags().Var(params[name], name, strings.Join(params[name].usage, "; "))
	}
	return cmd
}

// paramFlag is the text of an analysis parameter's flag; the registry parses
// and bounds it (analytics.ParseArgs), as the API does.
type paramFlag struct {
	text   string
	takers []string // the analyses that take it
	usage  []string // what it means for each
}

func (f *paramFlag) String() string     { return f.text }
func (f *paramFlag) Set(s string) error { f.text = s; return nil }
func (f *paramFlag) Type() string       { return "int" }

// flagError names the flag of a bad filter value (--state, not state).
func flagError(err error) error {
	var fe *analytics.ParamError
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
