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
// collide with a probability of about n²/2¹²⁹. Each id is counted by the
// files that hold it, so that a file that left the table (merged by a
// compaction, taken out by a rollback) takes only its own ids out, read
// again from it (it stays on disk until a vacuum): a compaction, which a
// stream-fed table gets every few micro-batches, costs reading the files it
// merged and the merged file, not the whole table again.
type eventIDs struct {
	files map[string]bool   // the table's files whose ids are counted in ids
	ids   map[idHash]uint32 // how many of those files hold the id
}

type idHash [16]byte

func hashID(id string) idHash {
	h := fnv.New128a()
	h.Write([]byte(id)) // a hash.Hash never fails to write
	var out idHash
	h.Sum(out[:0])
	return out
}

// refresh brings the set up to the table's current files: the ids of the
// files that are gone are taken out, those of the files it has not read are
// added. When a gone file cannot be read any more (vacuumed), the set is
// read again from the table's files.
func (s *eventIDs) refresh(ctx context.Context, lk *lake.Lake, m *lake.Manifest) error {
	if s.files == nil || m == nil { // m nil: no table (or a damaged one, which a write replaces)
		s.files, s.ids = map[string]bool{}, map[idHash]uint32{}
	}
	if m == nil {
		return nil
	}
	now := map[string]bool{}
	for _, f := range m.Files {
		now[f.Path] = true
	}
	for p := range s.files {
		if now[p] {
			continue
		}
		if err := s.read(ctx, lk, lake.File{Path: p}, -1); err != nil {
			s.files, s.ids = map[string]bool{}, map[idHash]uint32{}
			break
		}
	}
	for _, f := range m.Files {
		if s.files[f.Path] {
			continue
		}
		if err := s.read(ctx, lk, f, 1); err != nil {
			return fmt.Errorf("stream worker: bronze.%s: %w", m.Table, err)
		}
	}
	return nil
}

// read adds the ids of file f to the set (by 1) or takes them out (by -1).
// Nothing changes when the file cannot be read whole.
func (s *eventIDs) read(ctx context.Context, lk *lake.Lake, f lake.File, by int) error {
	var hs []idHash
	if err := ingest.EventIDs(ctx, lk, f, func(id string) { hs = append(hs, hashID(id)) }); err != nil {
		return err
	}
	for _, h := range hs {
		switch c := s.ids[h]; {
		case by > 0:
			s.ids[h] = c + 1
		case c > 1:
			s.ids[h] = c - 1
		default:
			delete(s.ids, h)
		}
	}
	if by > 0 {
		s.files[f.Path] = true
	} else {
		delete(s.files, f.Path)
	}
	return nil
}

// has reports whether the table holds the event id.
func (s *eventIDs) has(id string) bool {
	_, ok := s.ids[hashID(id)]
	return ok
}
