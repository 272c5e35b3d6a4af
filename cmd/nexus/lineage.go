package main

import (
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/keystone/nexus/internal/engine"
	"github.com/keystone/nexus/internal/pipeline"
	"github.com/keystone/nexus/internal/transform"
)

func newLineageCmd(a *app) *cobra.Command {
	var (
		format  string
		project string
	)
	cmd := &cobra.Command{
		Use:   "lineage [MODEL | MODEL.COLUMN]",
		Short: "Show the model graph, or where a column comes from",
		Long: `With no argument, the graph from the Bronze sources to the Gold marts. With a
model (gold.fact_sales), its up- and downstream and the inputs of each of its
columns. With a column (gold.fact_sales.payment_value), the Silver and Bronze
columns it is computed from, traced through every model. Derived from the SQL
as DuckDB parses it; needs no built lake.`,
		Example: `  nexus lineage --format mermaid
  nexus lineage gold.fact_sales
  nexus lineage gold.dim_customer.customer_lifetime_value --format dot`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			g, err := pipeline.LoadGraph(project)
			if err != nil {
				return err
			}
			eng, err := engine.Open(cmd.Context(), nil, engine.Options{Threads: 1})
			if err != nil {
				return err
			}
			defer eng.Close()
			l, err := transform.BuildLineage(cmd.Context(), eng.DB(), g, pipeline.SourceSchemas())
			if err != nil {
				return err
			}
			if len(args) == 0 {
				return l.WriteGraph(os.Stdout, format, "")
			}
			if _, isModel := g.Models[args[0]]; isModel {
				return l.WriteGraph(os.Stdout, format, args[0])
			}
			if strings.Count(args[0], ".") != 2 {
				return l.WriteGraph(os.Stdout, format, args[0]) // reports the unknown model
			}
			t, err := l.Trace(args[0])
			if err != nil {
				return err
			}
			return transform.WriteTrace(os.Stdout, format, t)
		},
	}
	cmd.Flags().StringVar(&format, "format", "text", "output format: text, mermaid, dot or json")
	cmd.Flags().StringVar(&project, "project", "", "project directory with extra or overriding models")
	return cmd
}
