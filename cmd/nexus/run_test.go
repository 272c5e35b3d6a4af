package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/keystone/nexus/internal/ingest"
	"github.com/keystone/nexus/internal/pipeline"
	"github.com/keystone/nexus/internal/quality"
	"github.com/keystone/nexus/internal/transform"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// golden compares got with testdata/name (rewritten with -update).
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if got != string(want) {
		t.Errorf("%s differs (go test -run %s -update to accept):\n--- got\n%s--- want\n%s", path, t.Name(), got, want)
	}
}

// TestPrintRun: a model's "rows in" is the rows it built (rows out +
// quarantined), not the sum of its inputs' rows; the columns are explained;
// an incremental model built in full says why, unless it was its first build.
func TestPrintRun(t *testing.T) {
	t.Parallel()
	ms := time.Millisecond
	sum := &pipeline.Summary{RunID: "r1", Status: pipeline.RunSucceeded, Duration: 4 * time.Second, Steps: []pipeline.Step{
		{Name: "bronze.orders", Kind: "ingest", Status: "ingested", RowsIn: 9944, RowsOut: 9944, TableRows: 9944, Duration: 208 * ms},
		{Name: "bronze.sellers", Kind: "ingest", Status: "unchanged", TableRows: 3095},
		{Name: "silver.geolocation", Kind: "model", Status: "built", RowsIn: 4840, InputRows: 100016, RowsOut: 4840, TableRows: 4840, Duration: 269 * ms},
		{Name: "silver.orders", Kind: "model", Status: "built", RowsIn: 9944, RowsOut: 9927, TableRows: 9927, Quarantined: 17, Duration: 484 * ms,
			Checks: []quality.Result{{Table: "silver.orders", CheckID: "carrier_after_purchase", Kind: quality.KindExpression, Verdict: quality.VerdictFail, RowsChecked: 9944, RowsFailed: 17, Observed: "17 of 9944 rows (0.171%)"}}},
		{Name: "gold.dim_customer", Kind: "model", Status: "unchanged", InputRows: 35048, TableRows: 9602},
		// Incremental: rows in and out are those of the keys rebuilt.
		{Name: "gold.fact_reviews", Kind: "model", Status: "built", RowsIn: 209, RowsOut: 207, Quarantined: 2, TableRows: 83509, Duration: 90 * ms,
			Incremental: &transform.IncrementalStats{Column: "order_id", Keys: 833, RowsRebuilt: 207}},
		// Built in full: the first build says nothing, a changed SQL says why.
		{Name: "gold.fact_sales", Kind: "model", Status: "built", RowsIn: 11000, RowsOut: 11000, TableRows: 11000, FullReason: "no published version", FullExpected: true, Duration: 300 * ms},
		{Name: "gold.agg_sales_month", Kind: "model", Status: "built", RowsIn: 23, RowsOut: 23, TableRows: 23, FullReason: "the model's SQL or suite changed", Duration: 20 * ms},
		{Name: "reports", Kind: "report", Status: "built", RowsOut: 8, Duration: 1077 * ms},
	},
		// A switch of source kind (--switch-source) is said, with how to undo it.
		SourceSwitch: &ingest.SourceSwitch{From: ingest.SourcePlainFiles, To: ingest.SourceLandingZone, Source: "data/landing",
			Tables: []string{"bronze.orders", "bronze.sellers"}, Before: 3, Undo: "nexus rollback --lake /srv/lake 3"},
	}
	// Tables the run did not judge keep the verdicts of earlier runs.
	earlier := []quality.Result{
		{Table: "silver.sellers", CheckID: "zip_in_geolocation", Verdict: quality.VerdictWarn},
		{Table: "silver.sellers", CheckID: "seller_id_unique", Verdict: quality.VerdictPass},
		{Table: "silver.geolocation", CheckID: "located", Verdict: quality.VerdictWarn},
	}
	var sb strings.Builder
	printRun(&sb, sum, earlier)
	golden(t, "run_summary.golden", sb.String())
}

// TestGateLineWording: the summary's gate line claims quarantined rows only
// when some check failed without blocking.
func TestGateLineWording(t *testing.T) {
	t.Parallel()
	pass, warn := quality.Result{Verdict: quality.VerdictPass}, quality.Result{Verdict: quality.VerdictWarn}
	fail, block := quality.Result{Verdict: quality.VerdictFail}, quality.Result{Verdict: quality.VerdictFail, Blocking: true}
	for _, tc := range []struct {
		checks []quality.Result
		want   string
	}{
		{[]quality.Result{pass}, "quality gates: 1 check, 0 failed, 0 warnings"},
		{[]quality.Result{warn, pass}, "quality gates: 2 checks, 0 failed, 1 warnings"},
		{[]quality.Result{block}, "quality gates: 1 check, 1 failed (all blocking), 0 warnings"},
		{[]quality.Result{fail}, "quality gates: 1 check, 1 failed (0 blocking; it quarantined its rows), 0 warnings"},
		{[]quality.Result{fail, fail, pass}, "quality gates: 3 checks, 2 failed (0 blocking; they quarantined their rows), 0 warnings"},
		{[]quality.Result{block, fail}, "quality gates: 2 checks, 2 failed (1 blocking; the other quarantined its rows), 0 warnings"},
		{[]quality.Result{block, fail, fail}, "quality gates: 3 checks, 3 failed (1 blocking; the others quarantined their rows), 0 warnings"},
	} {
		var checks []quality.Result
		for i, c := range tc.checks {
			c.Table, c.CheckID, c.Kind = "silver.orders", fmt.Sprintf("c%d", i), quality.KindExpression
			checks = append(checks, c)
		}
		sum := &pipeline.Summary{RunID: "r", Status: pipeline.RunSucceeded, Steps: []pipeline.Step{{Name: "silver.orders", Kind: "model", Checks: checks}}}
		var sb strings.Builder
		printRun(&sb, sum, nil)
		if !strings.Contains(sb.String(), tc.want) {
			t.Errorf("want %q in\n%s", tc.want, sb.String())
		}
	}
}

