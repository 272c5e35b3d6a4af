package main

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
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
