package ingest

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/keystone/nexus/internal/lake"
	"github.com/keystone/nexus/internal/olist"
)

// landingZone makes a landing zone whose base batch is the valid fixture set.
func landingZone(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	if err := os.Rename(copyValid(t), filepath.Join(root, "dt=2018-01-01")); err != nil {
		t.Fatal(err)
	}
	return root
}

// writeBatchFile writes one file of a batch: the orders header and lines.
func writeBatchFile(t *testing.T, root, batch, file string, lines ...string) {
	t.Helper()
	dir := filepath.Join(root, "dt="+batch)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	hdr := `"order_id","customer_id","order_status","order_purchase_timestamp","order_approved_at","order_delivered_carrier_date","order_delivered_customer_date","order_estimated_delivery_date"`
	body := hdr + "\n" + strings.Join(lines, "\n") + "\n"
	if err := os.WriteFile(filepath.Join(dir, file), []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
}

func batchStatuses(r TableResult) map[string]BatchStatus {
	out := map[string]BatchStatus{}
	for _, b := range r.Batches {
		out[b.Batch] = b.Status
	}
	return out
}

func ingestOK(t *testing.T, lk *lake.Lake, dir, run string) map[string]TableResult {
	t.Helper()
	res, err := Run(context.Background(), lk, Options{SourceDir: dir, RunID: run})
	if err != nil || res.Err() != nil {
		t.Fatalf("ingest %s: %v %v", run, err, res.Err())
	}
	if _, err := lk.Commit(lake.CommitInfo{Kind: lake.CommitRun, RunID: run}); err != nil {
		t.Fatal(err)
	}
	return byTable(res)
}

// A landing zone is ingested batch by batch: a new folder is appended (the
// files of earlier batches are carried, not rewritten), a changed one
// replaces only its own rows, a removed one is reported and kept.
func TestIngestLandingZone(t *testing.T) {
	t.Parallel()
	lk := newLake(t)
	dir := landingZone(t)
	const (
		approved  = `a0000000000000000000000000000001,c0000000000000000000000000000001,approved,2018-01-02 10:00:00,2018-01-02 11:00:00,,,2018-01-20 00:00:00`
		shipped   = `a0000000000000000000000000000001,c0000000000000000000000000000001,shipped,2018-01-02 10:00:00,2018-01-02 11:00:00,2018-01-03 09:00:00,,2018-01-20 00:00:00`
		badRecord = `a0000000000000000000000000000002,c0000000000000000000000000000002,created,not a time,,,,2018-01-20 00:00:00`
	)
	writeBatchFile(t, dir, "2018-01-02", ordersFile, approved, badRecord)

	first := ingestOK(t, lk, dir, "one")
	if len(first) != 9 || first["orders"].Status != StatusIngested {
		t.Fatalf("first ingest: %+v", first["orders"])
	}
	if got := batchStatuses(first["orders"]); got["2018-01-01"] != BatchNew || got["2018-01-02"] != BatchNew {
		t.Errorf("orders batches = %v", got)
	}
	if got := batchStatuses(first["sellers"]); len(got) != 1 || got["2018-01-01"] != BatchNew {
		t.Errorf("sellers batches = %v (a batch without the file is no batch of the table)", got)
	}
	got := query(t, lk, `SELECT _batch, _source_file, count(*) FROM bronze.orders GROUP BY ALL ORDER BY 1`)
	if len(got) != 2 || got[0][0] != "2018-01-01" || got[1][0] != "2018-01-02" ||
		got[1][1] != "dt=2018-01-02/"+ordersFile || got[1][2] != "1" {
		t.Errorf("bronze.orders by batch = %v", got)
	}
	if q := query(t, lk, `SELECT _batch, _source_line, error_type FROM quarantine.bronze_orders`); len(q) != 1 || q[0][0] != "2018-01-02" || q[0][1] != "3" {
		t.Errorf("quarantine keeps the batch and the line: %v", q)
	}
	baseRows := query(t, lk, `SELECT count(*) FROM bronze.orders WHERE _batch = DATE '2018-01-01'`)[0][0]

	// Nothing changed: nothing re-ingested.
	for name, r := range ingestOK(t, lk, dir, "two") {
		if r.Status != StatusUnchanged {
			t.Errorf("unchanged landing zone: %s %s", name, r.Status)
		}
	}

	// A new day: only that batch is read and written.
	before, err := lk.Manifest(lake.Bronze, "orders")
	if err != nil {
		t.Fatal(err)
	}
	writeBatchFile(t, dir, "2018-01-03", ordersFile, shipped)
	third := ingestOK(t, lk, dir, "three")
	if got := batchStatuses(third["orders"]); got["2018-01-03"] != BatchNew || got["2018-01-02"] != BatchUnchanged || got["2018-01-01"] != BatchUnchanged {
		t.Errorf("after a new day: %v", got)
	}
	if third["orders"].RecordsRead != 1 || third["customers"].Status != StatusUnchanged {
		t.Errorf("a new day reads only its records: orders read %d, customers %s", third["orders"].RecordsRead, third["customers"].Status)
	}
	after, err := lk.Manifest(lake.Bronze, "orders")
	if err != nil {
		t.Fatal(err)
	}
	kept := map[string]bool{}
	for _, f := range after.Files {
		kept[f.Path] = true
	}
	for _, f := range before.Files {
		if !kept[f.Path] {
			t.Errorf("file %s of an unchanged batch was not carried into the new version", f.Path)
		}
	}

	// A changed day replaces its own rows only.
	writeBatchFile(t, dir, "2018-01-02", ordersFile, approved)
	fourth := ingestOK(t, lk, dir, "four")
	if got := batchStatuses(fourth["orders"]); got["2018-01-02"] != BatchReplaced || got["2018-01-03"] != BatchUnchanged {
		t.Errorf("after changing a day: %v", got)
	}
	if q := query(t, lk, `SELECT count(*) FROM quarantine.bronze_orders`); q[0][0] != "0" {
		t.Errorf("the replaced batch's quarantine rows must go with it: %v", q)
	}
	got = query(t, lk, `SELECT _batch, count(*) FROM bronze.orders GROUP BY ALL ORDER BY 1`)
	if len(got) != 3 || got[0][1] != baseRows || got[1][1] != "1" || got[2][1] != "1" {
		t.Errorf("bronze.orders by batch after replace = %v", got)
	}

	// A removed day is reported and its rows stay.
	if err := os.RemoveAll(filepath.Join(dir, "dt=2018-01-03")); err != nil {
		t.Fatal(err)
	}
	fifth := ingestOK(t, lk, dir, "five")
	if got := batchStatuses(fifth["orders"]); got["2018-01-03"] != BatchRemoved || fifth["orders"].Status != StatusUnchanged {
		t.Errorf("after removing a day: %s %v", fifth["orders"].Status, got)
	}
	if q := query(t, lk, `SELECT count(*) FROM bronze.orders WHERE _batch = DATE '2018-01-03'`); q[0][0] != "1" {
		t.Errorf("rows of a removed batch must stay: %v", q)
	}

	// Vacuum keeps every directory a kept version lists, including carried
	// files of older versions.
	if _, err := lk.Vacuum(context.Background(), lake.Retention{Keep: 1}, time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	for _, st := range lk.Tables() {
		if st.Err != nil {
			t.Fatal(st.Err)
		}
		if f := lk.Verify(st.Manifest); len(f) > 0 {
			t.Errorf("after vacuum: %v", f)
		}
	}
}

func TestDiscoverBatches(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		setup   func(dir string) error
		landing bool
		batches []string
		err     string
	}{
		{"plain files", func(d string) error { return os.WriteFile(filepath.Join(d, ordersFile), nil, 0o644) }, false, nil, ""},
		{"two batches in order", func(d string) error {
			for _, b := range []string{"dt=2018-02-01", "dt=2018-01-31", "_tmp", ".hidden"} {
				if err := os.Mkdir(filepath.Join(d, b), 0o755); err != nil {
					return err
				}
			}
			return nil
		}, true, []string{"2018-01-31", "2018-02-01"}, ""},
		{"not a date", func(d string) error { return os.Mkdir(filepath.Join(d, "dt=2018-02-30"), 0o755) }, false, nil, "dt=2018-02-30: folder name is not dt=YYYY-MM-DD"},
		{"a file named like a batch", func(d string) error { return os.WriteFile(filepath.Join(d, "dt=2018-02-01"), nil, 0o644) }, false, nil, "a batch must be a folder"},
		{"batches and files mixed", func(d string) error {
			if err := os.Mkdir(filepath.Join(d, "dt=2018-02-01"), 0o755); err != nil {
				return err
			}
			return os.WriteFile(filepath.Join(d, ordersFile), nil, 0o644)
		}, false, nil, "holds both dt= batch folders and source files"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := c.setup(dir); err != nil {
				t.Fatal(err)
			}
			got, landing, err := DiscoverBatches(dir)
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("err = %v, want %q", err, c.err)
				}
				return
			}
			if err != nil || landing != c.landing {
				t.Fatalf("landing=%v err=%v", landing, err)
			}
			var ids []string
			for _, b := range got {
				ids = append(ids, b.ID)
			}
			if strings.Join(ids, ",") != strings.Join(c.batches, ",") {
				t.Errorf("batches = %v, want %v", ids, c.batches)
			}
		})
	}
}

