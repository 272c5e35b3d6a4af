package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/keystone/nexus/internal/laketest"
)

// nexusBin is the binary under test, built once by TestMain.
var nexusBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "nexus-e2e")
	if err != nil {
		panic(err)
	}
	nexusBin = filepath.Join(dir, "nexus")
	build := exec.Command("go", "build", "-o", nexusBin, ".")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		panic("build nexus: " + err.Error())
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// nexus runs the binary in dir and returns stdout; it fails the test on a
// non-zero exit unless wantFail.
func nexus(t *testing.T, dir string, wantFail bool, args ...string) string {
	t.Helper()
	cmd := exec.Command(nexusBin, args...)
	cmd.Dir = dir
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if (err != nil) != wantFail {
		t.Fatalf("nexus %s: err=%v\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), err, out.String(), errb.String())
	}
	return out.String() + errb.String()
}

// served is a `nexus serve` of the binary under test.
type served struct {
	base      string // http://127.0.0.1:port
	out, errb bytes.Buffer
	stop      func() // SIGINT; the test fails unless it exits cleanly (also run at cleanup)
}

// startServe runs `nexus serve` on lakeDir and waits until /healthz answers.
// A prefix runs it through a command (readOnlyPrefix: as another user).
func startServe(t *testing.T, lakeDir string, prefix ...string) *served {
	t.Helper()
	return startServeArgs(t, []string{"--lake", lakeDir}, prefix...)
}

// startServeArgs is startServe with the lake's flags given (a lake on S3
// takes more than --lake).
func startServeArgs(t *testing.T, lakeArgs []string, prefix ...string) *served {
	t.Helper()
	addr := freePort(t)
	s := &served{base: "http://" + addr}
	full := append(append(append(append([]string{}, prefix...), nexusBin), lakeArgs...), "--log-level", "info", "serve", "--addr", addr)
	srv := exec.Command(full[0], full[1:]...)
	if len(prefix) > 0 {
		srv.Env = append(os.Environ(), "HOME="+os.TempDir())
	}
	srv.Stdout, srv.Stderr = &s.out, &s.errb
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- srv.Wait() }()
	stopped := false
	s.stop = func() {
		if stopped {
			return
		}
		stopped = true
		_ = srv.Process.Signal(syscall.SIGINT)
		select {
		case err := <-exited:
			if err != nil {
				t.Errorf("nexus serve did not exit cleanly on SIGINT: %v\nstdout:\n%s\nstderr:\n%s", err, s.out.String(), s.errb.String())
			}
		case <-time.After(15 * time.Second):
			_ = srv.Process.Kill()
			t.Errorf("nexus serve did not stop within 15s of SIGINT")
		}
	}
	t.Cleanup(s.stop)
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(s.base + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return s
			}
		}
		select {
		case err := <-exited:
			t.Fatalf("nexus serve exited: %v\nstdout:\n%s\nstderr:\n%s", err, s.out.String(), s.errb.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("nexus serve not healthy after 30s\nstdout:\n%s\nstderr:\n%s", s.out.String(), s.errb.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func queryJSON(t *testing.T, dir, sql string) []map[string]any {
	t.Helper()
	out := nexus(t, dir, false, "query", "--format", "json", sql)
	var rows []map[string]any
	if err := json.Unmarshal([]byte(out), &rows); err != nil {
		t.Fatalf("query output is not JSON: %v\n%s", err, out)
	}
	return rows
}

// generatedRows reads the row counts the generator reports in _generator.json.
func generatedRows(t *testing.T, dir string) map[string]float64 {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "_generator.json"))
	if err != nil {
		t.Fatal(err)
	}
	var meta struct {
		Files []struct {
			Table string  `json:"table"`
			Rows  float64 `json:"rows"`
		} `json:"files"`
	}
	if err := json.Unmarshal(b, &meta); err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, f := range meta.Files {
		out[f.Table] = f.Rows
	}
	if len(out) != 9 {
		t.Fatalf("_generator.json lists %d tables: %s", len(out), b)
	}
	return out
}

func TestDemoEndToEnd(t *testing.T) {
	dir := t.TempDir()
	out := nexus(t, dir, false, "demo", "--scale", "0.01")
	if !strings.Contains(out, "bronze.orders") || !strings.Contains(out, "succeeded") {
		t.Fatalf("demo summary lacks the expected lines:\n%s", out)
	}
	// Its suggestions run as they are: the default lake needs no --lake.
	if !strings.Contains(out, "Try:\n  nexus tables\n") {
		t.Errorf("demo suggests other commands than nexus tables on its lake:\n%s", out)
	}
	want := generatedRows(t, filepath.Join(dir, "data", "generated"))
	for table, rows := range want {
		got := queryJSON(t, dir, "SELECT count(*) AS n FROM bronze."+table)
		if got[0]["n"].(float64) != rows {
			t.Errorf("bronze.%s has %v rows, generator wrote %v", table, got[0]["n"], rows)
		}
	}
	q := queryJSON(t, dir, "SELECT (SELECT count(*) FROM quarantine.bronze_orders) + (SELECT count(*) FROM quarantine.bronze_order_reviews) AS rejects")
	if q[0]["rejects"].(float64) != 0 {
		t.Errorf("generated data has %v format rejects", q[0]["rejects"])
	}
	// Re-running does nothing and says so.
	again := nexus(t, dir, false, "demo", "--scale", "0.01")
	if !strings.Contains(again, "nothing to do") {
		t.Errorf("second demo did work:\n%s", again)
	}
	tables := nexus(t, dir, false, "tables")
	if !strings.Contains(tables, "bronze.geolocation") {
		t.Errorf("tables output:\n%s", tables)
	}
	csvOut := nexus(t, dir, false, "query", "--format", "csv", "SELECT order_status FROM bronze.orders WHERE false")
	if strings.TrimSpace(csvOut) != "order_status" {
		t.Errorf("csv header-only output = %q", csvOut)
	}
	bad := nexus(t, dir, true, "query", "SELECT nope FROM bronze.orders")
	if !strings.Contains(bad, "nope") {
		t.Errorf("bad query error = %q", bad)
	}
}

// TestCrashMidIngest kills nexus while it writes a new version and checks that
// the published version stays readable, and that a re-run completes with no
// duplicates and cleans the orphaned files.
func TestCrashMidIngest(t *testing.T) {
	dir := t.TempDir()
	nexus(t, dir, false, "generate", "--out", "src", "--scale", "0.3", "--seed", "7")
	nexus(t, dir, false, "ingest", "--source", "src")
	want := generatedRows(t, filepath.Join(dir, "src"))
	for attempt := 0; ; attempt++ {
		cmd := exec.Command(nexusBin, "ingest", "--source", "src", "--force")
		cmd.Dir = dir
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		// Kill as soon as a second version of the biggest table is being written.
		deadline := time.Now().Add(30 * time.Second)
		killed := false
		for time.Now().Before(deadline) {
			if m, _ := filepath.Glob(filepath.Join(dir, "lake", "bronze", "geolocation", "v000002-*", "*.parquet")); len(m) > 0 {
				cmd.Process.Signal(syscall.SIGKILL)
				killed = true
				break
			}
			time.Sleep(2 * time.Millisecond)
		}
		err := cmd.Wait()
		if killed && err != nil {
			break
		}
		if attempt == 3 {
			t.Fatalf("could not kill ingest mid-write (killed=%v err=%v)", killed, err)
		}
		// It finished before the kill: start over from version 1.
		os.RemoveAll(filepath.Join(dir, "lake"))
		nexus(t, dir, false, "ingest", "--source", "src")
	}
	// The published version of every table is still readable and complete.
	for table, rows := range want {
		got := queryJSON(t, dir, "SELECT count(*) AS n FROM bronze."+table)
		if got[0]["n"].(float64) != rows {
			t.Errorf("after crash: bronze.%s has %v rows, want %v", table, got[0]["n"], rows)
		}
	}
	nexus(t, dir, false, "ingest", "--source", "src", "--force")
	for table, rows := range want {
		got := queryJSON(t, dir, "SELECT count(*) AS n, count(DISTINCT _ingest_run_id) AS runs FROM bronze."+table)
		if got[0]["n"].(float64) != rows || got[0]["runs"].(float64) != 1 {
			t.Errorf("after re-run: bronze.%s = %v, want %v rows from one run", table, got[0], rows)
		}
	}
	versions, _ := filepath.Glob(filepath.Join(dir, "lake", "bronze", "geolocation", "v*"))
	if len(versions) > 2 {
		t.Errorf("orphaned versions left after re-run: %v", versions)
	}
}

// generate writes into a directory only when nothing is lost: the same data
// set is skipped, anything else needs --force.
func TestGenerateDoesNotOverwrite(t *testing.T) {
	dir := t.TempDir()
	seedOf := func() float64 {
		t.Helper()
		b, err := os.ReadFile(filepath.Join(dir, "src", "_generator.json"))
		if err != nil {
			t.Fatal(err)
		}
		var meta struct {
			Seed float64 `json:"seed"`
		}
		if err := json.Unmarshal(b, &meta); err != nil {
			t.Fatal(err)
		}
		return meta.Seed
	}
	nexus(t, dir, false, "generate", "--out", "src", "--scale", "0.01", "--seed", "1")
	same := nexus(t, dir, false, "generate", "--out", "src", "--scale", "0.01", "--seed", "1")
	if !strings.Contains(same, "already holds this data set") {
		t.Errorf("same data set again:\n%s", same)
	}
	other := nexus(t, dir, true, "generate", "--out", "src", "--scale", "0.01", "--seed", "2")
	if !strings.Contains(other, "another generated data set (scale 0.01, seed 1)") || !strings.Contains(other, "--force") {
		t.Errorf("another seed without --force:\n%s", other)
	}
	if s := seedOf(); s != 1 {
		t.Fatalf("data set overwritten without --force: seed %v", s)
	}
	nexus(t, dir, false, "generate", "--out", "src", "--scale", "0.01", "--seed", "2", "--force")
	if s := seedOf(); s != 2 {
		t.Fatalf("--force did not replace the data set: seed %v", s)
	}
	// Olist files the generator did not write (real data) are never replaced
	// without --force, by generate or by demo.
	if err := os.Remove(filepath.Join(dir, "src", "_generator.json")); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"generate", "--out", "src", "--scale", "0.01", "--seed", "2"},
		{"demo", "--out", "src", "--scale", "0.01", "--seed", "2"},
	} {
		out := nexus(t, dir, true, args...)
		if !strings.Contains(out, "Olist files that the generator did not write") {
			t.Errorf("nexus %s over real files:\n%s", args[0], out)
		}
	}
}