// TestPrintTransform: the transform table, then why a model declared
// incremental was built in full (not on its first build, and not for a
// model that failed: its error says what happened), then the failures.
func TestPrintTransform(t *testing.T) {
	t.Parallel()
	ms := time.Millisecond
	res := transform.Result{RunID: "r1", Models: []transform.ModelResult{
		{Model: "silver.orders", Status: transform.StatusBuilt, RowsIn: 700, RowsOut: 99000, Files: 21, Bytes: 4 << 20, Version: 7, Duration: 180 * ms,
			Incremental: &transform.IncrementalStats{Column: "order_id", Keys: 628}},
		{Model: "gold.dim_date", Status: transform.StatusBuilt, RowsOut: 733, Files: 1, Bytes: 20 << 10, Version: 7, Duration: 40 * ms},
		{Model: "gold.agg_sales_month", Status: transform.StatusBuilt, RowsOut: 23, Files: 1, Bytes: 2 << 10, Version: 1, Duration: 20 * ms,
			FullReason: "no published version", FullExpected: true},
		{Model: "gold.dim_customer", Status: transform.StatusBuilt, RowsOut: 9602, Files: 1, Bytes: 900 << 10, Version: 6, Duration: 90 * ms,
			FullReason: "the model's SQL or suite changed"},
		{Model: "gold.fact_sales", Status: transform.StatusFailed, Version: 6, Duration: 300 * ms,
			FullReason: "the published version is damaged (see nexus doctor)", Err: errors.New("model gold.fact_sales: boom")},
	}}
	var sb strings.Builder
	printTransform(&sb, res)
	golden(t, "transform_summary.golden", sb.String())
}

// TestDailyLine: each day of `demo --daily` says its rows, its models and
// the verdicts of the checks it judged.
func TestDailyLine(t *testing.T) {
	t.Parallel()
	chk := func(v quality.Verdict) quality.Result {
		return quality.Result{Table: "t", CheckID: string(v), Verdict: v}
	}
	sum := &pipeline.Summary{Duration: 1467 * time.Millisecond, Steps: []pipeline.Step{
		{Name: "bronze.orders", Kind: pipeline.StepIngest, RowsIn: 72},
		{Name: "silver.orders", Kind: pipeline.StepModel, Status: pipeline.StepBuilt, Incremental: &transform.IncrementalStats{Column: "order_id"},
			Checks: []quality.Result{chk(quality.VerdictPass), chk(quality.VerdictWarn)}},
		{Name: "silver.sellers", Kind: pipeline.StepModel, Status: pipeline.StepUnchanged},
		{Name: "gold.dim_date", Kind: pipeline.StepModel, Status: pipeline.StepBuilt, Checks: []quality.Result{chk(quality.VerdictFail)}},
	}}
	got := dailyLine("dt=2018-07-01", sum)
	for _, want := range []string{"dt=2018-07-01  orders     72,", "run  1.467s", "models: 1 incremental, 1 full, 1 unchanged", "checks judged: 3, 1 failed, 1 warnings"} {
		if !strings.Contains(got, want) {
			t.Errorf("%q lacks %q", got, want)
		}
	}
}

// TestSalesLine: the one figure finance asks for, in the singular too.
func TestSalesLine(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		orders, unreadable int64
		want               string
	}{
		{0, 0, "sales quarantined: 0 orders, R$ 0.00\n"},
		{1, 0, "sales quarantined: 1 order, R$ 17.90\n"},
		{2, 0, "sales quarantined: 2 orders, R$ 35.80\n"},
		{0, 1, "sales quarantined: 0 orders, R$ 0.00; and 1 record of the sales files that Bronze could not parse, not in these figures (nexus quarantine list)\n"},
		{2, 3, "sales quarantined: 2 orders, R$ 35.80; and 3 records of the sales files that Bronze could not parse"},
	} {
		sum := &pipeline.Summary{RunID: "r", Status: pipeline.RunSucceeded, Sales: &pipeline.SalesQuarantine{Orders: tc.orders, PaymentCents: 1790 * tc.orders, Unreadable: tc.unreadable}}
		var sb strings.Builder
		printRun(&sb, sum, nil)
		if !strings.Contains(sb.String(), tc.want) {
			t.Errorf("%d orders, %d unreadable: want %q in\n%s", tc.orders, tc.unreadable, tc.want, sb.String())
		}
	}
}
