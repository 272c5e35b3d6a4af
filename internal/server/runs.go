package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/keystone/nexus/internal/analytics"
	"github.com/keystone/nexus/internal/lake"
	"github.com/keystone/nexus/internal/pipeline"
	"github.com/keystone/nexus/internal/quality"
	"github.com/keystone/nexus/internal/schedule/runstore"
)

// The Runs page and its API: the run store of the scheduler
// (<lake>/_nexus/runs.db), opened read-only for each request so that the
// page works on a read-only lake, never creates the store, and always shows
// what the scheduler, a trigger or a backfill last wrote. The run store is
// not part of a lake snapshot: its answers are not cached per lake version.

// NoRunsMessage is what the Runs page and /api/runs say of a lake without a
// run store.
const NoRunsMessage = "no scheduled runs yet: start `nexus scheduler` or `nexus trigger JOB`"

// The typed parameters of the run endpoints (bounds as for the analyses).
var (
	paramCycles = analytics.Param{Name: "cycles", Description: "the last N cycles", Default: 14, Min: 1, Max: 200}
	paramRunID  = analytics.Param{Name: "id", Description: "a run's id (nexus runs lists them)", Default: 0, Min: 1, Max: math.MaxInt}
	paramQLimit = analytics.Param{Name: "limit", Description: "at most this many rows", Default: 50, Min: 1, Max: 1000}
)

// jobOrderRuns is how many recent runs the order of the grid's rows is
// taken from.
const jobOrderRuns = 200

// maxFailedChecks bounds the failed checks /api/runs lists.
const maxFailedChecks = 200

// RunsView is what /api/runs answers: the last cycles of the run store as a
// grid (a row per job, a column per cycle) and the failed checks of their
// runs.
type RunsView struct {
	// Store is false when the lake has no run store yet; Message says what
	// to do then.
	Store    bool              `json:"store"`
	Message  string            `json:"message,omitempty"`
	Paused   bool              `json:"paused"`
	Statuses []runstore.Status `json:"statuses"` // the legend
	// Jobs are the grid's rows, in the order the jobs run in a cycle.
	Jobs []string `json:"jobs"`
	// Cycles are the grid's columns, oldest first.
	Cycles       []GridCycle   `json:"cycles"`
	FailedChecks []FailedCheck `json:"failed_checks"`
}

// GridCycle is a column of the grid: a cycle and the runs of its jobs.
type GridCycle struct {
	runstore.Cycle
	// Runs holds each job's latest run in the cycle (a resumed cycle runs
	// a job again), by job name; a job the cycle did not run is absent.
	Runs map[string]GridRun `json:"runs"`
}

// GridRun is a cell of the grid.
type GridRun struct {
	runstore.Run
	Seconds float64 `json:"seconds"` // duration (so far, for a running run)
	// Tries counts the runs of the job in the cycle (more than 1 when the
	// cycle was resumed).
	Tries int `json:"tries"`
}

// FailedCheck is a failed check of a run (of its last attempt).
type FailedCheck struct {
	RunID       int64     `json:"run_id"`
	CycleID     int64     `json:"cycle_id"`
	Job         string    `json:"job"`
	LogicalDate string    `json:"logical_date"`
	Attempt     int       `json:"attempt"`
	Ended       time.Time `json:"ended,omitzero"`
	runstore.CheckRow
	// QuarantineTable is the table of the quarantine schema holding the
	// rows the check took out of the flow (/api/quarantine?table=), when
	// the check quarantines and the lake's current snapshot has the table.
	QuarantineTable string `json:"quarantine_table,omitempty"`
}

// RunDetail is what /api/run answers: a run and its attempts with their
// steps and failed checks.
type RunDetail struct {
	Run      GridRun            `json:"run"`
	Attempts []runstore.Attempt `json:"attempts"`
}

// QuarantineRows is what /api/quarantine answers: rows of a quarantine table
// in the lake's current snapshot.
type QuarantineRows struct {
	Table    string   `json:"table"`
	Check    string   `json:"check,omitempty"`
	Snapshot int64    `json:"snapshot"`
	Total    int64    `json:"total"` // rows of the table (of the check) in all
	Columns  []string `json:"columns"`
	Rows     [][]any  `json:"rows"`
}

// openRuns opens the run store read-only; a lake without one is not an
// error (nil store).
func (s *Server) openRuns() (*runstore.Store, error) {
	st, err := runstore.OpenStoreRead(s.lk.Root)
	if errors.Is(err, runstore.ErrNoStore) {
		return nil, nil
	}
	return st, err
}

