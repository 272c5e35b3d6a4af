package stream

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	nexusv1 "github.com/keystone/nexus/api/nexus/v1"
	"github.com/keystone/nexus/internal/engine"
	"github.com/keystone/nexus/internal/lake"
	"github.com/keystone/nexus/internal/laketest"
	"github.com/keystone/nexus/internal/olist"
)

// Events sent through the edge reach Bronze through the worker, each once;
// a worker stopped and started again resumes where the lake says.
func TestWorkerCommitsOnce(t *testing.T) {
	dir := t.TempDir()
	rep, reg, events := dataSetEvents(t, filepath.Join(dir, "src"), 0.005, 4)
	_, conn, broker := edge(t, "")
	root := filepath.Join(dir, "lake")
	commits := make(chan BatchStats, 1000)
	start := func() (stop func()) {
		return startWorker(t, WorkerOptions{Brokers: []string{broker}, Lake: writeLake(t, root), BatchEvents: 500, BatchInterval: 200 * time.Millisecond,
			OnCommit: func(s BatchStats) { commits <- s }})
	}
	want := eventRows(rep, reg)
	half := len(events) / 2
	if _, err := Load(context.Background(), conn, events[:half], LoadOptions{Batch: 200}); err != nil {
		t.Fatal(err)
	}
	stop := start()
	select { // stopped once it committed something: the next one resumes from the lake
	case <-commits:
	case <-time.After(30 * time.Second):
		t.Fatal("no micro-batch committed")
	}
	stop()
	if _, err := Load(context.Background(), conn, events[half:], LoadOptions{Batch: 200}); err != nil {
		t.Fatal(err)
	}
	stop = start()
	defer stop()
	waitBronze(t, root, want)
}

