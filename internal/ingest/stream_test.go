package ingest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"testing"

	"github.com/parquet-go/parquet-go"

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
			Source: "kafka:olist.order_items/1", Offset: off, EventID: "ev-" + order}
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
	garbage := StreamRecord{Reject: "not a protobuf nor JSON event", Raw: `{"not": "an item"}`, Batch: "2018-07-01", Source: "kafka:olist.order_items/1", Offset: 104}
	first := appendOK(item("o1", "9.90", 100), item("o3\nwith a line", "1.00", 102), item("o2", "5x9.90", 101), garbage)
	if first.RowsWritten != 2 || first.RowsQuarantined != 2 {
		t.Fatalf("first micro-batch: %+v", first)
	}
	second := appendOK(item("o4", "2.00", 105))
	m, err := lk.Manifest(lake.Bronze, "order_items")
	if err != nil {
		t.Fatal(err)
	}
	if second.RowsWritten != 1 || m.Rows != 3 || m.Delta == nil || m.Delta.Full || len(m.Delta.Files) != 1 {
		t.Fatalf("second micro-batch: %+v, manifest rows %d delta %+v", second, m.Rows, m.Delta)
	}
	got := query(t, lk, `SELECT order_id, _source_file, _source_line, _batch, _event_id FROM bronze.order_items ORDER BY _source_line`)
	want := "[[o1 kafka:olist.order_items/1 100 2018-07-01 ev-o1] [o3\nwith a line kafka:olist.order_items/1 102 2018-07-01 ev-o3\nwith a line] [o4 kafka:olist.order_items/1 105 2018-07-01 ev-o4]]"
	var ids []string
	for _, f := range m.Files {
		if err := EventIDs(context.Background(), lk, f, func(id string) { ids = append(ids, id) }); err != nil {
			t.Fatal(err)
		}
	}
	if sort.Strings(ids); fmt.Sprint(ids) != "[ev-o1 ev-o3\nwith a line ev-o4]" {
		t.Errorf("EventIDs: %q", ids)
	}
	if fmt.Sprint(got) != want {
		t.Errorf("bronze:\n%v\nwant\n%v", got, want)
	}
	q := query(t, lk, `SELECT _source_line, reason, raw_record FROM quarantine.bronze_order_items ORDER BY 1`)
	if len(q) != 2 || q[0][0] != "101" || !strings.Contains(q[0][1], "price") || q[1][0] != "104" || q[1][1] != "not a protobuf nor JSON event" || q[1][2] != garbage.Raw {
		t.Errorf("quarantine: %v", q)
	}
	// An empty string stays one; an absent value is NULL (as in the files).
	reviews, _ := olist.Lookup("order_reviews")
	rv := func(title string, off int64) StreamRecord {
		f := strs("r1", "o1", "5", title, "NULL", "2018-07-01 00:00:00", "2018-07-02 10:00:00")
		return StreamRecord{Fields: f, Batch: "2018-07-02", Source: "kafka:olist.order_reviews/0", Offset: off}
	}
	if r := AppendStream(context.Background(), lk, Options{}, reviews, []StreamRecord{rv("", 0), rv("NULL", 1)}); r.Err != nil || r.RowsWritten != 2 {
		t.Fatalf("reviews: %+v", r)
	}
	if _, err := lk.Commit(lake.CommitInfo{Kind: lake.CommitStream}); err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(query(t, lk, `SELECT _source_line, review_comment_title IS NULL, review_comment_message IS NULL FROM bronze.order_reviews ORDER BY 1`)); got != "[[0 false true] [1 true true]]" {
		t.Errorf("empty vs NULL: %s", got)
	}
	// A value of many lines (past the 200 a file's quoted field may span)
	// is one value: the micro-batch's quoting is this program's own.
	long := strings.Repeat("line\n", 300) + `and a "quote"`
	rl := rv("t", 2)
	rl.Fields[4] = &long
	if r := AppendStream(context.Background(), lk, Options{}, reviews, []StreamRecord{rl, rv("u", 3)}); r.Err != nil || r.RowsWritten != 2 || r.RowsQuarantined != 0 {
		t.Fatalf("a long value: %+v", r)
	}
	if _, err := lk.Commit(lake.CommitInfo{Kind: lake.CommitStream}); err != nil {
		t.Fatal(err)
	}
	if got := query(t, lk, `SELECT review_comment_message FROM bronze.order_reviews WHERE _source_line = 2`); len(got) != 1 || got[0][0] != long {
		t.Errorf("the long value came back as %q", got)
	}
	// Micro-batches say which of their columns trim() leaves as they are.
	checkTrimmed(t, lk, []string{"order_items", "order_reviews"})
	// A table fed by files is not fed by the stream as well.
	orders, _ := olist.Lookup("orders")
	dir := copyValid(t)
	if _, err := Run(context.Background(), lk, Options{SourceDir: dir, Tables: []string{"orders"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := lk.Commit(lake.CommitInfo{Kind: lake.CommitRun}); err != nil {
		t.Fatal(err)
	}
	// A file's rows have no event id.
	if got := fmt.Sprint(query(t, lk, `SELECT count(*), count(_event_id) FROM bronze.orders`)); !strings.HasSuffix(got, " 0]]") {
		t.Errorf("files' _event_id: %s", got)
	}
	if r := AppendStream(context.Background(), lk, Options{}, orders, []StreamRecord{{Fields: strs("x"), Batch: "2018-07-01", Source: "kafka:olist.orders/0"}}); r.Err == nil || !strings.Contains(r.Err.Error(), "fed by files") {
		t.Errorf("mixed feed: %v", r.Err)
	}
}

// A stream feeds a table tiny files (a micro-batch's rows of one day and
// partition); compaction merges their rows into full row groups, again and
// again, so that the merged file does not become thousands of row groups of
// a few rows (a footer bigger than the data, and slow to read). A big row
// group (here the first two micro-batches') is copied as it is, and the rows
// merged around it keep their order; the first compaction's file is then
// the table's base, left alone while the newer files are merged.
func TestCompactionMergesSmallRowGroups(t *testing.T) {
	lk := newLake(t)
	items, err := olist.Lookup("order_items")
	if err != nil {
		t.Fatal(err)
	}
	off := int64(0)
	for b := range 2*compactAt + 2 {
		var recs []StreamRecord
		n := 3
		if b < 2 {
			n = copiedRowGroupRows + 10
		}
		for range n {
			recs = append(recs, StreamRecord{Fields: strs(fmt.Sprint("o", off), "1", "p1", "s1", "2018-07-05 10:00:00", "1.00", "10.00"),
				Batch: "2018-07-01", Source: "kafka:olist.order_items/1", Offset: off, EventID: fmt.Sprint("e", off)})
			off++
		}
		if r := AppendStream(context.Background(), lk, Options{RunID: fmt.Sprintf("run%03d", b)}, items, recs); r.Err != nil {
			t.Fatal(r.Err)
		}
		if _, err := lk.Commit(lake.CommitInfo{Kind: lake.CommitStream}); err != nil {
			t.Fatal(err)
		}
	}
	m, err := lk.Manifest(lake.Bronze, "order_items")
	if err != nil {
		t.Fatal(err)
	}
	compacted, copiedAll := 0, false
	for _, f := range m.Files {
		if !strings.Contains(f.Path, "/"+CompactDir+"/") {
			continue
		}
		compacted++
		fh, err := os.Open(lk.Abs(f.Path))
		if err != nil {
			t.Fatal(err)
		}
		info, err := fh.Stat()
		if err != nil {
			t.Fatal(err)
		}
		pf, err := parquet.OpenFile(fh, info.Size())
		if err != nil {
			t.Fatal(err)
		}
		var sizes []int64
		for _, rg := range pf.RowGroups() {
			sizes = append(sizes, rg.NumRows())
		}
		// The big groups copied, then one group of the small files' rows.
		copied := 0
		for copied < len(sizes) && sizes[copied] == copiedRowGroupRows+10 {
			copied++
		}
		copiedAll = copiedAll || copied == 2
		if len(sizes)-copied != 1 || pf.NumRows() != f.Rows {
			t.Errorf("%s: %d rows in row groups of %v, want %d rows: the big groups, then one", f.Path, pf.NumRows(), sizes, f.Rows)
		}
		// The rows in the order of their offsets.
		leaf, _ := pf.Schema().Lookup(ColSourceLine)
		rows := parquet.NewReader(pf)
		buf := make([]parquet.Row, 1000)
		next := int64(-1)
		for {
			k, err := rows.ReadRows(buf)
			for _, r := range buf[:k] {
				got := r[leaf.ColumnIndex].Int64()
				if next >= 0 && got != next {
					t.Fatalf("%s: offset %d after %d", f.Path, got, next-1)
				}
				next = got + 1
			}
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
		}
		_ = rows.Close() // read only
		_ = fh.Close()   // read only
	}
	// The first compaction merged the two big files with the small ones;
	// the second left its file alone (the base) and merged the newer ones.
	if compacted != 2 || !copiedAll || m.Rows != off {
		t.Errorf("%d compacted files (big groups copied: %v), %d rows; want 2, true, %d", compacted, copiedAll, m.Rows, off)
	}
	if got := query(t, lk, `SELECT count(*), count(DISTINCT _event_id) FROM bronze.order_items`); fmt.Sprint(got) != fmt.Sprintf("[[%d %d]]", off, off) {
		t.Errorf("rows, event ids: %v", got)
	}
}