// Past compactAt files, the batch files of a table are merged into one
// without changing a row; a batch replaced later is taken out of the merged
// file and its new rows added.
func TestLandingZoneCompaction(t *testing.T) {
	t.Parallel()
	lk := newLake(t)
	dir := landingZone(t)
	row := func(i int, status string) string {
		pad := ""
		if i == 1 { // a customer_id trim() would change: its files are not known trimmed
			pad = " "
		}
		return fmt.Sprintf(`a%031d,%sc%031d,%s,2018-01-02 10:00:00,,,,2018-01-20 00:00:00`, i, pad, i, status)
	}
	day := func(i int) string {
		return time.Date(2018, 2, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, i).Format(time.DateOnly)
	}
	for i := 0; i < compactAt+3; i++ {
		writeBatchFile(t, dir, day(i), ordersFile, row(i, "created"))
		ingestOK(t, lk, dir, fmt.Sprintf("r%02d", i))
	}
	before := query(t, lk, `SELECT count(*), count(DISTINCT _batch), sum(hash(order_id, order_status, _batch, _source_file, _source_line)) FROM bronze.orders`)
	m, err := lk.Manifest(lake.Bronze, "orders")
	if err != nil {
		t.Fatal(err)
	}
	var compacted *lake.File
	for i, f := range m.Files {
		if strings.Contains(f.Path, "/"+CompactDir+"/") {
			compacted = &m.Files[i]
		}
	}
	if len(m.Files) > compactAt || compacted == nil {
		t.Fatalf("after %d batches: %d files, compacted %v", compactAt+4, len(m.Files), compacted)
	}
	// The merged file's trimmed columns are those of all its files.
	if _, padded := checkTrimmed(t, lk, []string{"orders"}); padded != 1 || !slices.Contains(compacted.Batches, day(1)) || !slices.Contains(compacted.Trimmed, "order_id") {
		t.Errorf("%d file columns not trimmed (want 1: customer_id of the file holding batch %s), compacted file of %v with trimmed columns %v", padded, day(1), compacted.Batches, compacted.Trimmed)
	}
	if got := query(t, lk, `SELECT count(*) FROM bronze.orders WHERE order_status = 'created'`); got[0][0] != fmt.Sprint(compactAt+3) {
		t.Errorf("rows after compaction: %v", got)
	}

	// Replace a batch held by the compacted file.
	victim := compacted.Batches[len(compacted.Batches)-1]
	var idx int
	for i := 0; i < compactAt+3; i++ {
		if day(i) == victim {
			idx = i
		}
	}
	writeBatchFile(t, dir, victim, ordersFile, row(idx, "approved"))
	res := ingestOK(t, lk, dir, "replace")
	if got := batchStatuses(res["orders"]); got[victim] != BatchReplaced {
		t.Fatalf("batch %s: %v", victim, got)
	}
	after := query(t, lk, `SELECT count(*), count(DISTINCT _batch) FROM bronze.orders`)
	if after[0][0] != before[0][0] || after[0][1] != before[0][1] {
		t.Errorf("rows after replacing a compacted batch: %v, before %v", after, before)
	}
	got := query(t, lk, fmt.Sprintf(`SELECT order_status, count(*) FROM bronze.orders WHERE _batch = DATE '%s' GROUP BY 1`, victim))
	if len(got) != 1 || got[0][0] != "approved" || got[0][1] != "1" {
		t.Errorf("batch %s after its replacement: %v", victim, got)
	}
}

