package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/keystone/nexus/internal/engine"
	"github.com/keystone/nexus/internal/lake"
	"github.com/keystone/nexus/internal/pipeline"
	"github.com/keystone/nexus/internal/report"
	"github.com/keystone/nexus/internal/transform"
)

func newTransformCmd(a *app) *cobra.Command {
	var (
		selectModels []string
		fullRefresh  bool
		project      string
	)
	cmd := &cobra.Command{
		Use:   "transform",
		Short: "Build the Silver and Gold models from Bronze, in dependency order",
		Long: `Build the SQL models (internal/transform/models/<layer>/<name>.sql, plus a project's
own under --project DIR/models/<layer>/) in the order their ref() and source()
calls give. Each model is published atomically with the versions of its inputs;
a model whose SQL and inputs are unchanged is skipped. A failing model keeps its
previous version, and the models downstream of it are skipped.`,
		Example: `  nexus transform
  nexus transform --select gold.fact_sales --full-refresh`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			lk, unlock, err := a.openExistingLakeForWrite()
			if err != nil {
				return err
			}
			defer unlock()
			res, err := runTransform(cmd.Context(), a, lk, transform.Options{Select: selectModels, FullRefresh: fullRefresh}, project)
			if err != nil {
				return err
			}
			printTransform(os.Stdout, res)
			if err := a.commit(lk, lake.CommitRun, res.RunID); err != nil {
				return err
			}
			if res.Err() != nil {
				return exitError{1}
			}
			return nil
		},
	}
	cmd.Flags().StringSliceVar(&selectModels, "select", nil, "build only these models (repeatable), e.g. --select silver.orders")
	cmd.Flags().BoolVar(&fullRefresh, "full-refresh", false, "rebuild models even when their inputs are unchanged")
	cmd.Flags().StringVar(&project, "project", "", "project directory whose models/<layer>/*.sql add to or override the built-in models")
	return cmd
}

func runTransform(ctx context.Context, a *app, lk *lake.Lake, opts transform.Options, project string) (transform.Result, error) {
	g, suites, err := pipeline.LoadGated(project)
	if err != nil {
		return transform.Result{}, err
	}
	opts.Suites = suites
	eng, err := engine.Open(ctx, lk, a.engineOptions(2))
	if err != nil {
		return transform.Result{}, err
	}
	defer eng.Close()
	opts.Logger = a.log
	return transform.Run(ctx, lk, eng, g, opts)
}

// buildKind says how a built model was built: "incremental (N keys)" or
// "full"; "" when it was not built.
func buildKind(built bool, inc *transform.IncrementalStats) string {
	switch {
	case !built:
		return ""
	case inc != nil:
		return fmt.Sprintf("incremental (%d %s)", inc.Keys, inc.Column)
	default:
		return "full"
	}
}

// printFullReason says why a model declared incremental was built in full,
// when that is news to the user (not expected: a --full-refresh or its
// first build): a drop that costs a full rebuild should say so where the
// build is shown.
func printFullReason(w io.Writer, model, reason string, expected bool) {
	if reason != "" && !expected {
		fmt.Fprintf(w, "built in full: %s: %s\n", model, reason)
	}
}

func printTransform(w io.Writer, res transform.Result) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "model\tstatus\tbuild\tinput rows\trows out\tquarantined\tfiles\tsize\tversion\ttime\t")
	for _, m := range res.Models {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%d\t%d\t%s\t%d\t%s\t\n", m.Model, m.Status, buildKind(m.Status == transform.StatusBuilt, m.Incremental),
			m.RowsIn, m.RowsOut, m.Quarantined, m.Files, report.FormatBytes(m.Bytes), m.Version, m.Duration.Round(time.Millisecond))
	}
	tw.Flush()
	for _, m := range res.Models {
		if m.Status == transform.StatusBuilt { // a failed build's error says what happened
			printFullReason(w, m.Model, m.FullReason, m.FullExpected)
		}
	}
	for _, m := range res.Models {
		if m.Status == transform.StatusFailed {
			fmt.Fprintf(w, "FAILED %v\n", m.Err)
		}
	}
}
