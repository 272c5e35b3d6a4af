package stream

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	nexusv1 "github.com/keystone/nexus/api/nexus/v1"
	"github.com/keystone/nexus/internal/lake"
	"github.com/keystone/nexus/internal/olist"
)

// edge starts the embedded broker and the gRPC edge on loopback; it returns
// a client of the service and the broker's address.
func edge(t *testing.T, token string) (nexusv1.IngestClient, *grpc.ClientConn, string) {
	t.Helper()
	b, err := StartBroker(BrokerOptions{Addr: "127.0.0.1:0", Partitions: 2})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	serveEdge(t, ln, ServeOptions{Addr: ln.Addr().String(), Brokers: b.Addrs(), Token: token, MaxMessageBytes: 1 << 20})
	conn, err := grpc.NewClient(ln.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return nexusv1.NewIngestClient(conn), conn, b.Addrs()[0]
}

// serveEdge starts an edge with o and serves it on ln until the test ends.
func serveEdge(t *testing.T, ln net.Listener, o ServeOptions) *Edge {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	e, err := NewEdge(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Close)
	srv, err := e.GRPCServer()
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(ln) }() // ends with Stop at cleanup
	t.Cleanup(srv.Stop)
	return e
}

// consume reads every record of topic now in the broker.
func consume(t *testing.T, broker, topic string) []*kgo.Record {
	t.Helper()
	c, err := kgo.NewClient(kgo.SeedBrokers(broker), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// Read up to the topic's end offsets, as they are now (every send was
	// acknowledged): not until a poll comes back empty, which a slow fetch
	// on a loaded machine would end early.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ends, err := kadm.NewClient(c).ListEndOffsets(ctx, topic)
	if err != nil {
		t.Fatalf("end offsets of %s: %v", topic, err)
	}
	var want int64
	ends.Each(func(o kadm.ListedOffset) {
		if o.Err != nil {
			t.Fatalf("end offset of %s/%d: %v", topic, o.Partition, o.Err)
		}
		want += o.Offset
	})
	var out []*kgo.Record
	for int64(len(out)) < want {
		fs := c.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("%s: read %d of its %d records in 30 s", topic, len(out), want)
		}
		fs.EachRecord(func(r *kgo.Record) { out = append(out, r) })
	}
	return out
}

func TestEdgeSend(t *testing.T) {
	client, conn, broker := edge(t, "")
	ctx := context.Background()
	ok := &nexusv1.Batch{Events: []*nexusv1.Event{order(nil), order(func(o *nexusv1.Order) { o.EventId, o.OrderStatus = "e2", "shipped" })}}
	res, err := client.Send(ctx, ok)
	if err != nil || res.Accepted != 2 {
		t.Fatalf("send: %v %v", res, err)
	}
	recs := consume(t, broker, "olist.orders")
	if len(recs) != 2 {
		t.Fatalf("%d records in olist.orders", len(recs))
	}
	for _, r := range recs {
		var ev nexusv1.Event
		if err := proto.Unmarshal(r.Value, &ev); err != nil || string(r.Key) != "0001" || ev.GetOrder().GetOrderId() != "0001" {
			t.Errorf("record key %q value %v (%v)", r.Key, &ev, err)
		}
	}
	// An invalid event: INVALID_ARGUMENT naming it, and nothing of its batch
	// is produced.
	bad := &nexusv1.Batch{Events: []*nexusv1.Event{order(func(o *nexusv1.Order) { o.EventId = "e3" }), order(func(o *nexusv1.Order) { o.EventId, o.OrderStatus = "e4", "lost" })}}
	_, err = client.Send(ctx, bad)
	if st, _ := status.FromError(err); st.Code() != codes.InvalidArgument || !strings.Contains(st.Message(), "event 1 (e4): order.order_status") {
		t.Errorf("invalid event: %v", err)
	}
	if n := len(consume(t, broker, "olist.orders")); n != 2 {
		t.Errorf("a rejected batch was produced: %d records", n)
	}
	// A client stream: acknowledged once, for all of it.
	st, err := client.SendStream(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		id := "s" + string(rune('0'+i))
		if err := st.Send(&nexusv1.Batch{Events: []*nexusv1.Event{order(func(o *nexusv1.Order) { o.EventId = id })}}); err != nil {
			t.Fatal(err)
		}
	}
	if res, err := st.CloseAndRecv(); err != nil || res.Accepted != 3 {
		t.Errorf("stream: %v %v", res, err)
	}
	// A deadline that cannot be met is honoured.
	dctx, cancel := context.WithTimeout(ctx, time.Nanosecond)
	defer cancel()
	if _, err := client.Send(dctx, ok); status.Code(err) != codes.DeadlineExceeded {
		t.Errorf("deadline: %v", err)
	}
	// Health.
	h, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{Service: nexusv1.Ingest_ServiceDesc.ServiceName})
	if err != nil || h.Status != healthpb.HealthCheckResponse_SERVING {
		t.Errorf("health: %v %v", h, err)
	}
}

