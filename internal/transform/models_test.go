package transform

import (
	"context"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/keystone/nexus/internal/engine"
	"github.com/keystone/nexus/internal/ingest"
	"github.com/keystone/nexus/internal/lake"
	"github.com/keystone/nexus/internal/olist"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

func bronzeSources() []string {
	var s []string
	for _, t := range olist.Tables() {
		s = append(s, "bronze."+t.Name)
	}
	return s
}

// buildFixture ingests testdata/source and builds every model on it.
func buildFixture(t *testing.T, projectDir string) (*lake.Lake, *engine.Engine, *Graph, Result) {
	t.Helper()
	ctx := context.Background()
	lk, err := lake.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	ing, err := ingest.Run(ctx, lk, ingest.Options{SourceDir: "testdata/source", RunID: "fixture"})
	if err != nil || ing.Err() != nil {
		t.Fatalf("ingest fixture: %v %v", err, ing.Err())
	}
	for _, r := range ing.Tables {
		if r.RowsQuarantined != 0 {
			t.Fatalf("fixture %s has %d quarantined records", r.Table, r.RowsQuarantined)
		}
	}
	g := loadGraphT(t, projectDir)
	eng, err := engine.Open(ctx, lk, engine.Options{Threads: 2, Conns: 2, MemoryLimit: "1GB"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { eng.Close() })
	res, err := Run(ctx, lk, eng, g, Options{RunID: "r1"})
	if err != nil {
		t.Fatal(err)
	}
	return lk, eng, g, res
}

func loadGraphT(t *testing.T, projectDir string) *Graph {
	t.Helper()
	models, err := LoadModels(projectDir)
	if err != nil {
		t.Fatal(err)
	}
	g, err := NewGraph(models, bronzeSources())
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// dump renders a table as CSV text sorted on all columns, without the
// columns that change from run to run.
func dump(t *testing.T, eng *engine.Engine, table string) string {
	t.Helper()
	res, err := eng.Query(context.Background(), "SELECT * EXCLUDE (COLUMNS('^_ingest')) FROM "+table+" ORDER BY ALL")
	if err != nil {
		// No _ingest columns: plain select.
		res, err = eng.Query(context.Background(), "SELECT * FROM "+table+" ORDER BY ALL")
		if err != nil {
			t.Fatalf("%s: %v", table, err)
		}
	}
	var sb strings.Builder
	if err := res.Write(&sb, "csv"); err != nil {
		t.Fatal(err)
	}
	return sb.String()
}

func scalar(t *testing.T, eng *engine.Engine, q string) string {
	t.Helper()
	res, err := eng.Query(context.Background(), q)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	if len(res.Rows) != 1 || len(res.Rows[0]) != 1 {
		t.Fatalf("%s: want one value, got %d rows", q, len(res.Rows))
	}
	if res.Rows[0][0] == nil {
		return "NULL"
	}
	return *res.Rows[0][0]
}

// TestModelsGolden builds every model on the hand-made fixture and compares
// each table with its golden file (go test -run TestModelsGolden -update to
// rewrite them after an intended change, then review the diff).
func TestModelsGolden(t *testing.T) {
	t.Parallel()
	_, eng, g, res := buildFixture(t, "")
	for _, m := range res.Models {
		if m.Status != StatusBuilt {
			t.Fatalf("%s: %s %v", m.Model, m.Status, m.Err)
		}
	}
	for _, name := range g.Order {
		got := dump(t, eng, name)
		path := filepath.Join("testdata", "golden", name+".csv")
		if *update {
			os.MkdirAll(filepath.Dir(path), 0o755)
			if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		want, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%s: %v (run with -update to create)", name, err)
		}
		if got != string(want) {
			t.Errorf("%s differs from %s:\n got:\n%s\nwant:\n%s", name, path, got, want)
		}
	}
}

// TestModelTraps checks the traps of DESIGN.md "Semantics" one by one, so a
// wrong golden file cannot hide them.
func TestModelTraps(t *testing.T) {
	t.Parallel()
	_, eng, _, _ := buildFixture(t, "")
	const (
		o2  = "0e020000000000000000000000000000"
		o3  = "de030000000000000000000000000000"
		o10 = "0e100000000000000000000000000000"
		u2  = "2b020000000000000000000000000000"
	)
	tests := []struct{ name, q, want string }{
		{"DST gap: a local time that never existed moves one hour on",
			"SELECT strftime(order_purchase_timestamp AT TIME ZONE 'UTC', '%Y-%m-%d %H:%M') || ' ' || purchase_date FROM silver.orders WHERE order_id = '" + o2 + "'",
			"2017-10-15 03:30 2017-10-15"},
		{"ambiguous hour: the later offset, local date kept",
			"SELECT strftime(order_purchase_timestamp AT TIME ZONE 'UTC', '%Y-%m-%d %H:%M') || ' ' || purchase_date || ' ' || is_late FROM silver.orders WHERE order_id = '" + o3 + "'",
			"2018-02-18 02:30 2018-02-17 true"},
		{"multi-payment order allocated to the cent with the remainder",
			"SELECT string_agg(payment_value::VARCHAR, ',' ORDER BY order_item_id) FROM gold.fact_sales WHERE order_id = '" + o2 + "'",
			"38.71,38.70,55.54"},
		{"payments reconcile with Silver for orders with items",
			"SELECT (SELECT sum(payment_value) FROM gold.fact_sales) = (SELECT sum(payment_value) FROM silver.order_payments WHERE order_id IN (SELECT order_id FROM silver.order_items))",
			"true"},
		{"order without items is not in fact_sales",
			"SELECT (SELECT sum(payment_value) FROM silver.order_payments) - (SELECT sum(payment_value) FROM gold.fact_sales)",
			"54.30"},
		{"exact duplicates removed", "SELECT (SELECT count(*) FROM silver.order_items) || ',' || (SELECT count(*) FROM silver.order_payments)", "14,13"},
		{"review dedup: (review_id, order_id), latest answer wins", "SELECT count(*) FROM silver.order_reviews", "10"},
		{"missing translation keeps the Portuguese name",
			"SELECT string_agg(DISTINCT category_en, ',' ORDER BY category_en) FROM gold.dim_product WHERE category_en IN ('pc_gamer', 'portateis_cozinha_e_preparadores_de_alimentos', 'unknown')",
			"pc_gamer,portateis_cozinha_e_preparadores_de_alimentos,unknown"},
		{"geolocation: one row per prefix, points outside Brazil ignored",
			"SELECT count(*) || ',' || count(DISTINCT zip_code_prefix) || ',' || bool_and(geolocation_lat IS NULL OR geolocation_lat BETWEEN -33.75 AND 5.3) FROM silver.geolocation",
			"10,10,true"},
		{"person: repeat customer, latest city, CLV",
			"SELECT order_count || ' ' || customer_city || ' ' || customer_lifetime_value FROM gold.dim_customer WHERE customer_unique_id = '" + u2 + "'",
			"2 rio de janeiro 295.34"},
		{"business month is the local date",
			"SELECT strftime(purchase_date, '%Y-%m') FROM silver.orders WHERE order_id = '" + o10 + "'", "2017-11"},
		{"dim_date covers every fact date",
			"SELECT count(*) FROM gold.fact_sales f LEFT JOIN gold.dim_date d USING (date_id) WHERE d.date_id IS NULL", "0"},
		// The model converts only the instants near the extremes to local time.
		{"dim_date spans the local dates of every timestamp, each converted",
			`SELECT (SELECT min(date) || ' ' || max(date) FROM gold.dim_date) = (SELECT min(d) || ' ' || max(d) FROM (
				SELECT purchase_date AS d FROM silver.orders UNION ALL SELECT delivered_date FROM silver.orders
				UNION ALL SELECT estimated_date FROM silver.orders UNION ALL SELECT review_date FROM silver.order_reviews
				UNION ALL SELECT CAST(timezone('America/Sao_Paulo', order_approved_at) AS DATE) FROM silver.orders
				UNION ALL SELECT CAST(timezone('America/Sao_Paulo', order_delivered_carrier_date) AS DATE) FROM silver.orders
				UNION ALL SELECT CAST(timezone('America/Sao_Paulo', review_answer_timestamp) AS DATE) FROM silver.order_reviews))`,
			"true"},
	}
	for _, tc := range tests {
		if got := scalar(t, eng, tc.q); got != tc.want {
			t.Errorf("%s:\n%s\n got %q want %q", tc.name, tc.q, got, tc.want)
		}
	}
}

// TestTransformIdempotent: a second run does nothing; a full refresh rebuilds
// everything with identical contents.
func TestTransformIdempotent(t *testing.T) {
	t.Parallel()
	lk, eng, g, _ := buildFixture(t, "")
	before := map[string]string{}
	for _, n := range g.Order {
		before[n] = dump(t, eng, n)
	}
	again, err := Run(context.Background(), lk, eng, g, Options{RunID: "r2"})
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range again.Models {
		if m.Status != StatusUnchanged || m.Version != 1 {
			t.Errorf("second run: %s %s v%d", m.Model, m.Status, m.Version)
		}
	}
	full, err := Run(context.Background(), lk, eng, g, Options{RunID: "r3", FullRefresh: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range full.Models {
		if m.Status != StatusBuilt || m.Version != 2 {
			t.Errorf("full refresh: %s %s v%d", m.Model, m.Status, m.Version)
		}
		if got := dump(t, eng, m.Model); got != before[m.Model] {
			t.Errorf("full refresh changed %s", m.Model)
		}
	}
}

// TestFailedModelKeepsPublished: a model that fails names its file and line,
// keeps its previous version, and its downstream models are skipped.
func TestFailedModelKeepsPublished(t *testing.T) {
	t.Parallel()
	lk, eng, _, _ := buildFixture(t, "")
	before := dump(t, eng, "gold.mart_state_sales")
	project := t.TempDir()
	os.MkdirAll(filepath.Join(project, "models", "gold"), 0o755)
	bad := "-- description: broken on purpose\nSELECT\n  order_id,\n  no_such_column\nFROM ref('silver.orders')\n"
	os.WriteFile(filepath.Join(project, "models", "gold", "fact_sales.sql"), []byte(bad), 0o644)
	g := loadGraphT(t, project)
	res, err := Run(context.Background(), lk, eng, g, Options{RunID: "bad"})
	if err != nil {
		t.Fatal(err)
	}
	status := map[string]ModelResult{}
	for _, m := range res.Models {
		status[m.Model] = m
	}
	f := status["gold.fact_sales"]
	if f.Status != StatusFailed || !strings.Contains(f.Err.Error(), "gold.fact_sales") || !strings.Contains(f.Err.Error(), "fact_sales.sql:4") {
		t.Errorf("fact_sales: %s %v", f.Status, f.Err)
	}
	for _, down := range []string{"gold.mart_monthly_sales", "gold.mart_category_sales", "gold.mart_state_sales"} {
		if status[down].Status != StatusSkipped {
			t.Errorf("%s: %s, want skipped", down, status[down].Status)
		}
	}
	if m, _ := lk.Manifest("gold", "fact_sales"); m.Version != 1 || m.RunID != "r1" {
		t.Errorf("fact_sales manifest changed: v%d %s", m.Version, m.RunID)
	}
	if err := eng.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	if after := dump(t, eng, "gold.mart_state_sales"); after != before {
		t.Error("downstream mart changed after a failed input")
	}
	if orphans, _ := lk.Orphans(); len(orphans) != 0 {
		t.Errorf("failed model left files: %v", orphans)
	}
}

// TestLineageGolden: the model graph and a column trace of the shipped models,
// compared with golden files.
func TestLineageGolden(t *testing.T) {
	t.Parallel()
	g := loadGraphT(t, "")
	eng, err := engine.Open(context.Background(), nil, engine.Options{Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	sources := Schemas{}
	for _, tb := range olist.Tables() {
		sources["bronze."+tb.Name] = append(tb.ColumnNames(), ingest.ColSourceFile, ingest.ColSourceLine, ingest.ColRunID, ingest.ColIngestedAt)
	}
	l, err := BuildLineage(context.Background(), eng.DB(), g, sources)
	if err != nil {
		t.Fatal(err)
	}
	var sb strings.Builder
	if err := l.WriteGraph(&sb, "mermaid", ""); err != nil {
		t.Fatal(err)
	}
	for _, col := range []string{"gold.fact_sales.payment_value", "gold.dim_customer.customer_lifetime_value", "gold.mart_monthly_sales.revenue"} {
		tr, err := l.Trace(col)
		if err != nil {
			t.Fatal(err)
		}
		sb.WriteString("\n")
		if err := WriteTrace(&sb, "text", tr); err != nil {
			t.Fatal(err)
		}
	}
	// Every documented column of every model is traced to at least one input,
	// except aggregates over whole rows (count(*)).
	for _, name := range g.Order {
		m := g.Models[name]
		cols := l.Columns[name]
		if len(cols) != len(m.Columns) {
			t.Errorf("%s: %d output columns, %d documented", name, len(cols), len(m.Columns))
			continue
		}
		for i, c := range cols {
			if c.Column != m.Columns[i].Name {
				t.Errorf("%s: column %d is %s, documented as %s", name, i, c.Column, m.Columns[i].Name)
			}
		}
	}
	path := filepath.Join("testdata", "golden", "lineage.txt")
	if *update {
		os.WriteFile(path, []byte(sb.String()), 0o644)
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if sb.String() != string(want) {
		t.Errorf("lineage differs from %s:\n%s", path, sb.String())
	}
}

// A run builds wide (every core to DuckDB) when its models are built in
// full: on a lake with none of them published, or with --full-refresh; not
// when they are published (most build incrementally).
func TestWideRuns(t *testing.T) {
	t.Parallel()
	built, _, g, _ := buildFixture(t, "")
	fresh, err := lake.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		lk   *lake.Lake
		full bool
		want bool
	}{
		{"nothing published", fresh, false, true},
		{"published", built, false, false},
		{"published, --full-refresh", built, true, true},
	} {
		x := &executor{lk: tc.lk, g: g, opts: Options{FullRefresh: tc.full}}
		if got := x.wide(g.Order); got != tc.want {
			t.Errorf("%s: wide = %v, want %v", tc.name, got, tc.want)
		}
	}
}
