package ingest

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/keystone/nexus/internal/engine"
	"github.com/keystone/nexus/internal/lake"
	"github.com/keystone/nexus/internal/olist"
)

// copyValid copies the hand-made valid fixture set into a fresh directory.
func copyValid(t *testing.T) string {
	t.Helper()
	dst := t.TempDir()
	entries, err := os.ReadDir("testdata/valid")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join("testdata/valid", e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, e.Name()), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dst
}

func newLake(t *testing.T) *lake.Lake {
	t.Helper()
	lk, err := lake.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return lk
}

func query(t *testing.T, lk *lake.Lake, q string) [][]string {
	t.Helper()
	eng, err := engine.Open(context.Background(), lk, engine.Options{MemoryLimit: "512MB", Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	closeOK(t, eng)
	res, err := eng.Query(context.Background(), q)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	var out [][]string
	for _, r := range res.Rows {
		var row []string
		for _, v := range r {
			if v == nil {
				row = append(row, "NULL")
			} else {
				row = append(row, *v)
			}
		}
		out = append(out, row)
	}
	return out
}

func byTable(res Result) map[string]TableResult {
	m := map[string]TableResult{}
	for _, r := range res.Tables {
		m[r.Table] = r
	}
	return m
}

func TestIngestValidFixtures(t *testing.T) {
	t.Parallel()
	lk := newLake(t)
	src := copyValid(t)
	res, err := Run(context.Background(), lk, Options{SourceDir: src, RunID: "r1"})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int64{"orders": 4, "customers": 4, "order_items": 4, "order_payments": 6, "order_reviews": 3,
		"products": 4, "sellers": 3, "geolocation": 5, "category_translation": 2}
	for _, r := range res.Tables {
		if r.Status != StatusIngested || r.Err != nil {
			t.Fatalf("%s: %s %v", r.Table, r.Status, r.Err)
		}
		if r.RowsWritten != want[r.Table] || r.RowsQuarantined != 0 || r.RecordsRead != r.RowsWritten {
			t.Errorf("%s: read %d written %d quarantined %d, want %d rows", r.Table, r.RecordsRead, r.RowsWritten, r.RowsQuarantined, want[r.Table])
		}
	}
	tests := []struct {
		q    string
		want string
	}{
		// Money keeps its cents; sums are exact.
		{"SELECT sum(price)::VARCHAR, any_value(typeof(price)) FROM bronze.order_items", "427.29|DECIMAL(12,2)"},
		// Zip prefixes keep leading zeros.
		{"SELECT customer_zip_code_prefix FROM bronze.customers WHERE customer_city = 'sao paulo'", "03149"},
		// A multi-line review keeps its CRLF, its doubled quotes are undone, and
		// the next record's line number counts the physical lines.
		{"SELECT _source_line, position('\r\n' IN review_comment_message) > 0, contains(review_comment_message, '\"recebi') FROM bronze.order_reviews ORDER BY _source_line", "2|false|false;3|true|true;5|NULL|NULL"},
		// A time in the DST gap is kept as the local wall clock in Bronze.
		{"SELECT order_purchase_timestamp::VARCHAR FROM bronze.orders WHERE order_status = 'shipped'", "2017-10-15 00:30:00"},
		// Empty fields are NULL; the 'lenght' header maps to product_name_length.
		{"SELECT count(*) FROM bronze.products WHERE product_name_length IS NULL AND product_category_name IS NULL", "1"},
		// The BOM is not part of the first column's name or value.
		{"SELECT product_category_name FROM bronze.category_translation ORDER BY 1 LIMIT 1", "perfumaria"},
		// Lineage columns.
		{"SELECT DISTINCT _source_file, _ingest_run_id FROM bronze.sellers", "olist_sellers_dataset.csv|r1"},
		{"SELECT seller_city FROM bronze.sellers WHERE _source_line = 4", "mogi guacu, sao paulo, brasil"},
	}
	for _, tc := range tests {
		var rows []string
		for _, r := range query(t, lk, tc.q) {
			rows = append(rows, strings.Join(r, "|"))
		}
		if got := strings.Join(rows, ";"); got != tc.want {
			t.Errorf("%s\n got %q\nwant %q", tc.q, got, tc.want)
		}
	}
}

// damage applies one kind of corruption to a copy of the valid fixtures.
type damage struct {
	name  string
	table string
	apply func(t *testing.T, dir string)
	// file-level: the table fails with an error containing errHas.
	errHas string
	// record-level: the table is ingested with these quarantined rows.
	quarantined []string // "line|error_type|column_name"
	// reasonHas, when set, must appear in the quarantined rows' reasons.
	reasonHas string
	// errLacks, when set, must not appear in a file-level error: the content
	// of a file that is not the expected CSV is never echoed.
	errLacks string
	opts     Options
}

func replaceIn(file, old, new string) func(t *testing.T, dir string) {
	return func(t *testing.T, dir string) {
		t.Helper()
		p := filepath.Join(dir, file)
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Contains(b, []byte(old)) {
			t.Fatalf("fixture %s lacks %q", file, old)
		}
		if err := os.WriteFile(p, bytes.Replace(b, []byte(old), []byte(new), 1), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// removeFile removes a fixture file, which must exist.
func removeFile(t *testing.T, p string) {
	t.Helper()
	if err := os.Remove(p); err != nil {
		t.Fatal(err)
	}
}

// gzipBytes compresses b.
func gzipBytes(t *testing.T, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// closeOK closes c when the test ends and fails the test if that fails.
func closeOK(t *testing.T, c io.Closer) {
	t.Helper()
	t.Cleanup(func() {
		if err := c.Close(); err != nil {
			t.Error(err)
		}
	})
}

func writeFile(file string, content []byte) func(t *testing.T, dir string) {
	return func(t *testing.T, dir string) {
		if err := os.WriteFile(filepath.Join(dir, file), content, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

const (
	itemsFile    = "olist_order_items_dataset.csv"
	ordersFile   = "olist_orders_dataset.csv"
	sellersFile  = "olist_sellers_dataset.csv"
	reviewsFile  = "olist_order_reviews_dataset.csv"
	paymentsFile = "olist_order_payments_dataset.csv"
)

func TestIngestCorruptedInputs(t *testing.T) {
	t.Parallel()
	tests := []damage{
		// Record-level damage: quarantined with line and reason, the rest ingested.
		{name: "too many fields", table: "order_items", apply: replaceIn(itemsFile, "29.99,8.72", "29.99,8.72,extra"),
			quarantined: []string{"2|FIELD COUNT|NULL"}},
		{name: "too few fields", table: "sellers", apply: replaceIn(sellersFile, `"31570",belo horizonte,MG`, `"31570"`),
			quarantined: []string{"3|FIELD COUNT|NULL"}},
		{name: "unparsable number", table: "order_payments", apply: replaceIn(paymentsFile, "282.92", "282.9x"),
			quarantined: []string{"5|CAST|payment_value"}},
		{name: "unparsable timestamp", table: "orders", apply: replaceIn(ordersFile, "2018-07-24 20:41:37", "24/07/2018 20:41"),
			quarantined: []string{"3|CAST|order_purchase_timestamp"}},
		{name: "broken quoting", table: "sellers", apply: replaceIn(sellersFile, `maua,SP`, `ma"ua,SP`),
			quarantined: []string{"2|BROKEN QUOTING|seller_city"}},
		{name: "unclosed quote in multi-line review", table: "order_reviews",
			apply:       replaceIn(reviewsFile, `"Não testei o produto ainda, mas ele veio correto e em boas condições.",`, `"Não testei,`),
			quarantined: []string{"2|BROKEN QUOTING|review_comment_message"}},
		{name: "invalid UTF-8", table: "sellers", apply: replaceIn(sellersFile, "belo horizonte", "belo horizonte \xe3"),
			quarantined: []string{"3|INVALID UTF-8|seller_city"}},
		// A stray NUL is a defect of its record, not of the file; the reason
		// gives the byte offset in the field and in the file.
		{name: "NUL in a text column", table: "sellers", apply: replaceIn(sellersFile, "maua", "ma\x00ua"),
			quarantined: []string{"2|NUL BYTE|seller_city"}, reasonHas: `NUL byte in column "seller_city" at offset 2 of the value, offset 111 of the file`},
		{name: "NUL in a key column", table: "orders", apply: replaceIn(ordersFile, "e481f51cbdc54678b7cc49136f2d6af7,", "e481f51cbdc54678b7cc49136f2d6af7\x00,"),
			quarantined: []string{"2|NUL BYTE|order_id"}, reasonHas: "at offset 32 of the value"},
		{name: "NUL in a quoted key column", table: "order_payments", apply: replaceIn(paymentsFile, `"53cdb2fc8bc7dce0b6741e2150273451"`, "\"53cdb2fc8bc7dce0b674\x001e2150273451\""),
			quarantined: []string{"5|NUL BYTE|order_id"}, reasonHas: "at offset 20 of the value, offset 263 of the file"},
		{name: "NUL after a BOM", table: "category_translation", apply: replaceIn("product_category_name_translation.csv", "housewares", "house\x00wares"),
			quarantined: []string{"2|NUL BYTE|product_category_name_english"}, reasonHas: "at offset 5 of the value, offset 83 of the file"},
		{name: "NUL before a quoted field", table: "sellers", apply: replaceIn(sellersFile, `,"31570"`, ",\x00\"31570\""),
			quarantined: []string{"3|NUL BYTE|seller_zip_code_prefix"}, reasonHas: "NUL byte at offset 152 of the file (bare quote"},
		{name: "NUL in a number", table: "order_payments", apply: replaceIn(paymentsFile, "282.92", "282.\x0092"),
			quarantined: []string{"5|NUL BYTE|payment_value"}},
		{name: "NULs on several records", table: "sellers", apply: func(t *testing.T, dir string) {
			replaceIn(sellersFile, "maua", "\x00\x00\x00")(t, dir)
			replaceIn(sellersFile, ",MG", ",M\x00")(t, dir)
		}, quarantined: []string{"2|NUL BYTE|seller_city", "3|NUL BYTE|seller_state"}},
		// File-level damage: the table fails, with a clear message naming the file.
		{name: "missing file", table: "sellers", apply: func(t *testing.T, dir string) { removeFile(t, filepath.Join(dir, sellersFile)) },
			errHas: "missing source file for table sellers"},
		{name: "empty file", table: "sellers", apply: writeFile(sellersFile, nil), errHas: "file is empty"},
		{name: "missing column", table: "sellers", apply: replaceIn(sellersFile, `,"seller_state"`, ``),
			errHas: "header is missing column(s) seller_state"},
		{name: "renamed column", table: "sellers", apply: replaceIn(sellersFile, `"seller_city"`, `"city"`),
			errHas: "missing column(s) seller_city and has unexpected column(s) city (renamed?)"},
		{name: "extra column with drift=fail", table: "sellers", apply: replaceIn(sellersFile, `"seller_state"`, `"seller_state","seller_rating"`),
			errHas: "seller_rating that the contract does not know"},
		{name: "wrong delimiter", table: "sellers", apply: writeFile(sellersFile, []byte("\"seller_id\";\"seller_zip_code_prefix\";\"seller_city\";\"seller_state\"\nx;\"01001\";sao paulo;SP\n")),
			errHas: "semicolon"},
		{name: "binary garbage", table: "sellers", apply: writeFile(sellersFile, append([]byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"), bytes.Repeat([]byte{0, 1, 2, 250}, 100)...)),
			errHas: "binary data", errLacks: "PNG"},
		{name: "mostly NUL after a valid header", table: "sellers",
			apply:  writeFile(sellersFile, append([]byte("\"seller_id\",\"seller_zip_code_prefix\",\"seller_city\",\"seller_state\"\n"), make([]byte, 4096)...)),
			errHas: "binary data"},
		{name: "UTF-16 text", table: "sellers", apply: writeFile(sellersFile, encodeUTF16LE("\ufeff\"seller_id\",\"seller_zip_code_prefix\",\"seller_city\",\"seller_state\"\r\nx,\"01001\",sao paulo,SP\r\n")),
			errHas: "UTF-16"},
		{name: "Latin-1 text", table: "sellers", apply: writeFile(sellersFile, []byte("\"seller_id\",\"seller_zip_code_prefix\",\"seller_city\",\"seller_state\"\n"+
			strings.Repeat("x,\"01001\",s\xe3o paulo,SP\nx,\"01001\",mau\xe1,SP\n", 40))),
			errHas: "not UTF-8"},
		{name: "not the expected CSV", table: "sellers", apply: writeFile(sellersFile, []byte("root:x:0:0:root:/root:/bin/bash\ndaemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n")),
			errHas: "not the header of olist_sellers_dataset.csv", errLacks: "root"},
		{name: "header with a NUL", table: "sellers", apply: replaceIn(sellersFile, `"seller_city"`, "\"seller_\x00city\""),
			errHas: "line 1 column 3: NUL byte"},
		// Non-regular files fail at once instead of being read forever.
		{name: "FIFO", table: "sellers", apply: func(t *testing.T, dir string) {
			p := filepath.Join(dir, sellersFile)
			removeFile(t, p)
			if err := syscall.Mkfifo(p, 0o644); err != nil {
				t.Skipf("mkfifo: %v", err)
			}
		}, errHas: "is a named pipe (FIFO), not a regular file"},
		{name: "symlink to /dev/zero", table: "sellers", apply: symlinkTo("/dev/zero"),
			errHas: "is a symbolic link to /dev/zero, a character device, not a regular file"},
		{name: "symlink to a directory", table: "sellers", apply: symlinkTo("/"),
			errHas: "is a symbolic link to /, a directory, not a regular file"},
		{name: "gzip under a .csv name", table: "sellers", apply: func(t *testing.T, dir string) {
			writeFile(sellersFile, gzipBytes(t, []byte("a,b\n")))(t, dir)
		}, errHas: "gzip-compressed"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			lk := newLake(t)
			// A first, clean ingest is published; the damaged one must not hurt it.
			clean := copyValid(t)
			if res, err := Run(context.Background(), lk, Options{SourceDir: clean, RunID: "clean"}); err != nil || res.Err() != nil {
				t.Fatalf("clean ingest: %v %v", err, res.Err())
			}
			before := query(t, lk, "SELECT count(*) FROM bronze."+tc.table)

			dir := copyValid(t)
			tc.apply(t, dir)
			opts := tc.opts
			opts.SourceDir, opts.RunID = dir, "damaged"
			res, err := Run(context.Background(), lk, opts)
			if err != nil {
				t.Fatal(err)
			}
			r := byTable(res)[tc.table]
			for name, other := range byTable(res) {
				if name != tc.table && other.Status != StatusUnchanged {
					t.Errorf("%s: status %s, want unchanged", name, other.Status)
				}
			}
			if tc.errHas != "" {
				if r.Status != StatusFailed || r.Err == nil || !strings.Contains(r.Err.Error(), tc.errHas) {
					t.Fatalf("status %s err %v, want failure containing %q", r.Status, r.Err, tc.errHas)
				}
				if tc.errLacks != "" && strings.Contains(r.Err.Error(), tc.errLacks) {
					t.Errorf("error %q echoes the file's content %q", r.Err, tc.errLacks)
				}
				if !strings.Contains(r.Err.Error(), filepath.Join(dir, olistFile(t, tc.table))) {
					t.Errorf("error %q does not name the file", r.Err)
				}
				after := query(t, lk, "SELECT count(*), min(_ingest_run_id) FROM bronze."+tc.table)
				if after[0][0] != before[0][0] || after[0][1] != "clean" {
					t.Errorf("published table changed: before %v after %v", before, after)
				}
				return
			}
			if r.Status != StatusIngested {
				t.Fatalf("status %s err %v", r.Status, r.Err)
			}
			if r.RecordsRead != r.RowsWritten+r.RowsQuarantined || r.RowsQuarantined != int64(len(tc.quarantined)) {
				t.Errorf("read %d written %d quarantined %d, want %d quarantined", r.RecordsRead, r.RowsWritten, r.RowsQuarantined, len(tc.quarantined))
			}
			var got, reasons []string
			for _, row := range query(t, lk, "SELECT _source_line, error_type, column_name, reason, raw_record FROM quarantine.bronze_"+tc.table+" ORDER BY 1") {
				got = append(got, strings.Join(row[:3], "|"))
				reasons = append(reasons, row[3])
				if row[3] == "" || row[4] == "" {
					t.Errorf("quarantined row without reason or raw text: %v", row)
				}
			}
			if tc.reasonHas != "" && !strings.Contains(strings.Join(reasons, "\n"), tc.reasonHas) {
				t.Errorf("reasons %q lack %q", reasons, tc.reasonHas)
			}
			if strings.Join(got, ";") != strings.Join(tc.quarantined, ";") {
				t.Errorf("quarantine %v, want %v", got, tc.quarantined)
			}
		})
	}
}

// symlinkTo replaces the sellers file by a symbolic link to target.
func symlinkTo(target string) func(t *testing.T, dir string) {
	return func(t *testing.T, dir string) {
		p := filepath.Join(dir, sellersFile)
		removeFile(t, p)
		if err := os.Symlink(target, p); err != nil {
			t.Fatal(err)
		}
	}
}

// encodeUTF16LE encodes s as UTF-16 little-endian (ASCII only).
func encodeUTF16LE(s string) []byte {
	var b []byte
	for _, r := range s {
		b = append(b, byte(r), byte(r>>8))
	}
	return b
}

func olistFile(t *testing.T, table string) string {
	t.Helper()
	tb, err := olist.Lookup(table)
	if err != nil {
		t.Fatal(err)
	}
	return tb.File
}

func TestIngestDriftEvolveAndGzip(t *testing.T) {
	t.Parallel()
	lk := newLake(t)
	dir := copyValid(t)
	replaceIn(sellersFile, `"seller_state"`, `"seller_state","seller_rating"`)(t, dir)
	replaceIn(sellersFile, `maua,SP`, `maua,SP,4.5`)(t, dir)
	replaceIn(sellersFile, `belo horizonte,MG`, `belo horizonte,MG,`)(t, dir)
	replaceIn(sellersFile, `brasil",SP`, `brasil",SP,3`)(t, dir)
	// The same data compressed: .csv.gz is read transparently.
	p := filepath.Join(dir, ordersFile)
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	removeFile(t, p)
	if err := os.WriteFile(p+".gz", gzipBytes(t, b), 0o644); err != nil {
		t.Fatal(err)
	}

	res, err := Run(context.Background(), lk, Options{SourceDir: dir, OnDrift: DriftEvolve})
	if err != nil || res.Err() != nil {
		t.Fatal(err, res.Err())
	}
	if got := query(t, lk, "SELECT string_agg(coalesce(seller_rating, 'NULL'), ',' ORDER BY _source_line) FROM bronze.sellers"); got[0][0] != "4.5,NULL,3" {
		t.Errorf("evolved column = %v", got)
	}
	if got := query(t, lk, "SELECT count(*) FROM bronze.orders"); got[0][0] != "4" {
		t.Errorf("gzip orders = %v", got)
	}
}

func TestIngestIncremental(t *testing.T) {
	t.Parallel()
	lk := newLake(t)
	dir := copyValid(t)
	first, err := Run(context.Background(), lk, Options{SourceDir: dir, RunID: "one"})
	if err != nil || first.Err() != nil {
		t.Fatal(err, first.Err())
	}
	again, err := Run(context.Background(), lk, Options{SourceDir: dir, RunID: "two"})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range again.Tables {
		if r.Status != StatusUnchanged || r.Version != 1 {
			t.Errorf("re-run on unchanged input: %s %s v%d", r.Table, r.Status, r.Version)
		}
	}
	replaceIn(sellersFile, "maua", "mauá")(t, dir)
	third, err := Run(context.Background(), lk, Options{SourceDir: dir, RunID: "three"})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range third.Tables {
		want, wantV := StatusUnchanged, int64(1)
		if r.Table == "sellers" {
			want, wantV = StatusIngested, 2
		}
		if r.Status != want || r.Version != wantV {
			t.Errorf("after changing sellers: %s %s v%d, want %s v%d", r.Table, r.Status, r.Version, want, wantV)
		}
	}
	if got := query(t, lk, "SELECT count(*), count(DISTINCT _ingest_run_id) FROM bronze.sellers"); got[0][0] != "3" || got[0][1] != "1" {
		t.Errorf("sellers after re-ingest = %v (duplicates?)", got)
	}
}

// A source file may be a symbolic link to a regular file elsewhere.
func TestIngestSymlinkToRegularFile(t *testing.T) {
	t.Parallel()
	lk := newLake(t)
	dir := copyValid(t)
	elsewhere := filepath.Join(t.TempDir(), "sellers.csv")
	if err := os.Rename(filepath.Join(dir, sellersFile), elsewhere); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(elsewhere, filepath.Join(dir, sellersFile)); err != nil {
		t.Fatal(err)
	}
	res, err := Run(context.Background(), lk, Options{SourceDir: dir, Tables: []string{"sellers"}})
	if err != nil {
		t.Fatal(err)
	}
	if r := res.Tables[0]; r.Status != StatusIngested || r.RowsWritten != 3 || r.RowsQuarantined != 0 {
		t.Fatalf("sellers through a symlink: %s written %d quarantined %d err %v", r.Status, r.RowsWritten, r.RowsQuarantined, r.Err)
	}
}

// A cancelled context stops reading (SIGTERM during a long read): every table
// fails with the cancellation and nothing is published.
func TestIngestCancelled(t *testing.T) {
	t.Parallel()
	lk := newLake(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	res, err := Run(ctx, lk, Options{SourceDir: copyValid(t)})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Run error %v, want context.Canceled", err)
	}
	for _, r := range res.Tables {
		if r.Status != StatusFailed || !errors.Is(r.Err, context.Canceled) {
			t.Errorf("%s: %s %v after cancellation, want failed with context.Canceled", r.Table, r.Status, r.Err)
		}
	}
	for _, tb := range olist.Tables() {
		if m, err := lk.Manifest(lake.Bronze, tb.Name); err == nil && m != nil {
			t.Errorf("bronze.%s published after cancellation", tb.Name)
		}
	}
}
