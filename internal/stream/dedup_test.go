package stream

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	nexusv1 "github.com/keystone/nexus/api/nexus/v1"
	"github.com/keystone/nexus/internal/ingest"
	"github.com/keystone/nexus/internal/lake"
)

// The set of a table's event ids follows its files: a file that leaves the
// table (a rollback, a compaction) takes its ids out and only its ids; a
// file already read is not read again (here F0 is removed from the disk
// once read: reading it again would fail), so a compaction does not cost
// reading the whole table again. A file gone from the disk too (a vacuum)
// makes the set read again from the table's files.
func TestEventIDsFollowTheFiles(t *testing.T) {
	reg, err := NewRegistry()
	if err != nil {
		t.Fatal(err)
	}
	lk, err := lake.Open(filepath.Join(t.TempDir(), "lake"))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	// One file per micro-batch: F0 holds a and b, F1 c, F2 d.
	var files []lake.File
	for i, ids := range [][]string{{"a", "b"}, {"c"}, {"d"}} {
		var recs []ingest.StreamRecord
		var table *Entity
		for j, id := range ids {
			rec, err := reg.Validate(j, order(func(o *nexusv1.Order) { o.EventId, o.OrderId = id, id }))
			if err != nil {
				t.Fatal(err)
			}
			table = rec.Entity
			recs = append(recs, ingest.StreamRecord{Fields: rec.Values, Batch: "2018-07-01", Source: "kafka:olist.orders/0", Offset: int64(10*i + j), EventID: id})
		}
		if r := ingest.AppendStream(ctx, lk, ingest.Options{RunID: lake.NewRunID(time.Now())}, table.Table, recs); r.Err != nil {
			t.Fatal(r.Err)
		}
		if _, err := lk.Commit(lake.CommitInfo{Kind: lake.CommitStream}); err != nil {
			t.Fatal(err)
		}
		m, err := lk.Manifest(lake.Bronze, "orders")
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range m.Files {
			if len(files) == 0 || f.Path > files[len(files)-1].Path {
				files = append(files, f)
			}
		}
	}
	if len(files) != 3 {
		t.Fatalf("%d files, want one per micro-batch", len(files))
	}
	manifest := func(fs ...int) *lake.Manifest {
		m := &lake.Manifest{Layer: lake.Bronze, Table: "orders"}
		for _, i := range fs {
			m.Files = append(m.Files, files[i])
		}
		return m
	}
	var s eventIDs
	for _, step := range []struct {
		name  string
		m     *lake.Manifest
		after func()
		has   string
	}{
		{"all three", manifest(0, 1, 2), func() {
			if err := os.Remove(lk.Abs(files[0].Path)); err != nil {
				t.Fatal(err)
			}
		}, "a,b,c,d"},
		{"F2 rolled back", manifest(0, 1), nil, "a,b,c"},
		{"F1 merged away, F2 back", manifest(0, 2), nil, "a,b,d"},
		{"F0 gone and vacuumed: read again from the files", manifest(2), nil, "d"},
		{"a damaged table (no manifest)", nil, nil, ""},
	} {
		if err := s.refresh(ctx, lk, step.m); err != nil {
			t.Fatalf("%s: %v", step.name, err)
		}
		var has []string
		for _, id := range []string{"a", "b", "c", "d"} {
			if s.has(id) {
				has = append(has, id)
			}
		}
		if got := strings.Join(has, ","); got != step.has {
			t.Errorf("%s: holds %s, want %s", step.name, got, step.has)
		}
		if step.after != nil {
			step.after()
		}
	}
	if len(s.ids) != 0 || len(s.files) != 0 {
		t.Errorf("emptied set still holds %d ids of %d files", len(s.ids), len(s.files))
	}
}