// generate --daily-from writes a landing zone, with the same rules: the same
// one is skipped, another one (or a flat data set there) needs --force, and
// a flat data set and a landing zone never share a directory.
func TestGenerateDailyLandingZone(t *testing.T) {
	dir := t.TempDir()
	daily := []string{"generate", "--out", "lz", "--scale", "0.01", "--seed", "1", "--daily-from", "2018-06-01"}
	out := nexus(t, dir, false, daily...)
	if !strings.Contains(out, "landing zone lz: base batch dt=2018-05-31, then ") || !strings.Contains(out, "olist_orders_dataset.csv") {
		t.Errorf("generate --daily-from:\n%s", out)
	}
	if _, err := os.Stat(filepath.Join(dir, "lz", "dt=2018-06-01", "olist_orders_dataset.csv")); err != nil {
		t.Error(err)
	}
	if same := nexus(t, dir, false, daily...); !strings.Contains(same, "already holds this landing zone") {
		t.Errorf("same landing zone again:\n%s", same)
	}
	other := nexus(t, dir, true, "generate", "--out", "lz", "--scale", "0.01", "--seed", "1", "--daily-from", "2018-07-01")
	if !strings.Contains(other, "another generated landing zone (scale 0.01, seed 1, daily from 2018-06-01)") || !strings.Contains(other, "--force") {
		t.Errorf("another daily-from without --force:\n%s", other)
	}
	if bad := nexus(t, dir, true, "generate", "--out", "lz2", "--daily-from", "2018-02-30"); !strings.Contains(bad, "--daily-from must be a date YYYY-MM-DD") {
		t.Errorf("an impossible date:\n%s", bad)
	}
	nexus(t, dir, false, "generate", "--out", "lz", "--scale", "0.01", "--seed", "1", "--force")
	if drops, _ := filepath.Glob(filepath.Join(dir, "lz", "dt=*")); len(drops) != 0 {
		t.Errorf("a flat data set written over a landing zone left %d dt= folders", len(drops))
	}
	nexus(t, dir, false, append(daily, "--force")...)
	if flat, _ := filepath.Glob(filepath.Join(dir, "lz", "*.csv")); len(flat) != 0 {
		t.Errorf("a landing zone written over a flat data set left %v", flat)
	}
}

