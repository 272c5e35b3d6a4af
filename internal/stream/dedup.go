package stream

import (
	"context"
	"fmt"

	"github.com/keystone/nexus/internal/ingest"
	"github.com/keystone/nexus/internal/lake"
)

// eventIDs is the set of event ids a Bronze table holds: a client that
// retries a call the edge produced but could not acknowledge (a lost
// connection, an edge killed after Kafka took the events) sends the same
// events again, and they must be written once. The set is the lake's, not
// the worker's memory: it is read from the table's _event_id column, so it
// survives a worker's crash and sees what other workers committed.
type eventIDs struct {
	files map[string]bool // the table's files whose ids are in ids
	ids   map[string]struct{}
}

// refresh brings the set up to the table's current files: it reads the
// files it has not read, and starts again when a file it read is gone (a
// compaction, a rollback: the ids may have left the table).
func (s *eventIDs) refresh(ctx context.Context, lk *lake.Lake, m *lake.Manifest) error {
	if m == nil {
		s.files, s.ids = map[string]bool{}, map[string]struct{}{}
		return nil
	}
	now := map[string]bool{}
	for _, f := range m.Files {
		now[f.Path] = true
	}
	for p := range s.files {
		if !now[p] {
			s.files, s.ids = nil, nil
			break
		}
	}
	if s.files == nil {
		s.files, s.ids = map[string]bool{}, map[string]struct{}{}
	}
	for _, f := range m.Files {
		if s.files[f.Path] {
			continue
		}
		if err := ingest.EventIDs(ctx, lk, f, func(id string) { s.ids[id] = struct{}{} }); err != nil {
			return fmt.Errorf("stream worker: bronze.%s: %w", m.Table, err)
		}
		s.files[f.Path] = true
	}
	return nil
}

// has reports whether the table holds the event id.
func (s *eventIDs) has(id string) bool {
	_, ok := s.ids[id]
	return ok
}
