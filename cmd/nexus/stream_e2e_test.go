package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	nexusv1 "github.com/keystone/nexus/api/nexus/v1"
	"github.com/keystone/nexus/internal/lake"
	"github.com/keystone/nexus/internal/laketest"
	"github.com/keystone/nexus/internal/olist"
	"github.com/keystone/nexus/internal/s3test"
	"github.com/keystone/nexus/internal/stream"
)

// TestKillStream SIGKILLs `nexus stream worker` 5 times and `nexus stream
// serve` once while about 200,000 events flow through the edge, and a
// producer that bypasses the edge writes a few records that are not events.
// The load sends the calls the killed edge did not acknowledge again (Kafka
// may hold some of their events already). At the end Bronze holds exactly
// the acknowledged events (count and set of event ids, none twice, no
// offset twice) and the quarantine exactly the records that are not events.
func TestKillStream(t *testing.T) {
	if testing.Short() {
		t.Skip("long end-to-end test")
	}
	r := newStreamRig(t, 0.37, 9)
	dir, reg, events := r.dir, r.reg, r.events
	lakeDir := filepath.Join(dir, "lake")
	lakeArgs := []string{"--lake", lakeDir}
	worker := func() *exec.Cmd {
		return r.worker(lakeArgs, "--batch-events", "5000", "--batch-interval", "100ms", "--instance-id", "kill-test")
	}
	kill := func(cmd *exec.Cmd) { killProcess(t, cmd) }
	srv := r.serve()
	defer func() { kill(srv) }()
	ctx := context.Background()
	// Records that are not events, written past the edge (as kcat or a
	// broken producer could): one per topic.
	raw, err := kgo.NewClient(kgo.SeedBrokers(r.broker))
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	var junk []*kgo.Record
	for _, e := range reg.List() {
		junk = append(junk, &kgo.Record{Topic: e.Topic(stream.DefaultTopicPrefix), Key: []byte("junk"), Value: []byte("not an event")})
	}

	type loadResult struct {
		rep stream.LoadReport
		err error
	}
	loaded := make(chan loadResult, 1)
	go func() {
		// The edge may not listen yet: the load's retries wait for it.
		rep, err := stream.Load(ctx, r.conn, events, stream.LoadOptions{Batch: 500, Rate: 40000, RetryFor: 2 * time.Minute})
		loaded <- loadResult{rep, err}
	}()
	w := worker()
	workerKills, edgeKills := 0, 0
	for range 5 {
		time.Sleep(time.Duration(600+workerKills*150) * time.Millisecond)
		kill(w)
		workerKills++
		w = worker()
		if workerKills == 2 {
			kill(srv) // mid-load: calls in flight are lost unacknowledged
			edgeKills++
			if err := raw.ProduceSync(ctx, junk...).FirstErr(); err != nil {
				t.Fatal(err)
			}
			time.Sleep(300 * time.Millisecond)
			srv = r.serve()
		}
	}
	res := <-loaded
	if res.err != nil {
		t.Fatal(res.err)
	}
	if res.rep.Retries == 0 {
		t.Errorf("the edge was killed mid-load, yet no call was sent again: %+v", res.rep)
	}
	defer func() {
		_ = w.Process.Signal(os.Interrupt)
		_ = w.Wait() // stopped at the end; the counts were checked
	}()
	r.waitBronze(lakeArgs, 2*time.Minute, fmt.Sprintf("after %d worker kills", workerKills))
	quarantined := laketest.Column(t, lakeDir, lake.Quarantine, "raw_record")
	n := 0
	for table, raws := range quarantined {
		for _, rec := range raws {
			if rec != "not an event" {
				t.Errorf("quarantine.%s holds %q", table, rec)
			}
			n++
		}
	}
	if n != len(junk) {
		t.Errorf("the quarantine holds %d records, %d were not events", n, len(junk))
	}
	// How many events Kafka holds twice (a call the killed edge had produced
	// and could not acknowledge, sent again): the duplicates the workers left
	// out. Logged, not required: the kill may fall between two calls.
	var topics []string
	for _, e := range reg.List() {
		topics = append(topics, e.Topic(stream.DefaultTopicPrefix))
	}
	ends, err := kadm.NewClient(raw).ListEndOffsets(ctx, topics...)
	if err != nil {
		t.Fatal(err)
	}
	var inKafka int64
	ends.Each(func(o kadm.ListedOffset) { inKafka += o.Offset })
	t.Logf("%d events (%d calls sent again, %d events twice in Kafka), %d worker kills, %d edge kill: each acknowledged event in Bronze once; %d records that are not events quarantined",
		len(events), res.rep.Retries, inKafka-int64(len(events)+len(junk)), workerKills, edgeKills, n)
}

