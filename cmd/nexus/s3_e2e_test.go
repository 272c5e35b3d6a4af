package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/keystone/nexus/internal/s3test"
)

// The lake on S3 (a real S3 server on loopback): `nexus run` builds it,
// `query` and `tables` read it, and the answers are those of the same run
// on a local lake; a second run finds nothing changed.
func TestLakeOnS3(t *testing.T) {
	srv := s3test.Start(t)
	dir := t.TempDir()
	nexus(t, dir, false, "generate", "--out", "data", "--scale", "0.02", "--seed", "4")
	s3 := []string{"--lake", "s3://" + srv.Bucket + "/olist", "--s3-endpoint", srv.Endpoint, "--cache-dir", filepath.Join(dir, "cache")}
	out := nexus(t, dir, false, append([]string{"run", "--source", "data", "--no-reports"}, s3...)...)
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
	if _, err := os.Stat(filepath.Join(srv.Dir, srv.Bucket, "olist", "_nexus", "CURRENT")); err != nil {
		t.Errorf("the pointer is not in the bucket: %v", err)
	}
	again := nexus(t, dir, false, append([]string{"run", "--source", "data", "--no-reports"}, s3...)...)
	if !strings.Contains(again, "unchanged") {
		t.Errorf("a second run on S3:\n%s", again)
	}
}

// A command that does not work on S3 yet says so, and which do; a bad
// s3:// location is refused with what is wrong.
func TestS3CommandsRefused(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"snapshots", "--lake", "s3://b/p"}, "does not work on a lake on S3 yet"},
		{[]string{"scheduler", "pause", "--lake", "s3://b/p"}, "these do: analyze"},
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
