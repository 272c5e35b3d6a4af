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
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/keystone/nexus/internal/analytics"
	"github.com/keystone/nexus/internal/engine"
	"github.com/keystone/nexus/internal/lake"
)

// Options tune the handler.
type Options struct {
	// CacheEntries bounds the responses kept per lake version; 0 = 1024,
	// negative disables the cache (every request queries the lake).
	CacheEntries int
	// RefreshEvery is how often the handler looks for a newer version of the
	// lake (new manifests or runs); 0 = 2s.
	RefreshEvery time.Duration
	// QueryTimeout bounds one request's queries; 0 = 60s.
	QueryTimeout time.Duration
}

// Server serves the dashboard and its API. It is an http.Handler.
type Server struct {
	eng  *engine.Engine
	db   *sql.DB
	lk   *lake.Lake
	log  *slog.Logger
	opts Options
	mux  *http.ServeMux

	// rw is held shared by queries and exclusively while the engine's views
	// are re-created for a new version of the lake.
	rw        sync.RWMutex
	cur       atomic.Pointer[state]
	checking  sync.Mutex
	lastCheck atomic.Int64 // unix nanos
	flight    singleflight.Group
	versions  atomic.Int64 // numbers the states, so single-flight keys never mix versions
}

// state is what the handler knows of one version of the lake.
type state struct {
	sig     string
	lists   *FilterLists
	err     error // the lake cannot be queried (no gold tables, say)
	mu      sync.Mutex
	cache   map[string][]byte
	version int64
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
	if opts.QueryTimeout == 0 {
		opts.QueryTimeout = 60 * time.Second
	}
	s := &Server{eng: eng, db: eng.DB(), lk: lk, log: logger, opts: opts, mux: http.NewServeMux()}
	s.routes()
	return s
}

// endpoint is one JSON endpoint over a filter.
type endpoint struct {
	params []string // accepted beyond the filter
	run    func(ctx context.Context, db *sql.DB, f analytics.Filter, ints map[string]int) (any, error)
}

// intSpec is an integer parameter: default and range.
var intSpecs = map[string][3]int{
	"n":     {10, 1, 100},
	"flows": {10, 0, 100},
}

func (s *Server) routes() {
	eps := map[string]endpoint{
		"kpis": {nil, func(ctx context.Context, db *sql.DB, f analytics.Filter, _ map[string]int) (any, error) {
			return analytics.Kpis(ctx, db, f)
		}},
		"monthly": {nil, func(ctx context.Context, db *sql.DB, f analytics.Filter, _ map[string]int) (any, error) {
			return nonNil(analytics.MonthlySales(ctx, db, f))
		}},
		"categories": {[]string{"n"}, func(ctx context.Context, db *sql.DB, f analytics.Filter, p map[string]int) (any, error) {
			return analytics.TopCategories(ctx, db, f, p["n"])
		}},
		"products": {[]string{"n"}, func(ctx context.Context, db *sql.DB, f analytics.Filter, p map[string]int) (any, error) {
			return nonNil(analytics.TopProducts(ctx, db, f, p["n"]))
		}},
		"rfm": {nil, func(ctx context.Context, db *sql.DB, f analytics.Filter, _ map[string]int) (any, error) {
			return analytics.RFM(ctx, db, f)
		}},
		"geo": {[]string{"flows"}, func(ctx context.Context, db *sql.DB, f analytics.Filter, p map[string]int) (any, error) {
			return analytics.Geography(ctx, db, f, p["flows"])
		}},
		"delivery": {nil, func(ctx context.Context, db *sql.DB, f analytics.Filter, _ map[string]int) (any, error) {
			return analytics.Delivery(ctx, db, f)
		}},
		"reviews": {nil, func(ctx context.Context, db *sql.DB, f analytics.Filter, _ map[string]int) (any, error) {
			return analytics.ReviewVsSales(ctx, db, f)
		}},
		"clv": {nil, func(ctx context.Context, db *sql.DB, f analytics.Filter, _ map[string]int) (any, error) {
			return analytics.CLV(ctx, db, f)
		}},
		"dashboard": {nil, func(ctx context.Context, db *sql.DB, f analytics.Filter, _ map[string]int) (any, error) {
			return Collect(ctx, db, f)
		}},
	}
	for name, ep := range eps {
		s.mux.HandleFunc("/api/"+name, s.data(name, ep))
	}
	s.mux.HandleFunc("/api/filters", s.filters)
	s.mux.HandleFunc("/api/freshness", s.freshness)
	s.mux.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		names := make([]string, 0, len(eps)+2)
		for n := range eps {
			names = append(names, "/api/"+n)
		}
		names = append(names, "/api/filters", "/api/freshness")
		sort.Strings(names)
		writeError(w, http.StatusNotFound, "", "no such endpoint; endpoints: "+strings.Join(names, ", "))
	})
	s.mux.HandleFunc("/healthz", s.healthz)
	s.mux.HandleFunc("/", s.page)
}

