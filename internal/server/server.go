// Package server is the KPI dashboard of the lake: a read-only JSON API over
// the analyses of internal/analytics (never user-supplied SQL) and the page
// that draws it, with every asset embedded in the binary.
package server

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/keystone/nexus/internal/analytics"
	"github.com/keystone/nexus/internal/engine"
	"github.com/keystone/nexus/internal/lake"
	"github.com/keystone/nexus/internal/schedule/runstore"
)

// Options tune the handler.
type Options struct {
	// CacheEntries bounds the responses kept per lake version; 0 = 1024,
	// negative disables the cache (every request queries the lake).
	CacheEntries int
	// RefreshEvery is how often the handler looks for a newer version of the
	// lake (new manifests or runs); 0 = 2s.
	RefreshEvery time.Duration
	// MaxQueries bounds the computations (cache misses) that run at once;
	// the others wait for a slot. 0 = 2 × GOMAXPROCS.
	MaxQueries int
	// QueryTimeout bounds one computation, waiting for a slot included:
	// 503 when no slot freed up in time, 504 when the query ran out of it.
	// 0 = 10s.
	QueryTimeout time.Duration
	// AllowedHosts are the names (host or host:port) that requests may carry
	// in their Host header besides the loopback names (localhost, 127.0.0.1,
	// ::1): typically the listen address. Any other Host is answered 421.
	AllowedHosts []string
}

// Server serves the dashboard and its API. It is an http.Handler.
type Server struct {
	eng   *engine.Engine
	db    *sql.DB
	lk    *lake.Lake
	log   *slog.Logger
	opts  Options
	mux   *http.ServeMux
	hosts hostSet
	gate  *gate
	// runMetrics serves the run store's and the lake's metrics on /metrics.
	runMetrics http.Handler
	// paths are the paths routes registered, in order.
	paths []string

	// rw is held shared by queries and exclusively while a new version of
	// the lake is prepared (version.go).
	rw        sync.RWMutex
	cur       atomic.Pointer[state]
	checking  sync.Mutex
	lastCheck atomic.Int64 // unix nanos
	versions  atomic.Int64
	docsCache docsCache // the documentation site of the current version (docs.go)
}

// New returns the dashboard handler over an engine opened on lk.
func New(eng *engine.Engine, lk *lake.Lake, logger *slog.Logger) http.Handler {
	return NewServer(eng, lk, logger, Options{})
}

// NewServer is New with options.
func NewServer(eng *engine.Engine, lk *lake.Lake, logger *slog.Logger, opts Options) *Server {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if opts.CacheEntries == 0 {
		opts.CacheEntries = 1024
	}
	if opts.RefreshEvery == 0 {
		opts.RefreshEvery = 2 * time.Second
	}
	if opts.MaxQueries <= 0 {
		opts.MaxQueries = 2 * runtime.GOMAXPROCS(0)
	}
	if opts.QueryTimeout <= 0 {
		opts.QueryTimeout = 10 * time.Second
	}
	s := &Server{eng: eng, db: eng.DB(), lk: lk, log: logger, opts: opts, mux: http.NewServeMux(),
		hosts: newHostSet(opts.AllowedHosts), gate: newGate(opts.MaxQueries), runMetrics: runstore.MetricsHandler(lk.Root)}
	s.routes()
	return s
}

// endpoint is one JSON endpoint over a filter: an analysis of the registry,
// or the dashboard bundle.
type endpoint struct {
	params []analytics.Param // accepted beyond the filter
	run    func(ctx context.Context, db *sql.DB, f analytics.Filter, args analytics.Args) (any, error)
}

// dashboardPath is the bundle of every analysis the dashboard shows.
const dashboardPath = "/api/dashboard"

// routes serves the paths of routeTable (the one list of them: the API
// document and the 404 of /api/ are made from it too).
func (s *Server) routes() {
	var paths []string
	for _, rt := range routeTable() {
		s.mux.HandleFunc(rt.path, rt.handler(s))
		s.paths = append(s.paths, rt.path)
		if strings.HasPrefix(rt.path, "/api/") {
			paths = append(paths, rt.path)
		}
	}
	sort.Strings(paths)
	s.mux.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "", "no such endpoint; endpoints: "+strings.Join(paths, ", "))
	})
}

// ServeHTTP logs the request and dispatches it. Only GET and HEAD exist,
// for the Host names of Options.AllowedHosts.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
	w = rec
	w.Header().Set("X-Content-Type-Options", "nosniff")
	if !s.hosts.allows(r.Host) {
		writeError(w, http.StatusMisdirectedRequest, "", fmt.Sprintf("this server does not answer for host %q (nexus serve --allowed-host adds one)", clip(r.Host)))
	} else if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		writeError(w, http.StatusMethodNotAllowed, "", "the API is read-only: only GET and HEAD")
	} else {
		s.mux.ServeHTTP(w, r)
	}
	level := slog.LevelInfo
	if rec.status >= 500 {
		level = slog.LevelError
	}
	if rec.bytes == 0 && r.Context().Err() != nil {
		rec.status = 499 // client gone before the answer (nginx's code)
	}
	s.log.Log(r.Context(), level, "http", "method", r.Method, "host", clip(r.Host), "path", clip(r.URL.Path), "query", clip(r.URL.RawQuery),
		"status", rec.status, "bytes", rec.bytes, "ms", float64(time.Since(start).Microseconds())/1000)
}

