package engine

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/keystone/nexus/internal/lake"
)

func TestQueryFormats(t *testing.T) {
	t.Parallel()
	eng, err := Open(context.Background(), nil, Options{Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	res, err := eng.Query(context.Background(), `SELECT 'b' AS zeta, 58.90::DECIMAL(12,2) AS price, DATE '2017-10-15' AS d,
		TIMESTAMP '2017-10-15 03:30:00' AS ts, NULL::VARCHAR AS missing, 'x,"y"' AS quoted,
		[{'reason': 'price (-5.00) is not >= 0 & <x>'}] AS failures`)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct{ format, want string }{
		// Text stays as written in JSON: "is not >= 0", not "\u003e= 0".
		{"csv", "zeta,price,d,ts,missing,quoted,failures\nb,58.90,2017-10-15,2017-10-15 03:30:00,,\"x,\"\"y\"\"\",\"[{\"\"reason\"\":\"\"price (-5.00) is not >= 0 & <x>\"\"}]\"\n"},
		{"json", `[
  {"zeta": "b", "price": 58.90, "d": "2017-10-15", "ts": "2017-10-15 03:30:00", "missing": null, "quoted": "x,\"y\"", "failures": [{"reason":"price (-5.00) is not >= 0 & <x>"}]}
]
`},
	}
	for _, tc := range tests {
		var sb strings.Builder
		if err := res.Write(&sb, tc.format); err != nil {
			t.Fatal(err)
		}
		if sb.String() != tc.want {
			t.Errorf("%s:\n got %q\nwant %q", tc.format, sb.String(), tc.want)
		}
		if tc.format == "json" {
			var v []map[string]any
			if err := json.Unmarshal([]byte(sb.String()), &v); err != nil {
				t.Errorf("json output does not parse: %v", err)
			}
		}
	}
	var sb strings.Builder
	if err := res.Write(&sb, "table"); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(sb.String(), "NULL") || !strings.Contains(sb.String(), "58.90") || !strings.HasSuffix(sb.String(), "(1 row)\n") {
		t.Errorf("table output:\n%s", sb.String())
	}
	if err := res.Write(&sb, "xml"); err == nil {
		t.Error("unknown format accepted")
	}
}

// TestNestedValues: lists and structs (a quarantine's failures column) print
// as JSON text in csv and table, never as Go map syntax, and stay structured
// in json; the record view prints long texts whole.
func TestNestedValues(t *testing.T) {
	t.Parallel()
	eng, err := Open(context.Background(), nil, Options{Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	long := strings.Repeat("x", 150)
	res, err := eng.Query(context.Background(), `SELECT [{'check_id': 'a', 'reason': '`+long+`', 'quarantine': true}] AS failures,
		{'price': 1.50::DECIMAL(12,2), 'n': 2} AS s, MAP {'k': 1} AS m`)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		format string
		want   []string
	}{
		{"csv", []string{`"[{""check_id"":""a"",""quarantine"":true,""reason"":""` + long + `""}]"`, `"{""n"":2,""price"":1.50}"`, `"{""k"":1}"`}},
		{"table", []string{`[{"check_id":"a","quarantine":true,`}},
		{"json", []string{`"failures": [{"check_id":"a","quarantine":true,"reason":"` + long + `"}]`, `"s": {"n":2,"price":1.50}`}},
		{"records", []string{`failures  [{"check_id":"a","quarantine":true,"reason":"` + long + `"}]`, "-[ row 1 ]", "(1 row)"}},
	}
	for _, tc := range tests {
		var sb strings.Builder
		if tc.format == "records" {
			err = res.WriteRecords(&sb)
		} else {
			err = res.Write(&sb, tc.format)
		}
		if err != nil {
			t.Fatal(err)
		}
		out := sb.String()
		if strings.Contains(out, "map[") {
			t.Errorf("%s prints Go map syntax:\n%s", tc.format, out)
		}
		for _, w := range tc.want {
			if !strings.Contains(out, w) {
				t.Errorf("%s lacks %s:\n%s", tc.format, w, out)
			}
		}
	}
}

// The threads at work (one caller per connection plus the pool's threads but
// one) never outnumber the cores, and there is always one.
func TestDefaultThreads(t *testing.T) {
	for _, tc := range []struct{ cores, conns, want int }{
		{1, 1, 1},
		{2, 1, 2},
		{2, 2, 1},
		{2, 8, 1},
		{8, 2, 7},
		{16, 4, 13},
	} {
		if got := defaultThreads(tc.cores, tc.conns); got != tc.want {
			t.Errorf("defaultThreads(%d cores, %d conns) = %d, want %d", tc.cores, tc.conns, got, tc.want)
		}
	}
}

// Automatic threads: one per connection, every core while a caller works
// wide (nested callers restore once the last is done); the pool is DuckDB's,
// global, so every connection sees the size. Fixed threads never move.
func TestWideThreads(t *testing.T) {
	ctx := context.Background()
	e, err := Open(ctx, nil, Options{Conns: 2, TempDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	if e.share == nil {
		t.Fatal("2 connections and no fixed threads: want automatic threads")
	}
	e.share.cores = 4
	threads := func(e *Engine) int {
		t.Helper()
		var n int
		if err := e.DB().QueryRowContext(ctx, "SELECT current_setting('threads')").Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	step := func(e *Engine, want int) {
		t.Helper()
		if got := threads(e); got != want {
			t.Errorf("threads = %d, want %d", got, want)
		}
	}
	narrow := defaultThreads(runtime.GOMAXPROCS(0), 2)
	step(e, narrow)
	r1, err := e.Wide(ctx)
	if err != nil {
		t.Fatal(err)
	}
	step(e, 4)
	r2, err := e.Wide(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := r1(); err != nil {
		t.Fatal(err)
	}
	step(e, 4)
	if err := r2(); err != nil {
		t.Fatal(err)
	}
	step(e, narrow)

	fixed, err := Open(ctx, nil, Options{Conns: 2, Threads: 1, TempDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer fixed.Close()
	rel, err := fixed.Wide(ctx)
	if err != nil {
		t.Fatal(err)
	}
	step(fixed, 1)
	if err := rel(); err != nil {
		t.Fatal(err)
	}
}

// At debug level every statement is logged with its time, a query once its
// rows are closed; at any other level the driver is not wrapped at all.
func TestTraceStatements(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		level slog.Level
		want  []string
	}{
		{slog.LevelDebug, []string{`msg="duckdb statement"`, `sql="CREATE TABLE t AS SELECT 42 AS answer"`, `sql="SELECT answer FROM t"`, "ms="}},
		{slog.LevelInfo, nil},
	} {
		var buf bytes.Buffer
		log := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: tc.level}))
		e, err := Open(ctx, nil, Options{TempDir: t.TempDir(), Trace: log})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.DB().ExecContext(ctx, "CREATE TABLE t AS\n   SELECT 42 AS answer"); err != nil {
			t.Fatal(err)
		}
		var n int
		if err := e.DB().QueryRowContext(ctx, "SELECT answer FROM t").Scan(&n); err != nil || n != 42 {
			t.Fatalf("query through the trace: %d, %v", n, err)
		}
		e.Close()
		for _, w := range tc.want {
			if !strings.Contains(buf.String(), w) {
				t.Errorf("level %v: log lacks %s:\n%s", tc.level, w, buf.String())
			}
		}
		if tc.want == nil && buf.Len() > 0 {
			t.Errorf("level %v: logged %s", tc.level, buf.String())
		}
	}
}

// TestUpdate: after tables gain versions, Update re-points their views and
// leaves the others' as they are.
func TestUpdate(t *testing.T) {
	ctx := context.Background()
	lk, err := lake.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	bare, err := Open(ctx, nil, Options{Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer bare.Close()
	publish := func(table string, v int) {
		t.Helper()
		st, err := lk.Stage(lake.Bronze, table, fmt.Sprintf("r%d", v))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := bare.DB().ExecContext(ctx, fmt.Sprintf("COPY (SELECT %d AS a) TO %s", v, Literal(filepath.Join(st.Dir(), "part-0.parquet")))); err != nil {
			t.Fatal(err)
		}
		if _, err := st.Publish(lake.Manifest{Schema: []lake.Column{{Name: "a", Type: "INTEGER"}}}, map[string]int64{"part-0.parquet": 1}); err != nil {
			t.Fatal(err)
		}
	}
	publish("t", 1)
	publish("u", 1)
	eng, err := Open(ctx, lk, Options{Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	publish("t", 2)
	publish("v", 3)
	read := func(table string) string {
		t.Helper()
		var a string
		if err := eng.DB().QueryRowContext(ctx, "SELECT CAST(a AS VARCHAR) FROM bronze."+table).Scan(&a); err != nil {
			return err.Error()
		}
		return a
	}
	if got := read("t"); got != "1" {
		t.Fatalf("before Update, bronze.t reads %s, want its first version's 1", got)
	}
	if err := eng.Update(ctx); err != nil {
		t.Fatal(err)
	}
	for table, want := range map[string]string{"t": "2", "u": "1", "v": "3"} {
		if got := read(table); got != want {
			t.Errorf("after Update, bronze.%s reads %s, want %s", table, got, want)
		}
	}
	versions := map[string]int64{}
	for _, m := range eng.Tables() {
		versions[m.Name()] = m.Version
	}
	if versions["bronze.t"] != 2 || versions["bronze.u"] != 1 || versions["bronze.v"] != 1 || len(versions) != 3 {
		t.Errorf("registered versions %v, want bronze.t 2, bronze.u 1, bronze.v 1", versions)
	}
}

// A published version that reads the same files as the registered one
// keeps its view (no statement); one with other files gets a new view.
func TestRegisterKeepsSameView(t *testing.T) {
	ctx := context.Background()
	lk, err := lake.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	var trace bytes.Buffer
	eng, err := Open(ctx, lk, Options{Threads: 1, Trace: slog.New(slog.NewTextHandler(&trace, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	publish := func(run string, carry []lake.File, value int) *lake.Manifest {
		t.Helper()
		st, err := lk.Stage(lake.Bronze, "t", run)
		if err != nil {
			t.Fatal(err)
		}
		st.Carry(carry...)
		rows := map[string]int64{}
		if value > 0 {
			if _, err := eng.DB().ExecContext(ctx, fmt.Sprintf("COPY (SELECT %d AS a) TO %s", value, Literal(filepath.Join(st.Dir(), "part-0.parquet")))); err != nil {
				t.Fatal(err)
			}
			rows["part-0.parquet"] = 1
		}
		m, err := st.Publish(lake.Manifest{Schema: []lake.Column{{Name: "a", Type: "INTEGER"}}}, rows)
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	views := func() int { return strings.Count(trace.String(), `CREATE OR REPLACE VIEW \"bronze\".\"t\"`) }
	read := func() string {
		t.Helper()
		var a string
		if err := eng.DB().QueryRowContext(ctx, "SELECT string_agg(CAST(a AS VARCHAR), ',' ORDER BY a) FROM bronze.t").Scan(&a); err != nil {
			t.Fatal(err)
		}
		return a
	}
	v1 := publish("r1", nil, 1)
	for _, step := range []struct {
		name  string
		m     *lake.Manifest
		views int // views of bronze.t created so far
		reads string
	}{
		{"first version", v1, 1, "1"},
		{"same files carried", publish("r2", v1.Files, 0), 1, "1"},
		{"a file added", publish("r3", v1.Files, 3), 2, "1,3"},
	} {
		if err := eng.Register(ctx, step.m); err != nil {
			t.Fatal(err)
		}
		if got := views(); got != step.views {
			t.Errorf("%s: %d views of bronze.t created, want %d", step.name, got, step.views)
		}
		if got := read(); got != step.reads {
			t.Errorf("%s: bronze.t reads %s, want %s", step.name, got, step.reads)
		}
		for _, m := range eng.Tables() {
			if m.Name() == "bronze.t" && m.Version != step.m.Version {
				t.Errorf("%s: registered version %d, want %d", step.name, m.Version, step.m.Version)
			}
		}
	}
	// The files of a version that keeps its view are still verified: one
	// gone makes the table damaged, with what is wrong.
	last := eng.Tables()[0]
	gone := publish("r4", last.Files, 0)
	if err := os.Remove(filepath.Join(lk.Root, filepath.FromSlash(last.Files[0].Path))); err != nil {
		t.Fatal(err)
	}
	if err := eng.Register(ctx, gone); err != nil {
		t.Fatal(err)
	}
	if _, bad := eng.Damaged()["bronze.t"]; !bad {
		t.Error("a carried file removed: bronze.t is not reported damaged")
	}
	var a int
	if err := eng.DB().QueryRowContext(ctx, "SELECT count(*) FROM bronze.t").Scan(&a); !eng.IsDamaged(err) {
		t.Errorf("a carried file removed: reading bronze.t gives %v, want the damaged table's error", err)
	}
}