// `nexus stream demo` streams a data set through broker, edge and worker and
// builds the models on what arrived: the same Silver orders as files give.
func TestStreamDemo(t *testing.T) {
	dir := t.TempDir()
	out := nexus(t, dir, false, "stream", "demo", "--lake", "slake", "--data", "sdata", "--scale", "0.02", "--seed", "5")
	for _, want := range []string{"events in memory", "events streamed at", "all visible", "succeeded"} {
		if !strings.Contains(out, want) {
			t.Errorf("demo output lacks %q:\n%s", want, out)
		}
	}
	// Again on the same lake: said at once, not after the first event.
	if again := nexus(t, dir, true, "stream", "demo", "--lake", "slake", "--data", "sdata2", "--scale", "0.02", "--seed", "5"); !strings.Contains(again, "streams into a new lake") {
		t.Errorf("a second demo on the same lake:\n%s", again)
	}
	nexus(t, dir, false, "run", "--source", "sdata", "--lake", "flake", "--no-reports")
	q := "SELECT count(*) AS n, sum(hash(order_id, order_status, order_purchase_timestamp)) AS h FROM silver.orders"
	streamed := nexus(t, dir, false, "query", "--lake", "slake", "--format", "json", q)
	files := nexus(t, dir, false, "query", "--lake", "flake", "--format", "json", q)
	if streamed != files {
		t.Errorf("silver.orders from the stream %s, from the files %s", streamed, files)
	}
	// Every Silver and Gold table: the same rows, lineage aside (where a row
	// came from: a topic and offset, or a file and line; its batch).
	a, err := lake.OpenRead(filepath.Join(dir, "slake"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := lake.OpenRead(filepath.Join(dir, "flake"))
	if err != nil {
		t.Fatal(err)
	}
	ignore := append([]string{"_source_file", "_source_line", "_batch", "previous_status"}, laketest.RunCols...)
	if d := laketest.DiffLakes(t, a, b, ignore); len(d) > 0 {
		t.Errorf("streamed and ingested as files differ:\n%s", strings.Join(d, "\n"))
	}
}

// streamRig is a stream on loopback for the end-to-end tests: the events
// of a generated data set, a broker in this process (kfake), and the
// binary's edge and workers as processes, in dir.
type streamRig struct {
	t      *testing.T
	dir    string
	reg    *stream.Registry
	events []*nexusv1.Event
	want   map[string]map[string]bool // Bronze table → its event ids
	broker string
	addr   string // where `nexus stream serve` listens (again after a kill)
	conn   *grpc.ClientConn
}

func newStreamRig(t *testing.T, scale float64, seed int64) *streamRig {
	t.Helper()
	r := &streamRig{t: t, dir: t.TempDir(), want: map[string]map[string]bool{}}
	src := filepath.Join(r.dir, "src")
	if _, err := olist.Generate(context.Background(), src, olist.GenOptions{Scale: scale, Seed: seed}); err != nil {
		t.Fatal(err)
	}
	var err error
	if r.reg, err = stream.NewRegistry(); err != nil {
		t.Fatal(err)
	}
	if r.events, err = stream.Events(r.reg, src); err != nil {
		t.Fatal(err)
	}
	for i, ev := range r.events {
		rec, err := r.reg.Validate(i, ev)
		if err != nil {
			t.Fatal(err)
		}
		if r.want[rec.Entity.Table.Name] == nil {
			r.want[rec.Entity.Table.Name] = map[string]bool{}
		}
		r.want[rec.Entity.Table.Name][rec.EventID] = true
	}
	b, err := stream.StartBroker(stream.BrokerOptions{Addr: "127.0.0.1:0", Partitions: 3})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	r.broker = b.Addrs()[0]
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r.addr = ln.Addr().String()
	ln.Close() // the edge listens there, and again there after a kill
	if r.conn, err = grpc.NewClient(r.addr, grpc.WithTransportCredentials(insecure.NewCredentials())); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.conn.Close() })
	return r
}