// Source files that are not the expected CSV fail at once and clearly, each
// failure is printed once, and the content of a foreign file is not echoed.
func TestIngestBadSourceFiles(t *testing.T) {
	dir := t.TempDir()
	nexus(t, dir, false, "generate", "--out", "src", "--scale", "0.01", "--seed", "3")
	secret := filepath.Join(dir, "passwd")
	if err := os.WriteFile(secret, []byte("root:x:0:0:root:/root:/bin/bash\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for file, target := range map[string]string{"olist_sellers_dataset.csv": "/dev/zero", "olist_customers_dataset.csv": secret} {
		p := filepath.Join(dir, "src", file)
		if err := os.Remove(p); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(target, p); err != nil {
			t.Fatal(err)
		}
	}
	out := nexus(t, dir, true, "ingest", "--source", "src", "--table", "sellers", "--table", "customers")
	for _, want := range []string{"symbolic link to /dev/zero, a character device, not a regular file", "line 1 is not the header of olist_customers_dataset.csv"} {
		if n := strings.Count(out, want); n != 1 {
			t.Errorf("%q printed %d times, want once:\n%s", want, n, out)
		}
	}
	if strings.Contains(out, "root:") {
		t.Errorf("the content of a foreign file is echoed:\n%s", out)
	}
}

// quarantine show --limit says how many rows there are in all.
func TestQuarantineShowLimit(t *testing.T) {
	dir := t.TempDir()
	nexus(t, dir, false, "generate", "--out", "src", "--scale", "0.01", "--seed", "4")
	// Three sellers with a stray NUL: each is quarantined, the table ingested.
	p := filepath.Join(dir, "src", "olist_sellers_dataset.csv")
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitAfter(string(b), "\n")
	for i := 1; i <= 3; i++ {
		lines[i] = strings.Replace(lines[i], ",", ",\x00", 1)
	}
	if err := os.WriteFile(p, []byte(strings.Join(lines, "")), 0o644); err != nil {
		t.Fatal(err)
	}
	nexus(t, dir, false, "ingest", "--source", "src", "--table", "sellers")
	rows := queryJSON(t, dir, "SELECT error_type, column_name FROM quarantine.bronze_sellers")
	if len(rows) != 3 || rows[0]["error_type"] != "NUL BYTE" || rows[0]["column_name"] != "seller_zip_code_prefix" {
		t.Fatalf("quarantined sellers: %v", rows)
	}
	out := nexus(t, dir, false, "quarantine", "show", "bronze_sellers", "--limit", "2")
	if !strings.Contains(out, "showing 2 of 3 rows") {
		t.Errorf("quarantine show --limit 2:\n%s", out)
	}
	cmd := exec.Command(nexusBin, "quarantine", "show", "bronze_sellers", "--limit", "2", "--format", "json")
	cmd.Dir = dir
	js, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	var shown []map[string]any
	if err := json.Unmarshal(js, &shown); err != nil || len(shown) != 2 {
		t.Errorf("JSON output is not 2 rows (%v):\n%s", err, js)
	}
	if all := nexus(t, dir, false, "quarantine", "show", "bronze_sellers", "--limit", "3"); strings.Contains(all, "showing") {
		t.Errorf("every row shown, yet a note:\n%s", all)
	}
	// --check takes what quarantine list prints (an error type has a space);
	// one that matches nothing says what the rows did fail.
	for _, c := range []struct{ check, want string }{
		{"NUL BYTE", "(3 rows)"},
		{" nul byte", "(3 rows)"},
		{"NUL", `no row of quarantine.bronze_sellers failed "NUL"; its rows failed: NUL BYTE (3)`},
	} {
		if out := nexus(t, dir, false, "quarantine", "show", "bronze_sellers", "--check", c.check, "--format", "table", "--limit", "0"); !strings.Contains(out, c.want) {
			t.Errorf("quarantine show --check %q: want %q in:\n%s", c.check, c.want, out)
		}
	}
	// In JSON the rows stay parseable: the note goes to stderr.
	cmd = exec.Command(nexusBin, "quarantine", "show", "bronze_sellers", "--check", "NUL", "--format", "json")
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if js, err := cmd.Output(); err != nil || strings.TrimSpace(string(js)) != "[]" || !strings.Contains(stderr.String(), `failed "NUL"; its rows failed: NUL BYTE (3)`) {
		t.Errorf("--check NUL --format json: %v, stdout %q, stderr %q", err, js, stderr.String())
	}
}

// An empty quarantine is said in a sentence naming the quarantine, the
// snapshot and what it means, not a bare "(0 rows)"; in CSV and JSON the
// output keeps its shape (a header, an empty list) and the sentence goes to
// stderr.
func TestQuarantineShowEmpty(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	nexus(t, dir, false, "generate", "--out", "src", "--scale", "0.01", "--seed", "4")
	nexus(t, dir, false, "ingest", "--source", "src", "--table", "sellers")
	const sentence = "quarantine.bronze_sellers has no quarantined rows in snapshot 1: Bronze parsed every source record of bronze.sellers\n"
	for _, tc := range []struct {
		format         string
		stdout, stderr string
	}{
		{"table", sentence, ""},
		{"json", "[]\n", sentence},
		{"csv", "_source_file,_source_line,", sentence},
	} {
		for _, name := range []string{"bronze_sellers", "bronze.sellers"} {
			cmd := exec.Command(nexusBin, "quarantine", "show", name, "--format", tc.format)
			cmd.Dir = dir
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			out, err := cmd.Output()
			if err != nil || !strings.HasPrefix(string(out), tc.stdout) || stderr.String() != tc.stderr || strings.Contains(string(out), "(0 rows)") {
				t.Errorf("quarantine show %s --format %s: %v\nstdout %q, want it to start with %q\nstderr %q, want %q", name, tc.format, err, out, tc.stdout, stderr.String(), tc.stderr)
			}
			if tc.format == "json" {
				var rows []map[string]any
				if err := json.Unmarshal(out, &rows); err != nil || rows == nil || len(rows) != 0 {
					t.Errorf("--format json: %v %v, want an empty list", rows, err)
				}
			}
		}
	}
}

// TestFailedRunNamesItsRun: a run that fails before its summary (a bad
// project model) names its run id, and the run record of that id says why.
func TestFailedRunNamesItsRun(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "project", "models", "gold"), 0o755); err != nil {
		t.Fatal(err)
	}
	bad := "-- description: Probe.\n-- incremental: month\n-- incremental_expr: gold.dim_date: month\nSELECT 1 AS month FROM ref('gold.fact_sales')\n"
	if err := os.WriteFile(filepath.Join(dir, "project", "models", "gold", "zz.sql"), []byte(bad), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "src"), 0o755); err != nil {
		t.Fatal(err)
	}
	out := nexus(t, dir, true, "--lake", "lake", "run", "--source", "src", "--project", "project", "--no-reports")
	m := regexp.MustCompile(`error: run (\d{8}T\d{6}Z-[0-9a-f]+): .*zz\.sql:3: incremental_expr names gold\.dim_date`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("the failure does not name its run:\n%s", out)
	}
	b, err := os.ReadFile(filepath.Join(dir, "lake", "_nexus", "runs", m[1]+".json"))
	if err != nil {
		t.Fatal(err)
	}
	var rec struct{ Status, Error string }
	if err := json.Unmarshal(b, &rec); err != nil {
		t.Fatal(err)
	}
	if rec.Status != "failed" || !strings.Contains(rec.Error, "zz.sql:3: incremental_expr names gold.dim_date") {
		t.Errorf("run record %s: status %q, error %q", m[1], rec.Status, rec.Error)
	}
}