func TestEdgeAuth(t *testing.T) {
	client, conn, _ := edge(t, "s3cret")
	ctx := context.Background()
	batch := &nexusv1.Batch{Events: []*nexusv1.Event{order(nil)}}
	if _, err := client.Send(ctx, batch); status.Code(err) != codes.Unauthenticated || !strings.Contains(err.Error(), "required") {
		t.Errorf("no token: %v", err)
	}
	if _, err := client.Send(metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer wrong"), batch); status.Code(err) != codes.Unauthenticated || !strings.Contains(err.Error(), "not the edge's") {
		t.Errorf("wrong token: %v", err)
	}
	if _, err := client.Send(metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer s3cret"), batch); err != nil {
		t.Errorf("token: %v", err)
	}
	if _, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{}); err != nil {
		t.Errorf("health without a token: %v", err)
	}
	// Not loopback: token and TLS are required, and the error says which
	// is missing; a certificate goes with its key.
	for _, tc := range []struct {
		o         ServeOptions
		want, not string
	}{
		{ServeOptions{Addr: "0.0.0.0:7000", Token: "x"}, "TLS", "bearer token"},
		{ServeOptions{Addr: "0.0.0.0:7000", TLSCert: "c", TLSKey: "k"}, "NEXUS_STREAM_TOKEN", "TLS ("},
		{ServeOptions{Addr: ":7000"}, "bearer token (in the variable --token-env names, NEXUS_STREAM_TOKEN by default) and TLS", ""},
		{ServeOptions{Addr: "127.0.0.1:7000", TLSCert: "c"}, "its key (--tls-key)", ""},
	} {
		e := &Edge{opts: tc.o}
		_, err := e.GRPCServer()
		if err == nil || !strings.Contains(err.Error(), tc.want) || tc.not != "" && strings.Contains(err.Error(), tc.not) {
			t.Errorf("%+v: %v", tc.o, err)
		}
	}
}

// kcat, a real Kafka client that is not franz-go, reads what the edge
// produced.
func TestKcatReadsEdgeEvents(t *testing.T) {
	kcat, err := exec.LookPath("kcat")
	if err != nil {
		if os.Getenv("NEXUS_REQUIRE_TOOLS") != "" {
			t.Fatal("kcat (Debian package kcat) is required (NEXUS_REQUIRE_TOOLS is set)")
		}
		t.Skip("kcat not installed (Debian package kcat)")
	}
	client, _, broker := edge(t, "")
	if _, err := client.Send(context.Background(), &nexusv1.Batch{Events: []*nexusv1.Event{order(nil)}}); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(kcat, "-b", broker, "-C", "-t", "olist.orders", "-e", "-q", "-f", "%k %h\n").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "0001 content-type=application/x-protobuf,event_id=e1") {
		t.Errorf("kcat: %v\n%s", err, out)
	}
}

