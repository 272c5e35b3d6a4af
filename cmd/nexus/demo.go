package main

import (
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/keystone/nexus/internal/olist"
	"github.com/keystone/nexus/internal/pipeline"
)

func newDemoCmd(a *app) *cobra.Command {
	var (
		out   string
		scale float64
		seed  int64
	)
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Generate a data set, run the whole pipeline into ./lake and print a summary",
		Long: `The whole pipeline on a fresh machine, with no services: generate a synthetic
Olist data set into ./data/generated (skipped when one with the same scale and
seed is already there; another generated one is replaced; other Olist files are
never overwritten), ingest it into Bronze and build Silver and Gold in the
lake (./lake), and print what was published. Re-running does only what changed.`,
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
			start := time.Now()
			ex, err := olist.InspectOutput(out, olist.GenOptions{Scale: scale, Seed: seed})
			if err != nil {
				return err
			}
			switch ex.State {
			case olist.OutputSame:
				fmt.Printf("using the data set already in %s (scale %g, seed %d)\n", out, scale, seed)
			case olist.OutputEmpty, olist.OutputOther:
				// Another generated data set is the demo's own: it is
				// regenerated, and the user is told.
				if ex.State == olist.OutputOther {
					fmt.Printf("replacing %s in %s\n", ex.Desc, out)
				}
				fmt.Printf("generating a synthetic Olist data set in %s (scale %g, seed %d)\n", out, scale, seed)
				if _, _, err := generate(cmd, out, scale, seed); err != nil {
					return err
				}
			default:
				return fmt.Errorf("demo: %s holds %s, which the demo does not overwrite: choose another --out (or run 'nexus generate --force')", out, ex.Desc)
			}
			lk, unlock, err := a.openLakeForWrite()
			if err != nil {
				return err
			}
			defer unlock()
			fmt.Printf("running the pipeline into %s\n\n", lk.Root)
			sum, err := runPipeline(cmd, a, lk, pipeline.Options{SourceDir: out, OnDrift: a.cfg.OnDrift}, true)
			if err != nil {
				return err
			}
			printRun(os.Stdout, sum)
			fmt.Printf("\ndemo done in %s. Try:\n", time.Since(start).Round(time.Millisecond))
			fmt.Println(`  go run ./cmd/nexus tables`)
			fmt.Println(`  go run ./cmd/nexus query "SELECT * FROM gold.mart_monthly_sales ORDER BY 1"`)
			fmt.Println(`  go run ./cmd/nexus lineage gold.fact_sales.payment_value`)
			fmt.Println(`  go run ./cmd/nexus analyze rfm`)
			fmt.Println(`  go run ./cmd/nexus serve          # the live dashboard on http://127.0.0.1:8080`)
			if sum.Err() != nil {
				return exitError{1}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&out, "out", "", "where the generated CSV files go (default \"data/generated\")")
	cmd.Flags().Float64Var(&scale, "scale", 0.1, "size of the generated data set (1 ≈ the real 1.55 M rows)")
	cmd.Flags().Int64Var(&seed, "seed", 42, "random seed of the generated data set")
	return cmd
}