func nonNil[T any](v []T, err error) (any, error) {
	if v == nil {
		v = []T{}
	}
	return v, err
}

// ServeHTTP logs the request and dispatches it. Only GET and HEAD exist.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
	w = rec
	w.Header().Set("X-Content-Type-Options", "nosniff")
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		writeError(w, http.StatusMethodNotAllowed, "", "the API is read-only: only GET and HEAD")
	} else {
		s.mux.ServeHTTP(w, r)
	}
	level := slog.LevelInfo
	if rec.status >= 500 {
		level = slog.LevelError
	}
	s.log.Log(r.Context(), level, "http", "method", r.Method, "path", r.URL.Path, "query", r.URL.RawQuery,
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

// current returns the state of the lake's current version, re-creating the
// engine's views when the lake changed (checked at most every RefreshEvery).
func (s *Server) current(ctx context.Context) *state {
	st := s.cur.Load()
	now := time.Now().UnixNano()
	if st != nil && now-s.lastCheck.Load() < int64(s.opts.RefreshEvery) {
		return st
	}
	if st != nil {
		if !s.checking.TryLock() { // another request is checking: use what we have
			return st
		}
	} else {
		s.checking.Lock()
	}
	defer s.checking.Unlock()
	if st2 := s.cur.Load(); st2 != st && st2 != nil { // refreshed while we waited
		return st2
	}
	sig, err := s.signature()
	s.lastCheck.Store(time.Now().UnixNano())
	if st != nil && (err != nil || sig == st.sig) {
		return st
	}
	next := &state{sig: sig, version: s.versions.Add(1), cache: map[string][]byte{}}
	s.rw.Lock()
	if st != nil {
		// Requests hold the read lock for their whole life, so the move to
		// the new snapshot happens between requests only.
		s.log.Info("lake changed: moving to its current snapshot")
		lk, err := s.lk.Reopen()
		if err == nil {
			err = s.eng.Use(ctx, lk)
		}
		if err != nil {
			next.err = err
		} else {
			s.lk = lk
		}
	}
	s.rw.Unlock()
	if next.err == nil {
		next.err = s.checkGold()
	}
	if next.err == nil {
		s.rw.RLock()
		next.lists, next.err = LoadFilters(ctx, s.db)
		s.rw.RUnlock()
	}
	if next.err != nil {
		s.log.Error("lake not queryable", "err", next.err)
		// Try again on the next request rather than after RefreshEvery.
		next.sig = "error:" + next.err.Error()
	}
	s.cur.Store(next)
	return next
}

// signature identifies the lake's version: its current snapshot pointer and
// latest run.
func (s *Server) signature() (string, error) {
	var b strings.Builder
	ptr, err := os.ReadFile(s.lk.MetaDir("CURRENT"))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return "", err
	}
	b.Write(ptr)
	for _, dir := range []string{s.lk.MetaDir("runs")} {
		entries, err := os.ReadDir(dir)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return "", err
		}
		for _, e := range entries {
			if strings.HasPrefix(e.Name(), ".") || !strings.HasSuffix(e.Name(), ".json") {
				continue
			}
			fi, err := e.Info()
			if err != nil {
				continue
			}
			fmt.Fprintf(&b, "%s:%d:%d;", e.Name(), fi.Size(), fi.ModTime().UnixNano())
		}
	}
	return b.String(), nil
}

