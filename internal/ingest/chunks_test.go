package ingest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/keystone/nexus/internal/engine"
	"github.com/keystone/nexus/internal/lake"
	"github.com/keystone/nexus/internal/olist"
)

// chunkSource generates a small data set and breaks its CSV in every way the
// reader knows: stray and unterminated quotes, quoted fields spanning many
// lines (some over several chunks), NUL bytes, invalid UTF-8, bad numbers,
// wrong field counts, blank lines, CRLF line ends and no final line break.
// The translation file keeps its BOM and the orders file is gzipped.
func chunkSource(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if _, err := olist.Generate(context.Background(), dir, olist.GenOptions{Scale: 0.005, Seed: 3}); err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(9, 9))
	damageLines(t, filepath.Join(dir, olistFile(t, "geolocation")), rng, map[string]int{
		"stray quote": 6, "unclosed quote": 3, "long quoted field": 3, "nul": 4, "utf8": 4, "bad number": 4,
		"extra field": 4, "blank": 8, "crlf": 40, "quoted newline": 10, "bare quote": 4,
	})
	damageLines(t, filepath.Join(dir, olistFile(t, "order_reviews")), rng, map[string]int{
		"stray quote": 5, "unclosed quote": 3, "long quoted field": 2, "nul": 2, "blank": 4, "extra field": 3, "bare quote": 3,
	})
	damageLines(t, filepath.Join(dir, olistFile(t, "order_items")), rng, map[string]int{
		"stray quote": 2, "bad number": 5, "blank": 3, "crlf": 20,
	})
	// An unterminated quote near the end runs to the end of the file, and the
	// last line has no line break.
	p := filepath.Join(dir, olistFile(t, "sellers"))
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	lines := bytes.SplitAfter(b, []byte("\n"))
	lines[len(lines)-5] = append([]byte(`"`), lines[len(lines)-5]...)
	b = bytes.TrimSuffix(bytes.Join(lines, nil), []byte("\n"))
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(dir, olistFile(t, "category_translation"))); err != nil || !bytes.HasPrefix(b, utf8BOM) {
		t.Fatalf("the translation file should start with a BOM (err %v)", err)
	}
	// Gzip is read serially: its records must come out the same.
	p = filepath.Join(dir, olistFile(t, "orders"))
	b, err = os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	removeFile(t, p)
	if err := os.WriteFile(p+".gz", gzipBytes(t, b), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// damageLines applies n damages of each kind to random lines (never the
// header) of the file at p.
func damageLines(t *testing.T, p string, rng *rand.Rand, kinds map[string]int) {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitAfter(string(b), "\n")
	if lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	// Map order is random: apply the kinds in a fixed order, so that a
	// failure can be reproduced.
	for _, kind := range []string{"stray quote", "unclosed quote", "long quoted field", "nul", "utf8", "bad number",
		"extra field", "blank", "crlf", "quoted newline", "bare quote"} {
		for range kinds[kind] {
			i := 1 + rng.IntN(len(lines)-1)
			l := lines[i]
			body := strings.TrimRight(l, "\r\n")
			comma := strings.IndexByte(body, ',')
			switch kind {
			case "stray quote": // a quote opens the second field; a later quote closes it, or 200 lines do
				lines[i] = body[:comma+1] + `"` + body[comma+1:] + "\n"
			case "unclosed quote": // a field opened by a quote, with no quote in the next 300 lines
				for j := i + 1; j < len(lines) && j <= i+300; j++ {
					lines[j] = strings.ReplaceAll(lines[j], `"`, "")
				}
				lines[i] = `"` + lines[i]
			case "long quoted field": // closed 60 to 150 lines later: one record over them all
				j := min(len(lines)-1, i+60+rng.IntN(90))
				for k := i; k <= j; k++ {
					lines[k] = strings.ReplaceAll(lines[k], `"`, "")
				}
				lines[i] = body[:comma+1] + `"` + body[comma+1:] + "\n"
				lines[j] = `x",` + lines[j]
			case "nul":
				lines[i] = body[:comma] + "\x00" + body[comma:] + "\n"
			case "utf8":
				lines[i] = body[:comma] + "\xc3\x28" + body[comma:] + "\n"
			case "bad number":
				f := strings.Split(body, ",")
				f[1] = "12x"
				lines[i] = strings.Join(f, ",") + "\n"
			case "extra field":
				lines[i] = body + ",extra\n"
			case "blank":
				lines[i] = "\n" + l
				if rng.IntN(2) == 0 {
					lines[i] = "\r\n" + l
				}
			case "crlf":
				lines[i] = body + "\r\n"
			case "quoted newline": // a valid quoted field holding CRLF
				f := strings.Split(body, ",")
				f[len(f)-2] = `"` + strings.ReplaceAll(f[len(f)-2], `"`, "") + "\r\nsecond line\"\"" + `"`
				lines[i] = strings.Join(f, ",") + "\n"
			case "bare quote": // a quote inside an unquoted field
				lines[i] = body[:comma+1] + `ab"c` + body[comma+1:] + "\n"
			}
		}
	}
	if err := os.WriteFile(p, []byte(strings.Join(lines, "")), 0o644); err != nil {
		t.Fatal(err)
	}
}

// dump returns every row of the Bronze and quarantine tables of lk, in line
// order, one string per table.
func dump(t *testing.T, lk *lake.Lake, tables []string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, tb := range tables {
		for _, name := range []string{"bronze." + tb, "quarantine.bronze_" + tb} {
			var sb strings.Builder
			for _, r := range query(t, lk, "SELECT * FROM "+name+" ORDER BY _source_line") {
				sb.WriteString(strings.Join(r, "|"))
				sb.WriteByte('\n')
			}
			out[name] = sb.String()
		}
	}
	return out
}

// redone sums the chunks redone after a wrong guess, from the debug log.
func redone(t *testing.T, log []byte) (chunked, redone int) {
	t.Helper()
	sc := bufio.NewScanner(bytes.NewReader(log))
	for sc.Scan() {
		var e struct {
			Msg    string `json:"msg"`
			Redone int    `json:"redone"`
		}
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatal(err)
		}
		if e.Msg == "parsed in chunks" {
			chunked++
			redone += e.Redone
		}
	}
	return chunked, redone
}

