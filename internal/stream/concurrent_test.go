package stream

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/keystone/nexus/internal/engine"
	"github.com/keystone/nexus/internal/lake"
	"github.com/keystone/nexus/internal/s3test"
)

// Another writer commits between a worker's look at the lake and its
// commit (on S3: from another machine, a mirror of its own): the worker's
// commit loses (nothing of it visible), and the micro-batch is done again
// on the new snapshot: its events are in Bronze once, the other writer's
// commit is kept, and the offsets are the batch's.
func TestWorkerRedoesBatchAfterConcurrentCommit(t *testing.T) {
	for _, store := range []string{"local", "s3"} {
		t.Run(store, func(t *testing.T) {
			var open func(write bool) *lake.Lake
			if store == "s3" {
				srv := s3test.Start(t)
				root := "s3://" + srv.Bucket + "/stream"
				open = func(write bool) *lake.Lake {
					t.Helper()
					// Each handle a machine of its own: its own cache.
					o := lake.RemoteOptions{S3: lake.S3Options{Endpoint: srv.Endpoint}, CacheDir: t.TempDir()}
					lk, err := lake.OpenAny(context.Background(), root, o, write)
					if err != nil {
						t.Fatal(err)
					}
					t.Cleanup(func() {
						if err := lk.Release(); err != nil {
							t.Error(err)
						}
					})
					return lk
				}
			} else {
				dir := filepath.Join(t.TempDir(), "lake")
				open = func(write bool) *lake.Lake {
					t.Helper()
					lk, err := lake.OpenAny(context.Background(), dir, lake.RemoteOptions{}, write)
					if err != nil {
						t.Fatal(err)
					}
					return lk
				}
			}
			_, _, broker := edge(t, "")
			var stats []BatchStats
			w, err := NewWorker(WorkerOptions{Brokers: []string{broker}, Lake: open(true), OnCommit: func(s BatchStats) { stats = append(stats, s) }})
			if err != nil {
				t.Fatal(err)
			}
			defer w.Close()
			attempts := 0
			w.beforeCommit = func() {
				attempts++
				if attempts > 1 {
					return
				}
				other := open(true)
				if _, err := other.Commit(lake.CommitInfo{Kind: lake.CommitRun, Meta: map[string]string{"other.writer": "was here"}}); err != nil {
					t.Fatal(err)
				}
			}
			rec := func(off int64, id string) *kgo.Record { return orderRecord(t, off, id) }
			ctx := context.Background()
			if err := w.commit(ctx, []*kgo.Record{rec(0, "a"), rec(1, "b")}); err != nil {
				t.Fatal(err)
			}
			if attempts != 2 || len(stats) != 1 || stats[0].Rows != 2 {
				t.Fatalf("%d attempts, commits %+v; want 2 attempts, one commit of 2 rows", attempts, stats)
			}
			// The next batch commits at once, from the handle the retry
			// brought up to date.
			if err := w.commit(ctx, []*kgo.Record{rec(2, "c")}); err != nil || attempts != 3 {
				t.Fatalf("the next batch: %v after %d attempts in all", err, attempts)
			}
			lk := open(false)
			meta := lk.Snapshot().Meta
			if meta["other.writer"] != "was here" || meta[offsetKey("olist.orders", 0)] != "3" {
				t.Errorf("the lake's meta after the retried commit: %v", meta)
			}
			eng, err := engine.Open(ctx, lk, engine.Options{MemoryLimit: "256MB", Threads: 1})
			if err != nil {
				t.Fatal(err)
			}
			defer eng.Close()
			var ids string
			if err := eng.DB().QueryRowContext(ctx, `SELECT string_agg(_event_id, ',' ORDER BY _event_id) FROM bronze.orders`).Scan(&ids); err != nil || ids != "a,b,c" {
				t.Errorf("bronze.orders event ids %q (%v), want a,b,c", ids, err)
			}
		})
	}
}
