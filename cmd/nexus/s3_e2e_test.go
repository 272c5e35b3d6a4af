package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/keystone/nexus/internal/gluetest"
	"github.com/keystone/nexus/internal/lake"
	"github.com/keystone/nexus/internal/s3test"
	"github.com/keystone/nexus/internal/schedule"
	"github.com/keystone/nexus/internal/schedule/runstore"
)

// The lake on S3 (a real S3 server on loopback): `nexus run` builds it,
// `query` and `tables` read it, and the answers are those of the same run
// on a local lake; a second run finds nothing changed.
func TestLakeOnS3(t *testing.T) {
	srv := s3test.Start(t)
	dir := t.TempDir()
	nexus(t, dir, false, "generate", "--out", "data", "--scale", "0.02", "--seed", "4")
	s3 := []string{"--lake", "s3://" + srv.Bucket + "/olist", "--s3-endpoint", srv.Endpoint, "--cache-dir", filepath.Join(dir, "cache")}
	out := nexus(t, dir, false, append([]string{"run", "--source", "data"}, s3...)...)
	// The reports, rendered in the run's mirror (which goes when the run
	// ends), are in the bucket, and the summary says so.
	if !strings.Contains(out, "report: s3://"+srv.Bucket+"/olist/_nexus/reports/deck/deck.html") {
		t.Errorf("reports of a run on S3:\n%s", out)
	}
	for _, f := range []string{"deck/deck.html", "dashboard/dashboard.html", "quality.html"} {
		if _, err := os.Stat(filepath.Join(srv.Dir, srv.Bucket, "olist", "_nexus", "reports", filepath.FromSlash(f))); err != nil {
			t.Errorf("report %s not in the bucket: %v", f, err)
		}
	}
	if !strings.Contains(out, "succeeded") {
		t.Fatalf("run on S3:\n%s", out)
	}
	t.Logf("run on S3:\n%s", out)
	nexus(t, dir, false, "run", "--source", "data", "--no-reports", "--lake", "local")
	q := "SELECT count(*) AS n, sum(price) AS revenue FROM gold.fact_sales"
	remote := nexus(t, dir, false, append([]string{"query", "--format", "json", q}, s3...)...)
	local := nexus(t, dir, false, "query", "--format", "json", "--lake", "local", q)
	if remote != local {
		t.Errorf("gold.fact_sales on S3 %s, on a local lake %s", remote, local)
	}
	if tables := nexus(t, dir, false, append([]string{"tables"}, s3...)...); !strings.Contains(tables, "gold.fact_sales") {
		t.Errorf("tables on S3:\n%s", tables)
	}
	// The scheduler's alert on quarantined records says `nexus quarantine
	// list`: it works on S3 as `quarantine show` does.
	if ql := nexus(t, dir, false, append([]string{"quarantine", "list"}, s3...)...); !strings.Contains(ql, "quarantine_table") {
		t.Errorf("quarantine list on S3:\n%s", ql)
	}
	if _, err := os.Stat(filepath.Join(srv.Dir, srv.Bucket, "olist", "_nexus", "CURRENT")); err != nil {
		t.Errorf("the pointer is not in the bucket: %v", err)
	}
	// The run's record is in the bucket, final.
	runs, _ := filepath.Glob(filepath.Join(srv.Dir, srv.Bucket, "olist", "_nexus", "runs", "*.json"))
	if len(runs) != 1 {
		t.Fatalf("run records in the bucket: %v", runs)
	}
	if b, err := os.ReadFile(runs[0]); err != nil || !strings.Contains(string(b), `"status": "succeeded"`) {
		t.Errorf("the run record in the bucket: %v\n%s", err, b)
	}
	// Athena's view: DDL for every table (no DuckDB-only type anywhere),
	// pointing at symlink manifests the commit wrote, which list files that
	// are in the bucket.
	ddl := nexus(t, dir, false, append([]string{"catalog", "ddl"}, s3...)...)
	if !strings.Contains(ddl, "`nexus`.`gold_fact_sales`") || !strings.Contains(ddl, "'storage.location.template'") {
		t.Fatalf("catalog ddl on S3:\n%.2000s", ddl)
	}
	manifests, _ := filepath.Glob(filepath.Join(srv.Dir, srv.Bucket, "olist", "_nexus", "athena", "gold.fact_sales", "v*", "year=*", "month=*", "manifest"))
	if len(manifests) == 0 {
		t.Fatal("no symlink manifest of gold.fact_sales in the bucket")
	}
	for _, mf := range manifests {
		b, err := os.ReadFile(mf)
		if err != nil {
			t.Fatal(err)
		}
		for _, u := range strings.Fields(string(b)) {
			key := strings.TrimPrefix(u, "s3://"+srv.Bucket+"/")
			if _, err := os.Stat(filepath.Join(srv.Dir, srv.Bucket, filepath.FromSlash(key))); err != nil {
				t.Errorf("%s lists %s: %v", mf, u, err)
			}
		}
	}
	// Glue: every table created, then nothing to do.
	glue, glueURL := gluetest.Start(t)
	sync := append([]string{"catalog", "sync", "--glue", "--glue-endpoint", glueURL, "--s3-region", "us-east-1"}, s3...)
	if out := nexus(t, dir, false, sync...); !strings.Contains(out, "gold_fact_sales") || !strings.Contains(out, "created") {
		t.Errorf("catalog sync:\n%s", out)
	}
	if _, ok := glue.Tables["nexus.gold_fact_sales"]; !ok {
		t.Errorf("glue holds %d tables, not gold_fact_sales", len(glue.Tables))
	}
	if out := nexus(t, dir, false, sync...); strings.Contains(out, "created") || strings.Contains(out, "updated") {
		t.Errorf("a second catalog sync changed something:\n%s", out)
	}
	again := nexus(t, dir, false, append([]string{"run", "--source", "data", "--no-reports"}, s3...)...)
	if !strings.Contains(again, "unchanged") {
		t.Errorf("a second run on S3:\n%s", again)
	}
	// With catalog.glue in nexus.yaml, every commit keeps Glue in step: the
	// table's location is the committed version's, as the DDL says.
	cfg := "catalog:\n  glue:\n    database: auto\n    endpoint: " + glueURL + "\n"
	if err := os.WriteFile(filepath.Join(dir, "nexus.yaml"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	for i, seed := range []string{"5", "6"} {
		nexus(t, dir, false, "generate", "--out", "data", "--scale", "0.02", "--seed", seed, "--force")
		nexus(t, dir, false, append([]string{"run", "--source", "data", "--no-reports", "--s3-region", "us-east-1"}, s3...)...)
		tbl, ok := glue.Tables["auto.gold_fact_sales"]
		if !ok {
			t.Fatalf("run %d: no Glue table auto.gold_fact_sales after the commit (%d tables)", i, len(glue.Tables))
		}
		loc := tbl["StorageDescriptor"].(map[string]any)["Location"].(string)
		ddl := nexus(t, dir, false, append([]string{"catalog", "ddl", "--database", "auto"}, s3...)...)
		if !strings.Contains(ddl, loc) {
			t.Errorf("run %d: Glue's location %s is not the committed version's:\n%.600s", i, loc, ddl[strings.Index(ddl, "gold_fact_sales"):])
		}
	}
	if err := os.Remove(filepath.Join(dir, "nexus.yaml")); err != nil {
		t.Fatal(err)
	}
	// The demo into a lake on S3 (another prefix).
	demo := []string{"--lake", "s3://" + srv.Bucket + "/demo", "--s3-endpoint", srv.Endpoint, "--cache-dir", filepath.Join(dir, "cache")}
	if out := nexus(t, dir, false, append([]string{"demo", "--scale", "0.01", "--out", "demo-data"}, demo...)...); !strings.Contains(out, "running the pipeline into s3://"+srv.Bucket+"/demo") || !strings.Contains(out, "demo done") {
		t.Errorf("demo on S3:\n%s", out)
	} else if want := "  nexus --lake s3://" + srv.Bucket + "/demo --s3-endpoint " + srv.Endpoint + " tables\n"; !strings.Contains(out, want) {
		// What the demo suggests next reaches its lake.
		t.Errorf("demo on S3 does not suggest %q:\n%s", want, out)
	}
	// A report of a lake on S3 goes where --out says; replay commits to it.
	nexus(t, dir, false, append([]string{"report", "dashboard", "--out", "dash"}, s3...)...)
	if _, err := os.Stat(filepath.Join(dir, "dash", "dashboard.html")); err != nil {
		t.Errorf("report dashboard on S3: %v", err)
	}
	if out := nexus(t, dir, false, append([]string{"quarantine", "replay", "silver.order_items"}, s3...)...); !strings.Contains(out, "replayed") {
		t.Errorf("quarantine replay on S3: %s", out)
	}
	// The docs site of a lake on S3.
	nexus(t, dir, false, append([]string{"docs", "--out", "site"}, s3...)...)
	if b, err := os.ReadFile(filepath.Join(dir, "site", "index.html")); err != nil || !strings.Contains(string(b), "fact_sales") {
		t.Errorf("nexus docs on S3: %v", err)
	}
	// Time travel and rollback on S3, from a machine whose cache has never
	// seen the first snapshot.
	other := append(append([]string{}, s3[:len(s3)-1]...), filepath.Join(dir, "other-cache"))
	if out := nexus(t, dir, false, append([]string{"snapshots"}, other...)...); !strings.Contains(out, "\n1 ") || !strings.Contains(out, "3 *") {
		t.Errorf("snapshots on S3:\n%s", out)
	}
	if old := nexus(t, dir, false, append([]string{"query", "--format", "json", "--snapshot", "1", q}, other...)...); old != remote {
		t.Errorf("query --snapshot 1 on S3: %s, the first run gave %s", old, remote)
	}
	if out := nexus(t, dir, false, append([]string{"rollback", "1"}, other...)...); !strings.Contains(out, "committed snapshot 4") {
		t.Errorf("rollback on S3: %s", out)
	}
	if now := nexus(t, dir, false, append([]string{"query", "--format", "json", q}, s3...)...); now != remote {
		t.Errorf("after rollback 1, S3 answers %s, the first run gave %s", now, remote)
	}
	// Every command released its mirror; the cache keeps the data files.
	if left, _ := os.ReadDir(filepath.Join(dir, "cache", "mirrors")); len(left) != 0 {
		t.Errorf("%d mirror(s) left behind", len(left))
	}
	if objs, _ := os.ReadDir(filepath.Join(dir, "cache", "objects")); len(objs) == 0 {
		t.Error("the cache holds no data file")
	}
}

// A bad s3:// location is refused with what is wrong.
func TestS3CommandsRefused(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"query", "--lake", "s3:///p", "SELECT 1"}, "no bucket"},
	} {
		out := nexus(t, dir, true, tc.args...)
		if !strings.Contains(out, tc.want) {
			t.Errorf("%v:\n%s", tc.args, out)
		}
		if _, err := os.Stat(filepath.Join(dir, "s3:")); err == nil {
			t.Fatalf("%v made a directory named s3:", tc.args)
		}
	}
}

