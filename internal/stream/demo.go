package stream

import (
	"context"
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/keystone/nexus/internal/engine"
	"github.com/keystone/nexus/internal/ingest"
	"github.com/keystone/nexus/internal/lake"
	"github.com/keystone/nexus/internal/olist"
	"github.com/keystone/nexus/internal/pipeline"
)

// DemoOptions configure `nexus stream demo`.
type DemoOptions struct {
	// Lake is the lake the demo streams into, open for writing (the
	// caller releases it).
	Lake   *lake.Lake
	Data   string // where the data set is generated
	Scale  float64
	Seed   int64
	Engine engine.Options
	// Say prints a line of progress.
	Say func(format string, args ...any)
}

// DemoReport is what the demo did.
type DemoReport struct {
	Events    int
	Load      LoadReport
	Commits   int
	Freshness time.Duration // last acknowledgement → every event committed
	Summary   *pipeline.Summary
}

// Demo runs the whole stream in this process: an embedded broker (events in
// memory), the gRPC edge and a worker on loopback; it streams a generated
// data set, waits until every event is committed to Bronze, then builds the
// models on it.
func Demo(ctx context.Context, o DemoOptions) (*DemoReport, error) {
	say := o.Say
	if say == nil {
		say = func(string, ...any) {}
	}
	// The demo's broker starts empty: the offsets of an earlier demo in the
	// lake are about topics that are gone.
	if snap := o.Lake.Snapshot(); snap != nil {
		for k := range snap.Meta {
			if strings.HasPrefix(k, "stream.") {
				return nil, fmt.Errorf("stream demo streams into a new lake (its in-memory broker starts empty, and %s holds the offsets of an earlier stream): remove it or pass another --lake", o.Lake.Location())
			}
		}
	}
	if _, err := olist.Generate(ctx, o.Data, olist.GenOptions{Scale: o.Scale, Seed: o.Seed}); err != nil {
		return nil, err
	}
	reg, err := NewRegistry()
	if err != nil {
		return nil, err
	}
	events, err := Events(reg, o.Data)
	if err != nil {
		return nil, err
	}
	b, err := StartBroker(BrokerOptions{Addr: "127.0.0.1:0"})
	if err != nil {
		return nil, err
	}
	defer b.Close()
	say("embedded broker at %s (events in memory)", b.Addrs()[0])
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	e, err := NewEdge(ctx, ServeOptions{Addr: ln.Addr().String(), Brokers: b.Addrs()})
	if err != nil {
		return nil, err
	}
	defer e.Close()
	srv, err := e.GRPCServer()
	if err != nil {
		return nil, err
	}
	go func() { _ = srv.Serve(ln) }() // stopped below
	defer srv.Stop()
	say("gRPC edge at %s", ln.Addr())
	rep := &DemoReport{Events: len(events)}
	committed := make(chan BatchStats, 1024)
	w, err := NewWorker(WorkerOptions{Brokers: b.Addrs(), Lake: o.Lake, BatchInterval: 500 * time.Millisecond,
		OnCommit: func(s BatchStats) { committed <- s }})
	if err != nil {
		return nil, err
	}
	wctx, stopWorker := context.WithCancel(ctx)
	werr, ran := make(chan error, 1), make(chan struct{})
	go func() { werr <- w.Run(wctx); close(ran) }()
	defer func() { stopWorker(); <-ran; w.Close() }()
	conn, err := grpc.NewClient(ln.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	say("streaming %d events of %s", len(events), filepath.Base(o.Data))
	if rep.Load, err = Load(ctx, conn, events, LoadOptions{Batch: 500}); err != nil {
		return rep, err
	}
	acked := time.Now()
	var n int64
	for n < int64(len(events)) {
		select {
		case s := <-committed:
			n += s.Events
			rep.Commits++
			say("snapshot %d: %d events committed (%d/%d)", s.Snapshot, s.Events, n, len(events))
		case err := <-werr:
			return rep, err // the worker's errors say they are its
		case <-ctx.Done():
			return rep, ctx.Err()
		case <-time.After(2 * time.Minute):
			return rep, fmt.Errorf("stream demo: %d of %d events committed after 2 minutes", n, len(events))
		}
	}
	rep.Freshness = time.Since(acked)
	// The models use the worker's lake handle: they wait until it has
	// stopped.
	stopWorker()
	<-ran
	say("building Silver and Gold")
	lk := o.Lake
	unlock, err := lk.Lock()
	if err != nil {
		return rep, err
	}
	defer unlock()
	// The reference tables have no events: they come as files.
	var ref []string
	for _, t := range olist.Tables() {
		if _, ok := reg.ByTable(t.Name); !ok {
			ref = append(ref, t.Name)
		}
	}
	res, err := ingest.Run(ctx, lk, ingest.Options{SourceDir: o.Data, Tables: ref})
	if err == nil {
		err = res.Err()
	}
	if err != nil {
		return rep, fmt.Errorf("stream demo: reference tables %v: %w", ref, err)
	}
	rep.Summary, err = pipeline.Run(ctx, lk, pipeline.Options{SkipIngest: true, Engine: o.Engine})
	return rep, err
}