// runsAPI serves /api/runs?cycles=N.
func (s *Server) runsAPI(w http.ResponseWriter, r *http.Request) {
	args, ok := s.intArgs(w, r, paramCycles)
	if !ok {
		return
	}
	s.runStoreAnswer(w, r, "runs", func(ctx context.Context, st *runstore.Store) (any, error) {
		return s.runsView(ctx, st, args[paramCycles.Name])
	}, func() any {
		return RunsView{Message: NoRunsMessage, Statuses: runstore.Statuses(), Jobs: []string{}, Cycles: []GridCycle{}, FailedChecks: []FailedCheck{}}
	})
}

// runAPI serves /api/run?id=N.
func (s *Server) runAPI(w http.ResponseWriter, r *http.Request) {
	args, ok := s.intArgs(w, r, paramRunID)
	if !ok {
		return
	}
	if strings.TrimSpace(r.URL.Query().Get(paramRunID.Name)) == "" {
		writeError(w, http.StatusBadRequest, paramRunID.Name, fmt.Sprintf("parameter %q: required (%s)", paramRunID.Name, paramRunID.Description))
		return
	}
	id := int64(args[paramRunID.Name])
	s.runStoreAnswer(w, r, "run", func(ctx context.Context, st *runstore.Store) (any, error) {
		run, err := st.Run(ctx, id)
		if err != nil {
			return nil, err
		}
		att, err := st.Attempts(ctx, id)
		if err != nil {
			return nil, err
		}
		if att == nil {
			att = []runstore.Attempt{}
		}
		return RunDetail{Run: gridRun(*run, 1), Attempts: att}, nil
	}, nil)
}

// intArgs validates a run endpoint's query: only its parameters, each once,
// integers within their bounds.
func (s *Server) intArgs(w http.ResponseWriter, r *http.Request, params ...analytics.Param) (analytics.Args, bool) {
	q := r.URL.Query()
	names := make([]string, len(params))
	for i, p := range params {
		names[i] = p.Name
	}
	if _, err := parseQuery(q, names, nil); err != nil {
		writeParamError(w, err)
		return nil, false
	}
	args, err := analytics.ParseArgs(params, func(p string) (string, bool) { return q.Get(p), strings.TrimSpace(q.Get(p)) != "" })
	if err != nil {
		writeParamError(w, apiParamError(err))
		return nil, false
	}
	return args, true
}

// runStoreAnswer answers from the run store: through the query gate (one
// computation per distinct answer, bounded and timed), with none() when the
// lake has no run store (nil: 404), and 503 naming the problem when the
// store cannot be read.
func (s *Server) runStoreAnswer(w http.ResponseWriter, r *http.Request, name string, read func(context.Context, *runstore.Store) (any, error), none func() any) {
	key := "runstore/" + name + "?" + r.URL.RawQuery
	b, err := s.gate.do(r.Context(), key, s.opts.QueryTimeout, func(ctx context.Context) ([]byte, error) {
		st, err := s.openRuns()
		if err != nil {
			return nil, err
		}
		var v any
		if st == nil {
			if none == nil {
				return nil, runstore.ErrNoStore
			}
			v = none()
		} else {
			v, err = read(ctx, st)
			if cerr := st.Close(); err == nil && cerr != nil {
				err = fmt.Errorf("run store: %w", cerr)
			}
			if err != nil {
				return nil, err
			}
		}
		return json.Marshal(v)
	})
	switch {
	case err == nil:
		writeJSONBytes(w, http.StatusOK, b)
	case r.Context().Err() != nil: // client gone
	case errors.Is(err, runstore.ErrNoStore):
		writeError(w, http.StatusNotFound, "", NoRunsMessage)
	case errors.Is(err, errBusy), errors.Is(err, errTimeout):
		s.writeQueryError(w, name, err)
	case errors.Is(err, runstore.ErrNoRun):
		writeError(w, http.StatusNotFound, "", s.redact(err.Error()))
	default:
		s.log.Error("run store", "endpoint", name, "err", err)
		writeError(w, http.StatusServiceUnavailable, "", name+": the run store cannot be read: "+s.redact(err.Error()))
	}
}

func gridRun(r runstore.Run, tries int) GridRun {
	return GridRun{Run: r, Seconds: r.Duration().Seconds(), Tries: tries}
}