// Two `nexus run` on two "machines" (processes with caches of their own)
// start from the same empty lake on S3: exactly one commits; the other is
// told another writer committed first, and nothing of it is visible.
func TestS3ConcurrentRuns(t *testing.T) {
	srv := s3test.Start(t)
	dir := t.TempDir()
	nexus(t, dir, false, "generate", "--out", "data", "--scale", "0.02", "--seed", "4")
	type result struct {
		out string
		err error
	}
	results := make(chan result, 2)
	for i := range 2 {
		go func() {
			cmd := exec.Command(nexusBin, "run", "--source", "data", "--no-reports", "--lake", "s3://"+srv.Bucket+"/race",
				"--s3-endpoint", srv.Endpoint, "--cache-dir", filepath.Join(dir, fmt.Sprint("cache", i)))
			cmd.Dir = dir
			out, err := cmd.CombinedOutput()
			results <- result{string(out), err}
		}()
	}
	var won, lost int
	for range 2 {
		r := <-results
		switch {
		case r.err == nil:
			won++
		case strings.Contains(r.out, "another writer committed first"):
			lost++
		default:
			t.Errorf("a run failed otherwise: %v\n%s", r.err, r.out)
		}
	}
	if won != 1 || lost != 1 {
		t.Fatalf("%d committed, %d lost; want one each", won, lost)
	}
	snaps := nexus(t, dir, false, "query", "--lake", "s3://"+srv.Bucket+"/race", "--s3-endpoint", srv.Endpoint, "--cache-dir", filepath.Join(dir, "cache2"),
		"--format", "csv", "SELECT count(*) FROM gold.fact_sales")
	if strings.Contains(snaps, "error") {
		t.Errorf("the lake after the race:\n%s", snaps)
	}
}

