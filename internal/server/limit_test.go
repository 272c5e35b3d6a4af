package server

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keystone/nexus/internal/analytics"
	"github.com/keystone/nexus/internal/engine"
	"github.com/keystone/nexus/internal/lake"
)

// newGated is a server over the test lake with its current version prepared,
// so that the counters count only what the test asks.
func newGated(t *testing.T, opts Options) (*Server, *httptest.Server) {
	t.Helper()
	s := NewServer(testEng, testLake, nil, opts)
	if st := s.current(context.Background()); st.err != nil {
		t.Fatal(st.err)
	}
	ts := httptest.NewServer(s)
	t.Cleanup(ts.Close)
	return s, ts
}

// waitFor polls cond: the counters move when requests reach the server,
// whose timing the test does not control. The limit only stops a broken
// test from hanging.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(time.Minute); !cond(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
	}
}

// slowQuery runs until it is interrupted.
func slowQuery(ctx context.Context, db *sql.DB, _ analytics.Filter, _ analytics.Args) (any, error) {
	var n int64
	err := db.QueryRowContext(ctx, "SELECT sum(hash(range)) FROM range(CAST(1e15 AS BIGINT))").Scan(&n)
	return n, err
}

// TestAbandonedRequestsAreCancelled: requests whose clients went away while
// waiting for a query slot never run, and a new request is then served. (The
// server used to run every abandoned request to the end: 300 of them kept it
// busy for 45 s.)
func TestAbandonedRequestsAreCancelled(t *testing.T) {
	s, ts := newGated(t, Options{MaxQueries: 1, QueryTimeout: time.Minute})
	s.gate.slots <- struct{}{} // the only slot is taken: requests queue
	const n = 30
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var answered atomic.Int64
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			from := time.Date(2017, 1, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, i).Format(time.DateOnly)
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, ts.URL+"/api/dashboard?from="+from, nil)
			if resp, err := http.DefaultClient.Do(req); err == nil {
				resp.Body.Close()
				answered.Add(1)
			}
		}()
	}
	waitFor(t, "the requests to queue", func() bool { return s.gate.stats.waiting.Load() == n })
	cancel()
	wg.Wait()
	waitFor(t, "the queue to empty", func() bool { return s.gate.stats.waiting.Load() == 0 })
	st := &s.gate.stats
	if answered.Load() != 0 || st.cancelled.Load() != n || st.started.Load() != 0 {
		t.Fatalf("%d answered, %d cancelled, %d started; want 0, %d, 0", answered.Load(), st.cancelled.Load(), st.started.Load(), n)
	}
	<-s.gate.slots
	get(t, ts, "/api/kpis?from=2017-05-05", 200, &analytics.KPIs{})
	if st.started.Load() != 1 || st.ok.Load() != 1 {
		t.Fatalf("after the abandon: %d started, %d ok; want 1, 1", st.started.Load(), st.ok.Load())
	}
	var m strings.Builder
	m.Write(s.gate.metricsText())
	if !strings.Contains(m.String(), fmt.Sprintf("nexus_server_queries_cancelled_total %d\n", n)) {
		t.Fatalf("/metrics lacks the cancellations:\n%s", m.String())
	}
}

// TestRunningQueryInterrupted: a query that is running when its only client
// goes away is interrupted in DuckDB, and its slot is free again.
func TestRunningQueryInterrupted(t *testing.T) {
	s, ts := newGated(t, Options{MaxQueries: 1, QueryTimeout: time.Hour})
	s.mux.HandleFunc("/api/slow", s.data("slow", endpoint{run: slowQuery}))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, ts.URL+"/api/slow", nil)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		done <- err
	}()
	waitFor(t, "the query to run", func() bool { return s.gate.stats.running.Load() == 1 })
	cancel()
	if err := <-done; err == nil {
		t.Fatal("the abandoned request was answered")
	}
	waitFor(t, "the query to stop", func() bool { return s.gate.stats.running.Load() == 0 })
	if c := s.gate.stats.cancelled.Load(); c != 1 {
		t.Fatalf("%d cancelled, want 1", c)
	}
	get(t, ts, "/api/kpis?state=RJ", 200, &analytics.KPIs{}) // the slot is free
}

// TestLimitsAnswer: a query beyond the timeout is answered 504, and a request
// that finds no free slot within it 503, both as JSON errors.
func TestLimitsAnswer(t *testing.T) {
	s, ts := newGated(t, Options{MaxQueries: 1, QueryTimeout: 200 * time.Millisecond})
	s.mux.HandleFunc("/api/slow", s.data("slow", endpoint{run: slowQuery}))
	var e apiError
	get(t, ts, "/api/slow", http.StatusGatewayTimeout, &e)
	if !strings.Contains(e.Error, "timeout") || s.gate.stats.timedOut.Load() != 1 {
		t.Fatalf("504 %q, %d timed out", e.Error, s.gate.stats.timedOut.Load())
	}
	s.gate.slots <- struct{}{}
	h := get(t, ts, "/api/kpis?state=SP&from=2017-02-02", http.StatusServiceUnavailable, &e)
	<-s.gate.slots
	if !strings.Contains(e.Error, "busy") || h.Get("Retry-After") == "" || s.gate.stats.busy.Load() != 1 {
		t.Fatalf("503 %q (Retry-After %q), %d busy", e.Error, h.Get("Retry-After"), s.gate.stats.busy.Load())
	}
	get(t, ts, "/api/kpis?state=SP&from=2017-02-02", 200, &analytics.KPIs{})
}