// runsView reads the last n cycles, their runs, and the failed checks.
func (s *Server) runsView(ctx context.Context, st *runstore.Store, n int) (*RunsView, error) {
	v := &RunsView{Store: true, Statuses: runstore.Statuses(), Jobs: []string{}, Cycles: []GridCycle{}, FailedChecks: []FailedCheck{}}
	paused, err := st.Setting(ctx, runstore.SettingPaused)
	if err != nil {
		return nil, err
	}
	v.Paused = paused != ""
	cycles, err := st.Cycles(ctx, n)
	if err != nil {
		return nil, err
	}
	if len(cycles) == 0 {
		v.Message = NoRunsMessage
		return v, nil
	}
	// Every run of a cycle has a cycle; the runs of the shown cycles are the
	// ones from the oldest shown on (ids grow).
	var runs []runstore.Run
	for i := range cycles {
		rs, err := st.Runs(ctx, runstore.RunFilter{CycleID: cycles[i].ID})
		if err != nil {
			return nil, err
		}
		runs = append(runs, rs...)
	}
	byCycle := map[int64][]runstore.Run{}
	for _, r := range runs {
		byCycle[r.CycleID] = append(byCycle[r.CycleID], r)
	}
	// Rows: the jobs in the order of the recent cycle that ran the most of
	// them (shown or not: a trigger runs one job), then any other job in the
	// order first seen. The server does not read the schedule's config (its
	// package imports this one): the store is all it knows.
	recent, err := st.Runs(ctx, runstore.RunFilter{Limit: jobOrderRuns})
	if err != nil {
		return nil, err
	}
	recentBy := map[int64][]runstore.Run{}
	var order []int64
	for i := len(recent) - 1; i >= 0; i-- { // oldest first
		r := recent[i]
		if _, ok := recentBy[r.CycleID]; !ok {
			order = append(order, r.CycleID)
		}
		recentBy[r.CycleID] = append([]runstore.Run{r}, recentBy[r.CycleID]...) // newest first, as Runs
	}
	var base []runstore.Run
	for _, id := range order {
		if rs := recentBy[id]; distinctJobs(rs) > distinctJobs(base) {
			base = rs
		}
	}
	seen := map[string]bool{}
	addJobs := func(rs []runstore.Run) {
		for j := len(rs) - 1; j >= 0; j-- { // Runs is newest first: run order is oldest first
			if !seen[rs[j].Job] {
				seen[rs[j].Job] = true
				v.Jobs = append(v.Jobs, rs[j].Job)
			}
		}
	}
	addJobs(base)
	for i := len(cycles) - 1; i >= 0; i-- {
		addJobs(byCycle[cycles[i].ID])
	}
	tables := s.quarantineTables()
	for i := len(cycles) - 1; i >= 0; i-- {
		c := cycles[i]
		gc := GridCycle{Cycle: c, Runs: map[string]GridRun{}}
		tries := map[string]int{}
		for _, r := range byCycle[c.ID] {
			tries[r.Job]++
		}
		for _, r := range byCycle[c.ID] { // newest first: the first of a job is its latest
			if _, ok := gc.Runs[r.Job]; !ok {
				gc.Runs[r.Job] = gridRun(r, tries[r.Job])
			}
		}
		v.Cycles = append(v.Cycles, gc)
	}
	// Failed checks, newest run first.
	for _, r := range runs {
		if len(v.FailedChecks) >= maxFailedChecks {
			break
		}
		if r.ChecksFailed == 0 && r.Status != runstore.StatusFailed {
			continue
		}
		att, err := st.Attempts(ctx, r.ID)
		if err != nil {
			return nil, err
		}
		if len(att) == 0 {
			continue
		}
		last := att[len(att)-1]
		for _, c := range last.Checks {
			fc := FailedCheck{RunID: r.ID, CycleID: r.CycleID, Job: r.Job, LogicalDate: r.LogicalDate, Attempt: last.N, Ended: last.Ended, CheckRow: c}
			if qt := pipeline.QuarantineTable(c.Table); quality.OnFail(c.OnFail) == quality.OnFailQuarantine && tables[qt] {
				fc.QuarantineTable = qt
			}
			v.FailedChecks = append(v.FailedChecks, fc)
		}
	}
	if len(v.FailedChecks) > maxFailedChecks {
		v.FailedChecks = v.FailedChecks[:maxFailedChecks]
	}
	return v, nil
}

func distinctJobs(rs []runstore.Run) int {
	m := map[string]bool{}
	for _, r := range rs {
		m[r.Job] = true
	}
	return len(m)
}

// quarantineTables are the quarantine tables of the snapshot the server
// reads.
func (s *Server) quarantineTables() map[string]bool {
	out := map[string]bool{}
	for _, m := range s.eng.Tables() {
		if m.Layer == lake.Quarantine {
			out[m.Table] = true
		}
	}
	return out
}

