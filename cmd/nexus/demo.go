package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/keystone/nexus/internal/config"
	"github.com/keystone/nexus/internal/ingest"
	"github.com/keystone/nexus/internal/lake"
	"github.com/keystone/nexus/internal/olist"
	"github.com/keystone/nexus/internal/pipeline"
	"github.com/keystone/nexus/internal/quality"
)

func newDemoCmd(a *app) *cobra.Command {
	var (
		out   string
		scale float64
		seed  int64
		daily int
	)
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Generate a data set, run the whole pipeline into ./lake and print a summary",
		Long: `The whole pipeline on a fresh machine, with no services: generate a synthetic
Olist data set into ./data/generated (skipped when one with the same scale and
seed is already there; another generated one is replaced; other Olist files are
never overwritten), ingest it into Bronze and build Silver and Gold in the
lake (./lake), and print what was published. Re-running does only what changed.

With --daily N: generate a landing zone in data/landing (days from 2018-07-01)
and let its base batch and then N days arrive one after another in
data/arrivals, with a run after each: one line per batch says what arrived and
how many models were built incrementally. Remove data/arrivals and the lake to
start again.

A lake keeps the kind of source that built it. --daily on the lake the plain
demo built switches its Bronze tables to the landing zone's batches, and says
so with the snapshot that 'nexus rollback N' returns to. The plain demo refuses
a lake that a landing zone fed (--daily, or 'nexus run' on one), since its files
would replace every batch: give it another --lake, or remove the lake. ('nexus
run --switch-source' makes a switch of source on purpose.)`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !cmd.Flags().Changed("scale") {
				scale = a.cfg.Scale
			}
			if !cmd.Flags().Changed("seed") {
				seed = a.cfg.Seed
			}
			if daily > 0 {
				if out == "" {
					out = "data/landing"
				}
				return demoDaily(cmd, a, out, scale, seed, daily)
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
			fmt.Printf("running the pipeline into %s\n\n", lk.Location())
			runID := lake.NewRunID(time.Now())
			sum, err := runPipeline(cmd, a, lk, pipeline.Options{RunID: runID, SourceDir: out, OnDrift: a.cfg.OnDrift}, true)
			if errors.Is(err, ingest.ErrSourceSwitch) {
				// The lake took the days of `demo --daily`: this demo's
				// plain files would replace them.
				return fmt.Errorf("demo: run %s: %s holds the batches of a landing zone (from demo --daily?), which the demo's data set would replace: "+
					"give the demo another --lake, or remove %s to start again", runID, lk.Location(), lk.Location())
			}
			if err != nil {
				return err
			}
			printRun(os.Stdout, sum, earlierVerdicts(a, lk, sum))
			fmt.Printf("\ndemo done in %s. Try:\n", time.Since(start).Round(time.Millisecond))
			printTry(a, lk, "tables", `query "SELECT * FROM gold.mart_monthly_sales ORDER BY 1"`, "lineage gold.fact_sales.payment_value",
				"analyze rfm", "serve          # the live dashboard on http://127.0.0.1:8080")
			if sum.Err() != nil {
				return exitError{1}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&out, "out", "", "where the generated CSV files go (default \"data/generated\")")
	cmd.Flags().Float64Var(&scale, "scale", 0.1, "size of the generated data set (1 ≈ the real 1.55 M rows)")
	cmd.Flags().Int64Var(&seed, "seed", 42, "random seed of the generated data set")
	cmd.Flags().IntVar(&daily, "daily", 0, "generate a landing zone (default --out data/landing, days from "+demoDailyFrom+") and let its base batch and then N days arrive one after another in data/arrivals, with a run after each")
	return cmd
}

// demoDailyFrom is the first day of the daily demo's drops: mid-2018, when
// the real data has most of its orders and updates.
const demoDailyFrom = "2018-07-01"

// demoDaily shows a landing zone at work: the base batch and then one day at
// a time arrive in data/arrivals (as links to the generated folders), each
// followed by a run that ingests the new batch and rebuilds what depends on it.
func demoDaily(cmd *cobra.Command, a *app, landing string, scale float64, seed int64, days int) error {
	start := time.Now()
	opts := olist.GenOptions{Scale: scale, Seed: seed, DailyFrom: demoDailyFrom}
	ex, err := olist.InspectOutput(landing, opts)
	if err != nil {
		return err
	}
	switch ex.State {
	case olist.OutputSame:
		fmt.Printf("using the landing zone already in %s (scale %g, seed %d, daily from %s)\n", landing, scale, seed, demoDailyFrom)
	case olist.OutputEmpty, olist.OutputOther:
		if ex.State == olist.OutputOther {
			fmt.Printf("replacing %s in %s\n", ex.Desc, landing)
		}
		fmt.Printf("generating a landing zone in %s (scale %g, seed %d, daily from %s)\n", landing, scale, seed, demoDailyFrom)
		if err := generateDaily(cmd, landing, scale, seed, demoDailyFrom); err != nil {
			return err
		}
	default:
		return fmt.Errorf("demo: %s holds %s, which the demo does not overwrite: choose another --out", landing, ex.Desc)
	}
	drops, err := ingest.DropFolders(landing)
	if err != nil {
		return err
	}
	if len(drops) > days+1 {
		drops = drops[:days+1]
	}
	arrivals := filepath.Join(filepath.Dir(filepath.Clean(landing)), "arrivals")
	if err := os.MkdirAll(arrivals, 0o755); err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	lk, unlock, err := a.openLakeForWrite()
	if err != nil {
		return err
	}
	defer unlock()
	fmt.Printf("\nbatches arrive in %s; after each, a run into %s\n", arrivals, lk.Location())
	// Folders linked by an earlier demo have arrived already; the lake may
	// not have them yet (a new --lake), so the first run takes them all.
	var fresh []string
	arrived := 0
	for _, d := range drops {
		link := filepath.Join(arrivals, filepath.Base(d))
		target, err := filepath.Abs(d)
		if err != nil {
			return err
		}
		if cur, err := os.Readlink(link); err == nil && cur == target {
			arrived++
			continue
		} else if err == nil || !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("demo: %s exists and is not the demo's link to %s; remove %s", link, target, arrivals)
		}
		fresh = append(fresh, d)
	}
	if arrived > 0 {
		// The lake keeps what it took: removing the arrivals alone starts nothing again.
		fmt.Printf("%d of the landing zone's %d batch(es) had arrived in %s in an earlier demo (to start again, remove %s and the lake %s)\n",
			arrived, len(drops), arrivals, arrivals, lk.Location())
	}
	var last *pipeline.Summary
	run := func(label string, final bool) error {
		// The lake the plain demo built takes the landing zone's batches
		// in place of its tables (the README says so): a switch of source
		// it asks for.
		sum, err := runPipeline(cmd, a, lk, pipeline.Options{SourceDir: arrivals, OnDrift: a.cfg.OnDrift, SwitchSource: true}, final)
		if err != nil {
			return err
		}
		last = sum
		if label == arrivedLabel && sum.Err() == nil && sum.NothingToDo() {
			// A demo run again: the lake holds those batches already.
			fmt.Printf("%-14s the lake holds them already: nothing to do\n", label)
			return nil
		}
		fmt.Println(dailyLine(label, sum))
		if sum.Err() != nil {
			printRun(os.Stdout, sum, earlierVerdicts(a, lk, sum))
			return exitError{1}
		}
		if sum.SourceSwitch != nil && !final {
			// The switch is the demo's to make (SwitchSource above), and said
			// (by printRun for the final run).
			fmt.Println(sum.SourceSwitch)
		}
		return nil
	}
	if len(fresh) == 0 || arrived > 0 {
		if err := run(arrivedLabel, len(fresh) == 0); err != nil {
			return err
		}
	}
	for i, d := range fresh {
		target, err := filepath.Abs(d)
		if err != nil {
			return err
		}
		if err := os.Symlink(target, filepath.Join(arrivals, filepath.Base(d))); err != nil {
			return fmt.Errorf("demo: %w", err)
		}
		if err := run(filepath.Base(d), i == len(fresh)-1); err != nil {
			return err
		}
	}
	if len(fresh) > 0 || !last.NothingToDo() {
		fmt.Println()
		printRun(os.Stdout, last, earlierVerdicts(a, lk, last))
	} // else every step is unchanged: a table of them says nothing more
	fmt.Printf("\ndaily demo done in %s. Try:\n", time.Since(start).Round(time.Millisecond))
	printTry(a, lk, `query "SELECT _batch, count(*) FROM bronze.orders GROUP BY 1 ORDER BY 1 DESC LIMIT 5"`,
		`query "SELECT order_id, previous_status, order_status FROM silver.orders WHERE previous_status IS NOT NULL LIMIT 5"`, "snapshots")
	return nil
}

