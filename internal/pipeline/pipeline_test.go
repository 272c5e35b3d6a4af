package pipeline

import (
	"bufio"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/keystone/nexus/internal/engine"
	"github.com/keystone/nexus/internal/lake"
	"github.com/keystone/nexus/internal/olist"
	"github.com/keystone/nexus/internal/quality"
	"github.com/keystone/nexus/internal/transform"
)

var (
	genOnce sync.Once
	genDir  string
	genErr  error
)

// generated returns a data set at scale 0.05 shared by the tests (read only).
func generated(t *testing.T) string {
	t.Helper()
	genOnce.Do(func() {
		genDir, genErr = os.MkdirTemp("", "nexus-pipeline-gen")
		if genErr == nil {
			_, genErr = olist.Generate(context.Background(), genDir, olist.GenOptions{Scale: 0.05, Seed: 11})
		}
	})
	if genErr != nil {
		t.Fatal(genErr)
	}
	return genDir
}

func TestMain(m *testing.M) {
	code := m.Run()
	if genDir != "" {
		os.RemoveAll(genDir)
	}
	os.Exit(code)
}

type planted struct {
	Table string         `json:"table"`
	Key   map[string]any `json:"key"`
	Quirk string         `json:"quirk"`
	Line  int64          `json:"line"`
}