// A table that no batch has brought yet is published empty (with the
// contract's columns), so the models run; its first file is then ingested.
func TestLandingZoneTableNotArrivedYet(t *testing.T) {
	t.Parallel()
	lk := newLake(t)
	dir := landingZone(t)
	sellers := filepath.Join(dir, "dt=2018-01-01", sellersFile)
	b, err := os.ReadFile(sellers)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(sellers); err != nil {
		t.Fatal(err)
	}
	first := ingestOK(t, lk, dir, "one")
	if first["sellers"].Status != StatusIngested {
		t.Fatalf("sellers: %+v", first["sellers"])
	}
	if got := query(t, lk, "SELECT count(*), count(seller_id), count(_batch) FROM bronze.sellers"); got[0][0] != "0" {
		t.Errorf("bronze.sellers = %v, want empty", got)
	}
	if again := ingestOK(t, lk, dir, "two"); again["sellers"].Status != StatusUnchanged {
		t.Errorf("second run: %s", again["sellers"].Status)
	}
	if err := os.MkdirAll(filepath.Join(dir, "dt=2018-01-02"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "dt=2018-01-02", sellersFile), b, 0o644); err != nil {
		t.Fatal(err)
	}
	third := ingestOK(t, lk, dir, "three")
	if third["sellers"].Status != StatusIngested || third["sellers"].RowsWritten == 0 {
		t.Errorf("sellers once its file arrived: %+v", third["sellers"])
	}
}

