package server

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keystone/nexus/internal/analytics"
	"github.com/keystone/nexus/internal/engine"
	"github.com/keystone/nexus/internal/lake"
	"github.com/keystone/nexus/internal/olist"
	"github.com/keystone/nexus/internal/pipeline"
	"github.com/keystone/nexus/internal/pipeline/pipelinetest"
)

// The lake of the tests: generated at scale 0.02 and run through the whole
// pipeline once for the package.
var (
	testLake   *lake.Lake
	testEng    *engine.Engine
	testSource string
)

func TestMain(m *testing.M) {
	code, err := setup(m)
	if err != nil {
		fmt.Fprintln(os.Stderr, "setup:", err)
		os.Exit(1)
	}
	os.Exit(code)
}

func setup(m *testing.M) (int, error) {
	dir, err := os.MkdirTemp("", "nexus-server-test")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(dir)
	ctx := context.Background()
	testSource = filepath.Join(dir, "source")
	testLake, err = pipelinetest.Build(ctx, dir, olist.GenOptions{Scale: 0.02, Seed: 1}, nil)
	if err != nil {
		return 0, err
	}
	testEng, err = engine.Open(ctx, testLake, engine.Options{MemoryLimit: "1GB", Conns: 4})
	if err != nil {
		return 0, err
	}
	defer testEng.Close()
	return m.Run(), nil
}

func newTestServer(t *testing.T, opts Options) *httptest.Server {
	t.Helper()
	ts := httptest.NewServer(NewServer(testEng, testLake, nil, opts))
	t.Cleanup(ts.Close)
	return ts
}

// get fetches path and decodes the JSON body into v (when not nil).
func get(t *testing.T, ts *httptest.Server, path string, wantStatus int, v any) http.Header {
	t.Helper()
	resp, err := http.Get(ts.URL + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != wantStatus {
		t.Fatalf("GET %s: status %d, want %d: %s", path, resp.StatusCode, wantStatus, body)
	}
	if v != nil {
		if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
			t.Fatalf("GET %s: content type %q", path, ct)
		}
		dec := json.NewDecoder(strings.NewReader(string(body)))
		dec.DisallowUnknownFields()
		if err := dec.Decode(v); err != nil {
			t.Fatalf("GET %s: %v\n%s", path, err, body)
		}
	}
	return resp.Header
}

func TestEndpointsShapes(t *testing.T) {
	ts := newTestServer(t, Options{})
	var k analytics.KPIs
	get(t, ts, "/api/kpis", 200, &k)
	if k.Orders <= 0 || k.Revenue <= 0 || k.Customers <= 0 || k.AOV <= 0 || k.AvgReview < 1 || k.AvgReview > 5 ||
		k.RepeatRate < 0 || k.RepeatRate > 1 || k.LateShare <= 0 || k.LateShare >= 1 || k.DataFrom.IsZero() || k.DataTo.Before(k.DataFrom) {
		t.Fatalf("implausible KPIs: %+v", k)
	}
	var months []analytics.MonthPoint
	get(t, ts, "/api/monthly-sales", 200, &months)
	var sum float64
	var orders int64
	for _, m := range months {
		sum += m.Revenue
		orders += m.Orders
	}
	if len(months) < 12 || math.Abs(sum-k.Revenue) > 0.01 || orders != k.Orders {
		t.Fatalf("monthly: %d months, revenue %.2f orders %d; KPIs %.2f %d", len(months), sum, orders, k.Revenue, k.Orders)
	}
	var cats analytics.CategoryStats
	get(t, ts, "/api/top-categories?limit=5", 200, &cats)
	if len(cats.ByRevenue) != 5 || len(cats.ByOrders) != 5 || cats.Top3Share <= 0 || cats.Top3Share > 1 {
		t.Fatalf("categories: %+v", cats)
	}
	var prods []analytics.Ranked
	get(t, ts, "/api/top-products?limit=7", 200, &prods)
	if len(prods) != 7 || prods[0].Revenue < prods[6].Revenue {
		t.Fatalf("products: %+v", prods)
	}
	var rfm analytics.RFMResult
	get(t, ts, "/api/rfm", 200, &rfm)
	var persons int64
	for _, s := range rfm.Segments {
		persons += s.Customers
	}
	if len(rfm.Segments) < 3 || rfm.ReferenceDate.IsZero() || persons != k.Customers {
		t.Fatalf("rfm: %d persons in segments, KPIs say %d: %+v", persons, k.Customers, rfm)
	}
	var geo analytics.Geo
	get(t, ts, "/api/geography?flows=3", 200, &geo)
	if len(geo.States) < 10 || len(geo.Flows) != 3 {
		t.Fatalf("geo: %d states, %d flows", len(geo.States), len(geo.Flows))
	}
	var del analytics.DeliveryResult
	get(t, ts, "/api/delivery", 200, &del)
	if del.AvgDays <= 0 || len(del.Histogram) == 0 || math.Abs(del.LateShare-k.LateShare) > 1e-9 {
		t.Fatalf("delivery: %+v (KPI late share %v)", del, k.LateShare)
	}
	var rev analytics.ReviewSales
	get(t, ts, "/api/review-vs-sales", 200, &rev)
	if len(rev.ByPunctuality) != 2 {
		t.Fatalf("reviews: %+v", rev)
	}
	var clv analytics.CLVResult
	get(t, ts, "/api/clv", 200, &clv)
	if clv.Persons <= 0 {
		t.Fatalf("clv: %+v", clv)
	}
	var b Bundle
	get(t, ts, "/api/dashboard", 200, &b)
	if b.Analyses == nil || b.Analyses.KPIs != k || len(b.Analyses.MonthlySales) != len(months) {
		t.Fatalf("dashboard bundle differs from /api/kpis: %+v vs %+v", b.Analyses, k)
	}
	var fl FilterLists
	get(t, ts, "/api/filters", 200, &fl)
	if len(fl.States) < 10 || len(fl.Categories) < 10 || !fl.DataFrom.Equal(k.DataFrom) || !fl.DataTo.Equal(k.DataTo) {
		t.Fatalf("filters: %+v", fl)
	}
	var health map[string]any
	get(t, ts, "/healthz", 200, &health)
	if health["status"] != "ok" {
		t.Fatalf("healthz: %v", health)
	}
}