// start starts the binary in the rig's directory.
func (r *streamRig) start(args ...string) *exec.Cmd {
	r.t.Helper()
	cmd := exec.Command(nexusBin, args...)
	cmd.Dir = r.dir
	if err := cmd.Start(); err != nil {
		r.t.Fatal(err)
	}
	return cmd
}

// serve starts the edge.
func (r *streamRig) serve() *exec.Cmd {
	return r.start("stream", "serve", "--grpc", r.addr, "--brokers", r.broker)
}

// worker starts a worker committing to the lake lakeArgs name (--lake and,
// for a lake on S3, the flags to reach it).
func (r *streamRig) worker(lakeArgs []string, args ...string) *exec.Cmd {
	return r.start(append(append([]string{"stream", "worker", "--brokers", r.broker}, lakeArgs...), args...)...)
}

// killProcess SIGKILLs a process the test started.
func killProcess(t *testing.T, cmd *exec.Cmd) {
	t.Helper()
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait() // killed: its exit status is the kill
}

// bronzeCounts is what `nexus query` on the lake lakeArgs name says of each
// Bronze table the rig streams to: its rows and its distinct (topic
// partition, offset) pairs; ok is false while some table is not there yet.
func (r *streamRig) bronzeCounts(lakeArgs []string) (rows, distinct map[string]int64, ok bool) {
	r.t.Helper()
	var parts []string
	for table := range r.want {
		parts = append(parts, fmt.Sprintf("SELECT '%s' AS t, count(*) AS n, count(DISTINCT (_source_file, _source_line)) AS d FROM bronze.%[1]s", table))
	}
	cmd := exec.Command(nexusBin, append(append([]string{"query", "--format", "json"}, lakeArgs...), strings.Join(parts, " UNION ALL "))...)
	cmd.Dir = r.dir
	out, err := cmd.Output()
	if err != nil {
		return nil, nil, false // a table not there yet (or no lake)
	}
	var res []struct {
		T    string
		N, D int64
	}
	if err := json.Unmarshal(out, &res); err != nil {
		r.t.Fatalf("query: %v\n%s", err, out)
	}
	rows, distinct = map[string]int64{}, map[string]int64{}
	for _, x := range res {
		rows[x.T], distinct[x.T] = x.N, x.D
	}
	return rows, distinct, true
}

// waitBronze waits until the Bronze tables of the lake lakeArgs name hold
// every event of the rig, as `nexus query` answers; it fails the test at
// once when a table holds more rows than events or a record twice, and
// after timeout. Then each table's event ids must be the events', each once.
func (r *streamRig) waitBronze(lakeArgs []string, timeout time.Duration, when string) {
	r.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		rows, distinct, ok := r.bronzeCounts(lakeArgs)
		done := ok
		for table, ids := range r.want {
			n := int64(len(ids))
			if rows[table] > n || distinct[table] != rows[table] {
				r.t.Fatalf("%s, %s: %d rows, %d distinct offsets, %d events", when, table, rows[table], distinct[table], n)
			}
			done = done && rows[table] == n
		}
		if done {
			break
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("%s, Bronze %v, want %d events", when, rows, len(r.events))
		}
		time.Sleep(300 * time.Millisecond)
	}
	for table, ids := range r.want {
		out := nexus(r.t, r.dir, false, append(append([]string{"query", "--format", "csv"}, lakeArgs...), "SELECT _event_id FROM bronze."+table)...)
		seen := map[string]bool{}
		for _, id := range strings.Fields(out)[1:] { // past the header
			if !ids[id] || seen[id] {
				r.t.Fatalf("%s, bronze.%s: event id %q unknown or twice", when, table, id)
			}
			seen[id] = true
		}
		if len(seen) != len(ids) {
			r.t.Fatalf("%s, bronze.%s: %d event ids, %d acknowledged", when, table, len(seen), len(ids))
		}
	}
}