type statusRecorder struct {
	http.ResponseWriter
	status int
	bytes  int
}

func (r *statusRecorder) WriteHeader(code int) { r.status = code; r.ResponseWriter.WriteHeader(code) }
func (r *statusRecorder) Write(b []byte) (int, error) {
	n, err := r.ResponseWriter.Write(b)
	r.bytes += n
	return n, err
}

// data serves one analysis endpoint.
func (s *Server) data(name string, ep endpoint) http.HandlerFunc {
	allowed := slices.Clone(filterParams)
	for _, p := range ep.params {
		allowed = append(allowed, p.Name)
	}
	return func(w http.ResponseWriter, r *http.Request) {
		st := s.current(r.Context())
		if st.err != nil {
			writeError(w, http.StatusServiceUnavailable, "", s.redact(st.err.Error()))
			return
		}
		q := r.URL.Query()
		f, err := parseQuery(q, allowed, st.lists)
		if err != nil {
			writeParamError(w, err)
			return
		}
		// An empty value is an absent one, as for the filters.
		vals, err := analytics.ParseArgs(ep.params, func(p string) (string, bool) { return q.Get(p), strings.TrimSpace(q.Get(p)) != "" })
		if err != nil {
			writeParamError(w, apiParamError(err))
			return
		}
		key := name + "?" + filterKey(f)
		for _, p := range ep.params {
			key += "&" + p.Name + "=" + strconv.Itoa(vals[p.Name])
		}
		body, cached, err := s.cached(r.Context(), st, key, func(ctx context.Context) (any, error) {
			return ep.run(ctx, st.db, f, vals)
		})
		if err != nil {
			if r.Context().Err() != nil {
				return // client gone: nobody to answer
			}
			s.log.Error("query failed", "endpoint", name, "filter", filterKey(f), "err", err)
			s.writeQueryError(w, name, err)
			return
		}
		if cached {
			w.Header().Set("X-Nexus-Cache", "hit")
		}
		writeJSONBytes(w, http.StatusOK, body)
	}
}

// cached returns the JSON of key for the lake version st, computing it once
// however many requests ask at the same time (through the gate: bounded,
// timed, cancelled when every requester has gone).
func (s *Server) cached(ctx context.Context, st *state, key string, compute func(context.Context) (any, error)) ([]byte, bool, error) {
	if s.opts.CacheEntries > 0 {
		st.mu.Lock()
		b, ok := st.cache[key]
		st.mu.Unlock()
		if ok {
			return b, true, nil
		}
	}
	b, err := s.gate.do(ctx, strconv.FormatInt(st.version, 10)+"/"+key, s.opts.QueryTimeout, func(qctx context.Context) ([]byte, error) {
		s.rw.RLock()
		v, err := compute(qctx)
		s.rw.RUnlock()
		if err != nil {
			return nil, err
		}
		b, err := json.Marshal(v)
		if err != nil {
			return nil, fmt.Errorf("encode: %w", err)
		}
		if s.opts.CacheEntries > 0 {
			st.mu.Lock()
			if len(st.cache) >= s.opts.CacheEntries {
				clear(st.cache)
			}
			st.cache[key] = b
			st.mu.Unlock()
		}
		return b, nil
	})
	if err != nil {
		return nil, false, err
	}
	return b, false, nil
}

func (s *Server) filters(w http.ResponseWriter, r *http.Request) {
	st := s.current(r.Context())
	if st.err != nil {
		writeError(w, http.StatusServiceUnavailable, "", s.redact(st.err.Error()))
		return
	}
	if _, err := parseQuery(r.URL.Query(), nil, nil); err != nil {
		writeParamError(w, err)
		return
	}
	if st.listsErr != nil {
		writeError(w, http.StatusServiceUnavailable, "", "filters: "+s.redact(st.listsErr.Error()))
		return
	}
	writeJSON(w, http.StatusOK, st.lists)
}