// TestStateFilter: a state filter changes the KPIs, and they equal a direct
// SQL computation on the gold tables (and the state mart).
func TestStateFilter(t *testing.T) {
	ts := newTestServer(t, Options{})
	ctx := context.Background()
	db := testEng.DB()
	var state string
	var martRevenue float64
	var martOrders, martCustomers int64
	err := db.QueryRowContext(ctx, `SELECT customer_state, CAST(revenue AS DOUBLE), orders, customers
		FROM gold.mart_state_sales ORDER BY revenue DESC LIMIT 1`).Scan(&state, &martRevenue, &martOrders, &martCustomers)
	if err != nil {
		t.Fatal(err)
	}
	var all, one analytics.KPIs
	get(t, ts, "/api/kpis", 200, &all)
	get(t, ts, "/api/kpis?state="+strings.ToLower(state), 200, &one)
	if one.Orders >= all.Orders || one.Revenue >= all.Revenue {
		t.Fatalf("state %s did not narrow the KPIs: %+v vs %+v", state, one, all)
	}
	if one.Orders != martOrders || one.Customers != martCustomers || math.Abs(one.Revenue-martRevenue) > 0.005 {
		t.Fatalf("state %s: API %+v; gold.mart_state_sales revenue %.2f orders %d customers %d", state, one, martRevenue, martOrders, martCustomers)
	}

	// Dates, state and category together, against SQL written here.
	var cat string
	if err := db.QueryRowContext(ctx, `SELECT p.category_en FROM gold.fact_sales s JOIN gold.dim_product p USING (product_id)
		WHERE s.is_sale GROUP BY 1 ORDER BY sum(s.price) DESC LIMIT 1`).Scan(&cat); err != nil {
		t.Fatal(err)
	}
	const from, to = "2017-03-01", "2018-02-28"
	var wantRev, wantPaid float64
	var wantOrders int64
	var wantLate sql.NullFloat64
	err = db.QueryRowContext(ctx, `WITH o AS (
		SELECT s.order_id, sum(s.price) AS rev, sum(s.payment_value) AS paid, any_value(s.is_late) AS late
		FROM gold.fact_sales s JOIN silver.customers c USING (customer_id) JOIN gold.dim_product p USING (product_id)
		WHERE s.is_sale AND c.customer_state = ? AND p.category_en = ? AND s.purchase_date BETWEEN DATE '`+from+`' AND DATE '`+to+`'
		GROUP BY s.order_id)
		SELECT CAST(sum(rev) AS DOUBLE), CAST(sum(paid) AS DOUBLE), count(*), avg(CASE WHEN late THEN 1.0 WHEN NOT late THEN 0.0 END) FROM o`,
		state, cat).Scan(&wantRev, &wantPaid, &wantOrders, &wantLate)
	if err != nil {
		t.Fatal(err)
	}
	var got analytics.KPIs
	get(t, ts, "/api/kpis?from="+from+"&to="+to+"&state="+state+"&category="+cat, 200, &got)
	if got.Orders != wantOrders || math.Abs(got.Revenue-wantRev) > 0.005 || math.Abs(got.AOV-wantPaid/float64(wantOrders)) > 1e-6 ||
		math.Abs(got.LateShare-wantLate.Float64) > 1e-9 {
		t.Fatalf("filter %s..%s %s %s: API %+v; SQL revenue %.2f orders %d aov %.4f late %.4f", from, to, state, cat, got, wantRev, wantOrders, wantPaid/float64(wantOrders), wantLate.Float64)
	}
	if wantOrders == 0 {
		t.Fatal("the combined filter selects nothing; pick another")
	}
}

