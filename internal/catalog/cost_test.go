package catalog

import (
	"context"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/keystone/nexus/internal/analytics"
	"github.com/keystone/nexus/internal/engine"
	"github.com/keystone/nexus/internal/lake"
	"github.com/keystone/nexus/internal/laketest"
	"github.com/keystone/nexus/internal/olist"
	"github.com/keystone/nexus/internal/pipeline"
	"github.com/keystone/nexus/internal/pipeline/pipelinetest"
)

// footprint is a hand-made lake: 2 statements per dashboard view, one of
// 25 MB on 3 tables, one under the 10 MB minimum.
func footprint() *Footprint {
	return &Footprint{Lake: "/lake", Snapshot: 7, Tables: 50, Files: 200, Bytes: 100e6, GoldBytes: 20e6,
		KeptFiles: 40, KeptBytes: 20e6, KeptSnapshots: 3,
		RunCommit: 7, RunKind: lake.CommitRun, RunChanged: 10, RunFiles: 12, RunBytes: 5e6, RunSymlinks: 30, RunRecords: 6,
		KeptManifests: 80, ListPages: 7,
		Queries: []QueryScan{
			{Analysis: "kpis", Bytes: 25_000_001, Tables: 3, Files: 40, Symlinks: 20},
			{Analysis: "monthly-sales", Bytes: 60_000, Tables: 1, Files: 20, Symlinks: 20},
		}}
}

func near(a, b float64) bool { return math.Abs(a-b) <= 1e-9*math.Max(1, math.Abs(b)) }

