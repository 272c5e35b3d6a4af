package ingest

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/keystone/nexus/internal/lake"
)

// A file whose size, modification time and identity (device, inode,
// change time) are those recorded when it was hashed, long enough after its
// last write, is not read again: the base batch of a landing zone is most
// of its bytes, read at every run before. A write moves the times, and a
// write with the modification time put back (cp -p, rsync -t) still moves
// the change time: the file is read, and re-ingested when its bytes
// changed. --force reads it whatever the times say; a file written moments
// before it is hashed keeps no time, so it is read again next time.
func TestUnchangedByStat(t *testing.T) {
	t.Parallel()
	if runtime.GOOS != "linux" {
		t.Skip("the change time is read on Linux only; elsewhere every file is read")
	}
	for _, mode := range []string{"files", "landing zone"} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			lk := newLake(t)
			src := copyValid(t)
			orders := filepath.Join(src, ordersFile)
			if mode == "landing zone" {
				src = landingZone(t)
				orders = filepath.Join(src, "dt=2018-01-01", ordersFile)
			}
			ingest := func(run string, force bool) TableResult {
				t.Helper()
				res, err := Run(context.Background(), lk, Options{SourceDir: src, RunID: run, Force: force})
				if err != nil || res.Err() != nil {
					t.Fatalf("ingest %s: %v %v", run, err, res.Err())
				}
				if _, err := lk.Commit(lake.CommitInfo{Kind: lake.CommitRun, RunID: run}); err != nil {
					t.Fatal(err)
				}
				return byTable(res)["orders"]
			}
			recorded := func() lake.Input {
				t.Helper()
				m, err := lk.Manifest(lake.Bronze, "orders")
				if err != nil || len(m.Inputs) != 1 {
					t.Fatalf("bronze.orders inputs: %v %+v", err, m)
				}
				return m.Inputs[0]
			}
			hourAgo := time.Now().Add(-time.Hour).Truncate(time.Second)
			setTime := func(at time.Time) {
				if err := os.Chtimes(orders, at, at); err != nil {
					t.Fatal(err)
				}
			}
			// Same size, other bytes: two data lines swapped.
			swapLines := func() {
				b, err := os.ReadFile(orders)
				if err != nil {
					t.Fatal(err)
				}
				lines := bytes.SplitAfter(b, []byte("\n"))
				lines[1], lines[2] = lines[2], lines[1]
				if err := os.WriteFile(orders, bytes.Join(lines, nil), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			unchanged := func(r TableResult) bool {
				if mode == "landing zone" {
					return r.Status == StatusUnchanged && len(r.Batches) == 1 && r.Batches[0].Status == BatchUnchanged
				}
				return r.Status == StatusUnchanged
			}

			setTime(hourAgo)
			if r := ingest("r1", false); r.BytesHashed == 0 {
				t.Fatalf("first ingest read nothing: %+v", r)
			}
			first := recorded()
			if first.ModTime != hourAgo.UnixNano() || first.FileID == "" {
				t.Fatalf("recorded mtime %d and id %q, want %d and an id (an hour-old file)", first.ModTime, first.FileID, hourAgo.UnixNano())
			}
			// Nothing happened to the file: not read.
			if r := ingest("r2", false); !unchanged(r) || r.BytesHashed != 0 {
				t.Fatalf("untouched file: %+v, want unchanged and nothing read", r)
			}
			// Rewritten with the same size and the time put back (as cp -p
			// or rsync -t would): the change time tells, it is read.
			swapLines()
			setTime(hourAgo)
			if r := ingest("r3", false); unchanged(r) || r.BytesHashed == 0 || recorded().Hash == first.Hash {
				t.Fatalf("same size and time, other bytes: %+v, hash %s", r, recorded().Hash)
			}
			// --force reads it.
			if r := ingest("r4", true); r.BytesHashed == 0 {
				t.Fatalf("--force read nothing: %+v", r)
			}
			// Written moments ago: no time kept, read again next time, the
			// same bytes (unchanged).
			swapLines()
			if r := ingest("r5", false); unchanged(r) || recorded().Hash != first.Hash {
				t.Fatalf("written again: %+v, hash %s, want %s", r, recorded().Hash, first.Hash)
			}
			if recorded().ModTime != 0 {
				t.Fatalf("a file written moments ago keeps its time %d", recorded().ModTime)
			}
			if r := ingest("r6", false); !unchanged(r) || r.BytesHashed == 0 {
				t.Fatalf("read again, same bytes: %+v, want unchanged after a read", r)
			}
		})
	}
}