// A file parsed in chunks gives the same Bronze and quarantine rows (values,
// lines, reasons, raw text) and the same accounting as the file parsed in one
// piece, whatever the chunk size, the number of parsers, and whether the
// split points are guessed well.
func TestChunkedIngestMatchesSerial(t *testing.T) {
	t.Parallel()
	src := chunkSource(t)
	now := func() time.Time { return time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC) }
	run := func(t *testing.T, opts Options) (*lake.Lake, map[string]TableResult, []byte) {
		t.Helper()
		var log bytes.Buffer
		opts.SourceDir, opts.RunID, opts.Now = src, "r1", now
		opts.Logger = slog.New(slog.NewJSONHandler(&log, &slog.HandlerOptions{Level: slog.LevelDebug}))
		lk := newLake(t)
		res, err := Run(context.Background(), lk, opts)
		if err != nil || res.Err() != nil {
			t.Fatal(err, res.Err())
		}
		return lk, byTable(res), log.Bytes()
	}
	serialLake, serial, _ := run(t, Options{ChunkBytes: -1})
	for _, name := range []string{"geolocation", "order_reviews", "order_items", "sellers"} {
		if serial[name].RowsQuarantined == 0 {
			t.Fatalf("%s: nothing quarantined: the damage did not take", name)
		}
	}
	var all []string
	for _, tb := range olist.Tables() {
		all = append(all, tb.Name)
	}
	want := dump(t, serialLake, all)

	tests := []struct {
		name       string
		tables     []string // nil: all
		chunkBytes int64
		workers    int
		blind      bool
		chunked    int  // files parsed in chunks
		redone     bool // some split points are wrong: verification must redo their chunks
	}{
		{name: "probed split points", chunkBytes: 3000, workers: 2, chunked: 6},
		{name: "blind split points", chunkBytes: 2048, workers: 3, blind: true, chunked: 7, redone: true},
		{name: "one parser", chunkBytes: 5000, workers: 1, chunked: 6},
		// Files of a few records: a record per chunk or less, a BOM, and an
		// unterminated quote that runs to the end of the file.
		{name: "tiny chunks", tables: []string{"sellers", "category_translation"}, chunkBytes: 100, workers: 2, chunked: 2},
		{name: "tiny blind chunks", tables: []string{"sellers", "category_translation"}, chunkBytes: 64, workers: 2, blind: true, chunked: 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			lk, res, log := run(t, Options{Tables: tc.tables, ChunkBytes: tc.chunkBytes, Workers: tc.workers, splitBlind: tc.blind})
			tables := tc.tables
			if tables == nil {
				tables = all
			}
			for _, name := range tables {
				r, s := res[name], serial[name]
				if r.RecordsRead != s.RecordsRead || r.RowsWritten != s.RowsWritten || r.RowsQuarantined != s.RowsQuarantined || r.BlankLines != s.BlankLines {
					t.Errorf("%s: read %d written %d quarantined %d blank %d, serially %d %d %d %d", name,
						r.RecordsRead, r.RowsWritten, r.RowsQuarantined, r.BlankLines, s.RecordsRead, s.RowsWritten, s.RowsQuarantined, s.BlankLines)
				}
			}
			got := dump(t, lk, tables)
			for name, g := range got {
				if g != want[name] {
					t.Errorf("%s differs from the serial ingest:\n%s", name, firstDiff(g, want[name]))
				}
			}
			if trimmed, padded := checkTrimmed(t, lk, tables); trimmed == 0 || (tc.tables == nil && padded == 0) {
				t.Errorf("%d Bronze file columns known trimmed, %d not: want both", trimmed, padded)
			}
			chunked, redone := redone(t, log)
			if chunked != tc.chunked {
				t.Errorf("%d files parsed in chunks, want %d", chunked, tc.chunked)
			}
			if tc.redone && redone == 0 {
				t.Errorf("no chunk redone with blind split points: the verification was not exercised")
			}
			t.Logf("%d files in chunks, %d chunks redone", chunked, redone)
			if tc.tables != nil {
				return
			}
			// A split file has a part per chunk; the gzip file has one.
			if m, err := lk.Manifest(lake.Bronze, "geolocation"); err != nil || len(m.Files) < 10 {
				t.Errorf("bronze.geolocation: %v (err %v), want a file per chunk", m, err)
			}
			if m, err := lk.Manifest(lake.Bronze, "orders"); err != nil || len(m.Files) != 1 || !strings.HasSuffix(m.Files[0].Path, "/"+serialPart) {
				t.Errorf("bronze.orders (gzip): %+v (err %v), want one %s", m, err, serialPart)
			}
		})
	}
}

