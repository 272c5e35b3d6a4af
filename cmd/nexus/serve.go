package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"runtime"
	"time"

	"github.com/spf13/cobra"

	"github.com/keystone/nexus/internal/engine"
	"github.com/keystone/nexus/internal/server"
)

func newServeCmd(a *app) *cobra.Command {
	var (
		addr         string
		conns        int
		noCache      bool
		maxQueries   int
		queryTimeout time.Duration
		allowedHosts []string
	)
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Serve the live KPI dashboard and its read-only JSON API",
		Long: `Serve the KPI dashboard of the lake: KPI cards, charts and top tables with
filters for date range, state and category, re-queried on the lake's gold tables
through a read-only JSON API: /api/NAME for every analysis of 'nexus analyze'
(same names, filters and parameters), /api/dashboard, /api/filters,
/api/freshness, /healthz and /metrics (query counters and the run store's
metrics). The Runs page, /runs, shows the scheduler's cycles from
/api/runs, /api/run and /api/quarantine. /docs/ is the documentation site of
the snapshot served ('nexus docs'), generated once per version of the lake.
The API runs only the built-in analyses, never SQL from a request. Everything
the page needs is embedded in the binary: no CDN, no internet.

Answers are cached per version of the lake; when a run publishes new tables the
server notices within seconds and re-reads them. At most --max-queries answers
are computed at once, each within --query-timeout (503 or 504 otherwise), and a
computation stops when every client asking for it has gone. Requests must name
the server by a loopback name, the --addr host or an --allowed-host (421
otherwise), so that a web page cannot reach it through DNS rebinding.
Stop with Ctrl-C.`,
		Example: `  nexus serve
  nexus serve --addr 127.0.0.1:9000
  nexus serve --addr 0.0.0.0:8080 --allowed-host dashboards.example.com
  curl 'http://127.0.0.1:8080/api/kpis?from=2017-01-01&to=2017-12-31&state=SP&category=health_beauty'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			lk, err := a.openLake()
			if err != nil {
				return err
			}
			eng, err := engine.Open(ctx, lk, a.engineOptions(conns))
			if err != nil {
				return err
			}
			defer eng.Close()
			if len(eng.Tables()) == 0 {
				return engine.ErrNoTables
			}
			ln, err := net.Listen("tcp", addr)
			if err != nil {
				return fmt.Errorf("serve: %w", err)
			}
			opts := server.Options{MaxQueries: maxQueries, QueryTimeout: queryTimeout,
				AllowedHosts: append([]string{addr, ln.Addr().String()}, allowedHosts...)}
			if noCache {
				opts.CacheEntries = -1
			}
			h := server.NewServer(eng, lk, a.log, opts)
			srv := &http.Server{
				Handler:           h,
				ReadHeaderTimeout: 10 * time.Second,
				IdleTimeout:       2 * time.Minute,
				BaseContext:       func(net.Listener) context.Context { return ctx },
			}
			errc := make(chan error, 1)
			go func() { errc <- srv.Serve(ln) }()
			start := time.Now()
			if err := h.Warm(ctx); err != nil {
				a.log.Warn("warm-up", "err", err)
			}
			a.log.Info("dashboard ready", "addr", ln.Addr().String(), "warmup", time.Since(start))
			fmt.Printf("Dashboard of %s on http://%s/ (Ctrl-C to stop)\n", lk.Location(), ln.Addr())
			select {
			case err := <-errc:
				return fmt.Errorf("serve: %w", err)
			case <-ctx.Done():
			}
			a.log.Info("shutting down")
			sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
				return err
			}
			fmt.Println("stopped")
			return nil
		},
	}
	cmd.Flags().StringVar(&addr, "addr", "127.0.0.1:8080", "address to listen on (host:port; port 0 picks a free one)")
	cmd.Flags().IntVar(&conns, "conns", 4, "DuckDB connections, i.e. queries that may run at once")
	cmd.Flags().BoolVar(&noCache, "no-cache", false, "query the lake on every request (no answer cache)")
	cmd.Flags().IntVar(&maxQueries, "max-queries", 2*runtime.GOMAXPROCS(0), "answers computed at once; more wait for a slot")
	cmd.Flags().DurationVar(&queryTimeout, "query-timeout", 10*time.Second, "longest wait for one answer, waiting for a slot included (503/504 beyond)")
	cmd.Flags().StringArrayVar(&allowedHosts, "allowed-host", nil, "a Host name the server answers for besides loopback names and the --addr host (repeatable)")
	return cmd
}