// Until limits a run to the batches of a day and before: later folders wait
// for a later run, and a run for an older date keeps what newer runs added.
func TestLandingZoneUntil(t *testing.T) {
	t.Parallel()
	lk := newLake(t)
	dir := landingZone(t)
	const (
		day2 = `a0000000000000000000000000000001,c0000000000000000000000000000001,created,2018-01-02 10:00:00,,,,2018-01-20 00:00:00`
		day3 = `a0000000000000000000000000000003,c0000000000000000000000000000003,created,2018-01-03 10:00:00,,,,2018-01-20 00:00:00`
	)
	writeBatchFile(t, dir, "2018-01-02", ordersFile, day2)
	writeBatchFile(t, dir, "2018-01-03", ordersFile, day3)
	run := func(id, until string) map[string]TableResult {
		t.Helper()
		res, err := Run(context.Background(), lk, Options{SourceDir: dir, RunID: id, Until: until})
		if err != nil || res.Err() != nil {
			t.Fatalf("ingest %s until %s: %v %v", id, until, err, res.Err())
		}
		if _, err := lk.Commit(lake.CommitInfo{Kind: lake.CommitRun, RunID: id}); err != nil {
			t.Fatal(err)
		}
		return byTable(res)
	}
	cases := []struct {
		until string
		want  map[string]BatchStatus
	}{
		{"2018-01-02", map[string]BatchStatus{"2018-01-01": BatchNew, "2018-01-02": BatchNew}},
		{"2018-01-03", map[string]BatchStatus{"2018-01-01": BatchUnchanged, "2018-01-02": BatchUnchanged, "2018-01-03": BatchNew}},
		// An older date again: day 3 is neither re-read nor removed.
		{"2018-01-01", map[string]BatchStatus{"2018-01-01": BatchUnchanged, "2018-01-02": BatchUnchanged, "2018-01-03": BatchUnchanged}},
	}
	for i, c := range cases {
		got := run(fmt.Sprintf("r%d", i), c.until)
		if st := batchStatuses(got["orders"]); fmt.Sprint(st) != fmt.Sprint(c.want) {
			t.Errorf("until %s: orders batches = %v, want %v", c.until, st, c.want)
		}
	}
	if _, err := Run(context.Background(), lk, Options{SourceDir: dir, RunID: "bad", Until: "2018-13-01"}); err == nil || !strings.Contains(err.Error(), "not a date") {
		t.Errorf("bad until: %v", err)
	}
}