// firstDiff shows the first line where got and want differ.
func firstDiff(got, want string) string {
	g, w := strings.Split(got, "\n"), strings.Split(want, "\n")
	for i := 0; i < max(len(g), len(w)); i++ {
		var gl, wl string
		if i < len(g) {
			gl = g[i]
		}
		if i < len(w) {
			wl = w[i]
		}
		if gl != wl {
			return fmt.Sprintf("row %d:\n got %q\nwant %q", i+1, gl, wl)
		}
	}
	return ""
}

// checkTrimmed compares each Bronze file's trimmed columns
// (lake.File.Trimmed) with its values: a string column is listed when none
// of its values begins or ends with anything but printable ASCII other than
// space. It returns how many file columns are listed and how many not.
func checkTrimmed(t *testing.T, lk *lake.Lake, tables []string) (trimmed, padded int) {
	t.Helper()
	ctx := context.Background()
	eng, err := engine.Open(ctx, lk, engine.Options{MemoryLimit: "512MB", Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer closeOK(t, eng)
	for _, name := range tables {
		m, err := lk.Manifest(lake.Bronze, name)
		if err != nil {
			t.Fatal(err)
		}
		var cols, counts []string
		for _, c := range m.Schema {
			if c.Type == "VARCHAR" && !strings.HasPrefix(c.Name, "_") {
				cols = append(cols, c.Name)
				counts = append(counts, fmt.Sprintf(`count(*) FILTER (WHERE %q <> '' AND NOT regexp_full_match(%q, '[!-~](?s:.*[!-~])?'))`, c.Name, c.Name))
			}
		}
		for _, f := range m.Files {
			vals := make([]int64, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			q := fmt.Sprintf("SELECT %s FROM read_parquet('%s')", strings.Join(counts, ", "), lk.Abs(f.Path))
			if err := eng.DB().QueryRowContext(ctx, q).Scan(ptrs...); err != nil {
				t.Fatalf("%s: %v", q, err)
			}
			for i, c := range cols {
				if listed := slices.Contains(f.Trimmed, c); listed == (vals[i] > 0) {
					t.Errorf("%s: column %s listed trimmed %v, but %d of its values would change with trim()", f.Path, c, listed, vals[i])
				}
				if vals[i] > 0 {
					padded++
				} else {
					trimmed++
				}
			}
		}
	}
	return trimmed, padded
}

// TestTrimmedColumns: a file's trimmed columns (lake.File.Trimmed) are those
// of the values it holds: a padded value leaves its column out, one in a
// record that is quarantined (a later field does not fit) does not.
func TestTrimmedColumns(t *testing.T) {
	t.Parallel()
	const orders = "olist_orders_dataset.csv"
	for _, tc := range []struct {
		name, line string
		want       []string // trimmed columns of bronze.orders' file
	}{
		{"padded order_id", " aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa1,c1,delivered,2017-10-02 10:56:33,,,,2017-10-18 00:00:00",
			[]string{"customer_id", "order_status"}},
		{"NBSP after the status", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa2,c2,delivered\u00a0,2017-10-02 10:56:33,,,,2017-10-18 00:00:00",
			[]string{"order_id", "customer_id"}},
		{"quarantined record", " aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa3,c3 ,delivered,yesterday,,,,2017-10-18 00:00:00",
			[]string{"order_id", "customer_id", "order_status"}},
		{"empty quoted customer", `aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa4,"",delivered,2017-10-02 10:56:33,,,,2017-10-18 00:00:00`,
			[]string{"order_id", "customer_id", "order_status"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			src := copyValid(t)
			f, err := os.OpenFile(filepath.Join(src, orders), os.O_APPEND|os.O_WRONLY, 0)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := f.WriteString(tc.line + "\n"); err != nil {
				t.Fatal(err)
			}
			closeOK(t, f)
			lk := newLake(t)
			res, err := Run(context.Background(), lk, Options{SourceDir: src, RunID: "r1", Tables: []string{"orders"}})
			if err != nil || res.Err() != nil {
				t.Fatal(err, res.Err())
			}
			m, err := lk.Manifest(lake.Bronze, "orders")
			if err != nil {
				t.Fatal(err)
			}
			if len(m.Files) != 1 || !slices.Equal(m.Files[0].Trimmed, tc.want) {
				t.Fatalf("trimmed columns %v, want %v", m.Files[0].Trimmed, tc.want)
			}
			checkTrimmed(t, lk, []string{"orders"})
		})
	}
}