// A drop's summary tells the verdicts of the tables it did not judge
// (unchanged: not checked again), so that their warnings do not seem gone;
// a full run judged every table and says nothing of the kind.
func TestDropSummaryTellsEarlierVerdicts(t *testing.T) {
	dir := t.TempDir()
	nexus(t, dir, false, "generate", "--out", "lz", "--scale", "0.01", "--seed", "2", "--daily-from", "2018-08-20")
	drops, err := filepath.Glob(filepath.Join(dir, "lz", "dt=*"))
	if err != nil || len(drops) < 2 {
		t.Fatalf("drops %v (err %v)", drops, err)
	}
	if err := os.Mkdir(filepath.Join(dir, "arrivals"), 0o755); err != nil {
		t.Fatal(err)
	}
	const line = "not judged in this run (unchanged): "
	for i, d := range drops[:2] {
		if err := os.Symlink(d, filepath.Join(dir, "arrivals", filepath.Base(d))); err != nil {
			t.Fatal(err)
		}
		out := nexus(t, dir, false, "--lake", "lake", "run", "--no-reports", "--source", "arrivals")
		_, rest, found := strings.Cut(out, line)
		if i == 0 {
			if found {
				t.Errorf("the full run judged every table, yet:\n%s", out)
			}
			continue
		}
		var tables, checks, fails, warns int
		if _, err := fmt.Sscanf(rest, "%d table(s) keep the verdicts of earlier runs: %d checks, %d failed, %d warnings", &tables, &checks, &fails, &warns); err != nil || tables == 0 || checks < tables {
			t.Errorf("drop %s: %q in\n%s (err %v)", filepath.Base(d), line, out, err)
		}
	}
}

