package pipeline

import (
	"context"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/keystone/nexus/internal/engine"
	"github.com/keystone/nexus/internal/lake"
	"github.com/keystone/nexus/internal/laketest"
	"github.com/keystone/nexus/internal/olist"
	"github.com/keystone/nexus/internal/quality"
	"github.com/keystone/nexus/internal/transform"
)

// lineageCols differ between a landing zone and a flat data set of the same
// final state (file names, lines, batches, the status before the last
// version: a flat file has no history) and between runs (run ids, times).
var lineageCols = append([]string{"_source_file", "_source_line", "_batch", "previous_status"}, laketest.RunCols...)

// editableDrops is a small landing zone of at least eight drops, for tests
// that append edits to its drops and apply them one run at a time (skipped
// with -short).
func editableDrops(t *testing.T) (string, []string) {
	t.Helper()
	if testing.Short() {
		t.Skip("runs the pipeline once per drop")
	}
	src, drops := landingDrops(t, olist.GenOptions{Scale: 0.01, Seed: 5, DailyFrom: "2018-08-25"})
	if len(drops) < 8 {
		t.Fatalf("want several drops, got %v", drops)
	}
	return src, drops
}

// landingDrops generates a landing zone and returns its dt= folders in order.
func landingDrops(t *testing.T, opts olist.GenOptions) (string, []string) {
	t.Helper()
	dir := t.TempDir()
	if _, err := olist.GenerateDaily(context.Background(), dir, opts); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var drops []string
	for _, e := range entries {
		if e.IsDir() && strings.HasPrefix(e.Name(), olist.DropDirPrefix) {
			drops = append(drops, e.Name())
		}
	}
	sort.Strings(drops)
	return dir, drops
}

// linkDrop makes drop (a folder of the landing zone src) part of dst.
func linkDrop(t *testing.T, src, dst, drop string) {
	t.Helper()
	if err := os.Symlink(filepath.Join(src, drop), filepath.Join(dst, drop)); err != nil {
		t.Fatal(err)
	}
}

// lockLake opens the lake at root for writing and takes its lock.
func lockLake(t *testing.T, root string) (*lake.Lake, func()) {
	t.Helper()
	lk, err := lake.Open(root)
	if err != nil {
		t.Fatal(err)
	}
	unlock, err := lk.Lock()
	if err != nil {
		t.Fatal(err)
	}
	return lk, unlock
}

func runOK(t *testing.T, root, src string) *Summary {
	t.Helper()
	lk, unlock := lockLake(t, root)
	defer unlock()
	sum, err := Run(context.Background(), lk, Options{SourceDir: src, Engine: engine.Options{MemoryLimit: "1GB", Threads: 2}})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Err() != nil {
		t.Fatalf("run on %s: %v", src, sum.Err())
	}
	return sum
}