// TestBill: the bill's arithmetic, line by line, against a golden file,
// and its main lines worked out by hand.
func TestBill(t *testing.T) {
	u := Usage{DashboardViewsPerDay: 100, AnalystQueriesPerDay: 10, RunsPerMonth: 30, RunsFrom: "test", ReaderHosts: 1}
	cases := []struct {
		name  string
		u     Usage
		scale float64
		// worked out by hand
		athenaTB, storageGB, writes, reads, glueRequests, glueObjects float64
	}{
		{name: "default", u: u, scale: 1,
			// a view: 26 MB + 10 MB (minimum) = 36 MB; 3000 views + 300
			// analyst queries of 18 MB
			athenaTB: (3000*36e6 + 300*18e6) / 1e12, storageGB: 0.12,
			// a run: 12 files + 10 manifests + 30 symlinks + 3 + 2 + 1
			// reader + the vacuum's 1 + 7 pages; a view: 40 symlink LISTs
			// + 2×2 results; an analyst query 22
			writes: 30*66 + 3000*44 + 300*22,
			// a run: 2+50+6 + (2+10+12+6) + the vacuum's 1 + 4 snapshots
			// + 80 manifests; a view: 40 symlinks + 2×60 files + 1 HEAD;
			// an analyst query 80
			reads:        30*173 + 3000*161 + 300*80,
			glueRequests: 30*61 + 3000*4 + 300*2, glueObjects: 51 + 300},
		{name: "100x", u: u, scale: 100,
			// 2.5 GB (rounded up to the MB) + 6 MB → 10 MB minimum
			athenaTB: (3000*(2501e6+10e6) + 300*(2511e6/2)) / 1e12, storageGB: 12,
			writes: 30*66 + 3000*44 + 300*22, reads: 30*173 + 3000*161 + 300*80,
			glueRequests: 30*61 + 3000*4 + 300*2, glueObjects: 51 + 300},
		{name: "runs only", u: Usage{RunsPerMonth: 720, RunsFrom: "hourly", ReaderHosts: 2}, scale: 1,
			storageGB: 0.12,
			writes:    720 * (12 + 10 + 30 + 3 + 2 + 2 + 8), reads: 720 * (2 + 50 + 6 + 2*(2+10+12+6) + 85),
			glueRequests: 720 * 61, glueObjects: 51 + 7200},
		{name: "past the free tiers", u: Usage{DashboardViewsPerDay: 20000, RunsPerMonth: 30, RunsFrom: "test", ReaderHosts: 1}, scale: 1,
			athenaTB: 600000 * 36e6 / 1e12, storageGB: 0.12,
			writes: 30*66 + 600000*44, reads: 30*173 + 600000*161,
			glueRequests: 30*61 + 600000*4, glueObjects: 51 + 300},
	}
	fp := footprint()
	var bills []Bill
	for _, tc := range cases {
		b := fp.Bill(tc.u, tc.scale)
		bills = append(bills, b)
		for _, c := range []struct {
			service, item string
			want, price   float64
		}{
			{"Athena", ItemScans, tc.athenaTB, tc.athenaTB * AthenaUSDPerTB},
			{"S3", ItemStorage, tc.storageGB, tc.storageGB * S3USDPerGBMonth},
			{"S3", ItemWrites, tc.writes, tc.writes / 1000 * S3USDPer1000Writes},
			{"S3", ItemReads, tc.reads, tc.reads / 1000 * S3USDPer1000Reads},
			{"Glue", ItemRequests, tc.glueRequests, max(0, tc.glueRequests-GlueFreeRequests) / 1e6 * GlueUSDPerMillionRequests},
			{"Glue", ItemObjects, tc.glueObjects, 0},
		} {
			l := b.Line(c.service, c.item)
			if l.How == "" {
				t.Errorf("%s: %s %s: no line, or no word on how it was obtained", tc.name, c.service, c.item)
			}
			// A number of what per analyst query: not a bare number.
			if m := regexp.MustCompile(`analyst queries × [0-9.,]+( [A-Za-z]+)?`).FindStringSubmatch(l.How); m != nil && m[1] == "" {
				t.Errorf("%s: %s %s: %q: a number of what?", tc.name, c.service, c.item, m[0])
			}
			if !near(l.Quantity, c.want) || !near(l.USD, c.price) {
				t.Errorf("%s: %s %s: %v (US$ %v), want %v (US$ %v)", tc.name, c.service, c.item, l.Quantity, l.USD, c.want, c.price)
			}
		}
		var sum float64
		for _, l := range b.Lines {
			sum += l.USD
		}
		if !near(b.USD, sum) {
			t.Errorf("%s: total %v, lines add up to %v", tc.name, b.USD, sum)
		}
	}
	if g := bills[3].Line("Glue", ItemRequests); g.USD <= 0 {
		t.Errorf("past the free tier, Glue requests cost nothing: %+v", g)
	}
	got, err := json.MarshalIndent(bills, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "bill.json")
	if *update {
		if err := os.WriteFile(golden, append(got, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if string(got)+"\n" != string(want) {
		t.Errorf("the bills differ from %s (go test -run TestBill -update to accept):\n%s", golden, got)
	}
}

// buildLake generates a small data set and runs the pipeline on it twice
// (the second run rebuilds everything: the first snapshot's files are kept
// versions).
func buildLake(t *testing.T) string {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	lk, err := pipelinetest.Build(ctx, dir, olist.GenOptions{Scale: 0.02, Seed: 3}, nil)
	if err != nil {
		t.Fatal(err)
	}
	sum, err := pipeline.Run(ctx, lk, pipeline.Options{SourceDir: filepath.Join(dir, "source"), Force: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := sum.Err(); err != nil {
		t.Fatal(err)
	}
	return lk.Root
}

// TestMeasure: on a real lake, the bytes of each dashboard statement are
// the Athena estimate of the statement the registry's analysis runs, and
// measuring writes nothing.
func TestMeasure(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a lake")
	}
	ctx := context.Background()
	root := buildLake(t)
	laketest.MakeReadOnly(t, root)
	before := laketest.TreeState(t, root)
	lk := laketest.OpenRead(t, root)
	eng, err := engine.Open(ctx, lk, engine.Options{Threads: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	fp, err := Measure(ctx, eng.DB(), lk, eng.Tables())
	if err != nil {
		t.Fatal(err)
	}
	if after := laketest.TreeState(t, root); after != before {
		t.Errorf("measuring the lake changed it:\nbefore\n%s\nafter\n%s", before, after)
	}

	stmts, err := analytics.Statements(ctx, eng.DB(), analytics.Filter{}, analytics.InDashboard)
	if err != nil {
		t.Fatal(err)
	}
	if len(fp.Queries) != len(stmts) || len(stmts) < len(analytics.Select(analytics.InDashboard)) {
		t.Fatalf("%d statements measured, the dashboard runs %d", len(fp.Queries), len(stmts))
	}
	bytes := map[string]int64{}
	for i, s := range stmts {
		est, err := Estimate(ctx, eng.DB(), lk, eng.Tables(), s.SQL)
		if err != nil {
			t.Fatal(err)
		}
		q := fp.Queries[i]
		if q.Analysis != s.Analysis || q.SQL != s.SQL || q.Bytes != est.Bytes || q.Bytes <= 0 {
			t.Errorf("statement %d: measured %s %d bytes, the estimate of %s says %d", i, q.Analysis, q.Bytes, s.Analysis, est.Bytes)
		}
		if q.Files == 0 || q.Tables == 0 || q.Symlinks == 0 {
			t.Errorf("%s: %+v reads no file", q.Analysis, q)
		}
		if _, ok := bytes[s.Analysis]; !ok {
			bytes[s.Analysis] = q.Bytes
		}
	}
	// monthly-sales' second statement reads one column of gold.fact_sales
	// (the data set's span): the bytes of that column's chunks, from the
	// footers, far less than a statement on the whole working set.
	span := fp.Queries[2]
	if span.Analysis != "monthly-sales" || !strings.Contains(span.SQL, "min(purchase_date)") {
		t.Fatalf("statement 2: %s %s", span.Analysis, span.SQL)
	}
	fact, err := lk.Manifest(lake.Gold, "fact_sales")
	if err != nil {
		t.Fatal(err)
	}
	cols, err := columnBytes(ctx, eng.DB(), lk, fact)
	if err != nil {
		t.Fatal(err)
	}
	var want int64
	for _, c := range cols {
		want += c["purchase_date"]
	}
	if span.Bytes != want || span.Files != len(fact.Files) {
		t.Errorf("the span statement reads %d bytes in %d files, want purchase_date's %d bytes in %d", span.Bytes, span.Files, want, len(fact.Files))
	}
	if span.Bytes*10 > bytes["kpis"] {
		t.Errorf("one column (%d bytes) is not cheaper than the kpis statement (%d)", span.Bytes, bytes["kpis"])
	}

	// Storage: the current snapshot's files, and the first run's, kept.
	var files int
	var size int64
	for _, m := range eng.Tables() {
		files += len(m.Files)
		size += m.Bytes
	}
	if fp.Files != files || fp.Bytes != size || fp.KeptSnapshots != 1 || fp.KeptFiles == 0 || fp.KeptBytes == 0 {
		t.Errorf("storage: %d files %d bytes, kept %d files %d bytes in %d snapshots; the manifests list %d files %d bytes",
			fp.Files, fp.Bytes, fp.KeptFiles, fp.KeptBytes, fp.KeptSnapshots, files, size)
	}
	// A forced run rewrote every table: every file is new.
	if fp.RunChanged != fp.Tables || fp.RunFiles != fp.Files || fp.RunRecords != 2 {
		t.Errorf("the last run: %d of %d tables changed, %d new files of %d, %d run records", fp.RunChanged, fp.Tables, fp.RunFiles, fp.Files, fp.RunRecords)
	}
	// The vacuum after a commit reads both snapshots' manifests, and lists
	// 6 prefixes (4 layers, manifests, symlink manifests) of < 1,000 keys.
	if fp.KeptManifests != 2*fp.Tables || fp.ListPages != 6 {
		t.Errorf("the vacuum: %d manifests, %d LIST pages; want %d and 6", fp.KeptManifests, fp.ListPages, 2*fp.Tables)
	}
}

// After a rollback the bill's runs still write what a run writes: the
// newest snapshot a run committed, not the rollback (which wrote no data).
func TestMeasureAfterRollback(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a lake")
	}
	ctx := context.Background()
	root := buildLake(t)
	w, err := lake.Open(root)
	if err != nil {
		t.Fatal(err)
	}
	rb, err := w.Rollback(1, "rb")
	if err != nil {
		t.Fatal(err)
	}
	lk := laketest.OpenRead(t, root)
	eng, err := engine.Open(ctx, lk, engine.Options{Threads: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	fp, err := Measure(ctx, eng.DB(), lk, eng.Tables())
	if err != nil {
		t.Fatal(err)
	}
	if fp.RunKind != lake.CommitRun || fp.RunCommit != rb.Parent || fp.RunFiles == 0 || fp.RunChanged != fp.Tables {
		t.Errorf("after rollback %d: the run measured is snapshot %d (%s), %d tables changed, %d new files; want the forced run %d",
			rb.ID, fp.RunCommit, fp.RunKind, fp.RunChanged, fp.RunFiles, rb.Parent)
	}
}

// TestEstimateDeletedRows: each scan is its own table's, also when two
// tables share the columns it reads (a fact and its dimension); a table
// whose files have deleted rows (an incremental build marks the rows it
// replaced) is one scan of all its files, as Athena reads it, with the
// figures of the same table without them: the session's view reads each
// such file on its own, which listed the table once per such file and
// failed on a partition filter.
func TestEstimateDeletedRows(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a lake")
	}
	ctx := context.Background()
	lk, err := pipelinetest.Build(ctx, t.TempDir(), olist.GenOptions{Scale: 0.02, Seed: 3}, nil)
	if err != nil {
		t.Fatal(err)
	}
	eng, err := engine.Open(ctx, lk, engine.Options{Threads: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	queries := []struct {
		name, sql string
		scans     []string // table: columns, in plan order
	}{
		{"one table", "SELECT sum(price) FROM gold.fact_sales", []string{"gold.fact_sales: price"}},
		{"a partition", "SELECT sum(price) FROM gold.fact_sales WHERE year = 2017 AND month = 3", []string{"gold.fact_sales: price"}},
		// Both tables have seller_id, all the dimension's scan reads: each
		// scan is still its own table's.
		{"two tables", "SELECT sum(f.price) FROM gold.fact_sales f JOIN gold.dim_seller s USING (seller_id)",
			[]string{"gold.fact_sales: seller_id, price", "gold.dim_seller: seller_id"}},
		// A top N: DuckDB's late materialization would plan a second,
		// unlabelled scan, and its dynamic filter names no column.
		{"a top N", "SELECT order_id, price FROM gold.fact_sales ORDER BY price DESC LIMIT 10", []string{"gold.fact_sales: order_id, price"}},
		// DuckDB's names are case-insensitive: so are the estimate's.
		{"capitals", "SELECT sum(PRICE) FROM GOLD.FACT_SALES", []string{"gold.fact_sales: price"}},
	}
	whole := map[string]*ScanEstimate{}
	for _, q := range queries {
		if whole[q.name], err = Estimate(ctx, eng.DB(), lk, eng.Tables(), q.sql); err != nil {
			t.Fatalf("%s: %v", q.name, err)
		}
		var got []string
		for _, sc := range whole[q.name].Scans {
			got = append(got, sc.Table+": "+strings.Join(sc.Columns, ", "))
		}
		slices.Sort(got)
		want := slices.Sorted(slices.Values(q.scans))
		if !slices.Equal(got, want) {
			t.Errorf("%s: scans %q, want %q", q.name, got, want)
		}
	}
	// The dimension's scan counts the dimension's bytes.
	for _, m := range eng.Tables() {
		if m.Name() != "gold.dim_seller" {
			continue
		}
		cols, err := columnBytes(ctx, eng.DB(), lk, m)
		if err != nil {
			t.Fatal(err)
		}
		var want int64
		for _, c := range cols {
			want += c["seller_id"]
		}
		for _, sc := range whole["two tables"].Scans {
			if sc.Table == m.Name() && (sc.Bytes != want || sc.Files != len(m.Files)) {
				t.Errorf("gold.dim_seller's scan: %d bytes in %d file(s), want %d in %d", sc.Bytes, sc.Files, want, len(m.Files))
			}
		}
	}
	// The first and the last file of each table lose a row.
	var tables []*lake.Manifest
	for _, m := range eng.Tables() {
		if m.Name() == "gold.fact_sales" || m.Name() == "gold.dim_seller" {
			d := *m
			d.Files = slices.Clone(m.Files)
			for _, i := range []int{0, len(d.Files) - 1} {
				d.Files[i].Deleted, d.Files[i].Rows = []int64{0}, d.Files[i].Rows-1
			}
			if err := eng.Register(ctx, &d); err != nil {
				t.Fatal(err)
			}
			m = &d
		}
		tables = append(tables, m)
	}
	var n int
	if err := eng.DB().QueryRowContext(ctx, "SELECT count(*) FROM gold.fact_sales").Scan(&n); err != nil || n == 0 {
		t.Fatalf("the view with deleted rows: %d rows, %v", n, err)
	}
	for _, q := range queries {
		got, err := Estimate(ctx, eng.DB(), lk, tables, q.sql)
		if err != nil {
			t.Errorf("%s with deleted rows: %v", q.name, err)
			continue
		}
		if !reflect.DeepEqual(got, whole[q.name]) {
			t.Errorf("%s with deleted rows:\n got  %+v\n want %+v", q.name, got, whole[q.name])
		}
	}
	// A name misspelt: the session's error, with DuckDB's suggestion, not
	// the plan database's.
	if _, err := Estimate(ctx, eng.DB(), lk, tables, "SELECT count(*) FROM gold.fact_sale"); err == nil ||
		!strings.Contains(err.Error(), `Did you mean "fact_sales"`) || strings.Contains(err.Error(), "nexus_estimate") {
		t.Errorf("a misspelt table: %v", err)
	}
	// The session's views are the ones with deleted rows still, and the
	// plan's database is gone.
	var left int
	if err := eng.DB().QueryRowContext(ctx, "SELECT count(*) FROM duckdb_databases() WHERE database_name LIKE 'nexus_estimate%'").Scan(&left); err != nil || left != 0 {
		t.Errorf("plan databases left: %d (%v)", left, err)
	}
	var after int
	if err := eng.DB().QueryRowContext(ctx, "SELECT count(*) FROM gold.fact_sales").Scan(&after); err != nil || after != n {
		t.Errorf("gold.fact_sales after the estimates: %d rows (%v), want %d", after, err, n)
	}
}