// s3Lake is the flags of a lake on the test's S3 server at prefix, read
// through the cache directory cache (a cache of its own: another machine).
func (r *streamRig) s3Lake(srv *s3test.Server, prefix, cache string) []string {
	return []string{"--lake", "s3://" + srv.Bucket + "/" + prefix, "--s3-endpoint", srv.Endpoint, "--cache-dir", filepath.Join(r.dir, cache)}
}

// interrupt stops a process with SIGINT; it must exit cleanly.
func interrupt(t *testing.T, cmd *exec.Cmd) {
	t.Helper()
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Errorf("%s after SIGINT: %v", strings.Join(cmd.Args[1:3], " "), err)
	}
}

// The stream on a lake on S3 (a real S3 server on loopback): events sent
// through the edge reach the bucket through `nexus stream worker --lake
// s3://…`, and `nexus query` from another machine's cache answers with
// each of them once; `nexus stream load --freshness-lake s3://…` sees them
// arrive; the worker stopped releases its mirror. `nexus stream demo` runs
// into a bucket too.
func TestStreamOnS3(t *testing.T) {
	srv := s3test.Start(t)
	r := newStreamRig(t, 0.01, 3)
	edge := r.serve()
	defer killProcess(t, edge)
	w := r.worker(r.s3Lake(srv, "stream", "worker-cache"), "--batch-events", "2000", "--batch-interval", "200ms")
	load := nexus(t, r.dir, false, append([]string{"stream", "load", "--grpc", r.addr, "--from", "src", "--retry-for", "1m", "--freshness-wait", "2m",
		"--freshness-lake", "s3://" + srv.Bucket + "/stream"}, r.s3Lake(srv, "stream", "load-cache")[2:]...)...)
	if !strings.Contains(load, "visible in s3://"+srv.Bucket+"/stream") {
		t.Errorf("stream load --freshness-lake s3://…:\n%s", load)
	}
	r.waitBronze(r.s3Lake(srv, "stream", "query-cache"), time.Minute, "on S3")
	interrupt(t, w)
	if left, _ := os.ReadDir(filepath.Join(r.dir, "worker-cache", "mirrors")); len(left) != 0 {
		t.Errorf("the stopped worker left %d mirror(s)", len(left))
	}

	demo := r.s3Lake(srv, "demo", "demo-cache")
	out := nexus(t, r.dir, false, append([]string{"stream", "demo", "--data", "demo-data", "--scale", "0.01", "--seed", "5"}, demo...)...)
	if !strings.Contains(out, "lake in s3://"+srv.Bucket+"/demo") || !strings.Contains(out, "succeeded") {
		t.Fatalf("stream demo on S3:\n%s", out)
	}
	orders := nexus(t, r.dir, false, append([]string{"query", "--format", "csv", "SELECT count(*) FROM bronze.orders"}, demo...)...)
	if want := generatedRows(t, filepath.Join(r.dir, "demo-data"))["orders"]; strings.Fields(orders)[1] != fmt.Sprint(want) {
		t.Errorf("bronze.orders of the demo on S3: %s, %v orders streamed", orders, want)
	}
}