// A generated data set replayed through the edge: every event acknowledged,
// each entity's topic holding as many records as its file has rows.
func TestLoadGeneratedDataSet(t *testing.T) {
	rep, reg, events := dataSetEvents(t, t.TempDir(), 0.005, 3)
	_, conn, broker := edge(t, "")
	for _, unary := range []bool{true, false} {
		lr, err := Load(context.Background(), conn, events, LoadOptions{Unary: unary, Batch: 100, StreamBatches: 5, Concurrency: 3})
		if err != nil {
			t.Fatalf("unary=%t: %v", unary, err)
		}
		if lr.Accepted != int64(len(events)) || lr.P50 <= 0 || lr.P99 < lr.P50 {
			t.Errorf("unary=%t: %+v", unary, lr)
		}
	}
	for _, f := range rep.Files {
		e, ok := reg.ByTable(f.Table)
		if !ok {
			continue
		}
		// Sent twice (unary, then streamed): same ids, so the worker writes
		// each once; Kafka holds both sends.
		if n := len(consume(t, broker, e.Topic(DefaultTopicPrefix))); int64(n) != 2*f.Rows {
			t.Errorf("%s: %d records, %d rows in the file", f.Table, n, f.Rows)
		}
	}
}

// dataSetEvents generates a data set in dir and reads it as events.
func dataSetEvents(t *testing.T, dir string, scale float64, seed int64) (olist.GenReport, *Registry, []*nexusv1.Event) {
	t.Helper()
	rep, err := olist.Generate(context.Background(), dir, olist.GenOptions{Scale: scale, Seed: seed})
	if err != nil {
		t.Fatal(err)
	}
	reg, err := NewRegistry()
	if err != nil {
		t.Fatal(err)
	}
	events, err := Events(reg, dir)
	if err != nil {
		t.Fatal(err)
	}
	return rep, reg, events
}

// writeLake opens the lake at root for writing (creating it), as the
// worker's lake.
func writeLake(t *testing.T, root string) *lake.Lake {
	t.Helper()
	lk, err := lake.Open(root)
	if err != nil {
		t.Fatal(err)
	}
	return lk
}

// startWorker runs a worker until the returned function stops it (and
// waits for it to end).
func startWorker(t *testing.T, o WorkerOptions) (stop func()) {
	t.Helper()
	w, err := NewWorker(o)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan struct{})
	go func() {
		if err := w.Run(ctx); err != nil {
			t.Error(err)
		}
		close(ran)
	}()
	// Stopped at the end of the test too (once): a test that fails midway
	// must not leave a worker writing into its removed directory.
	stop = sync.OnceFunc(func() { cancel(); <-ran; w.Close() })
	t.Cleanup(stop)
	return stop
}

// A load whose edge is not there yet (down, restarting) sends its calls
// again until the edge answers, with the same events; told never to retry,
// it fails and counts the events as not acknowledged.
func TestLoadRetriesUnavailableEdge(t *testing.T) {
	b, err := StartBroker(BrokerOptions{Addr: "127.0.0.1:0", Partitions: 2})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	events := []*nexusv1.Event{order(func(o *nexusv1.Order) { o.EventId = "r-1" }), order(func(o *nexusv1.Order) { o.EventId = "r-2" })}
	for _, tc := range []struct {
		name     string
		unary    bool
		retryFor time.Duration
		ok       bool
	}{
		{"stream, retried", false, 30 * time.Second, true},
		{"unary, retried", true, 30 * time.Second, true},
		{"never retried", true, -1, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			addr := ln.Addr().String()
			ln.Close() // nobody listens until the edge starts below
			conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			done := make(chan error, 1)
			var rep LoadReport
			go func() {
				var err error
				rep, err = Load(context.Background(), conn, events, LoadOptions{Batch: 1, Unary: tc.unary, RetryFor: tc.retryFor})
				done <- err
			}()
			if !tc.ok {
				if err := <-done; err == nil || rep.Accepted != 0 || rep.Retries != 0 {
					t.Fatalf("no retry: %v, %+v", err, rep)
				}
				return
			}
			time.Sleep(300 * time.Millisecond)
			ln, err = net.Listen("tcp", addr)
			if err != nil {
				t.Skipf("the address was taken meanwhile: %v", err)
			}
			serveEdge(t, ln, ServeOptions{Addr: addr, Brokers: b.Addrs()})
			if err := <-done; err != nil || rep.Accepted != 2 || rep.Retries == 0 {
				t.Fatalf("%v, %+v", err, rep)
			}
		})
	}
}