// applyDrops applies the base batch, then the drops one run at a time, the
// last two in reverse order (late data must not overwrite newer state), into
// a new lake; it checks that the main models were built incrementally.
func applyDrops(t *testing.T, src string, drops []string) (string, map[string][]quality.Result) {
	t.Helper()
	n := len(drops)
	order := append(append([]string{}, drops[:n-2]...), drops[n-1], drops[n-2])
	work := t.TempDir()
	inc := t.TempDir()
	incremental := map[string]int{}
	fromTotals := map[string]int{} // "model<bronze table" judged from totals
	verdicts := map[string][]quality.Result{}
	for i, d := range order {
		linkDrop(t, src, work, d)
		sum := runOK(t, inc, work)
		for _, st := range sum.Steps {
			if len(st.Checks) > 0 {
				verdicts[st.Name] = st.Checks
			}
		}
		if i == 0 {
			continue
		}
		published := laketest.OpenRead(t, inc)
		for _, st := range sum.Steps {
			// Every table says its rows after the step; an unchanged one
			// built, published and quarantined nothing.
			if st.Status != StepFailed && st.Status != StepSkipped {
				layer, table, _ := strings.Cut(st.Name, ".")
				if man, err := published.Manifest(layer, table); err != nil || man.Rows != st.TableRows {
					t.Errorf("drop %s: %s: table rows %d, published: %v", d, st.Name, st.TableRows, err)
				}
			}
			if st.Status == StepUnchanged && st.RowsIn+st.RowsOut+st.Quarantined != 0 {
				t.Errorf("drop %s: unchanged %s has rows in %d, out %d, quarantined %d", d, st.Name, st.RowsIn, st.RowsOut, st.Quarantined)
			}
			if st.Incremental != nil {
				// The step counts the rows of the keys rebuilt, not the
				// table: rows in = rows out + quarantined, and the table
				// is what was published.
				if st.RowsIn != st.RowsOut+st.Quarantined || st.RowsIn != st.Incremental.RowsRebuilt+st.Quarantined {
					t.Errorf("drop %s: %s: rows in %d, out %d, quarantined %d, rebuilt %d", d, st.Name, st.RowsIn, st.RowsOut, st.Quarantined, st.Incremental.RowsRebuilt)
				}
				if st.TableRows > 100 && st.RowsIn >= st.TableRows {
					t.Errorf("drop %s: %s: rows in %d of a table of %d: the table, not the keys rebuilt?", d, st.Name, st.RowsIn, st.TableRows)
				}
				incremental[st.Name]++
				for _, o := range st.Incremental.TablesFromTotals {
					fromTotals[st.Name+"<"+o]++
				}
			}
		}
	}
	for _, name := range []string{"silver.orders", "silver.order_items", "gold.fact_sales", "gold.dim_customer", "gold.mart_category_month_sales",
		"gold.agg_sales_month", "gold.agg_sales_state_month", "gold.agg_state_customers"} {
		if incremental[name] < n/2 {
			t.Errorf("%s was built incrementally %d times of %d (%v)", name, incremental[name], n-1, incremental)
		}
	}
	// The Bronze reconciles are judged from their totals and the rows of the
	// keys, not by reading Bronze whole: a silent fallback would pass every
	// comparison above.
	for _, name := range []string{"silver.order_items<bronze.order_items", "silver.order_payments<bronze.order_payments"} {
		if fromTotals[name] < n/2 {
			t.Errorf("%s judged from totals %d times of %d (%v)", name, fromTotals[name], n-1, fromTotals)
		}
	}
	return inc, verdicts
}

// sameVerdicts compares the latest verdicts of each table after the drops
// with those of a full build: a drop judges its row-level checks on the
// table as it will be, so a warning of old rows does not turn into a pass.
// Row accounting counts the rows a build made, so only its verdict
// compares.
func sameVerdicts(t *testing.T, inc map[string][]quality.Result, full *Summary) {
	t.Helper()
	failing := 0
	for _, st := range full.Steps {
		got := map[string]quality.Result{}
		for _, r := range inc[st.Name] {
			got[r.CheckID] = r
		}
		for _, want := range st.Checks {
			r, ok := got[want.CheckID]
			if !ok {
				t.Errorf("%s: check %s: no verdict after the drops", st.Name, want.CheckID)
				continue
			}
			if want.Verdict != quality.VerdictPass {
				failing++
			}
			if r.Verdict != want.Verdict || want.Kind != quality.KindRowAccounting && (r.RowsChecked != want.RowsChecked || r.RowsFailed != want.RowsFailed) {
				t.Errorf("%s: check %s after the drops: %s, %d of %d rows (%s); full build: %s, %d of %d rows (%s)", st.Name, want.CheckID,
					r.Verdict, r.RowsFailed, r.RowsChecked, r.Observed, want.Verdict, want.RowsFailed, want.RowsChecked, want.Observed)
			}
		}
	}
	if failing == 0 {
		t.Error("no check failed or warned in the full build: nothing to compare")
	}
}

