// Command api is a load test of the dashboard API: it serves the handler of
// internal/server on a loopback port over an existing lake (opened read-only:
// DuckDB's spill directory is a temporary one), fires a bounded number of
// requests over a mix of endpoints and filters with some concurrency, and
// prints latency percentiles per endpoint.
//
//	go run ./bench/api -lake bench/out/scale-1/lake
//	go run ./bench/api -lake bench/out/scale-1/lake -cache=false -conns 1
package main

import (
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
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/keystone/nexus/internal/engine"
	"github.com/keystone/nexus/internal/lake"
	"github.com/keystone/nexus/internal/server"
)

func main() {
	lakeDir := flag.String("lake", "", "lake root (required; nothing is written into it)")
	n := flag.Int("n", 400, "requests to send (at most 5000)")
	conc := flag.Int("c", 8, "concurrent clients")
	conns := flag.Int("conns", 4, "DuckDB connections of the engine")
	threads := flag.Int("threads", 0, "DuckDB threads per query (0 = GOMAXPROCS)")
	cache := flag.Bool("cache", true, "use the server's answer cache (false: every request queries the lake)")
	warm := flag.Bool("warm", true, "warm up as `nexus serve` does before measuring")
	seed := flag.Uint64("seed", 1, "seed of the request mix")
	flag.Parse()
	if *lakeDir == "" {
		log.Fatal("-lake is required")
	}
	if *n < 1 || *n > 5000 || *conc < 1 || *conc > 64 {
		log.Fatal("-n must be 1..5000 and -c 1..64")
	}
	if _, err := os.Stat(*lakeDir + "/_nexus/tables"); err != nil {
		log.Fatalf("not a lake: %v", err)
	}
	ctx := context.Background()
	lk := &lake.Lake{Root: *lakeDir} // not lake.Open: it would create directories
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
	opts := server.Options{RefreshEvery: time.Hour}
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
	fmt.Printf("lake %s: engine + warm-up %s; %d requests, %d clients, %d DuckDB conns × %d threads, cache %v, GOMAXPROCS %d\n",
		*lakeDir, time.Since(t0).Round(time.Millisecond), *n, *conc, *conns, *threads, *cache, runtime.GOMAXPROCS(0))

	var fl server.FilterLists
	if err := getJSON(ts.URL+"/api/filters", &fl); err != nil {
		log.Fatal(err)
	}
	reqs := mix(rand.New(rand.NewPCG(*seed, 7)), &fl, *n)

	type result struct {
		endpoint string
		d        time.Duration
		status   int
		hit      bool
	}
	results := make([]result, len(reqs))
	var next int
	var mu sync.Mutex
	var wg sync.WaitGroup
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: *conc}}
	start := time.Now()
	for range *conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				mu.Lock()
				i := next
				next++
				mu.Unlock()
				if i >= len(reqs) {
					return
				}
				t := time.Now()
				resp, err := client.Get(ts.URL + reqs[i])
				if err != nil {
					log.Fatal(err)
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				ep, _, _ := strings.Cut(reqs[i], "?")
				results[i] = result{ep, time.Since(t), resp.StatusCode, resp.Header.Get("X-Nexus-Cache") == "hit"}
			}
		}()
	}
	wg.Wait()
	wall := time.Since(start)

	by := map[string][]time.Duration{}
	var all []time.Duration
	hits, bad := 0, 0
	for _, r := range results {
		by[r.endpoint] = append(by[r.endpoint], r.d)
		all = append(all, r.d)
		if r.hit {
			hits++
		}
		if r.status != 200 {
			bad++
		}
	}
	names := make([]string, 0, len(by))
	for k := range by {
		names = append(names, k)
	}
	sort.Strings(names)
	fmt.Printf("%-18s %5s %9s %9s %9s %9s\n", "endpoint", "n", "p50 ms", "p95 ms", "p99 ms", "max ms")
	for _, k := range names {
		printRow(k, by[k])
	}
	printRow("ALL", all)
	fmt.Printf("%d requests in %s (%.0f req/s); %d cache hits; %d non-200\n", len(results), wall.Round(time.Millisecond),
		float64(len(results))/wall.Seconds(), hits, bad)
	if bad > 0 {
		os.Exit(1)
	}
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
	endpoints := []string{"/api/kpis", "/api/monthly", "/api/categories?n=10", "/api/products?n=10", "/api/rfm",
		"/api/geo?flows=8", "/api/delivery", "/api/reviews"}
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
	slices.Sort(ds)
	q := func(p float64) float64 {
		i := int(p*float64(len(ds))+0.5) - 1
		i = max(0, min(len(ds)-1, i))
		return float64(ds[i].Microseconds()) / 1000
	}
	fmt.Printf("%-18s %5d %9.1f %9.1f %9.1f %9.1f\n", name, len(ds), q(0.50), q(0.95), q(0.99), float64(ds[len(ds)-1].Microseconds())/1000)
}

func getJSON(url string, v any) error {
	resp, err := http.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}
