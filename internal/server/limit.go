package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// How queries are run: one computation per distinct answer however many
// requests ask for it at once, at most MaxQueries computations at a time,
// each bounded by QueryTimeout, and cancelled (DuckDB interrupted) as soon as
// every request that wanted it has gone away, so that abandoned requests do
// not keep the server busy.

var (
	// errBusy: no query slot freed up within the query timeout.
	errBusy = errors.New("server busy: too many queries at once, try again")
	// errTimeout: the query ran longer than the query timeout.
	errTimeout = errors.New("query took longer than the server's query timeout")
)

// call is one computation and the requests waiting for it.
type call struct {
	done    chan struct{}
	val     []byte
	err     error
	waiters int // guarded by gate.mu
	cancel  context.CancelFunc
}

// gate runs computations (see above).
type gate struct {
	slots chan struct{}
	mu    sync.Mutex
	calls map[string]*call
	stats counters
}

// counters count what happened to computations; /metrics shows them.
type counters struct {
	started   atomic.Int64 // got a slot and ran
	ok        atomic.Int64
	failed    atomic.Int64
	cancelled atomic.Int64 // every requester went away (while waiting for a slot or running)
	timedOut  atomic.Int64 // ran out of time running
	busy      atomic.Int64 // ran out of time waiting for a slot
	waiting   atomic.Int64 // now waiting for a slot
	running   atomic.Int64 // now running
}

func newGate(maxQueries int) *gate {
	return &gate{slots: make(chan struct{}, maxQueries), calls: map[string]*call{}}
}

// do returns the result of fn for key, running it unless a computation of key
// is under way. ctx is the requester's: when it ends, do returns ctx.Err()
// and, if nobody else waits for the computation, cancels it. fn gets a
// context that ends timeout after the computation was asked for (waiting for
// a slot included) or on cancellation.
func (g *gate) do(ctx context.Context, key string, timeout time.Duration, fn func(context.Context) ([]byte, error)) ([]byte, error) {
	g.mu.Lock()
	c, ok := g.calls[key]
	if !ok {
		// Detached from this requester: others may join; cancelled when the
		// last one leaves.
		qctx, cancel := context.WithTimeout(context.Background(), timeout)
		c = &call{done: make(chan struct{}), cancel: cancel}
		g.calls[key] = c
		go g.run(qctx, key, c, fn)
	}
	c.waiters++
	g.mu.Unlock()
	select {
	case <-c.done:
		return c.val, c.err
	case <-ctx.Done():
		g.mu.Lock()
		c.waiters--
		if c.waiters == 0 {
			c.cancel()
			if g.calls[key] == c {
				delete(g.calls, key) // a new request starts afresh
			}
		}
		g.mu.Unlock()
		return nil, ctx.Err()
	}
}

func (g *gate) run(ctx context.Context, key string, c *call, fn func(context.Context) ([]byte, error)) {
	defer func() {
		g.mu.Lock()
		if g.calls[key] == c {
			delete(g.calls, key)
		}
		g.mu.Unlock()
		c.cancel()
		close(c.done)
	}()
	g.stats.waiting.Add(1)
	select {
	case g.slots <- struct{}{}:
		g.stats.waiting.Add(-1)
	case <-ctx.Done():
		g.stats.waiting.Add(-1)
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			g.stats.busy.Add(1)
			c.err = errBusy
		} else {
			g.stats.cancelled.Add(1)
			c.err = ctx.Err()
		}
		return
	}
	defer func() { <-g.slots }()
	g.stats.started.Add(1)
	g.stats.running.Add(1)
	c.val, c.err = fn(ctx)
	g.stats.running.Add(-1)
	switch {
	case c.err == nil:
		g.stats.ok.Add(1)
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		g.stats.timedOut.Add(1)
		c.err = fmt.Errorf("%w: %w", errTimeout, c.err)
	case ctx.Err() != nil:
		g.stats.cancelled.Add(1)
	default:
		g.stats.failed.Add(1)
	}
}

// metricsText is the counters in the Prometheus text format.
func (g *gate) metricsText() []byte {
	s := &g.stats
	var b []byte
	add := func(name, kind, help string, v int64) {
		b = fmt.Appendf(b, "# HELP %s %s\n# TYPE %s %s\n%s %d\n", name, help, name, kind, name, v)
	}
	add("nexus_server_queries_started_total", "counter", "Computations that got a query slot and ran.", s.started.Load())
	add("nexus_server_queries_ok_total", "counter", "Computations that succeeded.", s.ok.Load())
	add("nexus_server_queries_failed_total", "counter", "Computations that failed.", s.failed.Load())
	add("nexus_server_queries_cancelled_total", "counter", "Computations cancelled because every client asking for them went away.", s.cancelled.Load())
	add("nexus_server_queries_timeout_total", "counter", "Computations stopped at the query timeout (answered 504).", s.timedOut.Load())
	add("nexus_server_queries_busy_total", "counter", "Computations that found no query slot within the query timeout (answered 503).", s.busy.Load())
	add("nexus_server_queries_waiting", "gauge", "Computations waiting for a query slot.", s.waiting.Load())
	add("nexus_server_queries_running", "gauge", "Computations running.", s.running.Load())
	add("nexus_server_query_slots", "gauge", "Computations that may run at once (--max-queries).", int64(cap(g.slots)))
	return b
}

// writeQueryError answers a failed computation: 503 when no slot was free in
// time, 504 at the timeout, 500 otherwise (with the paths of the machine
// taken out of the message).
func (s *Server) writeQueryError(w http.ResponseWriter, name string, err error) {
	switch {
	case errors.Is(err, errBusy):
		w.Header().Set("Retry-After", "1")
		writeError(w, http.StatusServiceUnavailable, "", name+": "+errBusy.Error())
	case errors.Is(err, errTimeout):
		writeError(w, http.StatusGatewayTimeout, "", fmt.Sprintf("%s: %s (%s)", name, errTimeout.Error(), s.opts.QueryTimeout))
	case s.eng.IsDamaged(err):
		// A damaged table degrades the endpoints that read it.
		msg := name + ": " + s.redact(err.Error())
		if !strings.Contains(msg, "nexus doctor") {
			msg += " (a file of the lake is missing or unreadable: run `nexus doctor`)"
		}
		writeError(w, http.StatusServiceUnavailable, "", msg)
	default:
		writeError(w, http.StatusInternalServerError, "", name+": "+s.redact(err.Error()))
	}
}