func (s *Server) checkGold() error {
	for _, m := range s.eng.Tables() {
		if m.Layer == lake.Gold && m.Table == "fact_sales" {
			return nil
		}
	}
	return errors.New("the lake has no gold tables yet; run `nexus run` or `nexus demo` first")
}

// data serves one analysis endpoint.
func (s *Server) data(name string, ep endpoint) http.HandlerFunc {
	allowed := append(append([]string{}, filterParams...), ep.params...)
	return func(w http.ResponseWriter, r *http.Request) {
		st := s.current(r.Context())
		if st.err != nil {
			writeError(w, http.StatusServiceUnavailable, "", st.err.Error())
			return
		}
		q := r.URL.Query()
		f, err := parseQuery(q, allowed, st.lists)
		if err != nil {
			writeParamError(w, err)
			return
		}
		ints := map[string]int{}
		key := name + "?" + filterKey(f)
		for _, p := range ep.params {
			spec := intSpecs[p]
			n, err := intParam(q, p, spec[0], spec[1], spec[2])
			if err != nil {
				writeParamError(w, err)
				return
			}
			ints[p] = n
			key += "&" + p + "=" + strconv.Itoa(n)
		}
		body, cached, err := s.cached(r.Context(), st, key, func(ctx context.Context) (any, error) {
			return ep.run(ctx, s.db, f, ints)
		})
		if err != nil {
			if r.Context().Err() != nil {
				return // client gone
			}
			s.log.Error("query failed", "endpoint", name, "filter", filterKey(f), "err", err)
			writeError(w, http.StatusInternalServerError, "", name+": "+err.Error())
			return
		}
		if cached {
			w.Header().Set("X-Nexus-Cache", "hit")
		}
		writeJSONBytes(w, http.StatusOK, body)
	}
}

// cached returns the JSON of key for the lake version st, computing it once
// however many requests ask at the same time.
func (s *Server) cached(ctx context.Context, st *state, key string, compute func(context.Context) (any, error)) ([]byte, bool, error) {
	if s.opts.CacheEntries > 0 {
		st.mu.Lock()
		b, ok := st.cache[key]
		st.mu.Unlock()
		if ok {
			return b, true, nil
		}
	}
	v, err, _ := s.flight.Do(strconv.FormatInt(st.version, 10)+"/"+key, func() (any, error) {
		// Detached from the first caller: others may be waiting on it.
		qctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.opts.QueryTimeout)
		defer cancel()
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
	return v.([]byte), false, nil
}

func (s *Server) filters(w http.ResponseWriter, r *http.Request) {
	st := s.current(r.Context())
	if st.err != nil {
		writeError(w, http.StatusServiceUnavailable, "", st.err.Error())
		return
	}
	if _, err := parseQuery(r.URL.Query(), nil, nil); err != nil {
		writeParamError(w, err)
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
		return LoadFreshness(s.lk)
	})
	if err != nil {
		writeError(w, http.StatusInternalServerError, "", err.Error())
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
		writeError(w, http.StatusServiceUnavailable, "", "duckdb: "+err.Error())
		return
	}
	st := s.current(ctx)
	if st.err != nil {
		writeJSON(w, http.StatusOK, map[string]any{"status": "degraded", "error": st.err.Error()})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"status": "ok", "lake": s.lk.Root, "tables": len(s.eng.Tables())})
}

func (s *Server) page(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/" && r.URL.Path != "/index.html" {
		writeError(w, http.StatusNotFound, "", "not found: "+r.URL.Path)
		return
	}
	b, err := renderPage(Boot{Mode: "live", Generated: time.Now().UTC(), Lake: s.lk.Root})
	if err != nil {
		writeError(w, http.StatusInternalServerError, "", err.Error())
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
	for _, u := range []string{"/api/kpis", "/api/monthly", "/api/categories?n=10", "/api/products?n=10",
		"/api/rfm", "/api/geo?flows=8", "/api/delivery", "/api/reviews"} {
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