// TestIncrementalEqualsFull applies the drops of a landing zone one run at
// a time, and compares every Silver, Gold and quarantine table with a full
// build of the same landing zone (identical, lineage included) and with a
// full build of the generator's final state as flat files (identical
// contents). Most models must have been built incrementally on the way.
func TestIncrementalEqualsFull(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the pipeline once per drop")
	}
	opts := olist.GenOptions{Scale: 0.02, Seed: 11, DailyFrom: "2018-08-25"}
	src, drops := landingDrops(t, opts)
	if len(drops) < 6 {
		t.Fatalf("want several drops, got %v", drops)
	}
	inc, verdicts := applyDrops(t, src, drops)
	full := t.TempDir()
	fullSum := runOK(t, full, src)
	if d := laketest.DiffLakes(t, laketest.OpenRead(t, inc), laketest.OpenRead(t, full), laketest.RunCols); len(d) > 0 {
		t.Errorf("incremental != full build of the landing zone:\n%s", strings.Join(d, "\n"))
	}
	sameCheckStats(t, inc, full)
	sameVerdicts(t, verdicts, fullSum)
	mergedOnRead(t, inc)
	// A drop that quarantines nothing adds no (empty) file to the
	// quarantine of an incremental model: an empty quarantine keeps its one
	// file however many drops were applied.
	empty := 0
	for _, ts := range laketest.OpenRead(t, inc).Tables() {
		m := ts.Manifest
		if m == nil || m.Layer != lake.Quarantine || m.Rows != 0 || strings.HasPrefix(m.Table, "bronze_") {
			continue
		}
		empty++
		if len(m.Files) != 1 {
			t.Errorf("%s: %d files for no row after %d drops, want 1", ts.Name, len(m.Files), len(drops))
		}
	}
	if empty == 0 {
		t.Error("no empty model quarantine to check")
	}

	flatSrc := t.TempDir()
	flatOpts := opts
	flatOpts.DailyFrom = ""
	if _, err := olist.Generate(context.Background(), flatSrc, flatOpts); err != nil {
		t.Fatal(err)
	}
	flat := t.TempDir()
	runOK(t, flat, flatSrc)
	if d := laketest.DiffLakes(t, laketest.OpenRead(t, inc), laketest.OpenRead(t, flat), lineageCols); len(d) > 0 {
		t.Errorf("incremental != full build of the final state:\n%s", strings.Join(d, "\n"))
	}
}

// TestLateAndBackwardsVersions: a version of an order in a later batch wins;
// a batch older than the newest one, applied late, does not overwrite the
// newer state; a status that moves backwards (delivered -> shipped) is
// flagged by a check and the order stays.
func TestLateAndBackwardsVersions(t *testing.T) {
	ctx := context.Background()
	src := t.TempDir()
	base := filepath.Join(src, "dt=2018-01-01")
	if _, err := olist.Generate(ctx, base, olist.GenOptions{Scale: 0.005, Seed: 3}); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(base, "olist_orders_dataset.csv"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(b), "\n")
	var header, delivered string
	for i, l := range lines {
		if i == 0 {
			header = l
		} else if strings.Contains(l, ",delivered,") && delivered == "" {
			delivered = l
		}
	}
	if delivered == "" {
		t.Fatal("no delivered order in the base batch")
	}
	orderID := strings.Trim(strings.Split(delivered, ",")[0], `"`)
	drop := func(day, status string) {
		t.Helper()
		f := strings.Split(delivered, ",")
		f[2] = status
		f[6] = "" // not delivered (yet)
		dir := filepath.Join(src, "dt="+day)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "olist_orders_dataset.csv"), []byte(header+"\n"+strings.Join(f, ",")+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	root := t.TempDir()
	runOK(t, root, src)
	drop("2018-01-02", "shipped")
	runOK(t, root, src)
	drop("2017-12-31", "created") // arrives late, is older than the newest
	runOK(t, root, src)

	lk := laketest.OpenRead(t, root)
	eng, err := engine.Open(ctx, lk, engine.Options{MemoryLimit: "512MB", Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	var status, prev, flags string
	var batch string
	err = eng.DB().QueryRowContext(ctx, `SELECT order_status, previous_status, array_to_string(quality_flags, ','), CAST(_batch AS VARCHAR)
		FROM silver.orders WHERE order_id = ?`, orderID).Scan(&status, &prev, &flags, &batch)
	if err != nil {
		t.Fatal(err)
	}
	if status != "shipped" || prev != "delivered" || batch != "2018-01-02" || !strings.Contains(flags, "status_not_backwards") {
		t.Errorf("order %s: status %q previous %q batch %s flags %q; want shipped after delivered, from 2018-01-02, flagged",
			orderID, status, prev, batch, flags)
	}
	var n int64
	if err := eng.DB().QueryRowContext(ctx, `SELECT count(*) FROM gold.fact_sales WHERE order_id = ? AND order_status = 'shipped'`, orderID).Scan(&n); err != nil || n == 0 {
		t.Errorf("the flagged order must stay in gold.fact_sales with its new status: %d rows (%v)", n, err)
	}
}

// appendLine adds a record to a file of a drop (creating it with header
// when the drop has none).
func appendLine(t *testing.T, dir, drop, file, header, line string) {
	t.Helper()
	p := filepath.Join(dir, drop, file)
	b, err := os.ReadFile(p)
	if os.IsNotExist(err) {
		b, err = []byte(header+"\n"), nil
	}
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, append(b, []byte(line+"\n")...), 0o644); err != nil {
		t.Fatal(err)
	}
}

// firstRecord returns the header and the first record of a file of a drop.
func firstRecord(t *testing.T, dir, drop, file string) (string, string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, drop, file))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitN(string(b), "\n", 3)
	return lines[0], lines[1]
}

