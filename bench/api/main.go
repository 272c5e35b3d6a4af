// Command api is a load test of the dashboard API: it serves the handler of
// internal/server on a loopback port over an existing lake (opened read-only:
// DuckDB's spill directory is a temporary one) and measures one of:
//
//	-mode mix       clients send the page's endpoints under a set of filters,
//	                as users of the dashboard would; latency percentiles per
//	                endpoint and for cache hits vs misses. With -during CMD,
//	                CMD (say a `nexus run` on changed data) runs meanwhile and
//	                the clients keep going until it exits: every non-200
//	                answer is counted and shown.
//	-mode newrange  /api/dashboard with date ranges never asked before, one
//	                after the other: what an analyst dragging a date filter waits.
//	-mode abandon   -n /api/dashboard requests with distinct date ranges sent
//	                at once and abandoned by their clients, then one new
//	                request: how long it waits, and the server's query counters
//	                (/metrics) when it has them.
//
//	go run ./bench/api -lake /tmp/lake -c 20 -n 2000
//	go run ./bench/api -lake /tmp/lake -c 20 -during 'nexus run --source SRC2 --lake /tmp/lake'
//	go run ./bench/api -lake /tmp/lake -mode newrange -n 40
//	go run ./bench/api -lake /tmp/lake -mode abandon -n 300
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/keystone/nexus/internal/analytics"
	"github.com/keystone/nexus/internal/engine"
	"github.com/keystone/nexus/internal/lake"
	"github.com/keystone/nexus/internal/server"
)

type config struct {
	mode         string
	n, conc      int
	during       string
	abandonAfter time.Duration
	seed         uint64
}

func main() {
	var cfg config
	lakeDir := flag.String("lake", "", "lake root (required; nothing is written into it)")
	flag.StringVar(&cfg.mode, "mode", "mix", "mix, newrange or abandon")
	flag.IntVar(&cfg.n, "n", 400, "requests to send (at most 5000; with -during, at least)")
	flag.IntVar(&cfg.conc, "c", 20, "concurrent clients")
	conns := flag.Int("conns", 4, "DuckDB connections of the engine (nexus serve's --conns)")
	threads := flag.Int("threads", 0, "DuckDB threads per query (0 = GOMAXPROCS)")
	cache := flag.Bool("cache", true, "use the server's answer cache (false: every request queries the lake)")
	warm := flag.Bool("warm", true, "warm up as `nexus serve` does before measuring")
	refresh := flag.Duration("refresh", 2*time.Second, "how often the server looks for a new lake version (as nexus serve)")
	maxQueries := flag.Int("max-queries", 0, "the server's --max-queries (0 = its default)")
	queryTimeout := flag.Duration("query-timeout", 0, "the server's --query-timeout (0 = its default)")
	flag.StringVar(&cfg.during, "during", "", "mix: a shell command to run while the clients send requests")
	flag.DurationVar(&cfg.abandonAfter, "abandon-after", 100*time.Millisecond, "abandon: how long the clients wait before they go away")
	flag.Uint64Var(&cfg.seed, "seed", 1, "seed of the request mix")
	flag.Parse()
	if *lakeDir == "" {
		log.Fatal("-lake is required")
	}
	if cfg.n < 1 || cfg.n > 5000 || cfg.conc < 1 || cfg.conc > 64 {
		log.Fatal("-n must be 1..5000 and -c 1..64")
	}
	ctx := context.Background()
	lk, err := lake.OpenRead(*lakeDir) // pinned to the current snapshot; writes nothing
	if err != nil {
		log.Fatal(err)
	}
	tmp, err := os.MkdirTemp("", "nexus-bench-api")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(tmp)
	t0 := time.Now()
	eng, err := engine.Open(ctx, lk, engine.Options{MemoryLimit: "4GB", TempDir: tmp, Conns: *conns, Threads: *threads})
	if err != nil {
		log.Fatal(err)
	}
	defer eng.Close()
	opts := server.Options{RefreshEvery: *refresh, MaxQueries: *maxQueries, QueryTimeout: *queryTimeout}
	if !*cache {
		opts.CacheEntries = -1
	}
	h := server.NewServer(eng, lk, nil, opts)
	ts := httptest.NewServer(h) // 127.0.0.1, random port
	defer ts.Close()
	if *warm {
		if err := h.Warm(ctx); err != nil {
			log.Fatal(err)
		}
	}
	fmt.Printf("lake %s: engine + warm-up %s; mode %s, %d requests, %d clients, %d DuckDB conns × %d threads, cache %v, GOMAXPROCS %d\n",
		*lakeDir, time.Since(t0).Round(time.Millisecond), cfg.mode, cfg.n, cfg.conc, *conns, *threads, *cache, runtime.GOMAXPROCS(0))
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	switch cfg.mode {
	case "mix":
		err = mixMode(ctx, client, ts.URL, cfg)
	case "newrange":
		err = newRangeMode(client, ts.URL, cfg)
	case "abandon":
		err = abandonMode(client, ts.URL, cfg)
	default:
		err = fmt.Errorf("unknown -mode %q", cfg.mode)
	}
	if err != nil {
		fmt.Println("FAIL:", err)
		ts.Close()
		eng.Close()
		os.RemoveAll(tmp)
		os.Exit(1)
	}
}

