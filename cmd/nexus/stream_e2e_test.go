package main

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/keystone/nexus/internal/lake"
	"github.com/keystone/nexus/internal/laketest"
	"github.com/keystone/nexus/internal/olist"
	"github.com/keystone/nexus/internal/stream"
)

// TestKillStreamWorker SIGKILLs `nexus stream worker` 5 times while about
// 200,000 events flow through the edge; at the end Bronze holds each event
// exactly once: as many rows as the data set's files, no offset twice.
func TestKillStreamWorker(t *testing.T) {
	if testing.Short() {
		t.Skip("long end-to-end test")
	}
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	rep, err := olist.Generate(context.Background(), src, olist.GenOptions{Scale: 0.37, Seed: 9})
	if err != nil {
		t.Fatal(err)
	}
	reg, err := stream.NewRegistry()
	if err != nil {
		t.Fatal(err)
	}
	events, err := stream.Events(reg, src)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int64{}
	for _, f := range rep.Files {
		if _, ok := reg.ByTable(f.Table); ok {
			want[f.Table] = f.Rows
		}
	}
	b, err := stream.StartBroker(stream.BrokerOptions{Addr: "127.0.0.1:0", Partitions: 3})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	e, err := stream.NewEdge(ctx, stream.ServeOptions{Addr: ln.Addr().String(), Brokers: b.Addrs()})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	srv, err := e.GRPCServer()
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(ln) }() // stopped below
	defer srv.Stop()
	conn, err := grpc.NewClient(ln.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()

	lakeDir := filepath.Join(dir, "lake")
	worker := func() *exec.Cmd {
		cmd := exec.Command(nexusBin, "stream", "worker", "--brokers", b.Addrs()[0], "--lake", lakeDir,
			"--batch-events", "5000", "--batch-interval", "100ms", "--instance-id", "kill-test")
		cmd.Dir = dir
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		return cmd
	}
	loaded := make(chan error, 1)
	go func() {
		_, err := stream.Load(ctx, conn, events, stream.LoadOptions{Batch: 500, Rate: 40000})
		loaded <- err
	}()
	w := worker()
	kills := 0
	for range 5 {
		time.Sleep(time.Duration(600+kills*150) * time.Millisecond)
		if err := w.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		_ = w.Wait() // killed: its exit status is the kill
		kills++
		w = worker()
	}
	if err := <-loaded; err != nil {
		t.Fatal(err)
	}
	defer func() {
		_ = w.Process.Signal(os.Interrupt)
		_ = w.Wait() // stopped at the end; the counts were checked
	}()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		rows, distinct := laketest.BronzeLineage(t, lakeDir)
		done := true
		for table, n := range want {
			if rows[table] > n || distinct[table] != rows[table] {
				t.Fatalf("after %d kills, %s: %d rows, %d distinct offsets, %d events", kills, table, rows[table], distinct[table], n)
			}
			done = done && rows[table] == n
		}
		if done {
			t.Logf("%d events, %d kills: every event in Bronze once", len(events), kills)
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %d kills, Bronze %v, want %v", kills, rows, want)
		}
		time.Sleep(300 * time.Millisecond)
	}
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