// SIGKILL `nexus run` on S3 while it uploads a new snapshot's files: the
// lake stays at the snapshot before (readers see it whole), and a run again
// converges to what a local lake holds after the same run.
func TestKillRunOnS3(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	srv := s3test.Start(t)
	dir := t.TempDir()
	root := "s3://" + srv.Bucket + "/kill"
	s3 := func(args ...string) []string {
		return append(args, "--lake", root, "--s3-endpoint", srv.Endpoint, "--cache-dir", filepath.Join(dir, "cache"))
	}
	nexus(t, dir, false, "generate", "--out", "data", "--scale", "0.02", "--seed", "4")
	nexus(t, dir, false, s3("run", "--source", "data", "--no-reports")...)
	q := "SELECT count(*) AS n, sum(price) AS revenue FROM gold.fact_sales"
	before := nexus(t, dir, false, s3("query", "--format", "json", q)...)

	nexus(t, dir, false, "generate", "--out", "data", "--scale", "0.03", "--seed", "5", "--force")
	// Objects of the lake's tables and metadata; run records are written
	// from a run's start, before any upload.
	objects := func() int {
		n := 0
		_ = filepath.WalkDir(filepath.Join(srv.Dir, srv.Bucket, "kill"), func(p string, d os.DirEntry, err error) error {
			if err == nil && !d.IsDir() && !strings.Contains(filepath.ToSlash(p), "/_nexus/runs/") {
				n++
			}
			return nil
		})
		return n
	}
	start := objects()
	cmd := exec.Command(nexusBin, s3("run", "--source", "data", "--no-reports")...)
	cmd.Dir = dir
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Killed once the upload has begun: some objects of the new snapshot
	// are in the bucket, its pointer not yet.
	deadline := time.Now().Add(2 * time.Minute)
	for objects() == start {
		if time.Now().After(deadline) {
			t.Fatal("the run uploaded nothing in 2 minutes")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait() // killed: its exit status is the kill
	if mid := nexus(t, dir, false, s3("query", "--format", "json", q)...); mid != before {
		t.Errorf("after the kill, readers see %s, the snapshot before was %s", mid, before)
	}
	nexus(t, dir, false, s3("run", "--source", "data", "--no-reports")...)
	nexus(t, dir, false, "run", "--source", "data", "--no-reports", "--lake", "local")
	after := nexus(t, dir, false, s3("query", "--format", "json", q)...)
	if local := nexus(t, dir, false, "query", "--format", "json", "--lake", "local", q); after != local {
		t.Errorf("after a run again, S3 holds %s, a local lake %s", after, local)
	}

	// The killed run's uploads are orphans: vacuum sees them and, while
	// they are young (a run in progress elsewhere looks the same), leaves
	// them; an hour later they go, and the lake answers as before.
	vacuum := func(args ...string) map[string]any {
		var res map[string]any
		out := nexus(t, dir, false, s3(append([]string{"vacuum", "--format", "json"}, args...)...)...)
		if err := json.Unmarshal([]byte(out), &res); err != nil {
			t.Fatalf("vacuum --format json: %v\n%s", err, out)
		}
		return res
	}
	if res := vacuum("--dry-run"); res["young_unreferenced_files"].(float64) == 0 || len(res["versions"].([]any)) != 0 {
		t.Fatalf("right after the kill: %v", res)
	}
	hourAgo := time.Now().Add(-2 * time.Hour)
	_ = filepath.WalkDir(filepath.Join(srv.Dir, srv.Bucket, "kill"), func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			err = os.Chtimes(p, hourAgo, hourAgo) // the server's LastModified is the file's
		}
		return err
	})
	n := objects()
	res := vacuum()
	if len(res["versions"].([]any)) == 0 || res["young_unreferenced_files"].(float64) != 0 || objects() >= n {
		t.Errorf("an hour later, vacuum: %v (objects %d → %d)", res, n, objects())
	}
	if again := vacuum("--dry-run"); again["files"].(float64) != 0 {
		t.Errorf("a second vacuum would remove %v", again)
	}
	if got := nexus(t, dir, false, s3("query", "--format", "json", q)...); got != after {
		t.Errorf("after vacuum, S3 holds %s, before %s", got, after)
	}
}

