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
// Today a version is recognised by the manifests and run records on disk and
// the engine's views are re-created in place; with run-level snapshots, a
// state would instead hold the snapshot id and an engine opened on it, and
// current() would swap states when the snapshot pointer moves.

// state is what the handler knows of one version of the lake.
type state struct {
	sig     string
	version int64   // numbers the states, so single-flight keys never mix versions
	db      *sql.DB // where this version's queries run
	lists   *FilterLists
	err     error // the lake cannot be queried (no gold tables, say)
	mu      sync.Mutex
	cache   map[string][]byte
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
	next := &state{sig: sig, version: s.versions.Add(1), db: s.db, cache: map[string][]byte{}}
	s.rw.Lock()
	defer s.rw.Unlock()
	if refresh {
		s.log.Info("lake changed: refreshing views")
		if err := s.eng.Refresh(ctx); err != nil {
			next.err = err
		}
	}
	if next.err == nil {
		next.err = s.checkGold()
	}
	if next.err == nil {
		next.err = analytics.Warm(ctx, next.db)
	}
	if next.err == nil {
		next.lists, next.err = LoadFilters(ctx, next.db)
	}
	if next.err != nil {
		s.log.Error("lake not queryable", "err", next.err)
		// Try again on the next request rather than after RefreshEvery.
		next.sig = "error:" + next.err.Error()
	}
	return next
}

// signature identifies the lake's version: its manifests and latest run.
func (s *Server) signature() (string, error) {
	var b strings.Builder
	for _, dir := range []string{s.lk.MetaDir("tables"), s.lk.MetaDir("runs")} {
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
	return errors.New("the lake has no gold tables yet; run `nexus run` or `nexus demo` first")
}