func (s *Server) freshness(w http.ResponseWriter, r *http.Request) {
	if _, err := parseQuery(r.URL.Query(), nil, nil); err != nil {
		writeParamError(w, err)
		return
	}
	// The lake's signature covers the run history, so the answer is cached
	// per version like the others.
	st := s.current(r.Context())
	body, cached, err := s.cached(r.Context(), st, "freshness", func(context.Context) (any, error) {
		return LoadFreshness(st.lk)
	})
	if err != nil {
		if r.Context().Err() != nil {
			return
		}
		s.log.Error("freshness", "err", err)
		s.writeQueryError(w, "freshness", err)
		return
	}
	if cached {
		w.Header().Set("X-Nexus-Cache", "hit")
	}
	writeJSONBytes(w, http.StatusOK, body)
}

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
	defer cancel()
	if err := s.db.PingContext(ctx); err != nil {
		s.log.Error("healthz", "err", err)
		writeError(w, http.StatusServiceUnavailable, "", "duckdb: "+s.redact(err.Error()))
		return
	}
	st := s.current(ctx)
	if st.err != nil {
		writeJSON(w, http.StatusOK, Health{Status: "degraded", Error: s.redact(st.err.Error())})
		return
	}
	// No path of the machine here: the lake is named by its directory's name.
	tables := len(s.eng.Tables())
	body := Health{Status: "ok", Lake: lakeName(s.lk), Tables: &tables}
	if damaged := s.eng.Damaged(); len(damaged) > 0 {
		names := make([]string, 0, len(damaged))
		for n := range damaged {
			names = append(names, n)
		}
		sort.Strings(names)
		body.Status, body.Damaged = "degraded", names
	}
	writeJSON(w, http.StatusOK, body)
}

// Health is what /healthz answers.
type Health struct {
	Status  string   `json:"status"`           // ok or degraded
	Lake    string   `json:"lake,omitempty"`   // the lake's directory name, or its s3:// URL
	Tables  *int     `json:"tables,omitempty"` // published tables of the current snapshot
	Damaged []string `json:"damaged,omitempty"`
	Error   string   `json:"error,omitempty"` // why the lake cannot be read
}

// lakeName is what clients are told of the lake: its directory's name.
func lakeName(lk *lake.Lake) string {
	if loc := lk.Location(); loc != lk.Root {
		return loc // a lake on S3: its URL, not its local mirror's name
	}
	if abs, err := filepath.Abs(lk.Root); err == nil {
		return filepath.Base(abs)
	}
	return filepath.Base(lk.Root)
}

func (s *Server) page(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/" && r.URL.Path != "/index.html" {
		writeError(w, http.StatusNotFound, "", "not found: "+clip(r.URL.Path))
		return
	}
	b, err := renderPage(Boot{Mode: "live", Generated: time.Now().UTC(), Lake: lakeName(s.lk)})
	s.writePage(w, b, err)
}

// runsPage serves the Runs page; it reads /api/runs.
func (s *Server) runsPage(w http.ResponseWriter, _ *http.Request) {
	// Its parameters (cycles, quarantine, check) are the API's to check.
	b, err := renderRunsPage(lakeName(s.lk))
	s.writePage(w, b, err)
}

func (s *Server) writePage(w http.ResponseWriter, b []byte, err error) {
	if err != nil {
		s.log.Error("page", "err", err)
		writeError(w, http.StatusInternalServerError, "", "render the page")
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-cache")
	w.Header().Set("Content-Security-Policy", csp)
	_, _ = w.Write(b)
}

// csp allows nothing from outside the page itself.
const csp = "default-src 'self'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src 'self' data:; connect-src 'self'"

// apiError is the body of every error answer.
type apiError struct {
	Error string `json:"error"`
	Param string `json:"param,omitempty"`
}

func writeParamError(w http.ResponseWriter, err error) {
	var pe *paramError
	if errors.As(err, &pe) {
		writeError(w, http.StatusBadRequest, pe.Param, pe.Error())
		return
	}
	writeError(w, http.StatusBadRequest, "", err.Error())
}

func writeError(w http.ResponseWriter, code int, param, msg string) {
	writeJSON(w, code, apiError{Error: msg, Param: param})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		code, b = http.StatusInternalServerError, []byte(`{"error":"encode response"}`)
	}
	writeJSONBytes(w, code, b)
}

func writeJSONBytes(w http.ResponseWriter, code int, b []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(code)
	_, _ = w.Write(b)
	_, _ = w.Write([]byte("\n"))
}

// Warm loads the filter lists and computes the unfiltered answers the page
// asks first, so that the first visitor does not wait for them.
func (s *Server) Warm(ctx context.Context) error {
	st := s.current(ctx)
	if st.err != nil {
		return st.err
	}
	for _, a := range analytics.Select(analytics.InDashboard) {
		u := "/api/" + a.Name // with the defaults, as the page asks
		if err := ctx.Err(); err != nil {
			return err
		}
		r, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		if err != nil {
			return err
		}
		w := &discardWriter{h: http.Header{}}
		s.mux.ServeHTTP(w, r)
		if w.status >= 400 {
			return fmt.Errorf("warm %s: status %d", u, w.status)
		}
	}
	return nil
}

type discardWriter struct {
	h      http.Header
	status int
}

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) Write(b []byte) (int, error) { return len(b), nil }
func (w *discardWriter) WriteHeader(code int)        { w.status = code }
