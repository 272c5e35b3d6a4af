package ingest

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/keystone/nexus/internal/lake"
	"github.com/keystone/nexus/internal/olist"
)

func strs(vs ...string) []*string {
	out := make([]*string, len(vs))
	for i, v := range vs {
		if v != "NULL" {
			out[i] = &vs[i]
		}
	}
	return out
}

// Micro-batches of a stream are appended to Bronze in order, typed by the
// file rules (a record that does not fit goes to the quarantine with its
// offset), with topic/partition and offset as lineage; earlier files are
// carried and the delta lists the new ones.
func TestAppendStream(t *testing.T) {
	lk := newLake(t)
	items, err := olist.Lookup("order_items")
	if err != nil {
		t.Fatal(err)
	}
	item := func(order string, price string, off int64) StreamRecord {
		return StreamRecord{Fields: strs(order, "1", "p1", "s1", "2018-07-05 10:00:00", price, "10.00"), Batch: "2018-07-01",
			Source: "kafka:olist.order_items/1", Offset: off}
	}
	appendOK := func(recs ...StreamRecord) TableResult {
		t.Helper()
		r := AppendStream(context.Background(), lk, Options{RunID: fmt.Sprint("r", recs[0].Offset)}, items, recs)
		if r.Err != nil {
			t.Fatal(r.Err)
		}
		if _, err := lk.Commit(lake.CommitInfo{Kind: lake.CommitRun}); err != nil {
			t.Fatal(err)
		}
		return r
	}
	// A comment-like multi-line value does not shift the offsets.
	first := appendOK(item("o1", "9.90", 100), item("o2", "5x9.90", 101), item("o3\nwith a line", "1.00", 102))
	if first.RowsWritten != 2 || first.RowsQuarantined != 1 {
		t.Fatalf("first micro-batch: %+v", first)
	}
	second := appendOK(item("o4", "2.00", 103))
	m, err := lk.Manifest(lake.Bronze, "order_items")
	if err != nil {
		t.Fatal(err)
	}
	if second.RowsWritten != 1 || m.Rows != 3 || m.Delta == nil || m.Delta.Full || len(m.Delta.Files) != 1 {
		t.Fatalf("second micro-batch: %+v, manifest rows %d delta %+v", second, m.Rows, m.Delta)
	}
	got := query(t, lk, `SELECT order_id, _source_file, _source_line, _batch FROM bronze.order_items ORDER BY _source_line`)
	want := "[[o1 kafka:olist.order_items/1 100 2018-07-01] [o3\nwith a line kafka:olist.order_items/1 102 2018-07-01] [o4 kafka:olist.order_items/1 103 2018-07-01]]"
	if fmt.Sprint(got) != want {
		t.Errorf("bronze:\n%v\nwant\n%v", got, want)
	}
	q := query(t, lk, `SELECT _source_line, reason FROM quarantine.bronze_order_items`)
	if len(q) != 1 || q[0][0] != "101" || !strings.Contains(q[0][1], "price") {
		t.Errorf("quarantine: %v", q)
	}
	// A table fed by files is not fed by the stream as well.
	orders, _ := olist.Lookup("orders")
	dir := copyValid(t)
	if _, err := Run(context.Background(), lk, Options{SourceDir: dir, Tables: []string{"orders"}}); err != nil {
		t.Fatal(err)
	}
	if r := AppendStream(context.Background(), lk, Options{}, orders, []StreamRecord{{Fields: strs("x"), Batch: "2018-07-01", Source: "kafka:olist.orders/0"}}); r.Err == nil || !strings.Contains(r.Err.Error(), "fed by files") {
		t.Errorf("mixed feed: %v", r.Err)
	}
}