// kcat, a Kafka client that is not franz-go, produces an event (JSON, as a
// person would type it); the worker puts it in Bronze.
func TestKcatEventReachesBronze(t *testing.T) {
	kcat, err := exec.LookPath("kcat")
	if err != nil {
		if os.Getenv("NEXUS_REQUIRE_TOOLS") != "" {
			t.Fatal("kcat (Debian package kcat) is required (NEXUS_REQUIRE_TOOLS is set)")
		}
		t.Skip("kcat not installed (Debian package kcat)")
	}
	_, _, broker := edge(t, "") // creates the topics
	ev, err := protojson.Marshal(order(func(o *nexusv1.Order) { o.EventId, o.OrderId = "kcat-1", "0000000000000000000000000000kcat" }))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(kcat, "-b", broker, "-P", "-t", "olist.orders", "-k", "0000000000000000000000000000kcat")
	cmd.Stdin = strings.NewReader(string(ev) + "\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("kcat: %v\n%s", err, out)
	}
	root := filepath.Join(t.TempDir(), "lake")
	done := make(chan BatchStats, 1)
	w, err := NewWorker(WorkerOptions{Brokers: []string{broker}, Lake: writeLake(t, root), BatchInterval: 100 * time.Millisecond,
		OnCommit: func(s BatchStats) { done <- s }})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan struct{})
	go func() { _ = w.Run(ctx); close(ran) }() // stopped by cancel
	defer func() { cancel(); <-ran; w.Close() }()
	select {
	case s := <-done:
		if s.Rows != 1 {
			t.Fatalf("commit: %+v", s)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the kcat event was not committed")
	}
	lk, err := lake.OpenRead(root)
	if err != nil {
		t.Fatal(err)
	}
	eng, err := engine.Open(ctx, lk, engine.Options{MemoryLimit: "256MB", Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	var id, src string
	if err := eng.DB().QueryRowContext(ctx, `SELECT order_id, _source_file FROM bronze.orders`).Scan(&id, &src); err != nil || id != "0000000000000000000000000000kcat" || !strings.HasPrefix(src, "kafka:olist.orders/") {
		t.Errorf("bronze.orders: %q %q %v", id, src, err)
	}
	if v := lk.Snapshot().Meta; len(v) == 0 {
		t.Errorf("no offsets in the snapshot: %v", v)
	}
}

// A micro-batch that starts before the lake's offset for its partition
// (records another worker committed while this one was out of the group) is
// fenced: nothing of it is written.
func TestWorkerFencing(t *testing.T) {
	_, _, broker := edge(t, "")
	root := filepath.Join(t.TempDir(), "lake")
	w, err := NewWorker(WorkerOptions{Brokers: []string{broker}, Lake: writeLake(t, root)})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	rec := func(off int64, id string) *kgo.Record { return orderRecord(t, off, id) }
	ctx := context.Background()
	if err := w.commit(ctx, []*kgo.Record{rec(0, "a"), rec(1, "b")}); err != nil {
		t.Fatal(err)
	}
	var fenced *fencedError
	if err := w.commit(ctx, []*kgo.Record{rec(1, "b"), rec(2, "c")}); !errors.As(err, &fenced) || fenced.lake != 2 || fenced.batch != 1 {
		t.Fatalf("a stale micro-batch: %v", err)
	}
	if err := w.commit(ctx, []*kgo.Record{rec(2, "c")}); err != nil {
		t.Fatal(err)
	}
	rows, distinct := laketest.BronzeLineage(t, root)
	if rows["orders"] != 3 || distinct["orders"] != 3 {
		t.Errorf("bronze.orders: %d rows, %d distinct offsets", rows["orders"], distinct["orders"])
	}
}

// Two workers share the partitions; one leaves midway (a rebalance): every
// event is in Bronze once.
func TestTwoWorkersRebalance(t *testing.T) {
	dir := t.TempDir()
	_, _, events := dataSetEvents(t, filepath.Join(dir, "src"), 0.01, 6)
	_, conn, broker := edge(t, "")
	root := filepath.Join(dir, "lake")
	commits := make(chan BatchStats, 10000)
	start := func() func() {
		return startWorker(t, WorkerOptions{Brokers: []string{broker}, Lake: writeLake(t, root), BatchEvents: 300, BatchInterval: 100 * time.Millisecond,
			SessionTimeout: 6 * time.Second, OnCommit: func(s BatchStats) { commits <- s }})
	}
	stopA := start()
	stopB := start()
	defer stopB()
	half := len(events) / 2
	if _, err := Load(context.Background(), conn, events[:half], LoadOptions{Batch: 100}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-commits:
	case <-time.After(30 * time.Second):
		t.Fatal("no commit")
	}
	stopA() // leaves the group: B gets its partitions
	if _, err := Load(context.Background(), conn, events[half:], LoadOptions{Batch: 100}); err != nil {
		t.Fatal(err)
	}
	var total int64
	deadline := time.Now().Add(90 * time.Second)
	for {
		rows, distinct := laketest.BronzeLineage(t, root)
		total = 0
		for table, n := range rows {
			if distinct[table] != n {
				t.Fatalf("%s: %d rows, %d distinct offsets", table, n, distinct[table])
			}
			total += n
		}
		if total == int64(len(events)) {
			return
		}
		if total > int64(len(events)) || time.Now().After(deadline) {
			t.Fatalf("Bronze holds %d rows for %d events", total, len(events))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// The lake's offsets are about the topics they were read from: on a broker
// made anew (an in-memory broker restarted), a worker refuses to start.
func TestWorkerTopicReset(t *testing.T) {
	root := filepath.Join(t.TempDir(), "lake")
	v, err := proto.Marshal(order(nil))
	if err != nil {
		t.Fatal(err)
	}
	rec := &kgo.Record{Topic: "olist.orders", Partition: 0, Offset: 0, Value: v}
	_, _, broker := edge(t, "")
	w, err := NewWorker(WorkerOptions{Brokers: []string{broker}, Lake: writeLake(t, root)})
	if err != nil {
		t.Fatal(err)
	}
	err = w.commit(context.Background(), []*kgo.Record{rec})
	w.Close()
	if err != nil {
		t.Fatal(err)
	}
	_, _, broker = edge(t, "") // a new broker: new topic ids
	if w, err := NewWorker(WorkerOptions{Brokers: []string{broker}, Lake: writeLake(t, root)}); !errors.Is(err, errTopicChanged) {
		if err == nil {
			w.Close()
		}
		t.Fatalf("a worker on another broker's topics: %v, want %v", err, errTopicChanged)
	}
}

// A retried event (the same event_id at a new offset: a client that sent a
// call again) is written once, within a micro-batch, across micro-batches,
// and by a worker started anew (the ids are the lake's); an id a rollback
// took out of the lake is written again.
func TestWorkerWritesRetriedEventOnce(t *testing.T) {
	_, _, broker := edge(t, "")
	root := filepath.Join(t.TempDir(), "lake")
	rec := func(off int64, id string) *kgo.Record {
		v, err := proto.Marshal(order(func(o *nexusv1.Order) { o.EventId, o.OrderId = id, id }))
		if err != nil {
			t.Fatal(err)
		}
		return &kgo.Record{Topic: "olist.orders", Partition: 0, Offset: off, Value: v}
	}
	var stats []BatchStats
	newWorker := func() *Worker {
		w, err := NewWorker(WorkerOptions{Brokers: []string{broker}, Lake: writeLake(t, root), OnCommit: func(s BatchStats) { stats = append(stats, s) }})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(w.Close)
		return w
	}
	ids := func() string {
		lk, err := lake.OpenRead(root)
		if err != nil {
			t.Fatal(err)
		}
		eng, err := engine.Open(context.Background(), lk, engine.Options{MemoryLimit: "256MB", Threads: 1})
		if err != nil {
			t.Fatal(err)
		}
		defer eng.Close()
		var s string
		if err := eng.DB().QueryRow(`SELECT string_agg(_event_id, ',' ORDER BY _event_id) FROM bronze.orders`).Scan(&s); err != nil {
			t.Fatal(err)
		}
		return s
	}
	ctx := context.Background()
	w := newWorker()
	steps := []struct {
		w          *Worker
		recs       []*kgo.Record
		rows, dups int64
		ids        string
	}{
		{w, []*kgo.Record{rec(0, "a"), rec(1, "b"), rec(2, "a")}, 2, 1, "a,b"},
		{w, []*kgo.Record{rec(3, "b"), rec(4, "c")}, 1, 1, "a,b,c"},
		{newWorker(), []*kgo.Record{rec(5, "a"), rec(6, "c")}, 0, 2, "a,b,c"},
	}
	for i, s := range steps {
		if err := s.w.commit(ctx, s.recs); err != nil {
			t.Fatal(err)
		}
		got := stats[len(stats)-1]
		if got.Rows != s.rows || got.Duplicates != s.dups {
			t.Errorf("step %d: %d rows, %d duplicates; want %d, %d", i+1, got.Rows, got.Duplicates, s.rows, s.dups)
		}
		if got := ids(); got != s.ids {
			t.Errorf("step %d: bronze.orders event ids %s, want %s", i+1, got, s.ids)
		}
	}
	// Back to the first commit: c and b are out of the lake, and with them
	// the lake's offsets; the records come again and are written again.
	lk, err := lake.Open(root)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := lk.Rollback(stats[0].Snapshot, lake.NewRunID(time.Now())); err != nil {
		t.Fatal(err)
	}
	if err := w.commit(ctx, []*kgo.Record{rec(3, "b"), rec(4, "c")}); err != nil {
		t.Fatal(err)
	}
	if got := ids(); got != "a,b,c" {
		t.Errorf("after a rollback and the records again: %s, want a,b,c", got)
	}
}

// The freshness probe follows the last event of every batch of a load until
// a worker has committed it to the lake: each is seen once, none is left
// waiting, and the percentiles are measured.
func TestFreshnessProbe(t *testing.T) {
	dir := t.TempDir()
	_, _, events := dataSetEvents(t, filepath.Join(dir, "src"), 0.003, 8)
	_, conn, broker := edge(t, "")
	root := filepath.Join(dir, "lake")
	stop := startWorker(t, WorkerOptions{Brokers: []string{broker}, Lake: writeLake(t, root), BatchInterval: 100 * time.Millisecond})
	defer stop()
	p := NewFreshnessProbe(func(context.Context) (*lake.Lake, error) { return lake.OpenRead(root) })
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go p.Run(ctx, 10*time.Millisecond) // stopped by cancel
	half := len(events) / 2
	for i, part := range [][]*nexusv1.Event{events[:half], events[half:]} {
		if _, err := Load(ctx, conn, part, LoadOptions{Batch: 100, StreamBatches: 3, Unary: i == 1, Probe: p}); err != nil {
			t.Fatal(err)
		}
	}
	p.Wait(ctx, time.Minute)
	r := p.Report()
	batches := int64((half+99)/100 + (len(events)-half+99)/100)
	if r.Err != nil || r.Waiting != 0 || r.Visible != batches || r.Max < r.P50 {
		t.Fatalf("%+v, %d batches", r, batches)
	}
}

// orderRecord is the Kafka record of an order event with event and order id
// id, at offset off of olist.orders' partition 0.
func orderRecord(t *testing.T, off int64, id string) *kgo.Record {
	t.Helper()
	v, err := proto.Marshal(order(func(o *nexusv1.Order) { o.EventId, o.OrderId = id, id }))
	if err != nil {
		t.Fatal(err)
	}
	return &kgo.Record{Topic: "olist.orders", Partition: 0, Offset: off, Value: v}
}

// A worker vacuums after its commits, as a run does: without it, the
// snapshots of a stream (one per micro-batch) and the files its
// compactions replaced would pile up. Here at every commit, keeping 2.
func TestWorkerVacuums(t *testing.T) {
	dir := t.TempDir()
	rep, reg, events := dataSetEvents(t, filepath.Join(dir, "src"), 0.005, 5)
	_, conn, broker := edge(t, "")
	root := filepath.Join(dir, "lake")
	commits := make(chan BatchStats, 1000)
	stop := startWorker(t, WorkerOptions{Brokers: []string{broker}, Lake: writeLake(t, root), BatchEvents: 100, BatchInterval: 100 * time.Millisecond,
		VacuumEvery: time.Nanosecond, Retention: lake.Retention{Keep: 2}, OnCommit: func(s BatchStats) { commits <- s }})
	want := eventRows(rep, reg)
	for i := 0; i < len(events); i += 300 {
		if _, err := Load(context.Background(), conn, events[i:min(i+300, len(events))], LoadOptions{Batch: 100}); err != nil {
			t.Fatal(err)
		}
	}
	// Waited for through the commits, not by reading the lake: with no
	// grace, a vacuum two commits later deletes what a reader pinned.
	var events64, n int64
	for events64 < int64(len(events)) {
		select {
		case c := <-commits:
			events64 += c.Events - c.Duplicates // an event sent twice is written once
			n++
		case <-time.After(time.Minute):
			t.Fatalf("%d of %d events committed after a minute", events64, len(events))
		}
	}
	stop()
	if n < 4 {
		t.Fatalf("%d commits: too few to tell", n)
	}
	snaps, err := filepath.Glob(filepath.Join(root, "_nexus", "snapshots", "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(snaps) != 2 {
		t.Errorf("%d snapshot files after %d commits, want the 2 kept", len(snaps), n)
	}
	// What was removed was no one's: every event is still there, once.
	rows, distinct := laketest.BronzeLineage(t, root)
	for table, n := range want {
		if rows[table] != n || distinct[table] != n {
			t.Errorf("%s: %d rows (%d distinct offsets), want %d", table, rows[table], distinct[table], n)
		}
	}
}

// eventRows is how many rows each Bronze table of the registry gets from
// the generated data set.
func eventRows(rep olist.GenReport, reg *Registry) map[string]int64 {
	want := map[string]int64{}
	for _, f := range rep.Files {
		if _, ok := reg.ByTable(f.Table); ok {
			want[f.Table] = f.Rows
		}
	}
	return want
}

// waitBronze waits (a minute at most) until Bronze holds want's rows, each
// event once, and fails at once when a table holds more.
func waitBronze(t *testing.T, root string, want map[string]int64) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		rows, distinct := laketest.BronzeLineage(t, root)
		done := true
		for table, n := range want {
			if rows[table] > n || distinct[table] != rows[table] {
				t.Fatalf("%s: %d rows (%d distinct offsets), %d events", table, rows[table], distinct[table], n)
			}
			done = done && rows[table] == n
		}
		if done {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("Bronze %v after a minute, want %v", rows, want)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