// A report or the docs whose --out cannot be made say so, as their output
// directory, before their work; a command refused for its lake leaves no
// --out behind.
func TestReportOutUnwritable(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "file"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	nexus(t, dir, false, "generate", "--out", "src", "--scale", "0.01")
	nexus(t, dir, false, "ingest", "--source", "src", "--table", "sellers")
	for _, args := range [][]string{{"report", "quality"}, {"report", "dashboard"}, {"report", "charts"}, {"report", "deck"}, {"docs"}} {
		out := nexus(t, dir, true, append(args, "--out", filepath.Join("file", "sub"))...)
		if want := "error: output directory (--out): mkdir file: not a directory"; !strings.Contains(out, want) {
			t.Errorf("%s: want %q in:\n%s", strings.Join(args, " "), want, out)
		}
		nexus(t, dir, true, append([]string{"--lake", "nolake"}, append(args, "--out", "refused")...)...)
		if _, err := os.Stat(filepath.Join(dir, "refused")); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s refused for its lake left its --out (%v)", strings.Join(args, " "), err)
		}
	}
	// An empty --out is not the working directory, nor the lake.
	if out := nexus(t, dir, true, "report", "quality", "--out", ""); !strings.Contains(out, "error: output directory (--out): empty") {
		t.Errorf("report quality --out '': want it refused:\n%s", out)
	}
	// Nor a directory inside the lake: run from the lake's own directory,
	// the default reports/ would be one; nothing is made there.
	before := laketest.TreeState(t, filepath.Join(dir, "lake"))
	for _, args := range [][]string{{"report", "quality"}, {"report", "deck"}, {"docs", "--out", "site"}} {
		out := nexus(t, filepath.Join(dir, "lake"), true, append([]string{"--lake", "."}, args...)...)
		if !strings.Contains(out, "is inside the lake .: this command only reads the lake") {
			t.Errorf("%s from inside the lake: want it refused:\n%s", strings.Join(args, " "), out)
		}
	}
	// Also through a symbolic link to the lake, and into a directory not
	// made yet.
	if err := os.Symlink(filepath.Join(dir, "lake"), filepath.Join(dir, "link")); err != nil {
		t.Fatal(err)
	}
	if out := nexus(t, dir, true, "--lake", "link", "report", "quality", "--out", filepath.Join(dir, "lake", "new", "reports")); !strings.Contains(out, "is inside the lake link") {
		t.Errorf("report --out into the lake through a link: want it refused:\n%s", out)
	}
	if after := laketest.TreeState(t, filepath.Join(dir, "lake")); after != before {
		t.Errorf("reports refused inside the lake changed it:\n%s\nthen\n%s", before, after)
	}
}