// quarantineAPI serves /api/quarantine?table=T[&check=C][&limit=N]: the rows
// a check took out of the flow, from the lake's current snapshot (cached per
// version, like the analyses). table is silver_orders or silver.orders.
func (s *Server) quarantineAPI(w http.ResponseWriter, r *http.Request) {
	st := s.current(r.Context())
	if st.err != nil {
		writeError(w, http.StatusServiceUnavailable, "", s.redact(st.err.Error()))
		return
	}
	q := r.URL.Query()
	if _, err := parseQuery(q, []string{"table", "check", paramQLimit.Name}, nil); err != nil {
		writeParamError(w, err)
		return
	}
	args, err := analytics.ParseArgs([]analytics.Param{paramQLimit}, func(p string) (string, bool) { return q.Get(p), strings.TrimSpace(q.Get(p)) != "" })
	if err != nil {
		writeParamError(w, apiParamError(err))
		return
	}
	limit := args[paramQLimit.Name]
	tables := s.quarantineTables()
	table := pipeline.QuarantineTable(strings.TrimSpace(q.Get("table")))
	if !tables[table] {
		names := make([]string, 0, len(tables))
		for t := range tables {
			names = append(names, t)
		}
		slices.Sort(names)
		msg := "required: a quarantine table of the lake"
		if table != "" {
			msg = fmt.Sprintf("%q is not a quarantine table of the lake", clip(q.Get("table")))
		}
		writeError(w, http.StatusBadRequest, "table", fmt.Sprintf("parameter %q: %s; tables: %s", "table", msg, strings.Join(names, ", ")))
		return
	}
	check := strings.TrimSpace(q.Get("check"))
	if len(check) > 200 {
		writeError(w, http.StatusBadRequest, "check", fmt.Sprintf("parameter %q: %q is not a check id", "check", clip(check)))
		return
	}
	key := "quarantine?" + url.Values{"table": {table}, "check": {check}, "limit": {strconv.Itoa(limit)}}.Encode()
	body, cached, err := s.cached(r.Context(), st, key, func(ctx context.Context) (any, error) {
		res, err := pipeline.QuarantineRows(ctx, s.eng, table, check, limit)
		if err != nil {
			return nil, err
		}
		total := int64(len(res.Raw))
		if len(res.Raw) >= limit {
			if total, err = pipeline.QuarantineCount(ctx, s.eng, table, check); err != nil {
				return nil, err
			}
		}
		rows := res.Raw
		if rows == nil {
			rows = [][]any{}
		}
		return QuarantineRows{Table: table, Check: check, Snapshot: st.lk.SnapshotID(), Total: total, Columns: res.Columns, Rows: rows}, nil
	})
	if err != nil {
		if r.Context().Err() != nil {
			return
		}
		s.log.Error("query failed", "endpoint", "quarantine", "table", table, "err", err)
		s.writeQueryError(w, "quarantine", err)
		return
	}
	if cached {
		w.Header().Set("X-Nexus-Cache", "hit")
	}
	writeJSONBytes(w, http.StatusOK, body)
}

// metrics serves /metrics: the server's query counters, then the run
// store's and the lake's metrics (runstore.MetricsHandler), in the
// Prometheus text format.
func (s *Server) metrics(w http.ResponseWriter, r *http.Request) {
	if _, err := parseQuery(r.URL.Query(), nil, nil); err != nil {
		writeParamError(w, err)
		return
	}
	var buf bytes.Buffer
	buf.Write(s.gate.metricsText())
	// Asked plainly (no Accept, no compression) so that it answers the text
	// format the counters above are in.
	req, err := http.NewRequestWithContext(r.Context(), http.MethodGet, "/metrics", nil)
	if err != nil {
		writeError(w, http.StatusInternalServerError, "", "metrics: "+err.Error())
		return
	}
	rec := &bufferWriter{h: http.Header{}, status: http.StatusOK}
	s.runMetrics.ServeHTTP(rec, req)
	if rec.status != http.StatusOK {
		// The query counters are still worth scraping: the failure goes to
		// the log and a comment.
		s.log.Error("run store metrics", "status", rec.status, "body", rec.buf.String())
		fmt.Fprintf(&buf, "# run store metrics unavailable: %s\n", strings.ReplaceAll(s.redact(strings.TrimSpace(rec.buf.String())), "\n", " "))
	} else {
		buf.Write(rec.buf.Bytes())
	}
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	w.Header().Set("Cache-Control", "no-cache")
	_, _ = w.Write(buf.Bytes())
}

// bufferWriter keeps an answer in memory.
type bufferWriter struct {
	h      http.Header
	status int
	buf    bytes.Buffer
}

func (w *bufferWriter) Header() http.Header         { return w.h }
func (w *bufferWriter) Write(b []byte) (int, error) { return w.buf.Write(b) }
func (w *bufferWriter) WriteHeader(code int)        { w.status = code }