type result struct {
	endpoint string
	d        time.Duration
	status   int
	hit      bool
	body     string // of a non-200 answer
}

func fetch(client *http.Client, url string) (result, error) {
	t := time.Now()
	resp, err := client.Get(url)
	if err != nil {
		return result{}, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return result{}, err
	}
	r := result{d: time.Since(t), status: resp.StatusCode, hit: resp.Header.Get("X-Nexus-Cache") == "hit"}
	if r.status != 200 {
		r.body = strings.TrimSpace(string(body))
	}
	return r, nil
}

func mixMode(ctx context.Context, client *http.Client, base string, cfg config) error {
	var fl server.FilterLists
	if err := getJSON(client, base+"/api/filters", &fl); err != nil {
		return err
	}
	reqs := mix(rand.New(rand.NewPCG(cfg.seed, 7)), &fl, 5000)

	// With -during, the command runs while the clients loop over the mix.
	var cmdDone atomic.Bool
	cmdErr := make(chan error, 1)
	if cfg.during != "" {
		cmd := exec.CommandContext(ctx, "sh", "-c", cfg.during)
		out, err := os.CreateTemp("", "nexus-bench-during")
		if err != nil {
			return err
		}
		defer os.Remove(out.Name())
		cmd.Stdout, cmd.Stderr = out, out
		if err := cmd.Start(); err != nil {
			return err
		}
		go func() {
			err := cmd.Wait()
			cmdDone.Store(true)
			if err != nil {
				err = fmt.Errorf("-during %q: %w (output in %s)", cfg.during, err, out.Name())
			}
			cmdErr <- err
		}()
	}

	var (
		mu      sync.Mutex
		results []result
		next    int
		wg      sync.WaitGroup
		fatal   error
	)
	start := time.Now()
	for range cfg.conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				mu.Lock()
				i := next
				next++
				stop := fatal != nil || (i >= cfg.n && (cfg.during == "" || cmdDone.Load()))
				mu.Unlock()
				if stop {
					return
				}
				path := reqs[i%len(reqs)]
				r, err := fetch(client, base+path)
				mu.Lock()
				if err != nil && fatal == nil {
					fatal = err
				}
				r.endpoint, _, _ = strings.Cut(path, "?")
				results = append(results, r)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	wall := time.Since(start)
	if fatal != nil {
		return fatal
	}
	if cfg.during != "" {
		if err := <-cmdErr; err != nil {
			return err
		}
	}

	by := map[string][]time.Duration{}
	var all, hits, misses []time.Duration
	bad := map[string]int{}
	nbad := 0
	for _, r := range results {
		by[r.endpoint] = append(by[r.endpoint], r.d)
		all = append(all, r.d)
		if r.hit {
			hits = append(hits, r.d)
		} else {
			misses = append(misses, r.d)
		}
		if r.status != 200 {
			nbad++
			bad[fmt.Sprintf("%d %s %.160s", r.status, r.endpoint, r.body)]++
		}
	}
	names := make([]string, 0, len(by))
	for k := range by {
		names = append(names, k)
	}
	sort.Strings(names)
	fmt.Printf("%-24s %5s %9s %9s %9s %9s\n", "endpoint", "n", "p50 ms", "p95 ms", "p99 ms", "max ms")
	for _, k := range names {
		printRow(k, by[k])
	}
	printRow("ALL", all)
	printRow("cache hits", hits)
	printRow("cache misses", misses)
	fmt.Printf("%d requests in %s (%.0f req/s); %d cache hits; %d non-200\n", len(results), wall.Round(time.Millisecond),
		float64(len(results))/wall.Seconds(), len(hits), nbad)
	if cfg.during != "" {
		fmt.Printf("while running: %s\n", cfg.during)
	}
	keys := make([]string, 0, len(bad))
	for k := range bad {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Printf("  %4d × %s\n", bad[k], k)
	}
	if nbad > 0 {
		return fmt.Errorf("%d non-200 answers", nbad)
	}
	return nil
}