// TestIncrementalEqualsFullWithDefects: drops that carry defects the gates
// quarantine or flag (an orphan payment, two versions of one order in one
// drop, a review without creation date, a duplicated item) still give an
// incremental result identical to a full build, and no blocking check fires
// where a full build publishes.
func TestIncrementalEqualsFullWithDefects(t *testing.T) {
	src, drops := editableDrops(t)
	// An orphan payment.
	hdr, _ := firstRecord(t, src, drops[0], "olist_order_payments_dataset.csv")
	appendLine(t, src, drops[2], "olist_order_payments_dataset.csv", hdr, `ffffffffffffffffffffffffffffffff,1,credit_card,1,10.00`)
	// Two versions of a base order in one drop: the last line wins.
	ohdr, order := firstRecord(t, src, drops[0], "olist_orders_dataset.csv")
	f := strings.Split(order, ",")
	// Before them, a version approved before its purchase (kept, flagged):
	// the later drop replaces a flagged row, whose failure leaves the
	// table's check totals.
	flagged := append([]string(nil), f...)
	flagged[4] = "2016-01-01 00:00:00"
	appendLine(t, src, drops[1], "olist_orders_dataset.csv", ohdr, strings.Join(flagged, ","))
	f[2] = "shipped"
	appendLine(t, src, drops[3], "olist_orders_dataset.csv", ohdr, strings.Join(f, ","))
	f[2] = "delivered"
	appendLine(t, src, drops[3], "olist_orders_dataset.csv", ohdr, strings.Join(f, ","))
	// A review without creation date (a NULL partition value).
	rhdr, review := firstRecord(t, src, drops[0], "olist_order_reviews_dataset.csv")
	r := strings.Split(review, ",")
	r[0] = "00000000000000000000000000000abc"
	for i := range r {
		if strings.Contains(r[i], "-") && strings.Contains(r[i], ":") {
			r[i] = ""
			break
		}
	}
	appendLine(t, src, drops[4], "olist_order_reviews_dataset.csv", rhdr, strings.Join(r, ","))
	// A payment that arrives two drops before its order: quarantined as an
	// orphan, then published once the order exists (a value that appeared
	// in silver.orders releases it from the quarantine).
	early := append([]string(nil), strings.Split(order, ",")...)
	early[0] = `"eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee"`
	appendLine(t, src, drops[2], "olist_order_payments_dataset.csv", hdr, `eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee,1,voucher,1,12.34`)
	appendLine(t, src, drops[4], "olist_orders_dataset.csv", ohdr, strings.Join(early, ","))
	// A new order whose order_id has a leading space (the key is trimmed):
	// its drop's file is not known trimmed, so its rows are found by the
	// trimmed key (lake.File.Trimmed).
	padded := append([]string(nil), strings.Split(order, ",")...)
	padded[0] = " cccccccccccccccccccccccccccccccc"
	appendLine(t, src, drops[3], "olist_orders_dataset.csv", ohdr, strings.Join(padded, ","))
	// An item repeated exactly in a later drop.
	ihdr, item := firstRecord(t, src, drops[0], "olist_order_items_dataset.csv")
	appendLine(t, src, drops[5], "olist_order_items_dataset.csv", ihdr, item)
	// An item whose product arrives two drops later: quarantined, then
	// published once silver.products has it. silver.order_items reads
	// products only in its gate, so only the product's arrival can release
	// it.
	phdr, product := firstRecord(t, src, drops[0], "olist_products_dataset.csv")
	pf := strings.Split(product, ",")
	pf[0] = `"dddddddddddddddddddddddddddddddd"`
	// On an order of 2017, which no later drop touches.
	raw, err := os.ReadFile(filepath.Join(src, drops[0], "olist_order_items_dataset.csv"))
	if err != nil {
		t.Fatal(err)
	}
	var old2017 string
	for _, l := range strings.Split(string(raw), "\n")[1:] {
		if strings.Contains(l, ",2017-0") && l != item {
			old2017 = l
			break
		}
	}
	early2 := strings.Split(old2017, ",")
	early2[1], early2[2] = "7", pf[0]
	appendLine(t, src, drops[2], "olist_order_items_dataset.csv", ihdr, strings.Join(early2, ","))
	appendLine(t, src, drops[4], "olist_products_dataset.csv", phdr, strings.Join(pf, ","))

	inc, verdicts := applyDrops(t, src, drops)
	full := t.TempDir()
	fullSum := runOK(t, full, src)
	if d := laketest.DiffLakes(t, laketest.OpenRead(t, inc), laketest.OpenRead(t, full), laketest.RunCols); len(d) > 0 {
		t.Errorf("incremental != full build of the landing zone:\n%s", strings.Join(d, "\n"))
	}
	sameCheckStats(t, inc, full)
	sameVerdicts(t, verdicts, fullSum)
	// The defects did what they should.
	ctx := context.Background()
	eng, err := engine.Open(ctx, laketest.OpenRead(t, inc), engine.Options{MemoryLimit: "512MB", Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	var orphan, reviews, released, stillQuarantined int64
	var status string
	err = eng.DB().QueryRowContext(ctx, `SELECT
		(SELECT count(*) FROM quarantine.silver_order_payments WHERE order_id = 'ffffffffffffffffffffffffffffffff'),
		(SELECT count(*) FROM quarantine.silver_order_reviews WHERE review_id = '00000000000000000000000000000abc'),
		(SELECT order_status FROM silver.orders WHERE order_id = ?),
		(SELECT count(*) FROM silver.order_payments WHERE order_id = 'eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee'),
		(SELECT count(*) FROM quarantine.silver_order_payments WHERE order_id = 'eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee')
		  + (SELECT count(*) FROM quarantine.silver_order_items WHERE product_id = 'dddddddddddddddddddddddddddddddd')
		  + (SELECT count(*) FROM quarantine.gold_fact_sales WHERE product_id = 'dddddddddddddddddddddddddddddddd')`,
		strings.Trim(f[0], `"`)).Scan(&orphan, &reviews, &status, &released, &stillQuarantined)
	if err != nil {
		t.Fatal(err)
	}
	var item7, paddedOrder int64
	if err := eng.DB().QueryRowContext(ctx, `SELECT (SELECT count(*) FROM gold.fact_sales WHERE product_id = 'dddddddddddddddddddddddddddddddd'),
		(SELECT count(*) FROM silver.orders WHERE order_id = 'cccccccccccccccccccccccccccccccc')`).Scan(&item7, &paddedOrder); err != nil {
		t.Fatal(err)
	}
	if paddedOrder != 1 {
		t.Errorf("the order whose order_id has a leading space: %d rows in silver.orders, want 1", paddedOrder)
	}
	if orphan != 1 || reviews != 1 || status != "delivered" || released != 1 || stillQuarantined != 0 || item7 != 1 {
		t.Errorf("orphan payment quarantined %d, undated review quarantined %d, order status %q, early payment published %d, early rows still quarantined %d, "+
			"item of the late product in gold.fact_sales %d (want 1, 1, delivered: the last line of the drop, 1, 0, 1)",
			orphan, reviews, status, released, stillQuarantined, item7)
	}
}

// TestReplayInLandingZone: a quarantine replay in a lake fed by drops moves
// rows back (with the quarantine keeping the batch of the rows left), and
// the runs of the later drops still end equal to a full build.
func TestReplayInLandingZone(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the pipeline once per drop")
	}
	ctx := context.Background()
	src, drops := landingDrops(t, olist.GenOptions{Scale: 0.01, Seed: 9, DailyFrom: "2018-08-28"})
	if len(drops) < 5 {
		t.Fatalf("drops: %v", drops)
	}
	// A project whose rule (wrongly) quarantines canceled orders.
	project := ordersProject(t, `  - id: not_canceled
    kind: expression
    expr: order_status <> 'canceled'
    description: strict for the test
`)
	work, root := t.TempDir(), t.TempDir()
	lk, err := lake.Open(root)
	if err != nil {
		t.Fatal(err)
	}
	run := func(project string) {
		t.Helper()
		sum, err := Run(ctx, lk, Options{SourceDir: work, ProjectDir: project, Engine: engine.Options{MemoryLimit: "1GB", Threads: 2}})
		if err != nil || sum.Err() != nil {
			t.Fatalf("run: %v %v", err, sum.Err())
		}
	}
	for _, d := range drops[:3] {
		linkDrop(t, src, work, d)
		run(project)
	}
	eng, err := engine.Open(ctx, lk, engine.Options{Threads: 2})
	if err != nil {
		t.Fatal(err)
	}
	var strict int64
	if err := eng.DB().QueryRowContext(ctx, `SELECT count(*) FROM quarantine.silver_orders WHERE check_id LIKE '%not_canceled%' AND _batch IS NOT NULL`).Scan(&strict); err != nil || strict == 0 {
		t.Fatalf("orders quarantined by the strict rule, with their batch: %d (%v)", strict, err)
	}
	g, suites, err := LoadGated("")
	if err != nil {
		t.Fatal(err)
	}
	res, err := transform.Replay(ctx, lk, eng, g, suites, "silver.orders", "replay1")
	eng.Close()
	if err != nil || res.Moved == 0 {
		t.Fatalf("replay: %+v %v", res, err)
	}
	// Rows came back outside any delta: the models downstream must not
	// follow this version incrementally, nor may its next build continue it.
	if m, err := lk.Manifest(lake.Silver, "orders"); err != nil || m.Delta == nil || !m.Delta.Full || m.Code != "" {
		t.Fatalf("replayed version: delta %+v code %q (%v); want a full delta and no code", m.Delta, m.Code, err)
	}
	if _, err := Commit(context.Background(), lk, lake.CommitInfo{Kind: lake.CommitReplay, RunID: "replay1"}, nil); err != nil {
		t.Fatal(err)
	}
	for _, d := range drops[3:] {
		linkDrop(t, src, work, d)
		run("")
	}
	full := t.TempDir()
	runOK(t, full, src)
	if d := laketest.DiffLakes(t, laketest.OpenRead(t, root), laketest.OpenRead(t, full), laketest.RunCols); len(d) > 0 {
		t.Errorf("after a replay and more drops != full build:\n%s", strings.Join(d, "\n"))
	}
}

// sameCheckStats: the totals of the row-level checks each gated table keeps
// in its manifest (the next drop's counts of the rows it does not rebuild
// start from them) are those of a full build, after every drop.
func sameCheckStats(t *testing.T, inc, full string) {
	t.Helper()
	a, b := modelManifests(t, inc), modelManifests(t, full)
	if len(b) == 0 {
		t.Fatal("no Silver or Gold table in the full build")
	}
	with := 0
	for name, want := range b {
		if len(want.Stats) > 0 {
			with++
		}
		if got := a[name]; got == nil || !maps.Equal(got.Stats, want.Stats) {
			t.Errorf("%s: check totals after the drops %v, full build %v", name, got, want.Stats)
		}
	}
	// Every table whose suite has row-level checks (all but a mart).
	if with < len(b)-1 {
		t.Errorf("%d of %d Silver and Gold tables have check totals", with, len(b))
	}
	// The aggregate totals (table-level checks) of the incremental builds,
	// each the previous total less the rows replaced plus the rows added,
	// are exactly those a full build reads.
	totals := func(ms map[string]*lake.Manifest) map[string]map[string]string {
		out := map[string]map[string]string{}
		for name, m := range ms {
			out[name] = m.Totals
		}
		return out
	}
	ta, tb := totals(a), totals(b)
	kept := 0
	for name, want := range tb {
		kept += len(want)
		if got := ta[name]; !maps.Equal(got, want) {
			t.Errorf("%s: aggregate totals after the drops %v, full build %v", name, got, want)
		}
	}
	if kept < 10 {
		t.Errorf("%d aggregate totals kept over the Silver and Gold tables of the full build: the table-level checks should keep more", kept)
	}
}

// mergedOnRead checks the rows the drops replaced in big files: marked
// deleted in the files (merge on read) rather than written again, for some
// tables, and each file's list consistent: in order, within the file, and
// its rows plus the deleted ones are the rows the file holds.
func mergedOnRead(t *testing.T, root string) {
	t.Helper()
	lk := laketest.OpenRead(t, root)
	ctx := context.Background()
	eng, err := engine.Open(ctx, lk, engine.Options{MemoryLimit: "512MB", Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	files := 0
	for _, ts := range lk.Tables() {
		m := ts.Manifest
		if m == nil {
			continue
		}
		for _, f := range m.Files {
			if len(f.Deleted) == 0 {
				continue
			}
			files++
			var held int64
			if err := eng.DB().QueryRowContext(ctx, "SELECT count(*) FROM read_parquet("+engine.Literal(lk.Abs(f.Path))+")").Scan(&held); err != nil {
				t.Fatal(err)
			}
			if f.Rows+int64(len(f.Deleted)) != held {
				t.Errorf("%s: %s: %d rows + %d deleted, the file holds %d", ts.Name, f.Path, f.Rows, len(f.Deleted), held)
			}
			for i, p := range f.Deleted {
				if p < 0 || p >= held || (i > 0 && p <= f.Deleted[i-1]) {
					t.Errorf("%s: %s: deleted positions not in order within the file: %v", ts.Name, f.Path, f.Deleted)
					break
				}
			}
		}
	}
	if files == 0 {
		t.Error("no file with deleted rows: every replaced row was written again")
	}
}

// modelManifests are the current Silver and Gold table versions of the lake
// at root, by table name.
func modelManifests(t *testing.T, root string) map[string]*lake.Manifest {
	t.Helper()
	out := map[string]*lake.Manifest{}
	for _, ts := range laketest.OpenRead(t, root).Tables() {
		if m := ts.Manifest; m != nil && (m.Layer == lake.Silver || m.Layer == lake.Gold) {
			out[ts.Name] = m
		}
	}
	return out
}

// TestIncrementalBlockedGateLeavesNothing: an incremental build writes its
// new version while its gate judges the rows; when a blocking check fails,
// that version is not published (the build cancels or discards it; the
// run's vacuum would also remove an orphan): the published version stays,
// the failure names the check, and no directory of the failed version is
// left in the table's folder.
func TestIncrementalBlockedGateLeavesNothing(t *testing.T) {
	src, drops := editableDrops(t)
	// The base batch's silver.orders rows: the blocking check allows no more.
	probe := t.TempDir()
	probeWork := t.TempDir()
	linkDrop(t, src, probeWork, drops[0])
	runOK(t, probe, probeWork)
	base := column(t, laketest.OpenRead(t, probe), "SELECT count(*) FROM silver.orders")[0]
	project := ordersProject(t, `  - id: no_more_orders
    kind: row_count
    max_rows: `+base+`
    description: for the test
`)
	root, work := t.TempDir(), t.TempDir()
	run := func() *Summary {
		lk, unlock := lockLake(t, root)
		defer unlock()
		sum, err := Run(context.Background(), lk, Options{SourceDir: work, ProjectDir: project, Engine: engine.Options{MemoryLimit: "1GB", Threads: 2}})
		if err != nil {
			t.Fatal(err)
		}
		return sum
	}
	linkDrop(t, src, work, drops[0])
	if sum := run(); sum.Err() != nil {
		t.Fatalf("base batch: %v", sum.Err())
	}
	before := laketest.OpenRead(t, root)
	published, err := before.Manifest(lake.Silver, "orders")
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(root, lake.Silver, "orders")
	entries := func() []string {
		es, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, e := range es {
			names = append(names, e.Name())
		}
		return names
	}
	was := entries()
	linkDrop(t, src, work, drops[1])
	sum := run()
	var step *Step
	for i := range sum.Steps {
		if sum.Steps[i].Name == "silver.orders" {
			step = &sum.Steps[i]
		}
	}
	if step == nil {
		t.Fatal("no silver.orders step")
	}
	if !strings.Contains(step.Error, "no_more_orders") || step.Incremental == nil {
		t.Fatalf("silver.orders step: %s (incremental: %v) %q, want an incremental build blocked by no_more_orders", step.Status, step.Incremental != nil, step.Error)
	}
	after, err := laketest.OpenRead(t, root).Manifest(lake.Silver, "orders")
	if err != nil {
		t.Fatal(err)
	}
	if after.Version != published.Version {
		t.Errorf("silver.orders version %d after a blocked build, want %d", after.Version, published.Version)
	}
	if now := entries(); !slices.Equal(now, was) {
		t.Errorf("silver/orders holds %v after a blocked build, want %v", now, was)
	}
}

// A project check that reads a model's gate-only input (silver.orders, for
// silver.order_items) in an expression, however it spells the table, makes
// the build full: a changed order (canceled, same order_id) changes the
// verdict of its items, which an incremental build would not rebuild.
func TestIncrementalGateOnlyInputInExpression(t *testing.T) {
	t.Parallel()
	for _, spelling := range []string{`"silver"."orders"`, "SILVER.ORDERS"} {
		src, drops := landingDrops(t, olist.GenOptions{Scale: 0.005, Seed: 5, DailyFrom: "2018-08-25"})
		proj := t.TempDir()
		if err := os.MkdirAll(filepath.Join(proj, "suites"), 0o755); err != nil {
			t.Fatal(err)
		}
		suite := "table: silver.order_items\nchecks:\n  - id: order_not_canceled\n    kind: expression\n" +
			"    expr: order_id NOT IN (SELECT order_id FROM " + spelling + " WHERE order_status = 'canceled')\n" +
			"    severity: warn\n    on_fail: keep\n    description: The item's order is not canceled.\n"
		if err := os.WriteFile(filepath.Join(proj, "suites", "extra.yaml"), []byte(suite), 0o644); err != nil {
			t.Fatal(err)
		}
		// An order of the base batch with items, delivered: canceled in the
		// first drop.
		ohdr, _ := firstRecord(t, src, drops[0], "olist_orders_dataset.csv")
		items := readFile(t, filepath.Join(src, drops[0], "olist_order_items_dataset.csv"))
		var target []string
		for _, l := range strings.Split(readFile(t, filepath.Join(src, drops[0], "olist_orders_dataset.csv")), "\n")[1:] {
			f := strings.Split(l, ",")
			if len(f) > 3 && strings.Contains(f[2], "delivered") && strings.Contains(items, strings.Trim(f[0], `"`)) {
				target = f
				break
			}
		}
		if target == nil {
			t.Fatal("no delivered order with items in the base batch")
		}
		target[2] = `"canceled"`
		appendLine(t, src, drops[1], "olist_orders_dataset.csv", ohdr, strings.Join(target, ","))

		work, inc := t.TempDir(), t.TempDir()
		var why string
		for _, d := range drops[:2] {
			sum := runDropWith(t, src, work, inc, d, proj)
			for _, st := range sum.Steps {
				if st.Name == "silver.order_items" {
					why = st.FullReason
				}
			}
		}
		if !strings.Contains(why, "check order_not_canceled reads silver.orders row by row") {
			t.Errorf("%s: silver.order_items built after the drop with reason %q, want a full build for the check", spelling, why)
		}
		full := t.TempDir()
		lk, unlock := lockLake(t, full)
		if _, err := Run(context.Background(), lk, Options{SourceDir: work, ProjectDir: proj, Engine: engine.Options{MemoryLimit: "1GB", Threads: 2}}); err != nil {
			t.Fatal(err)
		}
		unlock()
		if d := laketest.DiffLakes(t, laketest.OpenRead(t, inc), laketest.OpenRead(t, full), lineageCols); len(d) > 0 {
			t.Errorf("%s: incremental != full:\n%s", spelling, strings.Join(d, "\n"))
		}
	}
}

// runDropWith links drop d of src into the landing zone work and runs the
// pipeline with the project proj on the lake at dir.
func runDropWith(t *testing.T, src, work, dir, d, proj string) *Summary {
	t.Helper()
	linkDrop(t, src, work, d)
	lk, unlock := lockLake(t, dir)
	defer unlock()
	sum, err := Run(context.Background(), lk, Options{SourceDir: work, ProjectDir: proj, Engine: engine.Options{MemoryLimit: "1GB", Threads: 2}})
	if err != nil {
		t.Fatal(err)
	}
	return sum
}