// The S3 server stops in the middle of a run: the run fails with an error
// that names the store, after its retries; nothing of it is visible once
// the server is back, and a run again succeeds.
func TestS3ServerStoppedMidRun(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	srv := s3test.Start(t)
	dir := t.TempDir()
	root := "s3://" + srv.Bucket + "/down"
	s3 := func(args ...string) []string {
		return append(args, "--lake", root, "--s3-endpoint", srv.Endpoint, "--cache-dir", filepath.Join(dir, "cache"))
	}
	nexus(t, dir, false, "generate", "--out", "data", "--scale", "0.02", "--seed", "4")
	nexus(t, dir, false, s3("run", "--source", "data", "--no-reports")...)
	q := "SELECT count(*) AS n FROM gold.fact_sales"
	before := nexus(t, dir, false, s3("query", "--format", "json", q)...)
	nexus(t, dir, false, "generate", "--out", "data", "--scale", "0.03", "--seed", "5", "--force")
	cmd := exec.Command(nexusBin, s3("run", "--source", "data", "--no-reports")...)
	cmd.Dir = dir
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond) // pulled, building
	srv.Stop()
	err := cmd.Wait()
	if err == nil || !strings.Contains(out.String(), "s3://"+srv.Bucket+"/down") {
		t.Fatalf("a run whose S3 server stopped: %v\n%s", err, out.String())
	}
	t.Logf("the run's output:\n%s", out.String())
	srv.Restart(t)
	if mid := nexus(t, dir, false, s3("query", "--format", "json", q)...); mid != before {
		t.Errorf("after the failed run, readers see %s, before %s", mid, before)
	}
	nexus(t, dir, false, s3("run", "--source", "data", "--no-reports")...)
}

