package stream

import (
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	nexusv1 "github.com/keystone/nexus/api/nexus/v1"
	"github.com/keystone/nexus/internal/engine"
	"github.com/keystone/nexus/internal/ingest"
	"github.com/keystone/nexus/internal/lake"
	"github.com/keystone/nexus/internal/laketest"
	"github.com/keystone/nexus/internal/olist"
	"github.com/keystone/nexus/internal/pipeline"
)

// The models build incrementally on a lake the stream feeds: half of the
// orders of a data set streamed (with their customers, items, payments and
// reviews, and every product and seller) and built, then the other half
// streamed and built again, gives the same Silver and Gold as a full
// refresh of the same Bronze.
func TestIncrementalBuildOnStream(t *testing.T) {
	for _, late := range []bool{false, true} {
		name := "orders with their events"
		if late {
			name = "some orders after their items"
		}
		t.Run(name, func(t *testing.T) { incrementalOnStream(t, late) })
	}
}

// incrementalOnStream streams two halves and builds after each; with late,
// the order events of one order in 150 of the first half come in the
// second, after their items, payments and reviews (events of different
// topics are not ordered: an item may come before its order).
func incrementalOnStream(t *testing.T, late bool) {
	if testing.Short() {
		t.Skip("builds the models three times")
	}
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	_, reg, events := dataSetEvents(t, src, 0.01, 12)
	_, conn, broker := edge(t, "")
	root := filepath.Join(dir, "lake")
	committed := make(chan BatchStats, 1000)
	stop := startWorker(t, WorkerOptions{Brokers: []string{broker}, Lake: writeLake(t, root), BatchEvents: 2000, BatchInterval: 100 * time.Millisecond,
		OnCommit: func(s BatchStats) { committed <- s }})
	defer stop()
	ctx := context.Background()
	var n int64
	// stream sends events and waits until the worker committed them all.
	stream := func(evs []*nexusv1.Event) {
		t.Helper()
		if _, err := Load(ctx, conn, evs, LoadOptions{Batch: 200}); err != nil {
			t.Fatal(err)
		}
		want := n + int64(len(evs))
		for n < want {
			select {
			case s := <-committed:
				n += s.Events
			case <-time.After(time.Minute):
				t.Fatalf("%d of %d events committed", n, want)
			}
		}
	}
	// build runs the models under the lake's lock (the worker waits).
	build := func(root string, full bool) {
		t.Helper()
		lk, err := lake.Open(root)
		if err != nil {
			t.Fatal(err)
		}
		unlock, err := lockLake(ctx, lk)
		if err != nil {
			t.Fatal(err)
		}
		defer unlock()
		sum, err := pipeline.Run(ctx, lk, pipeline.Options{SkipIngest: true, Force: full,
			Engine: engine.Options{MemoryLimit: "1GB", Threads: 2}})
		if err != nil {
			t.Fatal(err)
		}
		if sum.Err() != nil || sum.Status != pipeline.RunSucceeded {
			t.Fatalf("run %s: %v", sum.Status, sum.Err())
		}
	}
	first, second := splitByOrder(t, reg, events, late)
	stream(first)
	// The reference tables come as files.
	lk, err := lake.Open(root)
	if err != nil {
		t.Fatal(err)
	}
	var ref []string
	for _, tb := range olist.Tables() {
		if _, ok := reg.ByTable(tb.Name); !ok {
			ref = append(ref, tb.Name)
		}
	}
	unlock, err := lockLake(ctx, lk)
	if err != nil {
		t.Fatal(err)
	}
	res, err := ingest.Run(ctx, lk, ingest.Options{SourceDir: src, Tables: ref})
	if err == nil {
		err = res.Err()
	}
	if err == nil {
		_, err = lk.Commit(lake.CommitInfo{Kind: lake.CommitRun})
	}
	unlock()
	if err != nil {
		t.Fatal(err)
	}
	build(root, false)
	orphans := func() int {
		return len(laketest.Column(t, root, lake.Quarantine, "order_id")["silver_order_items"])
	}
	if n := orphans(); late != (n > 0) {
		t.Fatalf("after the first half: %d items quarantined", n)
	}
	stream(second)
	build(root, false)
	// The orders came: their items left the quarantine for Silver.
	if n := orphans(); n != 0 {
		t.Errorf("after the second half: %d items still quarantined", n)
	}
	stop()

	full := filepath.Join(dir, "full")
	if out, err := exec.Command("cp", "-a", root, full).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v %s", err, out)
	}
	build(full, true)
	a, b := laketest.OpenRead(t, root), laketest.OpenRead(t, full)
	if d := laketest.DiffLakes(t, a, b, laketest.RunCols); len(d) > 0 {
		t.Errorf("incremental on the stream and a full refresh differ:\n%s", strings.Join(d, "\n"))
	}
}

// splitByOrder splits events in two: the first half of the orders with
// every event about them, and the products and sellers; then the rest.
func splitByOrder(t *testing.T, reg *Registry, events []*nexusv1.Event, late bool) (first, second []*nexusv1.Event) {
	t.Helper()
	recs := make([]Record, len(events))
	col := func(r Record, name string) string {
		for i, c := range r.Entity.Table.Columns {
			if c.Name == name && r.Values[i] != nil {
				return *r.Values[i]
			}
		}
		return ""
	}
	var orders []string
	orderOfCustomer := map[string]string{}
	for i, ev := range events {
		r, err := reg.Validate(i, ev)
		if err != nil {
			t.Fatal(err)
		}
		recs[i] = r
		if r.Entity.Table.Name == "orders" {
			orders = append(orders, col(r, "order_id"))
			orderOfCustomer[col(r, "customer_id")] = col(r, "order_id")
		}
	}
	early, lateOrders := map[string]bool{}, map[string]bool{}
	for i, o := range orders[:len(orders)/2] {
		early[o] = true
		// Few enough that the orphans stay under the gates' 1% ratio.
		lateOrders[o] = late && i%150 == 0
	}
	for i, r := range recs {
		order := col(r, "order_id")
		if r.Entity.Table.Name == "customers" {
			order = orderOfCustomer[col(r, "customer_id")]
		}
		lateOrder := r.Entity.Table.Name == "orders" && lateOrders[order]
		if (order == "" || early[order]) && !lateOrder {
			first = append(first, events[i])
		} else {
			second = append(second, events[i])
		}
	}
	return first, second
}