// demo --daily lets the base batch and each day arrive, one line per run;
// run again, it says the lake holds them already instead of a line of
// zeros for a run that did nothing, and no table of unchanged steps.
func TestDemoDaily(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	out := nexus(t, dir, false, "demo", "--daily", "2", "--scale", "0.01")
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`(?m)^dt=2018-06-30 +orders +[1-9]\d*, .* models: 0 incremental, \d+ full, 0 unchanged `),
		regexp.MustCompile(`(?m)^dt=2018-07-01 +orders +[1-9]\d*, .* models: [1-9]\d* incremental, `),
		regexp.MustCompile(`(?m)^dt=2018-07-02 +orders +[1-9]\d*, .* models: [1-9]\d* incremental, `),
		regexp.MustCompile(`(?m)^daily demo done in `),
	} {
		if !want.MatchString(out) {
			t.Errorf("demo --daily 2: no line %s in:\n%s", want, out)
		}
	}
	again := nexus(t, dir, false, "demo", "--daily", "2", "--scale", "0.01")
	for _, want := range []string{"3 of the landing zone's 3 batch(es) had arrived", "(arrived)      the lake holds them already: nothing to do", "daily demo done in "} {
		if !strings.Contains(again, want) {
			t.Errorf("demo --daily 2 again: want %q in:\n%s", want, again)
		}
	}
	for _, not := range []string{"orders      0,", "unchanged", "step     status"} {
		if strings.Contains(again, not) {
			t.Errorf("demo --daily 2 again prints %q (a line of zeros or the table of unchanged steps):\n%s", not, again)
		}
	}
	// The plain demo would replace the days the lake took: refused, with
	// what to do instead.
	plain := nexus(t, dir, true, "demo", "--scale", "0.01")
	for _, want := range []string{"holds the batches of a landing zone (from demo --daily?)", "another --lake, or remove"} {
		if !strings.Contains(plain, want) {
			t.Errorf("demo after demo --daily: want %q in:\n%s", want, plain)
		}
	}
}