// `nexus serve` on a lake on S3 answers from its snapshot, and moves to the
// next one another process commits to the bucket (between requests).
func TestServeOnS3(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	srv := s3test.Start(t)
	dir := t.TempDir()
	s3 := []string{"--lake", "s3://" + srv.Bucket + "/served", "--s3-endpoint", srv.Endpoint}
	writer := append(append([]string{}, s3...), "--cache-dir", filepath.Join(dir, "cache-w"))
	nexus(t, dir, false, "generate", "--out", "data", "--scale", "0.02", "--seed", "4")
	nexus(t, dir, false, append([]string{"run", "--source", "data", "--no-reports"}, writer...)...)
	s := startServeArgs(t, append(append([]string{}, s3...), "--cache-dir", filepath.Join(dir, "cache-s")))
	var first struct {
		Orders int64 `json:"orders"`
	}
	getJSON(t, s.base+"/api/kpis", &first)
	if first.Orders == 0 {
		t.Fatalf("/api/kpis on S3: %+v\n%s", first, s.errb.String())
	}
	nexus(t, dir, false, "generate", "--out", "data", "--scale", "0.03", "--seed", "5", "--force")
	nexus(t, dir, false, append([]string{"run", "--source", "data", "--no-reports"}, writer...)...)
	deadline := time.Now().Add(time.Minute)
	for {
		var now struct {
			Orders int64 `json:"orders"`
		}
		getJSON(t, s.base+"/api/kpis", &now)
		if now.Orders != first.Orders {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the server still answers %d orders a minute after a commit to the bucket\n%s", now.Orders, s.errb.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// A data file gone from the bucket damages its table, not the lake: other
// tables answer, `doctor` names the file, `doctor --repair` rebuilds the
// table into a new snapshot on S3, and it answers as before.
func TestDoctorOnS3(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	srv := s3test.Start(t)
	dir := t.TempDir()
	s3 := func(cache string, args ...string) []string {
		return append(args, "--lake", "s3://"+srv.Bucket+"/doc", "--s3-endpoint", srv.Endpoint, "--cache-dir", filepath.Join(dir, cache))
	}
	nexus(t, dir, false, "generate", "--out", "data", "--scale", "0.02", "--seed", "4")
	nexus(t, dir, false, s3("c0", "run", "--source", "data", "--no-reports")...)
	q := "SELECT count(*) AS n, sum(price) AS revenue FROM gold.fact_sales"
	before := nexus(t, dir, false, s3("c0", "query", "--format", "json", q)...)
	var files []string
	_ = filepath.WalkDir(filepath.Join(srv.Dir, srv.Bucket, "doc", "gold", "fact_sales"), func(p string, d os.DirEntry, err error) error {
		if err == nil && strings.HasSuffix(p, ".parquet") {
			files = append(files, p)
		}
		return nil
	})
	if len(files) == 0 {
		t.Fatal("no file of gold.fact_sales in the bucket")
	}
	if err := os.Remove(files[0]); err != nil {
		t.Fatal(err)
	}
	// A cold cache, as another machine has.
	if out := nexus(t, dir, false, s3("c1", "query", "--format", "csv", "SELECT count(*) FROM gold.dim_seller")...); strings.Contains(out, "error") {
		t.Errorf("another table of the damaged lake:\n%s", out)
	}
	if out := nexus(t, dir, true, s3("c2", "doctor")...); !strings.Contains(out, "gold.fact_sales") || !strings.Contains(out, "missing") {
		t.Errorf("doctor on S3:\n%s", out)
	}
	nexus(t, dir, false, s3("c3", "doctor", "--repair", "--source", "data")...)
	nexus(t, dir, false, s3("c4", "doctor")...)
	if after := nexus(t, dir, false, s3("c5", "query", "--format", "json", q)...); after != before {
		t.Errorf("after the repair %s, before %s", after, before)
	}
}

// query --estimate says what Athena would scan without running the query:
// the files the partition filters keep (as many as DuckDB reads for the
// same query), the bytes of the columns read in them (the footers' chunk
// sizes), and the price; --max-scan refuses a query over budget.
func TestQueryEstimate(t *testing.T) {
	dir := t.TempDir()
	nexus(t, dir, false, "generate", "--out", "data", "--scale", "0.02", "--seed", "4")
	nexus(t, dir, false, "run", "--source", "data", "--no-reports", "--lake", "lake")
	q := "SELECT sum(price) FROM gold.fact_sales WHERE year = 2017 AND month = 3"
	out := nexus(t, dir, false, "query", "--lake", "lake", "--estimate", q)
	files, _ := filepath.Glob(filepath.Join(dir, "lake", "gold", "fact_sales", "*", "year=2017", "month=3", "*.parquet"))
	if len(files) != 1 {
		t.Fatalf("partition files: %v", files)
	}
	// DuckDB's own account of the same query: the files it read.
	analyze := nexus(t, dir, false, "query", "--lake", "lake", "--format", "csv", "EXPLAIN ANALYZE "+q)
	if !strings.Contains(analyze, "Total Files Read: 1") {
		t.Fatalf("DuckDB read other than one file:\n%s", analyze)
	}
	chunk := nexus(t, dir, false, "query", "--lake", "lake", "--format", "csv",
		"SELECT sum(total_compressed_size) FROM parquet_metadata('"+files[0]+"') WHERE path_in_schema = 'price'")
	want := strings.TrimSpace(chunk[strings.LastIndex(strings.TrimSpace(chunk), "\n")+1:])
	if !strings.Contains(out, "Athena would scan") || !strings.Contains(out, "("+want+" bytes)") || !strings.Contains(out, "1/") {
		t.Errorf("estimate (want %s bytes in 1 file):\n%s", want, out)
	}
	if out := nexus(t, dir, true, "query", "--lake", "lake", "--max-scan", "1kB", "SELECT sum(price) FROM gold.fact_sales"); !strings.Contains(out, "query refused") {
		t.Errorf("--max-scan over budget:\n%s", out)
	}
	if out := nexus(t, dir, false, "query", "--lake", "lake", "--max-scan", "1GB", "--format", "csv", q); strings.Contains(out, "Athena") {
		t.Errorf("--max-scan under budget prints the estimate:\n%s", out)
	}
}

// A lake that is not there is said so, with where: a bucket that does not
// exist, a prefix with nothing committed, a server that is not S3. None
// reads as an empty lake (doctor called it "all intact"), and no mirror or
// lock file is left behind.
func TestS3LakeNotThere(t *testing.T) {
	srv := s3test.Start(t)
	dir := t.TempDir()
	cache := filepath.Join(dir, "cache")
	notS3 := httptest.NewServer(http.NotFoundHandler())
	defer notS3.Close()
	for _, tc := range []struct {
		lake, endpoint string
		args           []string
		want           string
	}{
		{"s3://nope-bucket/olist", srv.Endpoint, []string{"query", "SELECT 1"}, "bucket nope-bucket does not exist at " + srv.Endpoint},
		{"s3://nope-bucket/olist", srv.Endpoint, []string{"doctor"}, "bucket nope-bucket does not exist"},
		{"s3://" + srv.Bucket + "/typo", srv.Endpoint, []string{"tables"}, "no lake at s3://" + srv.Bucket + "/typo"},
		{"s3://" + srv.Bucket + "/typo", srv.Endpoint, []string{"catalog", "ddl"}, "no lake at s3://" + srv.Bucket + "/typo"},
		{"s3://" + srv.Bucket + "/olist", notS3.URL, []string{"query", "SELECT 1"}, "no lake at s3://" + srv.Bucket + "/olist (server " + notS3.URL + ")"},
	} {
		args := append(tc.args, "--lake", tc.lake, "--s3-endpoint", tc.endpoint, "--cache-dir", cache)
		out := nexus(t, dir, true, args...)
		if !strings.Contains(out, tc.want) || strings.Contains(out, "no published tables") || strings.Contains(out, "intact") {
			t.Errorf("%v:\n%s\nwant %q", tc.args, out, tc.want)
		}
	}
	if left, _ := os.ReadDir(filepath.Join(cache, "mirrors")); len(left) != 0 {
		t.Errorf("left in the cache: %v", left)
	}
}

// The scheduler on S3: its cycles build the lake in the bucket (reports
// included), one scheduler per lake across machines (a lease in the bucket:
// a second one is refused, naming the holder), and when the holder is
// SIGKILLed another machine's scheduler takes over once the lease expired.
func TestSchedulerOnS3(t *testing.T) {
	if testing.Short() {
		t.Skip("long end-to-end test")
	}
	srv := s3test.Start(t)
	dir := t.TempDir()
	root := "s3://" + srv.Bucket + "/sched"
	// Two machines: each its own cache, mirrors and run store.
	machine := func(name string, args ...string) []string {
		return append(args, "--lake", root, "--s3-endpoint", srv.Endpoint, "--cache-dir", filepath.Join(dir, name, "cache"),
			"--state-dir", filepath.Join(dir, name, "state"), "--s3-lease-ttl", "3s")
	}
	runStore := func(name string) string { return filepath.Join(dir, name, "state", srv.Bucket, "sched") }
	nexus(t, dir, false, "generate", "--out", "land", "--scale", "0.02", "--seed", "5", "--daily-from", "2018-08-25")
	cfg := "schedule:\n  retries: 1\n  retry_backoff: 300ms\n  sensor:\n    stable_for: 0s\n    poke_interval: 100ms\n"
	if err := os.WriteFile(filepath.Join(dir, "nexus.yaml"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	sched := func(name string) []string {
		return machine(name, "--source", "land", "--cron", "@every 2s", "--metrics-addr", "")
	}
	cycleDone := func(name string, after int64) int64 {
		var id int64
		waitFor(t, "a cycle of "+name, 3*time.Minute, func() bool {
			r := runOf(storeRuns(t, runStore(name)), after, schedule.JobAnalytics, finished(runstore.StatusSucceeded))
			if r != nil {
				id = r.ID
			}
			return r != nil
		})
		return id
	}
	a := startScheduler(t, dir, sched("a")...)
	cycleDone("a", 0)
	var rows []map[string]any
	if err := json.Unmarshal([]byte(nexus(t, dir, false, machine("c", "query", "--format", "json", "SELECT count(*) AS n FROM gold.fact_sales")...)), &rows); err != nil {
		t.Fatal(err)
	}
	if len(rows) != 1 || rows[0]["n"].(float64) == 0 {
		t.Fatalf("gold.fact_sales on S3 after a cycle: %v", rows)
	}
	if _, err := os.Stat(filepath.Join(srv.Dir, srv.Bucket, "sched", "_nexus", "reports", "deck", "deck.html")); err != nil {
		t.Errorf("the cycle's reports are not in the bucket: %v", err)
	}
	out := nexus(t, dir, true, append([]string{"scheduler"}, sched("b")...)...)
	if !strings.Contains(out, "held by") || !strings.Contains(out, "scheduler") || strings.Contains(out, "scheduler: cycle") {
		t.Errorf("a second scheduler on the lake:\n%s", out)
	}

	if err := a.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-a.done
	time.Sleep(4 * time.Second) // the dead holder's lease (3s) expires
	b := startScheduler(t, dir, sched("b")...)
	cycleDone("b", 0)
	if out := nexus(t, dir, false, machine("b", "runs")...); !strings.Contains(out, schedule.JobAnalytics) {
		t.Errorf("nexus runs on S3:\n%s", out)
	}
	// pause is the run store's, on the scheduler's machine; on a bucket
	// with no lake it is refused.
	if out := nexus(t, dir, false, machine("b", "scheduler", "pause")...); !strings.Contains(out, "paused") {
		t.Errorf("scheduler pause on S3: %s", out)
	}
	if out := nexus(t, dir, true, "scheduler", "pause", "--lake", "s3://"+srv.Bucket+"/nothing", "--s3-endpoint", srv.Endpoint, "--cache-dir", filepath.Join(dir, "b", "cache"), "--state-dir", filepath.Join(dir, "b", "state")); !strings.Contains(out, "no lake at") {
		t.Errorf("scheduler pause where there is no lake: %s", out)
	}
	if err := b.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := <-b.done; err != nil {
		t.Errorf("the scheduler stopped by SIGTERM: %v", err)
	}
	// Its lease is released: another scheduler may start at once.
	if _, err := os.Stat(filepath.Join(srv.Dir, srv.Bucket, "sched", "_nexus", "locks", "scheduler.json")); !os.IsNotExist(err) {
		t.Errorf("the lease after a clean stop: %v", err)
	}
	// A scheduler that runs on another host: a pause here would be kept in
	// a run store it does not read, so it is refused, naming the holder.
	st, err := lake.NewS3Store(context.Background(), lake.S3Location{Bucket: srv.Bucket, Prefix: "sched"}, lake.S3Options{Endpoint: srv.Endpoint})
	if err != nil {
		t.Fatal(err)
	}
	other := `{"owner": "elsewhere pid 7 (x)", "expires": "` + time.Now().Add(time.Hour).UTC().Format(time.RFC3339) + `"}`
	if _, err := st.Put(context.Background(), "_nexus/locks/scheduler.json", strings.NewReader(other), int64(len(other)), lake.PutCondition{}); err != nil {
		t.Fatal(err)
	}
	if out := nexus(t, dir, true, machine("b", "scheduler", "pause")...); !strings.Contains(out, "runs on elsewhere pid 7") {
		t.Errorf("scheduler pause while another host's scheduler holds the lease:\n%s", out)
	}
}

// noDeletedRowsOnS3: a table on an object store is written again where a
// local one would mark replaced rows deleted (Athena reads its files
// through the catalog, which knows no deleted rows); some model versions
// were built incrementally on top of earlier ones, so the rule was used.
func noDeletedRowsOnS3(t *testing.T, manifests string) {
	t.Helper()
	ms := manifestFiles(t, manifests)
	if len(ms) == 0 {
		t.Fatalf("no manifest under %s", manifests)
	}
	incremental := 0
	for p, m := range ms {
		carried := false
		for _, f := range m.Files {
			if len(f.Deleted) > 0 {
				t.Errorf("%s: file %s has %d deleted rows on S3", p, f.Path, len(f.Deleted))
			}
			carried = carried || f.VersionDir() != m.Dir
		}
		// A full build writes every file in its own directory.
		if (m.Layer == lake.Silver || m.Layer == lake.Gold) && carried && m.Delta != nil && !m.Delta.Full && m.Delta.Rows > 0 {
			incremental++
		}
	}
	if incremental == 0 {
		t.Error("no model version on S3 was built incrementally (files carried, rows changed)")
	}
}

// TestIncrementalOnS3: drops applied one run at a time to a lake on S3 and
// to a local one give the same tables; the local one marks replaced rows
// deleted in its files, the one on S3 writes those files again.
func TestIncrementalOnS3(t *testing.T) {
	if testing.Short() {
		t.Skip("long end-to-end test")
	}
	srv := s3test.Start(t)
	dir := t.TempDir()
	nexus(t, dir, false, "generate", "--out", "all", "--scale", "0.02", "--seed", "5", "--daily-from", "2018-08-20")
	drops, err := filepath.Glob(filepath.Join(dir, "all", "dt=*"))
	if err != nil || len(drops) < 4 {
		t.Fatalf("drops: %v %v", drops, err)
	}
	land := filepath.Join(dir, "land")
	if err := os.Mkdir(land, 0o755); err != nil {
		t.Fatal(err)
	}
	s3 := []string{"--lake", "s3://" + srv.Bucket + "/inc", "--s3-endpoint", srv.Endpoint, "--cache-dir", filepath.Join(dir, "cache")}
	local := []string{"--lake", filepath.Join(dir, "local")}
	for _, d := range drops[:4] {
		if err := os.Symlink(d, filepath.Join(land, filepath.Base(d))); err != nil {
			t.Fatal(err)
		}
		for _, where := range [][]string{s3, local} {
			nexus(t, dir, false, append([]string{"run", "--no-reports", "--source", land}, where...)...)
		}
	}
	// Every model table, every column: the same rows on S3 and on disk.
	for _, table := range []string{"silver.customers", "silver.orders", "silver.order_items", "silver.order_payments",
		"silver.order_reviews", "silver.products", "gold.dim_customer", "gold.dim_product", "gold.fact_sales",
		"gold.fact_reviews", "gold.mart_monthly_sales", "gold.mart_state_sales", "gold.mart_category_sales"} {
		q := "SELECT count(*), sum(hash(COLUMNS(*))) FROM " + table
		onS3 := nexus(t, dir, false, append([]string{"query", "--format", "csv", q}, s3...)...)
		onDisk := nexus(t, dir, false, append([]string{"query", "--format", "csv", q}, local...)...)
		if onS3 != onDisk {
			t.Errorf("%s on S3:\n%s\nlocal:\n%s", table, onS3, onDisk)
		}
	}
	noDeletedRowsOnS3(t, filepath.Join(srv.Dir, srv.Bucket, "inc", "_nexus", "manifests"))
	deleted := 0
	for _, m := range manifestFiles(t, filepath.Join(dir, "local", "_nexus", "manifests")) {
		for _, f := range m.Files {
			deleted += len(f.Deleted)
		}
	}
	if deleted == 0 {
		t.Error("the local lake marked no replaced row deleted: the comparison shows nothing")
	}
}

// manifestFiles reads every table version's manifest under dir (a lake's
// _nexus/manifests), by path.
func manifestFiles(t *testing.T, dir string) map[string]lake.Manifest {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(dir, "*", "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]lake.Manifest{}
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		var m lake.Manifest
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		out[p] = m
	}
	return out
}
