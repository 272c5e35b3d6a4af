package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/keystone/nexus/internal/engine"
	"github.com/keystone/nexus/internal/lake"
	"github.com/keystone/nexus/internal/laketest"
	"github.com/keystone/nexus/internal/pipeline"
	"github.com/keystone/nexus/internal/schedule/runstore"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// The jobs of the default schedule (internal/schedule/config.go; not
// imported: internal/schedule imports this package through internal/outputs).
const (
	jobIngest    = "olist_daily_ingestion"
	jobTransform = "olist_silver_to_gold"
	jobQuality   = "olist_data_quality"
	jobAnalytics = "olist_analytics_refresh"
)

// runsLake is a copy of the test lake whose order items hold one row of an
// order that does not exist, so that silver.order_items quarantines it
// (check order_exists), with an engine on it.
func runsLake(t *testing.T) (*lake.Lake, *engine.Engine) {
	t.Helper()
	dir := t.TempDir()
	src, root := filepath.Join(dir, "source"), filepath.Join(dir, "lake")
	if err := os.CopyFS(src, os.DirFS(testSource)); err != nil {
		t.Fatal(err)
	}
	if err := os.CopyFS(root, os.DirFS(testLake.Root)); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(filepath.Join(src, "olist_order_items_dataset.csv"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(`"ffffffffffffffffffffffffffffffff",1,cd6dcb61e6b2f1580860e5706281ddc7,"066fe59ec878e6027326b53c9c12af38",2018-07-17 06:40:18,76.90,32.18` + "\n"); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	lk, err := lake.Open(root)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	sum, err := pipeline.Run(ctx, lk, pipeline.Options{SourceDir: src, Engine: engine.Options{MemoryLimit: "1GB"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := sum.Err(); err != nil {
		t.Fatal(err)
	}
	rlk, err := lake.OpenRead(root)
	if err != nil {
		t.Fatal(err)
	}
	eng, err := engine.Open(ctx, rlk, engine.Options{MemoryLimit: "1GB", TempDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { eng.Close() })
	return rlk, eng
}

// fillRunStore records cycles in the lake's run store through its write API:
// every status of the grid, retries, a resumed job, failed checks (one that
// quarantined, one kept, one of a table), a skipped cycle and a manual
// trigger. It returns the ids of some runs.
type filledRuns struct{ retried, failedTransform, running int64 }

func fillRunStore(t *testing.T, root string) filledRuns {
	t.Helper()
	ctx := context.Background()
	st, err := runstore.OpenStore(root)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var ids filledRuns
	day := func(d int) time.Time { return time.Date(2026, 3, d, 2, 0, 0, 0, time.UTC) }
	cycle := func(d int, trig runstore.Trigger) *runstore.Cycle {
		c := &runstore.Cycle{LogicalDate: day(d - 1).Format(time.DateOnly), Trigger: trig, Started: day(d)}
		if trig == runstore.TriggerScheduled {
			c.Tick, c.Deadline = day(d), day(d).Add(4*time.Hour)
		}
		if err := st.StartCycle(ctx, c); err != nil {
			t.Fatal(err)
		}
		return c
	}
	endCycle := func(c *runstore.Cycle, s runstore.Status, reason string) {
		c.Status, c.Reason = s, reason
		if err := st.EndCycle(c); err != nil {
			t.Fatal(err)
		}
	}
	type attempt struct {
		status    runstore.Status
		err       string
		transient bool
		steps     []runstore.StepRow
		checks    []runstore.CheckRow
	}
	// run records a run of job with its attempts; final "" leaves it running.
	run := func(c *runstore.Cycle, job, task string, final runstore.Status, atts ...attempt) *runstore.Run {
		r := &runstore.Run{CycleID: c.ID, Job: job, Task: task, LogicalDate: c.LogicalDate}
		if err := st.StartRun(ctx, r); err != nil {
			t.Fatal(err)
		}
		for i, a := range atts {
			aid, err := st.StartAttempt(ctx, r.ID, i+1)
			if err != nil {
				t.Fatal(err)
			}
			r.Attempts = i + 1
			if a.status == runstore.StatusRunning {
				continue
			}
			if err := st.EndAttempt(aid, a.status, a.err, a.transient, a.steps, a.checks); err != nil {
				t.Fatal(err)
			}
			r.Error = a.err
			r.ChecksFailed = int64(len(a.checks))
			for _, s := range a.steps {
				r.RowsIn += s.RowsIn
				r.RowsOut += s.RowsOut
				r.Quarantined += s.Quarantined
			}
		}
		if final == "" {
			return r
		}
		r.Status = final
		if final == runstore.StatusSucceeded {
			r.Error = ""
		}
		if err := st.EndRun(r); err != nil {
			t.Fatal(err)
		}
		return r
	}
	ok := func(name, kind string, in, out, q int64) attempt {
		return attempt{status: runstore.StatusSucceeded, steps: []runstore.StepRow{{Name: name, Kind: kind, Status: "built", RowsIn: in, RowsOut: out, Quarantined: q, Seconds: 1.5}}}
	}
	orderExists := runstore.CheckRow{Table: "silver.order_items", CheckID: "order_exists", Kind: "relationships", Severity: "error", OnFail: "quarantine", RowsFailed: 1, Observed: "1 of 2211 rows (0.0452%)"}
	freight := runstore.CheckRow{Table: "silver.order_items", CheckID: "freight_positive", Kind: "between", Severity: "warn", OnFail: "keep", RowsFailed: 8, Observed: "8 of 2211 rows (0.362%)"}
	rowCount := runstore.CheckRow{Table: "gold.fact_sales", CheckID: "fact_sales_rows", Kind: "row_count", Severity: "error", Blocking: true, Observed: "0 rows"}

	// 1: all four succeed; the ingestion after a transient failure.
	c := cycle(2, runstore.TriggerScheduled)
	ids.retried = run(c, jobIngest, "ingest", runstore.StatusSucceeded,
		attempt{status: runstore.StatusFailed, err: "orders.csv is still being written", transient: true},
		ok("bronze.orders", "ingest", 100, 100, 0)).ID
	run(c, jobTransform, "transform", runstore.StatusSucceeded, ok("silver.order_items", "model", 100, 99, 1))
	run(c, jobQuality, "check", runstore.StatusSucceeded, attempt{status: runstore.StatusSucceeded, checks: []runstore.CheckRow{freight}})
	run(c, jobAnalytics, "reports", runstore.StatusSucceeded, ok("dashboard", "report", 0, 0, 0))
	endCycle(c, runstore.StatusSucceeded, "")

	// 2: the transform fails its gate; downstream skipped.
	c = cycle(3, runstore.TriggerScheduled)
	run(c, jobIngest, "ingest", runstore.StatusSucceeded, ok("bronze.order_items", "ingest", 50, 50, 0))
	ids.failedTransform = run(c, jobTransform, "transform", runstore.StatusFailed, attempt{status: runstore.StatusFailed, err: "quality checks failed",
		steps:  []runstore.StepRow{{Name: "gold.fact_sales", Kind: "model", Status: "failed", RowsIn: 50, RowsOut: 0, Quarantined: 1, Seconds: 0.5}},
		checks: []runstore.CheckRow{orderExists, rowCount}}).ID
	for _, j := range []string{jobQuality, jobAnalytics} {
		r := &runstore.Run{CycleID: c.ID, Job: j, Task: "x", LogicalDate: c.LogicalDate}
		if err := st.StartRun(ctx, r); err != nil {
			t.Fatal(err)
		}
		r.Status, r.Error = runstore.StatusSkipped, "upstream did not succeed"
		if err := st.EndRun(r); err != nil {
			t.Fatal(err)
		}
	}
	endCycle(c, runstore.StatusFailed, jobTransform+" failed")

	// 3: a tick that overran: skipped, no runs.
	sk := &runstore.Cycle{LogicalDate: day(3).Format(time.DateOnly), Tick: day(4), Trigger: runstore.TriggerScheduled, Reason: "another cycle (a trigger or a backfill) was running"}
	if err := st.SkipCycle(ctx, sk); err != nil {
		t.Fatal(err)
	}

	// 4: the process died during the ingestion; resumed: it ran again.
	c = cycle(5, runstore.TriggerScheduled)
	run(c, jobIngest, "ingest", runstore.StatusAbandoned, attempt{status: runstore.StatusAbandoned, err: "the process died while it ran"})
	run(c, jobIngest, "ingest", runstore.StatusSucceeded, ok("bronze.orders", "ingest", 10, 10, 0))
	run(c, jobTransform, "transform", runstore.StatusAbandoned, attempt{status: runstore.StatusAbandoned, err: "the process died while it ran"})
	endCycle(c, runstore.StatusAbandoned, "the process died while it ran")

	// 5: a manual trigger of the reports, stopped.
	c = cycle(6, runstore.TriggerManual)
	run(c, jobAnalytics, "reports", runstore.StatusCancelled, attempt{status: runstore.StatusCancelled, err: "context canceled"})
	endCycle(c, runstore.StatusCancelled, jobAnalytics+" was stopped")

	// 6: running now.
	c = cycle(7, runstore.TriggerScheduled)
	ids.running = run(c, jobIngest, "ingest", "", attempt{status: runstore.StatusRunning}).ID
	return ids
}

// normalize replaces what differs between test runs (times the store takes
// from the clock, durations) with placeholders, for a golden file.
func normalize(t *testing.T, b []byte) []byte {
	t.Helper()
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("%v: %s", err, b)
	}
	var walk func(any) any
	walk = func(x any) any {
		switch y := x.(type) {
		case map[string]any:
			for k, e := range y {
				switch k {
				case "started", "ended":
					if s, ok := e.(string); ok && !strings.HasPrefix(s, "2026-03-") {
						y[k] = "<now>"
					}
				case "seconds":
					if f, ok := e.(float64); ok && f >= 0 && f < 3600 {
						y[k] = "<short>"
					}
				default:
					y[k] = walk(e)
				}
			}
			return y
		case []any:
			for i := range y {
				y[i] = walk(y[i])
			}
			return y
		}
		return x
	}
	var out bytes.Buffer
	enc := json.NewEncoder(&out)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(walk(v)); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (go test -run %s -update writes it)", err, t.Name())
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs (go test -update rewrites it):\n%s", path, got)
	}
}

// TestRunsAPI: /api/runs answers the grid of the last cycles (golden file),
// /api/run a run's attempts, and the failed checks link to the quarantine
// that /api/quarantine shows.
func TestRunsAPI(t *testing.T) {
	lk, eng := runsLake(t)
	ids := fillRunStore(t, lk.Root)
	ts := httptest.NewServer(NewServer(eng, lk, nil, Options{}))
	defer ts.Close()

	golden(t, "runs.golden.json", normalize(t, body(t, ts.URL+"/api/runs", 200)))

	var v RunsView
	get(t, ts, "/api/runs", 200, &v)
	if !v.Store || v.Message != "" || len(v.Cycles) != 6 || !slices.Equal(v.Jobs, []string{jobIngest, jobTransform, jobQuality, jobAnalytics}) {
		t.Fatalf("store %v message %q: %d cycles, jobs %v", v.Store, v.Message, len(v.Cycles), v.Jobs)
	}
	// Every status of the grid is in some cell, and the cells are the runs.
	seen := map[runstore.Status]bool{}
	for _, c := range v.Cycles {
		seen[c.Status] = true
		for job, r := range c.Runs {
			seen[r.Status] = true
			if r.Job != job || r.CycleID != c.ID {
				t.Errorf("cell %s of cycle %d holds run %d of %s, cycle %d", job, c.ID, r.ID, r.Job, r.CycleID)
			}
		}
	}
	for _, s := range runstore.Statuses() {
		if !seen[s] {
			t.Errorf("no cell or cycle is %s", s)
		}
	}
	if c := v.Cycles[3]; c.Runs[jobIngest].Status != runstore.StatusSucceeded || c.Runs[jobIngest].Tries != 2 || c.Runs[jobTransform].Status != runstore.StatusAbandoned {
		t.Errorf("the resumed cycle shows %+v", c.Runs)
	}
	if r := v.Cycles[0].Runs[jobIngest]; r.ID != ids.retried || r.Attempts != 2 {
		t.Errorf("the retried run: %+v", r)
	}
	var linked []string
	for _, fc := range v.FailedChecks {
		linked = append(linked, fc.CheckID+":"+fc.QuarantineTable)
	}
	if want := []string{"order_exists:silver_order_items", "fact_sales_rows:", "freight_positive:"}; !slices.Equal(linked, want) {
		t.Errorf("failed checks and their quarantine tables %v, want %v", linked, want)
	}

	// The last 2 cycles only; the rows are still every job, in their order.
	v = RunsView{}
	get(t, ts, "/api/runs?cycles=2", 200, &v)
	if len(v.Cycles) != 2 || v.Cycles[1].Runs[jobIngest].ID != ids.running || !slices.Equal(v.Jobs, []string{jobIngest, jobTransform, jobQuality, jobAnalytics}) {
		t.Errorf("cycles=2: %d cycles, jobs %v", len(v.Cycles), v.Jobs)
	}

	var d RunDetail
	get(t, ts, "/api/run?id="+itoa(ids.retried), 200, &d)
	if d.Run.ID != ids.retried || len(d.Attempts) != 2 || d.Attempts[0].Status != runstore.StatusFailed || !d.Attempts[0].Transient ||
		d.Attempts[1].Status != runstore.StatusSucceeded || len(d.Attempts[1].Steps) != 1 || d.Attempts[1].Steps[0].Name != "bronze.orders" {
		t.Errorf("run %d: %+v", ids.retried, d)
	}
	get(t, ts, "/api/run?id="+itoa(ids.failedTransform), 200, &d)
	if len(d.Attempts) != 1 || len(d.Attempts[0].Checks) != 2 || d.Attempts[0].Checks[0].CheckID != "order_exists" {
		t.Errorf("run %d: %+v", ids.failedTransform, d)
	}

	// The quarantine the link names: the row appended to the source.
	var q QuarantineRows
	get(t, ts, "/api/quarantine?table=silver_order_items&check=order_exists", 200, &q)
	total, err := pipeline.QuarantineCount(context.Background(), eng, "silver_order_items", "order_exists")
	if err != nil {
		t.Fatal(err)
	}
	col := slices.Index(q.Columns, "order_id")
	if q.Total != 1 || total != 1 || len(q.Rows) != 1 || col < 0 || q.Rows[0][col] != "ffffffffffffffffffffffffffffffff" || q.Snapshot != lk.SnapshotID() {
		t.Errorf("quarantine: total %d (count %d), columns %v, rows %v, snapshot %d", q.Total, total, q.Columns, q.Rows, q.Snapshot)
	}
	q = QuarantineRows{}
	get(t, ts, "/api/quarantine?table=silver.order_items&check=freight_positive&limit=5", 200, &q)
	if q.Table != "silver_order_items" || q.Total != 0 || len(q.Rows) != 0 {
		t.Errorf("a kept check's quarantine: %+v", q)
	}

	for _, c := range []struct {
		path, param string
		status      int
		msg         string
	}{
		{"/api/runs?cycles=0", "cycles", 400, "between 1 and 200"},
		{"/api/runs?cycles=abc", "cycles", 400, "between 1 and 200"},
		{"/api/runs?cycles=1&cycles=2", "cycles", 400, "more than once"},
		{"/api/runs?job=x", "job", 400, "accepted: cycles"},
		{"/api/run", "id", 400, "required"},
		{"/api/run?id=-1", "id", 400, "between 1"},
		{"/api/run?id=99999", "", 404, "no such run in the run store: 99999"},
		{"/api/quarantine", "table", 400, "silver_order_items"},
		{"/api/quarantine?table=silver.nope", "table", 400, "is not a quarantine table"},
		{"/api/quarantine?table=silver_order_items&limit=5000", "limit", 400, "between 1 and 1000"},
		{"/api/quarantine?table=silver_order_items&check=x%27%3B%20DROP%20TABLE%20x", "", 200, ""},
	} {
		if c.status == 200 {
			var q QuarantineRows
			get(t, ts, c.path, 200, &q)
			if q.Total != 0 || q.Check != "x'; DROP TABLE x" {
				t.Errorf("%s: %+v", c.path, q)
			}
			continue
		}
		var e apiError
		get(t, ts, c.path, c.status, &e)
		if e.Param != c.param || !strings.Contains(e.Error, c.msg) {
			t.Errorf("%s: %+v, want param %q and %q", c.path, e, c.param, c.msg)
		}
	}
	var e apiError
	get(t, ts, "/api/nope", 404, &e)
	for _, p := range []string{"/api/runs", "/api/run", "/api/quarantine"} {
		if !strings.Contains(e.Error, p) {
			t.Errorf("the 404 does not list %s: %s", p, e.Error)
		}
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// makeReadOnly takes write permission away from the lake (root ignores it:
// the unchanged tree is then what proves nothing was written; the
// cmd/nexus test runs the server as nobody).
func makeReadOnly(t *testing.T, root string) {
	t.Helper()
	laketest.MakeReadOnly(t, root)
	if os.Geteuid() == 0 {
		t.Log("running as root: permissions are not enforced; the unchanged tree proves the server wrote nothing")
	}
}

// TestRunsWithoutStoreOnReadOnlyLake: a lake without a run store shows the
// "no scheduled runs yet" message (not an error) and the store is not
// created; with a store, a read-only lake is served and left unchanged.
func TestRunsWithoutStoreOnReadOnlyLake(t *testing.T) {
	root := t.TempDir()
	if err := os.CopyFS(root, os.DirFS(testLake.Root)); err != nil {
		t.Fatal(err)
	}
	lk, err := lake.OpenRead(root)
	if err != nil {
		t.Fatal(err)
	}
	eng, err := engine.Open(context.Background(), lk, engine.Options{MemoryLimit: "1GB", TempDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	makeReadOnly(t, root)
	before := laketest.TreeState(t, root)
	ts := httptest.NewServer(NewServer(eng, lk, nil, Options{}))
	defer ts.Close()

	var v RunsView
	get(t, ts, "/api/runs", 200, &v)
	if v.Store || v.Message != NoRunsMessage || len(v.Cycles) != 0 || v.Jobs == nil || v.FailedChecks == nil {
		t.Errorf("without a run store: %+v", v)
	}
	if !strings.Contains(NoRunsMessage, "no scheduled runs yet: start `nexus scheduler` or `nexus trigger JOB`") {
		t.Errorf("message %q", NoRunsMessage)
	}
	var e apiError
	get(t, ts, "/api/run?id=1", 404, &e)
	if e.Error != NoRunsMessage {
		t.Errorf("/api/run without a store: %+v", e)
	}
	page := string(body(t, ts.URL+"/runs", 200))
	if !strings.Contains(page, "no scheduled runs yet") {
		t.Errorf("the page does not carry the message")
	}
	m := string(body(t, ts.URL+"/metrics", 200))
	if !strings.Contains(m, "nexus_lake_snapshot ") || !strings.Contains(m, "nexus_server_queries_started_total") || strings.Contains(m, "nexus_runs_total") {
		t.Errorf("/metrics without a run store:\n%s", m)
	}
	if after := laketest.TreeState(t, root); after != before {
		t.Fatalf("the server changed the lake:\nbefore:\n%s\nafter:\n%s", before, after)
	}
	if _, err := os.Stat(filepath.Join(root, "_nexus", runstore.StoreFile)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the run store was created: %v", err)
	}

	// With a store (written while the lake is writable), read-only again.
	if err := os.Chmod(root, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(filepath.Join(root, "_nexus"), 0o755); err != nil {
		t.Fatal(err)
	}
	fillRunStore(t, root)
	makeReadOnly(t, root)
	before = laketest.TreeState(t, root)
	get(t, ts, "/api/runs", 200, &v)
	if !v.Store || len(v.Cycles) != 6 {
		t.Errorf("with a store on a read-only lake: store %v, %d cycles", v.Store, len(v.Cycles))
	}
	var d RunDetail
	get(t, ts, "/api/run?id=1", 200, &d)
	if m := string(body(t, ts.URL+"/metrics", 200)); !strings.Contains(m, "nexus_runs_total") {
		t.Errorf("/metrics with a store lacks nexus_runs_total:\n%s", m)
	}
	if after := laketest.TreeState(t, root); after != before {
		t.Fatalf("the server changed the read-only lake:\nbefore:\n%s\nafter:\n%s", before, after)
	}
}

// TestMetricsOfRunStore: /metrics answers the server's query counters and
// the run store's metrics in one valid Prometheus text exposition, with the
// figures of the store.
func TestMetricsOfRunStore(t *testing.T) {
	root := t.TempDir()
	if err := os.CopyFS(root, os.DirFS(testLake.Root)); err != nil {
		t.Fatal(err)
	}
	fillRunStore(t, root)
	lk, err := lake.OpenRead(root)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(NewServer(testEng, lk, nil, Options{}))
	defer ts.Close()
	get(t, ts, "/api/kpis", 200, nil) // a computation for the counters
	for _, accept := range []string{"", "application/openmetrics-text; version=1.0.0", "application/vnd.google.protobuf"} {
		req, _ := http.NewRequest(http.MethodGet, ts.URL+"/metrics", nil)
		if accept != "" {
			req.Header.Set("Accept", accept)
		}
		req.Header.Set("Accept-Encoding", "gzip")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain; version=0.0.4") {
			t.Fatalf("Accept %q: %d %s", accept, resp.StatusCode, resp.Header.Get("Content-Type"))
		}
		// Legacy names: what every Prometheus scraper accepts.
		p := expfmt.NewTextParser(model.LegacyValidation)
		fams, err := p.TextToMetricFamilies(bytes.NewReader(b))
		if err != nil {
			t.Fatalf("Accept %q: not the Prometheus text format: %v\n%s", accept, err, b)
		}
		value := func(name string, labels map[string]string) (float64, bool) {
			f := fams[name]
			if f == nil {
				return 0, false
			}
		metric:
			for _, m := range f.GetMetric() {
				for _, l := range m.GetLabel() {
					if w, ok := labels[l.GetName()]; ok && w != l.GetValue() {
						continue metric
					}
				}
				switch {
				case m.Counter != nil:
					return m.Counter.GetValue(), true
				case m.Gauge != nil:
					return m.Gauge.GetValue(), true
				case m.Histogram != nil:
					return float64(m.Histogram.GetSampleCount()), true
				}
			}
			return 0, false
		}
		for _, c := range []struct {
			name   string
			labels map[string]string
			want   float64
		}{
			{"nexus_runs_total", map[string]string{"job": jobIngest, "status": "succeeded"}, 3},
			{"nexus_runs_total", map[string]string{"job": jobIngest, "status": "abandoned"}, 1},
			{"nexus_runs_total", map[string]string{"job": jobTransform, "status": "failed"}, 1},
			{"nexus_runs_total", map[string]string{"job": jobAnalytics, "status": "cancelled"}, 1},
			{"nexus_attempts_total", map[string]string{"job": jobIngest, "status": "failed"}, 1},
			{"nexus_cycles_total", map[string]string{"trigger": "scheduled", "status": "skipped"}, 1},
			{"nexus_checks_failed_total", map[string]string{"job": jobTransform}, 2},
			{"nexus_job_duration_seconds", map[string]string{"job": jobTransform}, 2},
			{"nexus_lake_snapshot", nil, float64(lk.SnapshotID())},
			{"nexus_server_query_slots", nil, float64(2 * runtime.GOMAXPROCS(0))},
		} {
			if got, ok := value(c.name, c.labels); !ok || got != c.want {
				t.Errorf("Accept %q: %s%v = %v (present %v), want %v", accept, c.name, c.labels, got, ok, c.want)
			}
		}
		if v, ok := value("nexus_server_queries_started_total", nil); !ok || v < 1 {
			t.Errorf("nexus_server_queries_started_total = %v", v)
		}
		if fams["nexus_runs_total"].GetType().String() != "COUNTER" {
			t.Errorf("nexus_runs_total is a %s", fams["nexus_runs_total"].GetType())
		}
	}
}

var jsMessage = regexp.MustCompile(`data-no-runs="([^"]*)"`)

// TestRunsPage: the Runs page is one self-contained HTML page that reads
// /api/runs, the dashboard links to it (live only), and its CSS colours
// every status of the grid.
func TestRunsPage(t *testing.T) {
	ts := newTestServer(t, Options{})
	resp, err := http.Get(ts.URL + "/runs")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	page := string(b)
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") || resp.Header.Get("Content-Security-Policy") != csp {
		t.Fatalf("GET /runs: %d %s", resp.StatusCode, resp.Header)
	}
	for _, want := range []string{`id="grid"`, `'/api/runs'`, `/api/run?id=`, `/api/quarantine?`, `href="/"`} {
		if !strings.Contains(page, want) {
			t.Errorf("the Runs page lacks %q", want)
		}
	}
	if m := jsMessage.FindStringSubmatch(page); m == nil || !strings.Contains(m[1], "nexus scheduler") {
		t.Errorf("the Runs page does not carry the no-runs message: %v", m)
	}
	checkSelfContained(t, page)
	for _, st := range runstore.Statuses() {
		if !strings.Contains(string(runsCSS), ".st-"+string(st)+" {") {
			t.Errorf("runs.css does not colour %s", st)
		}
	}
	// The server's pages link to each other, and to the docs site at
	// /docs/ (nothing led there).
	for _, c := range []struct{ page, link string }{
		{"/", `<a href="/runs">Runs</a>`},
		{"/", `<a href="/docs/">Docs</a>`},
		{"/runs", `<a href="/">Dashboard</a>`},
		{"/runs", `<a href="/docs/">Docs</a>`},
	} {
		if !strings.Contains(string(body(t, ts.URL+c.page, 200)), c.link) {
			t.Errorf("%s does not link %s", c.page, c.link)
		}
	}
	static, err := renderPage(Boot{Mode: "static"})
	if err != nil {
		t.Fatal(err)
	}
	for _, link := range []string{`href="/runs"`, `href="/docs/"`} {
		if strings.Contains(string(static), link) {
			t.Errorf("the static export has %s, which only the server has", link)
		}
	}
}

// TestDamagedRunStoreDegrades: a run store that cannot be read fails the run
// endpoints with a 503 saying so (no machine path), and nothing else: the
// analyses answer and /metrics still has the query counters and the lake's
// snapshot.
func TestDamagedRunStoreDegrades(t *testing.T) {
	root := t.TempDir()
	if err := os.CopyFS(root, os.DirFS(testLake.Root)); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "_nexus", runstore.StoreFile), []byte("not an SQLite database, not at all: garbage garbage garbage garbage garbage garbage garbage garbage"), 0o644); err != nil {
		t.Fatal(err)
	}
	lk, err := lake.OpenRead(root)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(NewServer(testEng, lk, nil, Options{}))
	defer ts.Close()
	for _, p := range []string{"/api/runs", "/api/run?id=1"} {
		var e apiError
		get(t, ts, p, http.StatusServiceUnavailable, &e)
		if !strings.Contains(e.Error, "the run store cannot be read") || !strings.Contains(e.Error, "<lake>/_nexus/runs.db") || strings.Contains(e.Error, root) {
			t.Errorf("%s on a damaged run store: %q", p, e.Error)
		}
	}
	get(t, ts, "/api/kpis", 200, nil)
	m := string(body(t, ts.URL+"/metrics", 200))
	// (runstore.MetricsHandler leaves the run metrics out then: it serves
	// what it can, ContinueOnError.)
	if !strings.Contains(m, "nexus_server_queries_started_total") || !strings.Contains(m, "nexus_lake_snapshot ") || strings.Contains(m, "nexus_runs_total") {
		t.Errorf("/metrics on a damaged run store:\n%s", m)
	}
}