// An embedded broker restarted under a running edge (its topics gone, the
// edge still holding their ids) does not crash: the edge's calls go on.
func TestBrokerRestartedUnderEdge(t *testing.T) {
	b, err := StartBroker(BrokerOptions{Addr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	addr := b.Addrs()[0]
	ctx := context.Background()
	e, err := NewEdge(ctx, ServeOptions{Addr: "127.0.0.1:0", Brokers: []string{addr}})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	batch := func(id string) *nexusv1.Batch {
		return &nexusv1.Batch{Events: []*nexusv1.Event{order(func(o *nexusv1.Order) { o.EventId = id }),
			{Entity: &nexusv1.Event_Customer{Customer: &nexusv1.Customer{EventId: id + "c", EventTime: order(nil).GetOrder().EventTime,
				CustomerId: "c1", CustomerUniqueId: "u1", CustomerZipCodePrefix: "01001", CustomerCity: "sao paulo", CustomerState: "SP"}}}}}
	}
	if _, err := e.Send(ctx, batch("before")); err != nil {
		t.Fatal(err)
	}
	b.Close()
	b2, err := StartBroker(BrokerOptions{Addr: addr})
	if err != nil {
		t.Skipf("port %s taken meanwhile: %v", addr, err)
	}
	defer b2.Close()
	// The first calls may fail (UNAVAILABLE, which a client retries) while
	// the edge learns the new topics; then they go through.
	deadline := time.Now().Add(time.Minute)
	for i := 0; ; i++ {
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		_, err := e.Send(cctx, batch(fmt.Sprint("after", i)))
		cancel()
		if err == nil {
			break
		}
		if status.Code(err) != codes.Unavailable && status.Code(err) != codes.DeadlineExceeded || time.Now().After(deadline) {
			t.Fatalf("after the broker restarted, call %d: %v", i, err)
		}
		t.Logf("call %d: %v", i, err)
	}
}

// A call the edge refuses for what it carries (a message past
// --max-message-bytes: RESOURCE_EXHAUSTED) would fail again as it is: the
// load does not send it again, it says so at once.
func TestLoadDoesNotRetryOversizedCall(t *testing.T) {
	_, conn, _ := edge(t, "") // 1 MiB at most
	big := strings.Repeat("x", 2<<20)
	events := []*nexusv1.Event{order(func(o *nexusv1.Order) { o.EventId, o.OrderId = "big", big })}
	for _, unary := range []bool{true, false} {
		rep, err := Load(context.Background(), conn, events, LoadOptions{Batch: 1, Unary: unary, RetryFor: 5 * time.Second})
		if err == nil || rep.Accepted != 0 || rep.Retries != 0 {
			t.Errorf("unary %v: %v, %+v; want a failure not sent again", unary, err, rep)
		}
		if !strings.Contains(rep.FirstError, "ResourceExhausted") && !strings.Contains(rep.FirstError, "larger than max") {
			t.Errorf("unary %v: first error %q", unary, rep.FirstError)
		}
	}
}

// Calls fail for want of an edge: the retries stop RetryFor after the
// first failure for every call (not RetryFor per call), the caller is told
// once, and every event counts as not acknowledged.
func TestLoadRetryBudgetIsShared(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nobody listens
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var events []*nexusv1.Event
	for i := range 60 {
		events = append(events, order(func(o *nexusv1.Order) { o.EventId = fmt.Sprint("b", i) }))
	}
	told := 0
	rep, err := Load(context.Background(), conn, events, LoadOptions{Batch: 1, Unary: true, Concurrency: 2, RetryFor: 300 * time.Millisecond,
		OnRetry: func(error) { told++ }})
	if err == nil || rep.Accepted != 0 || rep.Events != 60 {
		t.Fatalf("%v, %+v", err, rep)
	}
	// Per call, each of the 60 calls would have been sent again several times.
	if told != 1 || rep.Retries >= 60 {
		t.Errorf("told %d times, %d retries for 60 calls", told, rep.Retries)
	}
}