// newRangeMode asks /api/dashboard for date ranges that no request asked
// before (so no cache answers), one at a time.
func newRangeMode(client *http.Client, base string, cfg config) error {
	var ds []time.Duration
	day0 := time.Date(2017, 1, 1, 0, 0, 0, 0, time.UTC)
	r := rand.New(rand.NewPCG(cfg.seed, 11))
	for i := range cfg.n {
		from := day0.AddDate(0, 0, i*3+r.IntN(3))
		to := from.AddDate(0, 0, 60+r.IntN(300))
		res, err := fetch(client, fmt.Sprintf("%s/api/dashboard?from=%s&to=%s", base, from.Format(time.DateOnly), to.Format(time.DateOnly)))
		if err != nil {
			return err
		}
		if res.status != 200 || res.hit {
			return fmt.Errorf("new range %d: status %d, cache hit %v: %s", i, res.status, res.hit, res.body)
		}
		ds = append(ds, res.d)
	}
	fmt.Printf("%-24s %5s %9s %9s %9s %9s\n", "endpoint", "n", "p50 ms", "p95 ms", "p99 ms", "max ms")
	printRow("/api/dashboard new", ds)
	return nil
}

// abandonMode sends n requests that each need a query, lets their clients go
// away, then measures a new request.
func abandonMode(client *http.Client, base string, cfg config) error {
	before := metrics(client, base)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var answered atomic.Int64
	day0 := time.Date(2016, 10, 1, 0, 0, 0, 0, time.UTC)
	start := time.Now()
	for i := range cfg.n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			from := day0.AddDate(0, 0, i)
			url := fmt.Sprintf("%s/api/dashboard?from=%s&to=2018-12-31", base, from.Format(time.DateOnly))
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
			if err != nil {
				return
			}
			resp, err := client.Do(req)
			if err != nil {
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			answered.Add(1)
		}()
	}
	time.Sleep(cfg.abandonAfter)
	cancel()
	wg.Wait()
	fmt.Printf("%d requests sent, abandoned after %s (%d answered before)\n", cfg.n, cfg.abandonAfter, answered.Load())
	t := time.Now()
	res, err := fetch(client, base+"/api/dashboard?from=2017-02-03&to=2017-11-29&state=SP")
	if err != nil {
		return err
	}
	fmt.Printf("new request after the abandon: status %d in %.1f ms (%.1f ms after the first request was sent)\n",
		res.status, float64(time.Since(t).Microseconds())/1000, float64(time.Since(start).Microseconds())/1000)
	after := metrics(client, base)
	if after != nil {
		fmt.Println("server query counters (delta):")
		for _, k := range slices.Sorted(func(yield func(string) bool) {
			for k := range after {
				if !yield(k) {
					return
				}
			}
		}) {
			fmt.Printf("  %-50s %d\n", k, after[k]-before[k])
		}
	}
	if res.status != 200 {
		return fmt.Errorf("new request: status %d: %s", res.status, res.body)
	}
	return nil
}