func TestBadParams(t *testing.T) {
	ts := newTestServer(t, Options{})
	for _, c := range []struct {
		path, param string
		status      int
	}{
		{"/api/kpis?from=2017-13-01", "from", 400},
		{"/api/kpis?from=yesterday", "from", 400},
		{"/api/monthly-sales?to=2017-02-30", "to", 400},
		{"/api/kpis?from=2018-01-01&to=2017-01-01", "to", 400},
		{"/api/kpis?state=ZZ", "state", 400},
		{"/api/kpis?state=SP%27%3B%20DROP%20TABLE%20x", "state", 400},
		{"/api/kpis?category=no_such_category", "category", 400},
		{"/api/top-products?limit=abc", "limit", 400},
		{"/api/top-products?limit=0", "limit", 400},
		{"/api/top-categories?limit=1000", "limit", 400},
		{"/api/geography?flows=-1", "flows", 400},
		{"/api/kpis?n=5", "n", 400},
		{"/api/kpis?sql=select+1", "sql", 400},
		{"/api/kpis?state=SP&state=RJ", "state", 400},
		{"/api/filters?x=1", "x", 400},
		{"/api/nope", "", 404},
		{"/nope", "", 404},
	} {
		var e apiError
		get(t, ts, c.path, c.status, &e)
		if e.Param != c.param || e.Error == "" {
			t.Errorf("%s: error %+v, want param %q", c.path, e, c.param)
		}
		if c.param != "" && !strings.Contains(e.Error, c.param) {
			t.Errorf("%s: message %q does not name %q", c.path, e.Error, c.param)
		}
	}
	resp, err := http.Post(ts.URL+"/api/kpis", "application/json", strings.NewReader(`{"sql":"select 1"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Fatalf("POST: status %d", resp.StatusCode)
	}
}

// externalRef finds anything that would load from outside the page; the SVG
// namespace is a name, not a fetch.
var externalRef = regexp.MustCompile(`(?i)(https?:)?//[a-z0-9-]+(\.[a-z0-9-]+)+|<link\b|@import|url\(|\bsrc\s*=`)

func checkSelfContained(t *testing.T, page string) {
	t.Helper()
	for _, m := range externalRef.FindAllStringIndex(page, -1) {
		ref := page[m[0]:m[1]]
		if ref == "http://www.w3.org" && strings.HasPrefix(page[m[0]:], "http://www.w3.org/2000/svg'") {
			continue
		}
		lo, hi := max(0, m[0]-60), min(len(page), m[1]+60)
		t.Errorf("page refers to something external: %q in …%s…", ref, page[lo:hi])
	}
}

func TestPage(t *testing.T) {
	ts := newTestServer(t, Options{})
	resp, err := http.Get(ts.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	page := string(b)
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("GET /: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	for _, want := range []string{`data-kpi="revenue"`, `id="f-state"`, `window.NEXUS_BOOT = {"mode":"live"`, `"analyses":[{"name":"kpis"`, "function monthlyChart"} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	checkSelfContained(t, page)
}

func TestStaticExport(t *testing.T) {
	dir := t.TempDir()
	path, err := WriteDashboard(context.Background(), testEng.DB(), testLake, dir)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	page := string(b)
	checkSelfContained(t, page)
	i := strings.Index(page, "window.NEXUS_BOOT = ")
	j := strings.Index(page[i:], ";</script>")
	if i < 0 || j < 0 {
		t.Fatal("no boot data in the export")
	}
	var boot Boot
	if err := json.Unmarshal([]byte(page[i+len("window.NEXUS_BOOT = "):i+j]), &boot); err != nil {
		t.Fatal(err)
	}
	k, err := analytics.Kpis(context.Background(), testEng.DB(), analytics.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if boot.Mode != "static" || boot.Data == nil || boot.Data.Analyses == nil || boot.Data.Analyses.KPIs != k || boot.Freshness == nil || boot.Freshness.LastRun == nil || len(boot.Filters.States) == 0 {
		t.Fatalf("boot: mode %s data %v freshness %+v", boot.Mode, boot.Data != nil, boot.Freshness)
	}
	if !strings.Contains(page, "<fieldset disabled>") || !strings.Contains(page, "nexus serve") {
		t.Error("the export's filters are not disabled with a note")
	}
}

func TestFreshness(t *testing.T) {
	ts := newTestServer(t, Options{RefreshEvery: time.Millisecond})
	var fr Freshness
	get(t, ts, "/api/freshness", 200, &fr)
	hist, err := pipeline.History(testLake, 1)
	if err != nil {
		t.Fatal(err)
	}
	if fr.LastRun == nil || fr.LastRun.RunID != hist[0].RunID || fr.LastRun.Status != string(hist[0].Status) ||
		fr.LastRun.Pass+fr.LastRun.Warn+fr.LastRun.Fail != len(hist[0].Results) || fr.GoldTables < 5 || fr.GoldUpdated.IsZero() {
		t.Fatalf("freshness %+v; history %s %s %d results", fr.LastRun, hist[0].RunID, hist[0].Status, len(hist[0].Results))
	}
	if fr.Checks == nil || fr.Checks.RunID != fr.LastRun.RunID || fr.Checks.Pass == 0 || fr.Checks.Warn+fr.Checks.Fail != len(fr.Checks.Issues) {
		t.Fatalf("checks: %+v", fr.Checks)
	}
	if fr.LastRun.Steps["built"] == 0 {
		t.Fatalf("steps: %v", fr.LastRun.Steps)
	}
	// A run that changed nothing has no checks: the verdicts stay those of
	// the run that built the tables.
	// (Run ids have a resolution of a second: this one is made to sort last.)
	noop, err := pipeline.Run(context.Background(), testLake, pipeline.Options{SourceDir: testSource,
		RunID: lake.NewRunID(time.Now().Add(2 * time.Second)), Engine: engine.Options{MemoryLimit: "1GB"}})
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(5 * time.Millisecond)
	var fr2 Freshness
	get(t, ts, "/api/freshness", 200, &fr2)
	if fr2.LastRun.RunID != noop.RunID || fr2.Checks == nil || fr2.Checks.RunID != fr.Checks.RunID || fr2.Checks.Pass != fr.Checks.Pass {
		t.Fatalf("after the no-op run %s: last run %s, checks of %v; want the checks of %s", noop.RunID, fr2.LastRun.RunID, fr2.Checks != nil && fr2.Checks.RunID != "", fr.Checks.RunID)
	}
}

// TestCacheAndRefresh: a repeated request is served from the cache until the
// lake changes.
func TestCacheAndRefresh(t *testing.T) {
	ts := newTestServer(t, Options{RefreshEvery: time.Millisecond})
	if h := get(t, ts, "/api/kpis?state=RJ", 200, nil); h.Get("X-Nexus-Cache") != "" {
		t.Fatal("first request was a cache hit")
	}
	if h := get(t, ts, "/api/kpis?state=RJ", 200, nil); h.Get("X-Nexus-Cache") != "hit" {
		t.Fatal("second request was not a cache hit")
	}
	// A new run record (as every run writes) changes the lake's signature.
	if err := os.WriteFile(testLake.MetaDir("runs", "29990101T000000Z-000000.json"), []byte(`{"run_id":"29990101T000000Z-000000","kind":"check"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Remove(testLake.MetaDir("runs", "29990101T000000Z-000000.json")) })
	time.Sleep(5 * time.Millisecond)
	if h := get(t, ts, "/api/kpis?state=RJ", 200, nil); h.Get("X-Nexus-Cache") != "" {
		t.Fatal("cache survived a change of the lake")
	}
	nc := newTestServer(t, Options{CacheEntries: -1})
	get(t, nc, "/api/kpis", 200, nil)
	if h := get(t, nc, "/api/kpis", 200, nil); h.Get("X-Nexus-Cache") != "" {
		t.Fatal("disabled cache answered")
	}
}

// TestConcurrent fires mixed requests at once (run with -race).
func TestConcurrent(t *testing.T) {
	ts := newTestServer(t, Options{CacheEntries: -1})
	paths := []string{"/api/kpis", "/api/kpis?state=SP", "/api/monthly-sales?category=health_beauty", "/api/rfm?from=2017-06-01",
		"/api/geography", "/api/delivery?state=RJ", "/api/review-vs-sales", "/api/top-products?limit=3&state=MG", "/api/top-categories", "/api/freshness", "/healthz"}
	var wg sync.WaitGroup
	errs := make(chan error, 3*len(paths))
	for i := 0; i < 3; i++ {
		for _, p := range paths {
			wg.Add(1)
			go func() {
				defer wg.Done()
				resp, err := http.Get(ts.URL + p)
				if err != nil {
					errs <- err
					return
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					errs <- fmt.Errorf("%s: %d %s", p, resp.StatusCode, body)
				}
			}()
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// TestSnapshotMovesAndDamageDegrades: the server serves the snapshot that is
// current and moves with the commits; a damaged table fails the analyses
// that read it with a 503 naming the damage (every analysis reads the sales
// working set, built from the Gold star), while the server, its freshness
// and health stay up; a rollback brings the answers back.
func TestSnapshotMovesAndDamageDegrades(t *testing.T) {
	root := t.TempDir()
	if err := os.CopyFS(root, os.DirFS(testLake.Root)); err != nil {
		t.Fatal(err)
	}
	w, err := lake.Open(root)
	if err != nil {
		t.Fatal(err)
	}
	good := w.SnapshotID()
	r, err := lake.OpenRead(root)
	if err != nil {
		t.Fatal(err)
	}
	eng, err := engine.Open(context.Background(), r, engine.Options{MemoryLimit: "1GB", TempDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	ts := httptest.NewServer(NewServer(eng, r, nil, Options{RefreshEvery: time.Millisecond}))
	defer ts.Close()
	var before struct{ Orders float64 }
	getJSONBody(t, ts, "/api/kpis", 200, &before)

	// A new snapshot whose dim_seller version is damaged (a truncated file).
	m, err := w.Manifest(lake.Gold, "dim_seller")
	if err != nil {
		t.Fatal(err)
	}
	st, err := w.Stage(lake.Gold, "dim_seller", "damaged")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(st.Dir(), "part-0.parquet"), []byte("PAR1 truncated"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Publish(lake.Manifest{Schema: m.Schema}, map[string]int64{"part-0.parquet": m.Rows}); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Commit(lake.CommitInfo{RunID: "damaged"}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(5 * time.Millisecond)
	for _, p := range []string{"/api/kpis", "/api/top-products"} {
		var e apiError
		getJSONBody(t, ts, p, http.StatusServiceUnavailable, &e)
		if !strings.Contains(e.Error, "gold.dim_seller is damaged") || !strings.Contains(e.Error, "nexus doctor") {
			t.Errorf("%s on a damaged lake: %s", p, e.Error)
		}
	}
	getJSONBody(t, ts, "/api/freshness", 200, nil)
	var health struct {
		Status  string
		Damaged []string
	}
	getJSONBody(t, ts, "/healthz", 200, &health)
	if health.Status != "degraded" || len(health.Damaged) != 1 || health.Damaged[0] != "gold.dim_seller" {
		t.Errorf("healthz on a damaged lake: %+v", health)
	}

	// Rolling back is a new snapshot: the server follows it.
	if _, err := w.Rollback(good, "rollback"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(5 * time.Millisecond)
	var after struct{ Orders float64 }
	getJSONBody(t, ts, "/api/kpis", 200, &after)
	if after.Orders != before.Orders || after.Orders == 0 {
		t.Errorf("kpis orders after rollback %v, want %v", after.Orders, before.Orders)
	}
}

func getJSONBody(t *testing.T, ts *httptest.Server, path string, status int, v any) {
	t.Helper()
	resp, err := http.Get(ts.URL + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != status {
		t.Fatalf("%s: status %d, want %d: %.500s", path, resp.StatusCode, status, body)
	}
	if v != nil {
		if err := json.Unmarshal(body, v); err != nil {
			t.Fatalf("%s: %v: %.300s", path, err, body)
		}
	}
}