// SIGKILL `nexus stream worker --lake s3://…` in the middle of its
// micro-batch's commit (the batch's files in the bucket, the pointer not yet
// moved), a few times while events flow: started again, the worker resumes
// from the lake's offsets, and Bronze holds each event once, as `nexus
// query` answers; the killed commits' uploads are orphans, which a vacuum
// leaves while they are young and takes an hour later.
func TestKillStreamWorkerOnS3(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	srv := s3test.Start(t)
	r := newStreamRig(t, 0.05, 11)
	edge := r.serve()
	defer killProcess(t, edge)
	lakeArgs := r.s3Lake(srv, "kill", "worker-cache")
	worker := func() *exec.Cmd {
		return r.worker(lakeArgs, "--batch-events", "1000", "--batch-interval", "150ms", "--instance-id", "kill-test")
	}
	bucket := filepath.Join(srv.Dir, srv.Bucket, "kill")
	pointer := func() string {
		b, _ := os.ReadFile(filepath.Join(bucket, "_nexus", "CURRENT")) // none yet: ""
		return string(b)
	}
	bronze := func() map[string]bool {
		out := map[string]bool{}
		_ = filepath.WalkDir(filepath.Join(bucket, "bronze"), func(p string, d os.DirEntry, err error) error {
			if err == nil && !d.IsDir() {
				out[p] = true
			}
			return nil // not there yet: nothing
		})
		return out
	}
	loaded := make(chan error, 1)
	go func() {
		// Paced: micro-batches keep coming while the worker is killed.
		_, err := stream.Load(context.Background(), r.conn, r.events, stream.LoadOptions{Batch: 200, Rate: 2500, RetryFor: 2 * time.Minute})
		loaded <- err
	}()
	w := worker()
	kills, midCommit := 0, 0
	for kills < 8 && midCommit < 2 {
		// Killed as soon as a new Bronze file is in the bucket while the
		// pointer has not moved: between the batch's first upload and its
		// commit.
		before, files := pointer(), bronze()
		deadline := time.Now().Add(time.Minute)
		for {
			now := bronze()
			if len(now) > len(files) {
				if pointer() == before {
					break
				}
				before, files = pointer(), now // committed already: the next batch
			}
			if time.Now().After(deadline) {
				t.Fatalf("after %d kills, no micro-batch uploaded in a minute", kills)
			}
			time.Sleep(time.Millisecond)
		}
		killProcess(t, w)
		kills++
		if pointer() == before {
			midCommit++
		}
		w = worker()
	}
	if midCommit == 0 {
		t.Fatalf("none of %d kills fell between a micro-batch's upload and its commit", kills)
	}
	if err := <-loaded; err != nil {
		t.Fatal(err)
	}
	r.waitBronze(r.s3Lake(srv, "kill", "query-cache"), 2*time.Minute, fmt.Sprintf("after %d kills, %d mid-commit", kills, midCommit))
	interrupt(t, w)
	t.Logf("%d events, %d worker kills (%d between upload and commit): each in Bronze on S3 once", len(r.events), kills, midCommit)

	vacuum := func(args ...string) map[string]any {
		var res map[string]any
		out := nexus(t, r.dir, false, append(append([]string{"vacuum", "--format", "json"}, args...), lakeArgs...)...)
		if err := json.Unmarshal([]byte(out), &res); err != nil {
			t.Fatalf("vacuum --format json: %v\n%s", err, out)
		}
		return res
	}
	if res := vacuum("--dry-run"); res["young_unreferenced_files"].(float64) == 0 {
		t.Fatalf("right after the kills, no orphan: %v", res)
	}
	hourAgo := time.Now().Add(-2 * time.Hour)
	_ = filepath.WalkDir(bucket, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			err = os.Chtimes(p, hourAgo, hourAgo) // the server's LastModified is the file's
		}
		return err
	})
	if res := vacuum(); res["young_unreferenced_files"].(float64) != 0 || res["files"].(float64) == 0 {
		t.Errorf("an hour later, vacuum: %v", res)
	}
	if again := vacuum("--dry-run"); again["files"].(float64) != 0 {
		t.Errorf("a second vacuum would remove %v", again)
	}
	r.waitBronze(r.s3Lake(srv, "kill", "query-cache"), time.Minute, "after the vacuum")
}