// TestHostHeader: only the names the server is known by are answered
// (against DNS rebinding).
func TestHostHeader(t *testing.T) {
	_, ts := newGated(t, Options{AllowedHosts: []string{"0.0.0.0:8080", "Dash.Example.com"}})
	for _, c := range []struct {
		host string
		want int
	}{
		{"", 200}, // the client's own: 127.0.0.1:port
		{"localhost", 200},
		{"localhost:8080", 200},
		{"LOCALHOST.", 200},
		{"127.0.0.1:1", 200},
		{"127.1.2.3", 200},
		{"[::1]:8080", 200},
		{"dash.example.com", 200},
		{"dash.example.com:443", 200},
		{"evil.example", 421},
		{"evil.example:8080", 421},
		{"localhost.evil.example", 421},
		{"0.0.0.0:8080", 421}, // an unspecified listen address names no host
		{"192.168.1.10", 421},
	} {
		for _, path := range []string{"/api/kpis", "/healthz", "/"} {
			req, _ := http.NewRequest(http.MethodGet, ts.URL+path, nil)
			if c.host != "" {
				req.Host = c.host
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != c.want {
				t.Errorf("Host %q %s: status %d, want %d: %.200s", c.host, path, resp.StatusCode, c.want, body)
			}
			if c.want == 421 && !json.Valid(body) {
				t.Errorf("Host %q: not a JSON error: %s", c.host, body)
			}
		}
	}
}

// TestEcho: an answer repeats at most 100 characters of a bad value.
func TestEcho(t *testing.T) {
	_, ts := newGated(t, Options{})
	long := strings.Repeat("x", 200_000)
	for _, path := range []string{
		"/api/kpis?from=" + long,
		"/api/kpis?to=2017-01-0" + long,
		"/api/kpis?state=" + long,
		"/api/kpis?category=" + long,
		"/api/top-products?limit=" + long,
		"/api/kpis?" + long + "=1",
		"/" + long,
	} {
		resp, err := http.Get(ts.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 400 && resp.StatusCode != 404 {
			t.Errorf("%.40s: status %d", path, resp.StatusCode)
		}
		if n := longestRun(string(body), 'x'); n > 100 {
			t.Errorf("%.40s…: the answer repeats %d characters of the value: %.300s", path, n, body)
		}
	}
}

func longestRun(s string, c rune) int {
	best, n := 0, 0
	for _, r := range s {
		if r == c {
			n++
			best = max(best, n)
		} else {
			n = 0
		}
	}
	return best
}

// TestNoMachinePaths: neither /healthz, the page nor an error names a path of
// the machine, even when DuckDB's error does (a data file is missing).
func TestNoMachinePaths(t *testing.T) {
	root := t.TempDir()
	if err := os.CopyFS(root, os.DirFS(testLake.Root)); err != nil {
		t.Fatal(err)
	}
	lk, err := lake.Open(root)
	if err != nil {
		t.Fatal(err)
	}
	m, err := lk.Manifest(lake.Gold, "fact_sales")
	if err != nil {
		t.Fatal(err)
	}
	open := func() *engine.Engine {
		eng, err := engine.Open(context.Background(), lk, engine.Options{MemoryLimit: "1GB", TempDir: t.TempDir()})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { eng.Close() })
		return eng
	}
	healthy := httptest.NewServer(NewServer(open(), lk, nil, Options{}))
	defer healthy.Close()
	check := func(ts *httptest.Server, path string, status int) string {
		t.Helper()
		resp, err := http.Get(ts.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != status {
			t.Fatalf("%s: status %d, want %d: %s", path, resp.StatusCode, status, body)
		}
		for _, p := range []string{root, os.TempDir(), filepath.Dir(root)} {
			if strings.Contains(string(body), p) {
				t.Errorf("%s names %s: %.400s", path, p, body)
			}
		}
		return string(body)
	}
	if b := check(healthy, "/healthz", 200); !strings.Contains(b, `"lake":"`+filepath.Base(root)+`"`) {
		t.Errorf("healthz does not name the lake by its directory: %s", b)
	}
	check(healthy, "/", 200)
	healthy.Close()

	eng := open() // while the files are all there: the engine checks them
	if err := os.Remove(lk.AbsFiles(m)[0]); err != nil {
		t.Fatal(err)
	}
	broken := httptest.NewServer(NewServer(eng, lk, nil, Options{}))
	defer broken.Close()
	var e apiError
	if err := json.Unmarshal([]byte(check(broken, "/api/kpis", http.StatusServiceUnavailable)), &e); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(e.Error, "<lake>/gold/fact_sales/") {
		t.Errorf("the error does not say which file: %s", e.Error)
	}
	check(broken, "/healthz", 200)
}

func TestRedact(t *testing.T) {
	s := &Server{lk: &lake.Lake{Root: "/srv/data/lake"}}
	for _, c := range []struct{ in, want string }{
		{`IO Error: No files found that match the pattern "/srv/data/lake/gold/fact_sales/part-0.parquet"`,
			`IO Error: No files found that match the pattern "<lake>/gold/fact_sales/part-0.parquet"`},
		{"open /home/ana/.cache/duckdb/tmp/x.tmp: permission denied", "open …/x.tmp: permission denied"},
		{"no path here", "no path here"},
	} {
		if got := s.redact(c.in); got != c.want {
			t.Errorf("redact(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}