// A source that grows while it is read fails with ErrSourceChanging (a
// transient error: the scheduler retries), and nothing is published.
func TestSourceChangingWhileRead(t *testing.T) {
	t.Parallel()
	dir := copyValid(t)
	path := filepath.Join(dir, ordersFile)
	f, info, err := openRegular(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w := &tableWriter{path: path, file: f, info: info}
	if err := w.stillSame(); err != nil {
		t.Fatalf("unchanged file: %v", err)
	}
	app, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := app.WriteString("x"); err != nil {
		t.Fatal(err)
	}
	app.Close()
	err = w.stillSame()
	var fe *FileError
	if !errors.Is(err, ErrSourceChanging) || !errors.As(err, &fe) || fe.File != path {
		t.Fatalf("grown file: %v", err)
	}
}

// A gzip file cut short because it is still being copied fails as
// ErrSourceChanging (retried), not as a broken file, when it grew while it
// was read; the same truncated file at rest is a broken file.
func TestTruncatedWhileCopied(t *testing.T) {
	t.Parallel()
	dir := copyValid(t)
	plain := filepath.Join(dir, ordersFile)
	raw, err := os.ReadFile(plain)
	if err != nil {
		t.Fatal(err)
	}
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	if _, err := zw.Write(raw); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(plain); err != nil {
		t.Fatal(err)
	}
	path := plain + ".gz"
	half := gz.Bytes()[:gz.Len()/2]
	if err := os.WriteFile(path, half, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, grows := range []bool{false, true} {
		f, info, err := openRegular(path)
		if err != nil {
			t.Fatal(err)
		}
		tb, err := olist.Lookup("orders")
		if err != nil {
			t.Fatal(err)
		}
		w := &tableWriter{opts: Options{}, t: tb, path: path, file: f, info: info, size: info.Size(), sourceName: "orders"}
		if grows {
			// The copier touched the file after it was opened: the read of
			// the half file fails, and the file is not what was opened.
			later := info.ModTime().Add(time.Second)
			if err := os.Chtimes(path, later, later); err != nil {
				t.Fatal(err)
			}
		}
		_, err = w.run(context.Background(), t.TempDir(), t.TempDir())
		f.Close()
		var fe *FileError
		if !errors.As(err, &fe) || errors.Is(err, ErrSourceChanging) != grows {
			t.Errorf("grows=%t: %v", grows, err)
		}
	}
}

// Compaction merges the small files once there are too many, and the files
// of a replaced batch; a big file is carried as it is, so that a compaction
// costs what the small files hold, not what the table holds.
func TestPlanCompaction(t *testing.T) {
	file := func(name string, bytes int64, batches ...string) lake.File {
		return lake.File{Path: name, Bytes: bytes, Batches: batches}
	}
	many := func(n int) []lake.File {
		var out []lake.File
		for i := range n {
			out = append(out, file(fmt.Sprintf("s%02d", i), 10, fmt.Sprintf("2018-01-%02d", i+1)))
		}
		return out
	}
	names := func(fs []lake.File) string {
		var out []string
		for _, f := range fs {
			out = append(out, f.Path)
		}
		return strings.Join(out, ",")
	}
	const big = 100
	for _, tc := range []struct {
		name        string
		carry       []lake.File
		replaced    map[string]bool
		added       int
		merge, keep string
	}{
		{"few files: nothing", many(3), nil, 1, "", "s00,s01,s02"},
		{"too many small files: all merged", many(compactAt), nil, 1, names(many(compactAt)), ""},
		{"too many files, big ones kept", append([]lake.File{file("big1", big, "2017-01-01"), file("big2", 5*big)}, many(compactAt)...), nil, 1,
			names(many(compactAt)), "big1,big2"},
		{"the base is kept while the newer files are merged", append([]lake.File{file("base", 10*compactAt)}, many(compactAt)...), nil, 1,
			names(many(compactAt)), "base"},
		{"the base is merged once the newer files are as big", append([]lake.File{file("base", 10*compactAt-1)}, many(compactAt)...), nil, 1,
			"base," + names(many(compactAt)), ""},
		{"a replaced batch and a base: the base stays", append([]lake.File{file("base", 10*compactAt, "2017-01-01"), file("r", 10, "2018-02-01")}, many(2)...),
			map[string]bool{"2018-02-01": true}, 1, "r," + names(many(2)), "base"},
		{"too many files, one small: nothing", append(many(1), func() []lake.File {
			var bigs []lake.File
			for i := range compactAt + 1 {
				bigs = append(bigs, file(fmt.Sprint("b", i), big))
			}
			return bigs
		}()...), nil, 1, "", ""},
		{"a replaced batch in a big file: it is rewritten, with the small ones", []lake.File{file("big1", big, "2018-01-01", "2018-01-02"), file("big2", big, "2018-01-03"), file("s", 1, "2018-01-04")},
			map[string]bool{"2018-01-02": true}, 1, "big1,s", "big2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			merge, keep := planCompaction(tc.carry, tc.replaced, tc.added, big)
			if names(merge) != tc.merge {
				t.Errorf("merge %s, want %s", names(merge), tc.merge)
			}
			if tc.keep != "" && names(keep) != tc.keep {
				t.Errorf("keep %s, want %s", names(keep), tc.keep)
			}
			if len(merge)+len(keep) != len(tc.carry) {
				t.Errorf("%d merged + %d kept of %d", len(merge), len(keep), len(tc.carry))
			}
		})
	}
}

// A lake written before manifests listed the batches of each file (the
// files of a batch live in its batch=YYYY-MM-DD folder): a later version
// still knows which rows are whose, so a batch gone from the landing zone
// keeps its rows when another is replaced and the table is compacted.
func TestLandingZoneFilesWithoutBatchList(t *testing.T) {
	t.Parallel()
	lk := newLake(t)
	dir := landingZone(t)
	row := func(i int, status string) string {
		return fmt.Sprintf(`b%031d,c%031d,%s,2018-01-02 10:00:00,,,,2018-01-20 00:00:00`, i, i, status)
	}
	day := func(i int) string {
		return time.Date(2018, 3, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, i).Format(time.DateOnly)
	}
	for i := 0; i < 5; i++ {
		writeBatchFile(t, dir, day(i), ordersFile, row(i, "created"))
	}
	ingestOK(t, lk, dir, "r1")
	// As an older nexus wrote it: no "batches" on the files.
	m, err := lk.Manifest(lake.Bronze, "orders")
	if err != nil {
		t.Fatal(err)
	}
	paths, err := filepath.Glob(filepath.Join(lk.MetaDir("manifests", "bronze.orders"), "*.json"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("manifests: %v %v", paths, err)
	}
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		stripped := regexp.MustCompile(`,\s*"batches":\s*\[[^\]]*\]`).ReplaceAll(b, nil)
		if err := os.WriteFile(p, stripped, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if lk, err = lake.Open(lk.Root); err != nil {
		t.Fatal(err)
	}
	if m2, err := lk.Manifest(lake.Bronze, "orders"); err != nil || len(m2.Files) != len(m.Files) || len(m2.Files[len(m2.Files)-1].Batches) != 0 {
		t.Fatalf("the manifest as an older nexus wrote it: %v %+v", err, m2)
	}
	// Batch 1 leaves the landing zone, batch 2 changes, and enough new
	// batches come to compact the table.
	if err := os.RemoveAll(filepath.Join(dir, "dt="+day(1))); err != nil {
		t.Fatal(err)
	}
	writeBatchFile(t, dir, day(2), ordersFile, row(2, "approved"))
	for i := 5; i < compactAt+5; i++ {
		writeBatchFile(t, dir, day(i), ordersFile, row(i, "created"))
	}
	ingestOK(t, lk, dir, "r2")
	got := query(t, lk, fmt.Sprintf(`SELECT count(*), count(*) FILTER (WHERE _batch = DATE '%s'), max(order_status) FILTER (WHERE _batch = DATE '%s') FROM bronze.orders WHERE order_id LIKE 'b%%'`, day(1), day(2)))
	if fmt.Sprint(got) != fmt.Sprintf("[[%d 1 approved]]", compactAt+5) {
		t.Errorf("rows (all, of the removed batch, status of the replaced one): %v", got)
	}
}

// The run summary's line on the batches of a landing zone.
func TestBatchChangesString(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		c    BatchChanges
		want string
	}{
		{BatchChanges{Total: 3}, "landing zone: 3 batch(es); 0 new, 0 replaced"},
		{BatchChanges{Total: 4, New: []string{"2018-07-02"}, Replaced: []string{"2018-07-01"}},
			"landing zone: 4 batch(es); 1 new (2018-07-02), 1 replaced (2018-07-01)"},
		{BatchChanges{Total: 2, Removed: []string{"2018-08-06"}},
			"landing zone: 2 batch(es); 0 new, 0 replaced, 1 with files gone from the landing zone (2018-08-06: their rows kept in Bronze)"},
		{BatchChanges{Total: 9, New: []string{"a", "b", "c", "d", "e", "f"}}, "landing zone: 9 batch(es); 6 new (a, b … f), 0 replaced"},
	} {
		if got := tc.c.String(); got != tc.want {
			t.Errorf("got  %q\nwant %q", got, tc.want)
		}
	}
}

// A source of the other kind than the one that built the lake's Bronze
// tables would replace them: plain files, every batch of a landing zone's
// tables; a landing zone, the tables of plain files. Refused, naming the
// tables (and the batches) and how to undo the switch, with nothing
// written; --switch-source (SwitchSource) does it.
func TestSourceSwitchRefused(t *testing.T) {
	t.Parallel()
	lk := newLake(t)
	dir := landingZone(t)
	writeBatchFile(t, dir, "2018-01-02", ordersFile,
		`a0000000000000000000000000000001,c0000000000000000000000000000001,approved,2018-01-02 10:00:00,2018-01-02 11:00:00,,,2018-01-20 00:00:00`)
	ingestOK(t, lk, dir, "one")
	before, err := lk.Manifest(lake.Bronze, "orders")
	if err != nil {
		t.Fatal(err)
	}

	plain := copyValid(t)
	// The command to paste names the lake (not the default one) and the
	// command the user ran.
	_, err = Run(context.Background(), lk, Options{SourceDir: plain, RunID: "two", Rerun: []string{"run"}})
	if !errors.Is(err, ErrSourceSwitch) {
		t.Fatalf("plain files for the batches of a landing zone: %v, want ErrSourceSwitch", err)
	}
	for _, want := range []string{"holds plain source files", "every Bronze table (9)", "in batches (2018-01-01 … 2018-01-02)",
		"or switch once with nexus run --lake " + lk.Root + " --source " + plain + " --switch-source;",
		"the current snapshot 1 stays for nexus rollback --lake " + lk.Root + " 1"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	if after, err := lk.Manifest(lake.Bronze, "orders"); err != nil || after.Version != before.Version {
		t.Errorf("bronze.orders changed by a refused ingest: version %d → %d (%v)", before.Version, after.Version, err)
	}

	// Only the tables whose file the directory holds count; a directory
	// without any is no source of plain files (its missing files say so).
	partial := t.TempDir()
	if err := os.Rename(filepath.Join(plain, ordersFile), filepath.Join(partial, ordersFile)); err != nil {
		t.Fatal(err)
	}
	_, err = Run(context.Background(), lk, Options{SourceDir: partial, RunID: "two", Tables: []string{"orders", "sellers"}})
	if !errors.Is(err, ErrSourceSwitch) || !strings.Contains(err.Error(), "built bronze.orders, which") || strings.Contains(err.Error(), "bronze.sellers") {
		t.Errorf("a directory with the orders file only: %v, want bronze.orders alone named", err)
	}
	res, err := Run(context.Background(), lk, Options{SourceDir: t.TempDir(), RunID: "two"})
	if errors.Is(err, ErrSourceSwitch) || (err == nil && res.Err() == nil) {
		t.Errorf("an empty directory: %v / %v, want its missing files, not the refusal", err, res.Err())
	}
	if err := os.Rename(filepath.Join(partial, ordersFile), filepath.Join(plain, ordersFile)); err != nil {
		t.Fatal(err)
	}
	res, err = Run(context.Background(), lk, Options{SourceDir: plain, RunID: "three", SwitchSource: true})
	if err != nil || res.Err() != nil {
		t.Fatalf("with SwitchSource: %v %v", err, res.Err())
	}
	if got := byTable(res)["orders"].Status; got != StatusIngested {
		t.Errorf("orders with SwitchSource: %s", got)
	}
	// The switch made is said: from what to what, and how to undo it.
	if res.Switch == nil {
		t.Fatal("with SwitchSource: no Switch in the result")
	}
	if sw := res.Switch; sw.From != SourceLandingZone || sw.To != SourcePlainFiles || sw.Before != 1 || len(sw.Tables) != 9 {
		t.Errorf("switch %+v, want landing zone → plain files, 9 tables, before snapshot 1", sw)
	}
	if got, want := res.Switch.String(), "source switched: every Bronze table (9), built from a landing zone (or the stream) in batches (2018-01-01 … 2018-01-02), now from plain source files in "+
		plain+"; snapshot 1 holds the lake before the switch: nexus rollback --lake "+lk.Root+" 1 undoes it"; got != want {
		t.Errorf("switch line\n got  %s\n want %s", got, want)
	}
	if _, err := lk.Commit(lake.CommitInfo{Kind: lake.CommitRun, RunID: "three"}); err != nil {
		t.Fatal(err)
	}

	// Now built of plain files: the landing zone is refused in turn.
	_, err = Run(context.Background(), lk, Options{SourceDir: dir, RunID: "four"})
	if !errors.Is(err, ErrSourceSwitch) {
		t.Fatalf("a landing zone for tables of plain files: %v, want ErrSourceSwitch", err)
	}
	for _, want := range []string{"is a landing zone, and plain source files built every Bronze table (9)",
		"nexus ingest --lake " + lk.Root + " --source " + dir + " --switch-source;", "nexus rollback --lake " + lk.Root + " 2"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	res, err = Run(context.Background(), lk, Options{SourceDir: dir, RunID: "five", SwitchSource: true})
	if err != nil || res.Err() != nil {
		t.Fatalf("the landing zone with SwitchSource: %v %v", err, res.Err())
	}
	if sw := res.Switch; sw == nil || sw.From != SourcePlainFiles || sw.To != SourceLandingZone || sw.Before != 2 {
		t.Errorf("switch %+v, want plain files → landing zone, before snapshot 2", sw)
	}
	// Without a switch, none is said.
	if _, err := lk.Commit(lake.CommitInfo{Kind: lake.CommitRun, RunID: "five"}); err != nil {
		t.Fatal(err)
	}
	if res, err := Run(context.Background(), lk, Options{SourceDir: dir, RunID: "six", SwitchSource: true}); err != nil || res.Switch != nil {
		t.Errorf("the same landing zone again: switch %+v (%v), want none", res.Switch, err)
	}
}

// The command a refused switch suggests is the user's own, with what it
// needs to do the same ingest on the same lake, quoted for a shell.
func TestSwitchCommand(t *testing.T) {
	t.Parallel()
	lk := newLake(t)
	for _, tc := range []struct {
		name string
		opts Options
		want string
	}{
		{"ingest by default", Options{SourceDir: "data/landing"},
			"nexus ingest --lake " + lk.Root + " --source data/landing --switch-source"},
		{"the command run", Options{SourceDir: "src", Rerun: []string{"run"}},
			"nexus run --lake " + lk.Root + " --source src --switch-source"},
		{"tables and drift policy", Options{SourceDir: "src", Tables: []string{"orders", "sellers"}, OnDrift: DriftEvolve},
			"nexus ingest --lake " + lk.Root + " --source src --table orders --table sellers --on-drift evolve --switch-source"},
		{"a path a shell would split", Options{SourceDir: "my data/it's here", Rerun: []string{"run"}},
			"nexus run --lake " + lk.Root + ` --source 'my data/it'\''s here' --switch-source`},
		// A run's own flags stay: without its --project, the models would
		// be built from the embedded SQL.
		{"the flags the user gave", Options{SourceDir: "src", Rerun: []string{"run", "--source", "src", "--project", "my models", "--no-gates", "--force=false"}},
			"nexus run --lake " + lk.Root + " --source src --project 'my models' --no-gates --force=false --switch-source"},
		{"an ingest's tables as given", Options{SourceDir: "src", Tables: []string{"orders"}, Rerun: []string{"ingest", "--table", "orders", "--source", "src"}},
			"nexus ingest --lake " + lk.Root + " --table orders --source src --switch-source"},
	} {
		if got := switchCommand(lk, tc.opts); got != tc.want {
			t.Errorf("%s:\n got  %s\n want %s", tc.name, got, tc.want)
		}
	}
}

// A switch is said as made: only the tables it ingested, none when it
// ingested none (a failed or cancelled ingest switched nothing).
func TestSwitchMade(t *testing.T) {
	t.Parallel()
	sw := &SourceSwitch{From: SourceLandingZone, To: SourcePlainFiles, Source: "src", Tables: []string{"bronze.orders", "bronze.sellers"}, Before: 3}
	for _, tc := range []struct {
		name    string
		results []TableResult
		want    []string // nil: no switch
	}{
		{"all ingested", []TableResult{{Table: "orders", Status: StatusIngested}, {Table: "sellers", Status: StatusIngested}}, []string{"bronze.orders", "bronze.sellers"}},
		{"one failed", []TableResult{{Table: "orders", Status: StatusFailed}, {Table: "sellers", Status: StatusIngested}}, []string{"bronze.sellers"}},
		{"all failed", []TableResult{{Table: "orders", Status: StatusFailed}, {Table: "sellers", Status: StatusFailed}}, nil},
		{"none run", nil, nil},
	} {
		got := sw.made(tc.results)
		if (got == nil) != (tc.want == nil) || (got != nil && !slices.Equal(got.Tables, tc.want)) {
			t.Errorf("%s: %+v, want tables %v", tc.name, got, tc.want)
		}
		if got != nil && (got.Before != 3 || got.Source != "src") {
			t.Errorf("%s: %+v lost the switch's other fields", tc.name, got)
		}
	}
	if len(sw.Tables) != 2 {
		t.Errorf("made changed the switch it was asked about: %v", sw.Tables)
	}
	var none *SourceSwitch
	if none.made(nil) != nil {
		t.Error("no switch made one")
	}
}