// metrics reads the counters of /metrics (Prometheus text), nil when the
// server has none.
func metrics(client *http.Client, base string) map[string]int64 {
	resp, err := client.Get(base + "/metrics")
	if err != nil {
		return nil
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return nil
	}
	m := map[string]int64{}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") {
			continue
		}
		var k string
		var v int64
		if _, err := fmt.Sscan(line, &k, &v); err == nil {
			m[k] = v
		}
	}
	return m
}

// mix returns n request paths: the page's endpoints under a set of filters
// (none, a state, a category, a date range, and combinations), as users of
// the dashboard would send them.
func mix(r *rand.Rand, fl *server.FilterLists, n int) []string {
	bigStates := []string{"SP", "RJ", "MG", "RS", "PR", "BA"}
	var filters []string
	filters = append(filters, "")
	for range 24 {
		var p []string
		switch r.IntN(6) {
		case 0:
			p = append(p, "state="+pick(r, bigStates, fl.States))
		case 1:
			p = append(p, "category="+pick(r, nil, fl.Categories))
		case 2:
			y := 2017 + r.IntN(2)
			p = append(p, fmt.Sprintf("from=%d-%02d-01&to=%d-12-31", y, 1+r.IntN(6), y))
		case 3:
			p = append(p, "state="+pick(r, bigStates, fl.States), "category="+pick(r, nil, fl.Categories))
		case 4:
			p = append(p, "from=2017-01-01&to=2017-12-31", "state="+pick(r, bigStates, fl.States))
		default:
			p = append(p, "from=2018-01-01", "state="+pick(r, nil, fl.States), "category="+pick(r, nil, fl.Categories))
		}
		filters = append(filters, strings.Join(p, "&"))
	}
	// The page's requests: one per analysis of the dashboard, with its defaults.
	var endpoints []string
	for _, a := range analytics.Select(analytics.InDashboard) {
		endpoints = append(endpoints, "/api/"+a.Name)
	}
	out := make([]string, 0, n)
	for len(out) < n {
		// one page load: every endpoint with the same filter, shuffled
		f := filters[r.IntN(len(filters))]
		for _, i := range r.Perm(len(endpoints)) {
			e := endpoints[i]
			if f != "" {
				if strings.Contains(e, "?") {
					e += "&" + f
				} else {
					e += "?" + f
				}
			}
			out = append(out, e)
		}
		if r.IntN(4) == 0 {
			out = append(out, "/api/freshness", "/api/filters")
		}
	}
	return out[:n]
}

// pick prefers a value of prefer that the lake knows, else any of all.
func pick(r *rand.Rand, prefer, all []string) string {
	if len(prefer) > 0 && r.IntN(3) > 0 {
		v := prefer[r.IntN(len(prefer))]
		if slices.Contains(all, v) {
			return v
		}
	}
	return all[r.IntN(len(all))]
}

func printRow(name string, ds []time.Duration) {
	if len(ds) == 0 {
		fmt.Printf("%-24s %5d\n", name, 0)
		return
	}
	slices.Sort(ds)
	q := func(p float64) float64 {
		i := int(p*float64(len(ds))+0.5) - 1
		i = max(0, min(len(ds)-1, i))
		return float64(ds[i].Microseconds()) / 1000
	}
	fmt.Printf("%-24s %5d %9.1f %9.1f %9.1f %9.1f\n", name, len(ds), q(0.50), q(0.95), q(0.99), float64(ds[len(ds)-1].Microseconds())/1000)
}

func getJSON(client *http.Client, url string, v any) error {
	resp, err := client.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}
