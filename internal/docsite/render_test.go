package docsite

import (
	"context"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/keystone/nexus/internal/engine"
	"github.com/keystone/nexus/internal/lake"
	"github.com/keystone/nexus/internal/pipeline"
	"github.com/keystone/nexus/internal/quality"
	"github.com/keystone/nexus/internal/transform"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// fixtureSite assembles the site of a small lake described in testdata/:
// a Bronze table, a Silver and a Gold model, the Gold model's suite, and the
// facts a lake would give (manifests, examples, a quarantine, two runs, two
// snapshots), all fixed so that the pages are the same on every run.
func fixtureSite(t *testing.T) *Site {
	t.Helper()
	ctx := context.Background()
	var models []*transform.Model
	for _, name := range []string{"silver.orders", "gold.sales"} {
		layer, table, _ := strings.Cut(name, ".")
		file := filepath.Join("testdata", "models", layer, table+".sql")
		src, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		m, err := transform.ParseModel(name, "models/"+layer+"/"+table+".sql", src)
		if err != nil {
			t.Fatal(err)
		}
		models = append(models, m)
	}
	g, err := transform.NewGraph(models, []string{"bronze.orders"})
	if err != nil {
		t.Fatal(err)
	}
	eng, err := engine.Open(ctx, nil, engine.Options{Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	lin, err := transform.BuildLineage(ctx, eng.DB(), g, transform.Schemas{"bronze.orders": {"order_id", "order_status", "order_purchase_timestamp", "_source_file"}})
	if err != nil {
		t.Fatal(err)
	}
	src, err := os.ReadFile(filepath.Join("testdata", "gold.sales.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	suite, err := quality.ParseSuite("suites/gold.sales.yaml", src)
	if err != nil {
		t.Fatal(err)
	}

	t0 := time.Date(2024, 3, 1, 2, 0, 0, 0, time.UTC)
	run1, run2 := "20240229T020000Z-aaaaaa", "20240301T020000Z-bbbbbb"
	manifest := func(layer, table, run string, rows, bytes int64, desc string, cols ...string) *lake.Manifest {
		m := &lake.Manifest{Layer: layer, Table: table, Version: 2, RunID: run, CreatedAt: t0, Rows: rows, Bytes: bytes, Description: desc,
			Files: []lake.File{{Path: layer + "/" + table + "/v2/part-0.parquet", Rows: rows, Bytes: bytes}}}
		for i := 0; i+1 < len(cols); i += 2 {
			m.Schema = append(m.Schema, lake.Column{Name: cols[i], Type: cols[i+1]})
		}
		return m
	}
	failing := quality.Result{Table: "gold.sales", CheckID: "date_in_range", Kind: "between", Severity: quality.SeverityError, OnFail: quality.OnFailQuarantine,
		RowsChecked: 1002, RowsFailed: 2, Verdict: quality.VerdictFail, Observed: "2 of 1002 rows (0.2%)",
		Examples: []quality.Example{{Key: map[string]string{"order_id": "o-9"}, Reason: "purchase_date (2019-01-02) not between 2016-01-01 and 2018-12-31"}}}
	f := &Facts{
		Lake: "fixture", Generated: t0.Add(26 * time.Hour),
		Snapshot: &lake.Snapshot{ID: 7, CreatedAt: t0},
		Tables: []TableFacts{
			{Name: "bronze.orders", Manifest: manifest("bronze", "orders", run1, 1010, 40960, "One row per order, as in the source file.",
				"order_id", "VARCHAR", "order_status", "VARCHAR", "order_purchase_timestamp", "TIMESTAMP", "_source_file", "VARCHAR"),
				Examples: map[string][]string{"order_id": {"o-1", "o-2"}, "order_status": {"delivered", "shipped"}}},
			{Name: "silver.orders", Manifest: manifest("silver", "orders", run2, 1004, 30720, "",
				"order_id", "VARCHAR", "order_status", "VARCHAR", "purchase_date", "DATE", "quality_flags", "VARCHAR[]"), Newest: "purchase_date 2018-10-17"},
			{Name: "gold.sales", Manifest: manifest("gold", "sales", run2, 1000, 20480, "",
				"order_id", "VARCHAR", "purchase_date", "DATE", "is_open", "BOOLEAN"),
				Examples: map[string][]string{"order_id": {"o-1", "o-2", "o-3"}, "is_open": {"false", "true"}}},
			{Name: "quarantine.gold_sales", Manifest: manifest("quarantine", "gold_sales", run2, 2, 2048, "Rows of gold.sales that failed a quarantine rule.",
				"order_id", "VARCHAR", "purchase_date", "DATE", "is_open", "BOOLEAN", "check_id", "VARCHAR", "reason", "VARCHAR"),
				Quarantine: []QuarantineGroup{{Check: "date_in_range", Rows: 2, Columns: []string{"check_id", "reason", "order_id"},
					Sample: [][]string{{"date_in_range", "purchase_date (2019-01-02) not between 2016-01-01 and 2018-12-31", "o-9"}, {"date_in_range", "purchase_date (2015-12-31) not between 2016-01-01 and 2018-12-31", "o-10"}}}}},
		},
		History: []pipeline.RunRecord{
			{RunID: run2, Kind: "run", Started: t0.Add(-time.Minute), Status: pipeline.RunFailed, Steps: []pipeline.Step{
				{Name: "silver.orders", Kind: pipeline.StepModel, Status: pipeline.StepBuilt, RowsIn: 1004, RowsOut: 1004, Duration: 1500 * time.Millisecond},
				{Name: "gold.sales", Kind: pipeline.StepModel, Status: pipeline.StepBuilt, RowsIn: 1002, RowsOut: 1000, Quarantined: 2, Duration: 800 * time.Millisecond,
					Incremental: &transform.IncrementalStats{Column: "order_id", Keys: 12}}},
				Results: []quality.Result{
					{Table: "gold.sales", CheckID: "order_id_unique", Kind: "unique", Severity: quality.SeverityError, RowsChecked: 1002, Verdict: quality.VerdictPass},
					failing,
					{Table: "gold.sales", CheckID: "open_known", Kind: "not_null", Severity: quality.SeverityWarn, OnFail: quality.OnFailKeep, RowsChecked: 1002, RowsFailed: 1, Verdict: quality.VerdictWarn, Observed: "1 of 1002 rows (0.0998%)"},
				}},
			{RunID: run1, Kind: "run", Started: t0.Add(-24 * time.Hour), Status: pipeline.RunSucceeded, Steps: []pipeline.Step{
				{Name: "bronze.orders", Kind: pipeline.StepIngest, Status: pipeline.StepIngested, RowsIn: 1010, RowsOut: 1010, Duration: time.Second},
				{Name: "gold.sales", Kind: pipeline.StepModel, Status: pipeline.StepFailed, Error: "model gold.sales (models/gold/sales.sql:7): Binder Error: column x not found"}}},
		},
		Snapshots: []*lake.Snapshot{
			{ID: 7, CreatedAt: t0, Kind: lake.CommitRun, Tables: map[string]lake.TableRef{
				"bronze.orders": {Version: 2, Rows: 1010, Bytes: 40960}, "silver.orders": {Version: 2, Rows: 1004, Bytes: 30720},
				"gold.sales": {Version: 2, Rows: 1000, Bytes: 20480}, "quarantine.gold_sales": {Version: 2, Rows: 2, Bytes: 2048}},
				Changed: []string{"silver.orders", "gold.sales", "quarantine.gold_sales"}},
			{ID: 6, CreatedAt: t0.Add(-24 * time.Hour), Kind: lake.CommitRun, Tables: map[string]lake.TableRef{
				"bronze.orders": {Version: 2, Rows: 1010, Bytes: 40960}, "silver.orders": {Version: 1, Rows: 990, Bytes: 30000}},
				Changed: []string{"bronze.orders", "silver.orders"}},
		},
	}
	return Assemble(f, Inputs{Lineage: lin, Suites: map[string]*quality.Suite{"gold.sales": suite}})
}

// TestGoldenPages renders the fixture's site and compares its pages with
// testdata/golden/ (go test -update rewrites them).
func TestGoldenPages(t *testing.T) {
	files, err := Render(fixtureSite(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"gold.sales.html", "quarantine.gold_sales.html", "lineage.html", "index.html", "search-index.js"} {
		got, ok := files[name]
		if !ok {
			t.Fatalf("no %s in %v", name, files.Names())
		}
		path := filepath.Join("testdata", "golden", name)
		if *update {
			if err := os.WriteFile(path, got, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		want, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (go test -run %s -update writes it)", err, t.Name())
		}
		if string(got) != string(want) {
			t.Errorf("%s differs from %s (go test -run %s -update rewrites it; review the diff)", name, path, t.Name())
		}
	}
}