func readPlanted(t *testing.T, dir string) []planted {
	t.Helper()
	f, err := os.Open(filepath.Join(dir, "_planted.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []planted
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var p planted
		if err := json.Unmarshal(sc.Bytes(), &p); err != nil {
			t.Fatal(err)
		}
		out = append(out, p)
	}
	return out
}

func runPipeline(t *testing.T, lk *lake.Lake, src, project, runID string) *Summary {
	t.Helper()
	sum, err := Run(context.Background(), lk, Options{SourceDir: src, RunID: runID, ProjectDir: project,
		Engine: engine.Options{Threads: 2, MemoryLimit: "1GB"}})
	if err != nil {
		t.Fatal(err)
	}
	return sum
}

func column(t *testing.T, lk *lake.Lake, q string) []string {
	t.Helper()
	eng, err := engine.Open(context.Background(), lk, engine.Options{Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	res, err := eng.Query(context.Background(), q)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	var out []string
	for _, r := range res.Rows {
		if r[0] == nil {
			out = append(out, "NULL")
		} else {
			out = append(out, *r[0])
		}
	}
	return out
}

// TestTimestampDefectsKeepTheirSales: on generated data, the planted orders
// with a logistics timestamp out of order (carrier hand-over or delivery
// before the purchase, and the rest) are real sales: they stay in Silver,
// flagged in quality_flags, keep their revenue and payments in
// gold.fact_sales, and only the measures a defect corrupts are NULL. Nothing
// leaves the flow, Bronze = Silver + quarantine to the cent, and the run
// says "0 orders, R$ 0.00" of sales quarantined.
func TestTimestampDefectsKeepTheirSales(t *testing.T) {
	t.Parallel()
	src := generated(t)
	lk, _ := lake.Open(t.TempDir())
	sum := runPipeline(t, lk, src, "", "gen")
	if sum.Err() != nil {
		t.Fatalf("run failed: %v", sum.Err())
	}
	flagOf := map[string]string{
		"carrier_before_purchase":   "carrier_after_purchase",
		"delivered_before_purchase": "delivered_after_purchase",
		"carrier_before_approval":   "carrier_after_approval",
		"delivered_before_carrier":  "delivered_after_carrier",
	}
	byQuirk := map[string][]string{}
	for _, p := range readPlanted(t, src) {
		if p.Table == "orders" && flagOf[p.Quirk] != "" {
			byQuirk[p.Quirk] = append(byQuirk[p.Quirk], "'"+p.Key["order_id"].(string)+"'")
		}
	}
	for quirk, flag := range flagOf {
		ids := byQuirk[quirk]
		if len(ids) == 0 {
			t.Errorf("the generator planted no %s at this scale", quirk)
			continue
		}
		in := "(" + strings.Join(ids, ", ") + ")"
		t.Run(quirk, func(t *testing.T) {
			// In Silver, each flagged with its rule.
			got := column(t, lk, fmt.Sprintf("SELECT count(*) FILTER (WHERE list_contains(quality_flags, '%s')) || '/' || count(*) FROM silver.orders WHERE order_id IN %s", flag, in))[0]
			if want := fmt.Sprintf("%d/%d", len(ids), len(ids)); got != want {
				t.Errorf("silver.orders: %s of the planted orders flagged %s, want %s", got, flag, want)
			}
			// In Gold, with every item and every real of their payments.
			for _, q := range []string{
				"SELECT (SELECT count(*) || '/' || sum(price) FROM gold.fact_sales WHERE order_id IN %[1]s) = (SELECT count(*) || '/' || sum(price) FROM bronze.order_items WHERE order_id IN %[1]s)",
				"SELECT (SELECT sum(payment_value) FROM gold.fact_sales WHERE order_id IN %[1]s) = (SELECT sum(payment_value) FROM bronze.order_payments WHERE order_id IN %[1]s AND order_id IN (SELECT order_id FROM bronze.order_items))",
				"SELECT (SELECT sum(price) FROM gold.fact_sales WHERE order_id IN %[1]s) > 0",
			} {
				if r := column(t, lk, fmt.Sprintf(q, in))[0]; r != "true" {
					t.Errorf("revenue lost: %s", fmt.Sprintf(q, in))
				}
			}
			// Only a delivery before the purchase corrupts measures: delivery_days and is_late.
			nulled := column(t, lk, fmt.Sprintf("SELECT count(*) FILTER (WHERE delivery_days IS NULL AND is_late IS NULL) FROM silver.orders WHERE order_id IN %s", in))[0]
			want := "0"
			if quirk == "delivered_before_purchase" {
				want = fmt.Sprint(len(ids))
			}
			if nulled != want {
				t.Errorf("%s orders with delivery_days and is_late NULL, want %s", nulled, want)
			}
		})
	}
	// Clean data: nothing leaves the flow.
	for _, st := range sum.Steps {
		if st.Kind == "model" && st.Quarantined != 0 {
			t.Errorf("%s quarantined %d rows", st.Name, st.Quarantined)
		}
		for _, c := range st.Checks {
			if strings.HasSuffix(c.CheckID, "_bronze_reconcile") && c.Verdict != quality.VerdictPass {
				t.Errorf("%s %s: %s %s", st.Name, c.CheckID, c.Verdict, c.Observed)
			}
		}
	}
	if sum.Sales == nil || sum.Sales.Orders != 0 || sum.Sales.PaymentCents != 0 || sum.Sales.Unreadable != 0 || len(sum.Sales.NotBuilt) != 0 {
		t.Errorf("sales quarantined = %+v, want 0 orders, R$ 0, no unreadable record", sum.Sales)
	}
	// Row accounting at every gated step.
	for _, st := range sum.Steps {
		if st.Kind == "model" && transform.Status(st.Status) == transform.StatusBuilt {
			layer, table, _ := strings.Cut(st.Name, ".")
			m, _ := lk.Manifest(layer, table)
			if m.Rows != st.RowsOut {
				t.Errorf("%s: manifest rows %d, step rows out %d", st.Name, m.Rows, st.RowsOut)
			}
		}
	}
	// Gold reconciles with the gated Silver to the cent.
	rec := column(t, lk, `SELECT (SELECT sum(payment_value) FROM gold.fact_sales) =
		(SELECT sum(payment_value) FROM silver.order_payments WHERE order_id IN (SELECT order_id FROM silver.order_items))`)
	if rec[0] != "true" {
		t.Error("fact_sales payments do not reconcile with silver.order_payments")
	}
	// Items and reviews: Gold holds exactly the gated Silver rows.
	for _, q := range []string{
		"SELECT (SELECT count(*) || '/' || sum(price) || '/' || sum(freight_value) FROM gold.fact_sales) = (SELECT count(*) || '/' || sum(price) || '/' || sum(freight_value) FROM silver.order_items)",
		"SELECT (SELECT count(*) || '/' || sum(review_score) FROM gold.fact_reviews) = (SELECT count(*) || '/' || sum(review_score) FROM silver.order_reviews)",
	} {
		if got := column(t, lk, q); got[0] != "true" {
			t.Errorf("Gold does not reconcile with Silver: %s", q)
		}
	}
}

// TestSalesUnreadableRecords: a record of a sales file that Bronze cannot
// read (its order and amount unknown) is in neither figure of "sales
// quarantined", so the run counts it beside them.
func TestSalesUnreadableRecords(t *testing.T) {
	t.Parallel()
	src := t.TempDir()
	if err := os.CopyFS(src, os.DirFS(generated(t))); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(filepath.Join(src, "olist_order_payments_dataset.csv"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString("\"b81ef226f3fe1789b1e8b2acac839d17\",1,credit_card\n"); err != nil { // 3 of 5 fields
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	lk, _ := lake.Open(t.TempDir())
	sum := runPipeline(t, lk, src, "", "u")
	if sum.Err() != nil {
		t.Fatalf("run failed: %v", sum.Err())
	}
	if sum.Sales == nil || sum.Sales.Unreadable != 1 || sum.Sales.Orders != 0 {
		t.Errorf("sales quarantined = %+v, want 1 unreadable record and no order", sum.Sales)
	}
}

// TestSaleWithoutPaymentKeptFlagged: a sale whose order has no payment in
// Silver (the planted order without payment, and an order whose only
// payment record Bronze cannot parse, "12x.00") keeps every item in
// gold.fact_sales, flagged payment_recorded, with payment_value NULL (what
// was paid is unknown, not 0.00); no other row is flagged.
func TestSaleWithoutPaymentKeptFlagged(t *testing.T) {
	t.Parallel()
	src := t.TempDir()
	if err := os.CopyFS(src, os.DirFS(generated(t))); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, p := range readPlanted(t, src) {
		if p.Quirk == "order_without_payment" {
			ids = append(ids, "'"+p.Key["order_id"].(string)+"'")
		}
	}
	if len(ids) == 0 {
		t.Fatal("the generator planted no order_without_payment at this scale")
	}
	// A delivered order with items and one payment record: its amount
	// becomes unparseable.
	status := map[string]string{}
	for _, r := range readCSV(t, filepath.Join(src, "olist_orders_dataset.csv")) {
		status[r[0]] = r[2]
	}
	hasItems := map[string]bool{}
	for _, r := range readCSV(t, filepath.Join(src, "olist_order_items_dataset.csv")) {
		hasItems[r[0]] = true
	}
	pays := readCSV(t, filepath.Join(src, "olist_order_payments_dataset.csv"))
	count := map[string]int{}
	for _, r := range pays[1:] {
		count[r[0]]++
	}
	bad := ""
	for i, r := range pays[1:] {
		if count[r[0]] == 1 && status[r[0]] == "delivered" && hasItems[r[0]] {
			bad = r[0]
			pays[i+1][4] = "12x.00"
			break
		}
	}
	if bad == "" {
		t.Fatal("no delivered order with one payment")
	}
	// A canceled order with items loses its payment records: it paid
	// nothing, 0.00, no flag.
	canceled := ""
	for _, r := range pays[1:] {
		if status[r[0]] == "canceled" && hasItems[r[0]] {
			canceled = r[0]
			break
		}
	}
	if canceled == "" {
		t.Fatal("no canceled order with items and payments")
	}
	kept := pays[:1]
	for _, r := range pays[1:] {
		if r[0] != canceled {
			kept = append(kept, r)
		}
	}
	writeCSV(t, filepath.Join(src, "olist_order_payments_dataset.csv"), kept)
	ids = append(ids, "'"+bad+"'", "'"+canceled+"'")
	in := "(" + strings.Join(ids, ", ") + ")"

	lk, _ := lake.Open(t.TempDir())
	sum := runPipeline(t, lk, src, "", "p")
	if sum.Err() != nil {
		t.Fatalf("run failed: %v", sum.Err())
	}
	// Bronze's items of the orders that are sales; their rows in
	// gold.fact_sales; those flagged with payment_value NULL; every flagged
	// row of the table. An order that is no sale (canceled, unavailable)
	// without payment paid nothing: 0.00, not flagged.
	got := column(t, lk, fmt.Sprintf(`SELECT concat_ws(' ',
		(SELECT count(*) FROM bronze.order_items WHERE order_id IN (SELECT order_id FROM silver.orders WHERE is_sale AND order_id IN %[1]s)),
		(SELECT count(*) FROM gold.fact_sales WHERE order_id IN %[1]s AND is_sale),
		(SELECT count(*) FROM gold.fact_sales WHERE order_id IN %[1]s AND is_sale AND payment_value IS NULL AND list_contains(quality_flags, 'payment_recorded')),
		(SELECT count(*) FROM gold.fact_sales WHERE list_contains(quality_flags, 'payment_recorded')),
		(SELECT count(*) FROM gold.fact_sales WHERE order_id IN %[1]s AND NOT is_sale),
		(SELECT count(*) FROM gold.fact_sales WHERE order_id IN %[1]s AND NOT is_sale AND (payment_value IS DISTINCT FROM 0 OR len(quality_flags) > 0)))`, in))[0]
	var items, rows, nulled, flagged, noSale, others int
	if _, err := fmt.Sscan(got, &items, &rows, &nulled, &flagged, &noSale, &others); err != nil {
		t.Fatalf("%q: %v", got, err)
	}
	if items == 0 || rows != items || nulled != items || flagged != items || noSale == 0 || others != 0 {
		t.Errorf("%d items of sales in Bronze; in gold.fact_sales %d rows, %d flagged payment_recorded with payment_value NULL, %d flagged in all; "+
			"%d rows of no sale, %d of them not 0.00 or flagged; want %[1]d, %[1]d, %[1]d, %[1]d, some, 0",
			items, rows, nulled, flagged, noSale, others)
	}
	var found bool
	for _, st := range sum.Steps {
		for _, c := range st.Checks {
			if st.Name == "gold.fact_sales" && c.CheckID == "payment_recorded" {
				found = true
				if c.Verdict != quality.VerdictWarn || c.RowsFailed == 0 {
					t.Errorf("payment_recorded: %s, %d failed; want warn", c.Verdict, c.RowsFailed)
				}
			}
			if strings.HasSuffix(c.CheckID, "_reconcile") && c.Verdict != quality.VerdictPass {
				t.Errorf("%s %s: %s %s", st.Name, c.CheckID, c.Verdict, c.Observed)
			}
		}
	}
	if !found {
		t.Error("gold.fact_sales has no payment_recorded result")
	}
	if sum.Sales == nil || sum.Sales.Unreadable != 1 {
		t.Errorf("sales quarantined = %+v, want the unparseable record counted", sum.Sales)
	}
}

func readCSV(t *testing.T, path string) [][]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return rows
}

func writeCSV(t *testing.T, path string, rows [][]string) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w := csv.NewWriter(f)
	if err := w.WriteAll(rows); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestQuarantinedSalesAndDroppedPayment: orders quarantined as orphans are
// counted, with their money, in the run's "sales quarantined" figure; and a
// model that loses a payment fails its Bronze = Silver + quarantine check,
// which blocks the table.
func TestQuarantinedSalesAndDroppedPayment(t *testing.T) {
	t.Parallel()
	src := generated(t)
	lk, _ := lake.Open(t.TempDir())
	// The project quarantines every order of one state's customers (as an
	// orphan rule would) to have sales in quarantine.
	project := ordersProject(t, `  - id: not_from_acre
    kind: expression
    expr: customer_id NOT IN (SELECT customer_id FROM silver.customers WHERE customer_state = 'AC')
    description: for the test
`)
	sum := runPipeline(t, lk, src, project, "q")
	if sum.Err() != nil {
		t.Fatalf("run failed: %v", sum.Err())
	}
	want := column(t, lk, `SELECT (SELECT count(*) FROM quarantine.silver_orders) || ',' ||
		(SELECT CAST(sum(payment_value) * 100 AS BIGINT) FROM bronze.order_payments WHERE order_id IN (SELECT order_id FROM quarantine.silver_orders))`)[0]
	var orders, cents int
	splitInts(t, want, &orders, &cents)
	if orders == 0 || sum.Sales == nil || sum.Sales.Orders != int64(orders) || sum.Sales.PaymentCents != int64(cents) {
		t.Errorf("sales quarantined = %+v, want %d orders, %d cents", sum.Sales, orders, cents)
	}
	for _, st := range sum.Steps {
		for _, c := range st.Checks {
			if strings.HasSuffix(c.CheckID, "_bronze_reconcile") && c.Verdict != quality.VerdictPass {
				t.Errorf("%s %s: %s %s", st.Name, c.CheckID, c.Verdict, c.Observed)
			}
		}
	}
	// `nexus check` counts the published quarantine on the Silver side too,
	// and the gate's quality_flags column is no schema drift.
	_, suites, err := LoadGated(project)
	if err != nil {
		t.Fatal(err)
	}
	eng, err := engine.Open(context.Background(), lk, engine.Options{Threads: 2})
	if err != nil {
		t.Fatal(err)
	}
	chk, err := Check(context.Background(), lk, eng, suites, "silver", "")
	if err != nil {
		t.Fatal(err)
	}
	// --layer in any case; a layer without suites is said, with those that have.
	if upper, err := Check(context.Background(), lk, eng, suites, "SILVER", ""); err != nil || len(upper.Results) != len(chk.Results) {
		t.Errorf("check --layer SILVER: %v, want the %d results of silver", err, len(chk.Results))
	}
	if one, err := Check(context.Background(), lk, eng, suites, "", "SILVER.Orders"); err != nil || len(one.Results) == 0 || one.Results[0].Table != "silver.orders" {
		t.Errorf("check --table SILVER.Orders: %v", err)
	}
	if _, err := Check(context.Background(), lk, eng, suites, "bronze", ""); err == nil || !strings.Contains(err.Error(), `no suite judges a table of layer "bronze" (layers with suites: silver, gold)`) {
		t.Errorf("check --layer bronze: %v", err)
	}
	// quarantine show --check: a check id of a model's quarantine (its rows
	// list their failed checks with ", " between), spaces around aside, as
	// the suite spells it.
	for _, c := range []struct {
		check string
		rows  int
	}{{"not_from_acre", orders}, {" not_from_acre ", orders}, {"NOT_FROM_ACRE", 0}, {"not_from", 0}} {
		if n, err := QuarantineCount(context.Background(), eng, "silver.orders", c.check); err != nil || n != int64(c.rows) {
			t.Errorf("quarantine rows of silver.orders, check %q: %d (%v), want %d", c.check, n, err, c.rows)
		}
	}
	if failed, err := QuarantineFailures(context.Background(), eng, "silver_orders"); err != nil || len(failed) == 0 || failed[0] != fmt.Sprintf("not_from_acre (%d)", orders) {
		t.Errorf("failures of silver_orders: %v (%v), want not_from_acre (%d) first", failed, err, orders)
	}
	eng.Close()
	seen := 0
	for _, r := range chk.Results {
		if strings.HasSuffix(r.CheckID, "_bronze_reconcile") || r.Kind == quality.KindSchema {
			seen++
			if r.Verdict != quality.VerdictPass {
				t.Errorf("check %s %s: %s %s", r.Table, r.CheckID, r.Verdict, r.Observed)
			}
		}
	}
	if seen < 11 {
		t.Errorf("check ran %d reconciliations and schema checks, want 2 + 9", seen)
	}
	// Row-level checks judge every row the build produced, the quarantined
	// ones too: `nexus check` finds what the run found (a run's failed
	// not_from_acre does not turn into a pass on the dashboard after a check).
	ran := map[string]quality.Result{}
	for _, r := range sum.Checks() {
		ran[r.Table+"/"+r.CheckID] = r
	}
	rowLevel := 0
	for _, r := range chk.Results {
		s := suites[r.Table]
		for _, c := range s.RowLevelChecks() {
			if c.ID != r.CheckID {
				continue
			}
			rowLevel++
			b := ran[r.Table+"/"+r.CheckID]
			if b.RowsChecked != r.RowsChecked || b.RowsFailed != r.RowsFailed || b.Verdict != r.Verdict {
				t.Errorf("%s %s: run %s %d of %d, check %s %d of %d", r.Table, r.CheckID, b.Verdict, b.RowsFailed, b.RowsChecked, r.Verdict, r.RowsFailed, r.RowsChecked)
			}
		}
	}
	if rowLevel < 20 || ran["silver.orders/not_from_acre"].RowsFailed == 0 {
		t.Errorf("compared %d row-level checks; not_from_acre failed %d rows in the run", rowLevel, ran["silver.orders/not_from_acre"].RowsFailed)
	}

	// A model that drops the second payment of every order.
	os.MkdirAll(filepath.Join(project, "models", "silver"), 0o755)
	model, err := os.ReadFile("../transform/models/silver/order_payments.sql")
	if err != nil {
		t.Fatal(err)
	}
	lossy := strings.Replace(string(model), "FROM source('bronze.order_payments')", "FROM source('bronze.order_payments') WHERE payment_sequential <> 2", 1)
	if lossy == string(model) {
		t.Fatal("could not rewrite the payments model")
	}
	os.WriteFile(filepath.Join(project, "models", "silver", "order_payments.sql"), []byte(lossy), 0o644)
	sum = runPipeline(t, lk, src, project, "lossy")
	if sum.Err() == nil || !strings.Contains(sum.Err().Error(), "payments_bronze_reconcile") {
		t.Fatalf("run error = %v, want payments_bronze_reconcile to fail", sum.Err())
	}
	for _, st := range sum.Steps {
		if st.Name == "silver.order_payments" && transform.Status(st.Status) != transform.StatusFailed {
			t.Errorf("silver.order_payments %s, want failed", st.Status)
		}
	}
	// The quarantine is not this run's: the figure is unknown, not 0.
	if sum.Sales == nil || strings.Join(sum.Sales.NotBuilt, ",") != "silver.order_payments" {
		t.Errorf("sales quarantined = %+v, want silver.order_payments not built", sum.Sales)
	}
}

// TestReplayAfterRuleChange: relaxing a rule and replaying moves the rows that
// now pass back into the table, keeps the others, and duplicates nothing.
func TestReplayAfterRuleChange(t *testing.T) {
	t.Parallel()
	src := generated(t)
	lk, _ := lake.Open(t.TempDir())
	// A project that (wrongly) quarantines the orders handed to the carrier
	// before the purchase.
	project := ordersProject(t, `  - id: carrier_after_purchase
    kind: expression
    expr: order_delivered_carrier_date >= order_purchase_timestamp
    description: strict for the test
`)
	if sum := runPipeline(t, lk, src, project, "r1"); sum.Err() != nil {
		t.Fatal(sum.Err())
	}
	before := column(t, lk, "SELECT (SELECT count(*) FROM silver.orders) || ',' || (SELECT count(*) FROM quarantine.silver_orders)")[0]
	var published, quarantined int
	splitInts(t, before, &published, &quarantined)

	// The rule is relaxed back to the default (keep and flag): replay.
	g, suites, err := LoadGated("")
	if err != nil {
		t.Fatal(err)
	}
	eng, err := engine.Open(context.Background(), lk, engine.Options{Threads: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	res, err := transform.Replay(context.Background(), lk, eng, g, suites, "silver.orders", "replay1")
	if err != nil {
		t.Fatal(err)
	}
	if res.Replayed != int64(quarantined) || res.Moved == 0 || res.Moved+res.Kept != res.Replayed {
		t.Fatalf("replay = %+v, %d were quarantined", res, quarantined)
	}
	after := column(t, lk, "SELECT (SELECT count(*) FROM silver.orders) || ',' || (SELECT count(*) FROM quarantine.silver_orders) || ',' || (SELECT count(DISTINCT order_id) FROM silver.orders)")[0]
	var p2, q2, distinct int
	splitInts(t, after, &p2, &q2, &distinct)
	if p2 != published+int(res.Moved) || q2 != int(res.Kept) || distinct != p2 {
		t.Errorf("after replay: published %d (was %d), quarantined %d, distinct ids %d; replay %+v", p2, published, q2, distinct, res)
	}
	// The totals of the row-level checks the build kept count the rows
	// that came back as failed: the replayed version keeps none.
	if m, err := lk.Manifest(lake.Silver, "orders"); err != nil || len(m.Stats) > 0 {
		t.Errorf("replayed silver.orders: stats %v (%v), want none", m.Stats, err)
	}
	left := column(t, lk, "SELECT DISTINCT check_id FROM quarantine.silver_orders")
	for _, c := range left {
		if strings.Contains(c, "carrier_after_purchase") {
			t.Errorf("a row still quarantined for the relaxed rule: %s", c)
		}
	}
	// The rows that came back carry the flag of the rule that now keeps them.
	if n := column(t, lk, "SELECT count(*) FROM silver.orders WHERE list_contains(quality_flags, 'carrier_after_purchase')")[0]; n != fmt.Sprint(res.Moved) {
		t.Errorf("%s replayed orders flagged carrier_after_purchase, want %d", n, res.Moved)
	}

	// The items of the orders that came back now pass their foreign key: a
	// replay of the (unpartitioned) items table moves them too, once.
	itemsBefore := column(t, lk, "SELECT count(*) FROM silver.order_items")[0]
	items, err := transform.Replay(context.Background(), lk, eng, g, suites, "silver.order_items", "replay2")
	if err != nil {
		t.Fatal(err)
	}
	if items.Moved == 0 || items.Moved+items.Kept != items.Replayed {
		t.Fatalf("items replay = %+v", items)
	}
	var nBefore, nAfter, nDistinct int
	splitInts(t, itemsBefore, &nBefore)
	splitInts(t, column(t, lk, "SELECT count(*) || ',' || count(DISTINCT (order_id, order_item_id)) FROM silver.order_items")[0], &nAfter, &nDistinct)
	if nAfter != nBefore+int(items.Moved) || nDistinct != nAfter {
		t.Errorf("items after replay: %d rows (%d distinct), want %d", nAfter, nDistinct, nBefore+int(items.Moved))
	}
	again, err := transform.Replay(context.Background(), lk, eng, g, suites, "silver.order_items", "replay3")
	if err != nil {
		t.Fatal(err)
	}
	if again.Moved != 0 {
		t.Errorf("a second replay moved %d rows again", again.Moved)
	}
}

// TestErrorCheckKeepsGoldPublished: a table-level error check that fails
// stops the table and everything downstream; the previous versions stay.
func TestErrorCheckKeepsGoldPublished(t *testing.T) {
	t.Parallel()
	src := generated(t)
	lk, _ := lake.Open(t.TempDir())
	if sum := runPipeline(t, lk, src, "", "ok"); sum.Err() != nil {
		t.Fatal(sum.Err())
	}
	goldBefore, _ := lk.Manifest("gold", "fact_sales")
	project := ordersProject(t, `  - id: impossible_row_count
    kind: row_count
    max_rows: 10
    severity: error
    description: fails on purpose
`)
	sum := runPipeline(t, lk, src, project, "bad")
	if sum.Err() == nil || !strings.Contains(sum.Err().Error(), "impossible_row_count") {
		t.Fatalf("run error = %v, want the failed check named", sum.Err())
	}
	status := map[string]transform.Status{}
	for _, st := range sum.Steps {
		status[st.Name] = transform.Status(st.Status)
		// The files were ingested by the first run: this one read none
		// (the summary's legend says 0 for an unchanged step).
		if st.Kind == StepIngest && (st.Status != StepUnchanged || st.RowsIn+st.RowsOut+st.Quarantined != 0 || st.TableRows == 0) {
			t.Errorf("%s: %s, rows in %d, out %d, quarantined %d, table rows %d; want unchanged, 0 0 0 and the table's rows",
				st.Name, st.Status, st.RowsIn, st.RowsOut, st.Quarantined, st.TableRows)
		}
	}
	if status["silver.orders"] != transform.StatusFailed || status["gold.fact_sales"] != transform.StatusSkipped {
		t.Errorf("statuses: silver.orders %s, gold.fact_sales %s", status["silver.orders"], status["gold.fact_sales"])
	}
	goldAfter, _ := lk.Manifest("gold", "fact_sales")
	if goldAfter.Version != goldBefore.Version || goldAfter.RunID != "ok" {
		t.Errorf("gold.fact_sales changed: v%d run %s", goldAfter.Version, goldAfter.RunID)
	}
	if n := column(t, lk, "SELECT count(*) FROM gold.fact_sales")[0]; n == "0" {
		t.Error("gold.fact_sales is empty after a failed gate")
	}
}

func splitInts(t *testing.T, s string, out ...*int) {
	t.Helper()
	parts := strings.Split(s, ",")
	if len(parts) != len(out) {
		t.Fatalf("%q: want %d ints", s, len(out))
	}
	for i, p := range parts {
		if err := json.Unmarshal([]byte(p), out[i]); err != nil {
			t.Fatal(err)
		}
	}
}

// TestBadProjectModelFailsBeforeIngest: a project model whose header is
// wrong fails the run at once with its file and line; nothing is ingested
// (the run would not have committed it) and the run is recorded as failed.
func TestBadProjectModelFailsBeforeIngest(t *testing.T) {
	t.Parallel()
	src := generated(t)
	project := t.TempDir()
	if err := os.MkdirAll(filepath.Join(project, "models", "gold"), 0o755); err != nil {
		t.Fatal(err)
	}
	bad := "-- description: Probe.\n-- incremental: month\n-- incremental_expr: gold.dim_date: month\nSELECT 1 AS month FROM ref('gold.fact_sales')\n"
	if err := os.WriteFile(filepath.Join(project, "models", "gold", "zz_bad.sql"), []byte(bad), 0o644); err != nil {
		t.Fatal(err)
	}
	lk, unlock := lockLake(t, t.TempDir())
	defer unlock()
	_, err := Run(context.Background(), lk, Options{SourceDir: src, ProjectDir: project, Engine: engine.Options{Threads: 1, MemoryLimit: "512MB"}})
	want := "zz_bad.sql:3: incremental_expr names gold.dim_date, which the model's SQL does not read"
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("err = %v, want %q", err, want)
	}
	if _, err := lk.Manifest(lake.Bronze, "orders"); !errors.Is(err, lake.ErrNoTable) {
		t.Errorf("bronze.orders was ingested before the bad model stopped the run (err %v)", err)
	}
	runs, err := History(lk, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(runs) != 1 || runs[0].Status != RunFailed {
		t.Fatalf("run records %+v, want one failed run", runs)
	}
	// The record says why: the model's error is in no step (the run failed
	// before its first).
	if !strings.Contains(runs[0].Error, want) {
		t.Errorf("the failed run's record has error %q, want it to contain %q", runs[0].Error, want)
	}
}

// ordersProject makes a project directory whose suite adds checks (YAML
// list items) to silver.orders.
func ordersProject(t *testing.T, checks string) string {
	t.Helper()
	project := t.TempDir()
	if err := os.MkdirAll(filepath.Join(project, "suites"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(project, "suites", "silver.orders.yaml"), []byte("table: silver.orders\nchecks:\n"+checks), 0o644); err != nil {
		t.Fatal(err)
	}
	return project
}