// printTry prints the commands a demo suggests next, as the user can run
// them: with `go run ./cmd/nexus` when the demo ran so (a binary go run
// built), and on the demo's lake when it is not the default one.
func printTry(a *app, lk *lake.Lake, cmds ...string) {
	prog := "nexus"
	if strings.Contains(filepath.ToSlash(os.Args[0]), "/go-build") {
		prog = "go run ./cmd/nexus"
	}
	if a.cfg.Lake != config.Default().Lake {
		prog += " " + lk.Flag()
	}
	for _, c := range cmds {
		fmt.Println("  " + prog + " " + c)
	}
}

// arrivedLabel labels the run that takes the batches an earlier demo
// brought.
const arrivedLabel = "(arrived)"

// dailyLine sums up one batch's run: what arrived and how the models were
// built.
func dailyLine(batch string, sum *pipeline.Summary) string {
	rows := map[string]int64{}
	var inc, full, unchanged int
	for _, st := range sum.Steps {
		switch {
		case st.Kind == pipeline.StepIngest:
			rows[st.Name] = st.RowsIn
		case st.Kind != pipeline.StepModel:
		case st.Incremental != nil:
			inc++
		case st.Status == pipeline.StepUnchanged:
			unchanged++
		default:
			full++
		}
	}
	// The checks are those of the tables the run judged (unchanged ones keep
	// their earlier verdicts: the final summary says how many).
	t := quality.TallyOf(sum.Checks())
	return fmt.Sprintf("%-14s orders %6d, items %6d, payments %6d, reviews %6d  run %7s  models: %d incremental, %d full, %d unchanged  checks judged: %d, %d failed, %d warnings",
		batch, rows["bronze.orders"], rows["bronze.order_items"], rows["bronze.order_payments"], rows["bronze.order_reviews"],
		sum.Duration.Round(time.Millisecond), inc, full, unchanged, t.Checks, t.Fail, t.Warn)
}
