package server

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/keystone/nexus/internal/analytics"
	"github.com/keystone/nexus/internal/lake"
)

// Which version of the lake the server answers from: everything about it is
// in this file. A request calls current() once and uses only the state it
// returns (its db, filter lists and answer cache); a new version is prepared
// completely (views, analytics working set, filter lists) before it becomes
// current, so no request sees half of it.
//
// A version is a lake snapshot (plus the run history, for freshness): when
// the snapshot pointer moves, prepare re-points the engine's views at the new
// snapshot while no query runs (rw), so each computation reads one snapshot
// whole and the server moves between snapshots between computations only.
// A damaged table degrades the endpoints that read it (503 naming the
// damage), not the server.

// state is what the handler knows of one version of the lake.
type state struct {
	sig     string
	lk      *lake.Lake // the snapshot this version reads
	version int64      // numbers the states, so single-flight keys never mix versions
	db      *sql.DB    // where this version's queries run
	lists   *FilterLists
	// listsErr: the filter lists could not be read (a damaged dimension);
	// filters are then refused and /api/filters says why.
	listsErr error
	err      error // the lake cannot be queried (no gold tables, say)
	mu       sync.Mutex
	cache    map[string][]byte
}

// refreshTimeout bounds the preparation of a new version (views, working
// set, filter lists): it is not tied to the request that noticed the change.
const refreshTimeout = 2 * time.Minute

// current returns the state of the lake's current version, preparing a new
// one when the lake changed (checked at most every RefreshEvery). While one
// request prepares it, the others go on with the previous state.
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
	// The preparation outlives the request that noticed the change: others
	// are waiting for the same state.
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), refreshTimeout)
	defer cancel()
	next := s.prepare(rctx, sig, st != nil)
	s.cur.Store(next)
	return next
}

// prepare builds the state of the lake as it is now. Queries are held off
// (rw) while the engine's views are re-created and the new version's working
// set and filter lists are computed, so that no query reads a mix of versions
// and the working set is built once, not by every request that misses the
// cache.
func (s *Server) prepare(ctx context.Context, sig string, refresh bool) *state {
	next := &state{sig: sig, version: s.versions.Add(1), db: s.db, lk: s.eng.Lake(), cache: map[string][]byte{}}
	s.rw.Lock()
	defer s.rw.Unlock()
	if refresh {
		lk, err := s.lk.Reopen()
		if err == nil && lk.SnapshotID() != next.lk.SnapshotID() {
			s.log.Info("lake changed: moving to its current snapshot", "from", next.lk.SnapshotID(), "to", lk.SnapshotID())
			err = s.eng.Use(ctx, lk)
			next.lk = lk
		}
		if err != nil {
			next.err = err
		}
	}
	if next.err == nil {
		next.err = s.checkGold()
	}
	if next.err == nil {
		// A damaged table fails the endpoints that read it, not the server:
		// the working set and filter lists are best effort.
		if err := analytics.Warm(ctx, next.db); err != nil {
			s.log.Warn("analytics working set not built", "err", err)
		}
		lists, err := LoadFilters(ctx, next.db)
		if err != nil {
			s.log.Warn("filter lists unavailable", "err", err)
			next.listsErr = err
			lists = &FilterLists{States: []string{}, Categories: []string{}}
		}
		next.lists = lists
	}
	if next.err != nil {
		s.log.Error("lake not queryable", "err", next.err)
		// Try again on the next request rather than after RefreshEvery.
		next.sig = "error:" + next.err.Error()
	}
	return next
}

// signature identifies the lake's version: its current snapshot pointer and
// its run history.
func (s *Server) signature() (string, error) {
	// A lake on S3: its mirror first follows the store (a no-op when the
	// pointer has not moved, or for a local lake).
	ctx, cancel := context.WithTimeout(context.Background(), refreshTimeout)
	defer cancel()
	if err := s.lk.Sync(ctx); err != nil {
		return "", fmt.Errorf("lake version: %w", err)
	}
	var b strings.Builder
	ptr, err := os.ReadFile(s.lk.MetaDir("CURRENT"))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("lake version: %w", err)
	}
	b.Write(ptr)
	for _, dir := range []string{s.lk.MetaDir("runs")} {
		entries, err := os.ReadDir(dir)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return "", fmt.Errorf("lake version: %w", err)
		}
		for _, e := range entries {
			if strings.HasPrefix(e.Name(), ".") || !strings.HasSuffix(e.Name(), ".json") {
				continue
			}
			fi, err := e.Info()
			if err != nil {
				continue // removed since ReadDir: the next check sees the change
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
	if _, damaged := s.eng.Damaged()["gold.fact_sales"]; damaged {
		return nil // the endpoints that read it say what is wrong
	}
	return errors.New("the lake has no gold tables yet; run `nexus run` or `nexus demo` first")
}
