package stream

import (
	"context"
	"fmt"
	"hash/fnv"

	"github.com/keystone/nexus/internal/ingest"
	"github.com/keystone/nexus/internal/lake"
)

// eventIDs is the set of event ids a Bronze table holds: a client that
// retries a call the edge produced but could not acknowledge (a lost
// connection, an edge killed after Kafka took the events) sends the same
// events again, and they must be written once. The set is the lake's, not
// the worker's memory: it is read from the table's _event_id column, so it
// survives a worker's crash and sees what other workers committed.
//
// An id is kept as its 128-bit FNV-1a hash: 16 bytes and no pointer, so
// that millions of them cost little memory and nothing to the garbage
// collector (a string set would be scanned at every collection); two ids
// collide with a probability of about n²/2¹²⁹.
type eventIDs struct {
	files map[string]bool // the table's files whose ids are in ids
	ids   map[idHash]struct{}
}

type idHash [16]byte

func hashID(id string) idHash {
	h := fnv.New128a()
	h.Write([]byte(id)) // a hash.Hash never fails to write
	var out idHash
	h.Sum(out[:0])
	return out
}

// refresh brings the set up to the table's current files: it reads the
// files it has not read, and starts again when a file it read is gone (a
// compaction, a rollback: the ids may have left the table).
func (s *eventIDs) refresh(ctx context.Context, lk *lake.Lake, m *lake.Manifest) error {
	if m == nil {
		s.files, s.ids = map[string]bool{}, map[idHash]struct{}{}
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
		s.files, s.ids = map[string]bool{}, map[idHash]struct{}{}
	}
	for _, f := range m.Files {
		if s.files[f.Path] {
			continue
		}
		if err := ingest.EventIDs(ctx, lk, f, func(id string) { s.ids[hashID(id)] = struct{}{} }); err != nil {
			return fmt.Errorf("stream worker: bronze.%s: %w", m.Table, err)
		}
		s.files[f.Path] = true
	}
	return nil
}

// has reports whether the table holds the event id.
func (s *eventIDs) has(id string) bool {
	_, ok := s.ids[hashID(id)]
	return ok
}
