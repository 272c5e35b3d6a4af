package stream

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/reflection"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	nexusv1 "github.com/keystone/nexus/api/nexus/v1"
)

// DefaultTopicPrefix starts the name of every entity's topic (olist.orders).
const DefaultTopicPrefix = "olist."

// ServeOptions configure the gRPC edge.
type ServeOptions struct {
	Addr        string   // host:port of the gRPC service
	Brokers     []string // Kafka bootstrap servers
	Kafka       KafkaOptions
	TopicPrefix string
	// Partitions and ReplicationFactor of the topics created at start
	// (an existing topic is used as it is).
	Partitions        int32
	ReplicationFactor int16
	// Token, when set, is required as "authorization: Bearer <token>".
	Token string
	// TLSCert and TLSKey, when set, serve TLS. Both the token and TLS are
	// required when Addr is not a loopback address.
	TLSCert, TLSKey string
	// MaxMessageBytes bounds one request message (a Batch).
	MaxMessageBytes int
	Logger          *slog.Logger
}

// Edge is the gRPC service: it validates each event against the contract and
// produces it to Kafka, acknowledging a call only once Kafka (acks=all, an
// idempotent producer) has every event of it.
type Edge struct {
	nexusv1.UnimplementedIngestServer
	reg    *Registry
	client atomic.Pointer[kgo.Client]
	kopts  []kgo.Opt // the client's options, to connect again
	// renewMu: one reconnection at a time; renewed: when the last one was.
	renewMu sync.Mutex
	renewed time.Time
	opts    ServeOptions
	log     *slog.Logger
	topics  map[string]string // table → topic
}

// NewEdge connects to Kafka and creates the entity topics when missing.
func NewEdge(ctx context.Context, o ServeOptions) (*Edge, error) {
	reg, err := NewRegistry()
	if err != nil {
		return nil, err
	}
	if len(o.Brokers) == 0 {
		return nil, errors.New("stream serve: --brokers is required (host:port of Kafka, or of `nexus stream broker`)")
	}
	if o.TopicPrefix == "" {
		o.TopicPrefix = DefaultTopicPrefix
	}
	if o.Partitions <= 0 {
		o.Partitions = 3
	}
	if o.ReplicationFactor == 0 {
		o.ReplicationFactor = -1 // the broker's default
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	kopts, err := o.Kafka.clientOpts()
	if err != nil {
		return nil, fmt.Errorf("stream serve: %w", err)
	}
	// acks=all and idempotence are franz-go's defaults; said here so that
	// nobody loosens them by accident.
	e := &Edge{reg: reg, opts: o, log: o.Logger, topics: map[string]string{},
		kopts: append(kopts, kgo.SeedBrokers(o.Brokers...), kgo.RequiredAcks(kgo.AllISRAcks()),
			kgo.ProducerBatchCompression(kgo.NoCompression()), kgo.ProducerLinger(0))}
	for _, en := range reg.List() {
		e.topics[en.Table.Name] = en.Topic(o.TopicPrefix)
	}
	client, err := e.connect(ctx)
	if err != nil {
		return nil, err
	}
	e.client.Store(client)
	return e, nil
}

// connect makes a Kafka client and the entity topics when missing.
func (e *Edge) connect(ctx context.Context) (*kgo.Client, error) {
	o := e.opts
	client, err := kgo.NewClient(e.kopts...)
	if err != nil {
		return nil, fmt.Errorf("stream serve: kafka client: %w", err)
	}
	if err := o.Kafka.ping(ctx, client, o.Brokers); err != nil {
		client.Close()
		return nil, fmt.Errorf("stream serve: %w", err)
	}
	var names []string
	for _, t := range e.topics {
		names = append(names, t)
	}
	sort.Strings(names)
	res, err := kadm.NewClient(client).CreateTopics(ctx, o.Partitions, o.ReplicationFactor, nil, names...)
	if err != nil {
		client.Close()
		return nil, fmt.Errorf("stream serve: create topics on %s: %w", strings.Join(o.Brokers, ","), err)
	}
	for _, r := range res {
		if r.Err != nil && !errors.Is(r.Err, kerr.TopicAlreadyExists) {
			client.Close()
			return nil, fmt.Errorf("stream serve: create topic %s: %w", r.Topic, r.Err)
		}
	}
	return client, nil
}

// kafka is the current Kafka client.
func (e *Edge) kafka() *kgo.Client { return e.client.Load() }

// topicsLost: the broker does not know the entity topics, or not under the
// ids the client knows them by (deleted, or made again).
func topicsLost(err error) bool {
	return errors.Is(err, kerr.UnknownTopicID) || errors.Is(err, kerr.UnknownTopicOrPartition)
}

// renew replaces a client whose topics the broker no longer knows (a topic
// deleted, an in-memory broker restarted): franz-go keeps failing their
// records. The new client makes the topics again, as at start. The calls
// that failed were answered UNAVAILABLE; their retries use the new client.
// At most one renewal every few seconds.
func (e *Edge) renew(ctx context.Context, old *kgo.Client, cause error) {
	e.renewMu.Lock()
	defer e.renewMu.Unlock()
	if e.kafka() != old || time.Since(e.renewed) < 5*time.Second {
		return // another call renewed it, or just did
	}
	e.renewed = time.Now()
	e.log.Warn("stream serve: the broker does not know the topics any more (deleted, or the broker was restarted): reconnecting", "err", cause)
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	client, err := e.connect(cctx)
	if err != nil {
		e.log.Error("stream serve: reconnecting to Kafka", "err", err)
		return
	}
	e.client.Store(client)
	go old.Close() // its calls are failing already
}

// Close closes the Kafka client. Every call has had its acknowledgements by then: nothing is left buffered.
func (e *Edge) Close() { e.kafka().Close() }

// records validates a batch (first event at index base) into Kafka records.
func (e *Edge) records(base int, b *nexusv1.Batch) ([]*kgo.Record, error) {
	out := make([]*kgo.Record, 0, len(b.GetEvents()))
	for i, ev := range b.GetEvents() {
		rec, err := e.reg.Validate(base+i, ev)
		if err != nil {
			return nil, status.Error(codes.InvalidArgument, err.Error())
		}
		v, err := proto.Marshal(ev)
		if err != nil {
			return nil, status.Errorf(codes.Internal, "event %d: %v", base+i, err)
		}
		out = append(out, &kgo.Record{Topic: e.topics[rec.Entity.Table.Name], Key: []byte(rec.Key()), Value: v,
			Headers: []kgo.RecordHeader{{Key: "content-type", Value: []byte("application/x-protobuf")}, {Key: "event_id", Value: []byte(rec.EventID)}}})
	}
	return out, nil
}

// produced waits for Kafka to acknowledge records; the error is the gRPC
// status of the first failure.
func produceStatus(ctx context.Context, err error) error {
	switch {
	case err == nil:
		return nil
	case ctx.Err() != nil:
		return status.FromContextError(ctx.Err()).Err()
	}
	if errors.Is(err, kerr.MessageTooLarge) || errors.Is(err, kerr.RecordListTooLarge) {
		return status.Errorf(codes.InvalidArgument, "an event is larger than Kafka takes (%v): not retryable", err)
	}
	return status.Errorf(codes.Unavailable, "kafka did not acknowledge every event (retry with the same event_ids): %v", err)
}

// Send validates a batch and acknowledges it once Kafka has all of it.
func (e *Edge) Send(ctx context.Context, b *nexusv1.Batch) (*nexusv1.SendResponse, error) {
	recs, err := e.records(0, b)
	if err != nil {
		return nil, err
	}
	cl := e.kafka()
	err = cl.ProduceSync(ctx, recs...).FirstErr()
	if topicsLost(err) {
		e.renew(ctx, cl, err)
	}
	if err := produceStatus(ctx, err); err != nil {
		return nil, err
	}
	return &nexusv1.SendResponse{Accepted: int64(len(recs))}, nil
}

// SendStream takes batches until the client closes its side, producing them
// as they come, and acknowledges once Kafka has every event of the stream.
// An invalid event fails the call; the batches before it are in Kafka (a
// client that resends them sends them twice).
func (e *Edge) SendStream(stream grpc.ClientStreamingServer[nexusv1.Batch, nexusv1.SendResponse]) error {
	ctx := stream.Context()
	cl := e.kafka() // one client for the whole stream
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
		n     int
	)
	done := func(_ *kgo.Record, err error) {
		if err != nil {
			mu.Lock()
			if first == nil {
				first = err
			}
			mu.Unlock()
		}
		wg.Done()
	}
	for {
		b, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			wg.Wait()
			return err
		}
		recs, err := e.records(n, b)
		if err != nil {
			wg.Wait()
			return err
		}
		for _, r := range recs {
			wg.Add(1)
			cl.Produce(ctx, r, done)
		}
		n += len(recs)
	}
	wg.Wait()
	if topicsLost(first) {
		e.renew(ctx, cl, first)
	}
	if err := produceStatus(ctx, first); err != nil {
		return err
	}
	return stream.SendAndClose(&nexusv1.SendResponse{Accepted: int64(n)})
}

// GRPCServer builds the gRPC server: the Ingest service, health and
// reflection, the message size limit, and the token and TLS options, which
// are required when the address is not loopback.
func (e *Edge) GRPCServer() (*grpc.Server, error) {
	o := e.opts
	loopback, err := isLoopback(o.Addr)
	if err != nil {
		return nil, err
	}
	tlsOn := o.TLSCert != "" || o.TLSKey != ""
	if tlsOn && (o.TLSCert == "" || o.TLSKey == "") {
		return nil, fmt.Errorf("stream serve: TLS needs both a certificate (--tls-cert) and its key (--tls-key)")
	}
	if !loopback && (o.Token == "" || !tlsOn) {
		var missing []string
		if o.Token == "" {
			missing = append(missing, "a bearer token (in the variable --token-env names, NEXUS_STREAM_TOKEN by default)")
		}
		if !tlsOn {
			missing = append(missing, "TLS (--tls-cert and --tls-key)")
		}
		return nil, fmt.Errorf("stream serve --grpc %s is not a loopback address: it needs %s", o.Addr, strings.Join(missing, " and "))
	}
	max := o.MaxMessageBytes
	if max <= 0 {
		max = 16 << 20
	}
	opts := []grpc.ServerOption{grpc.MaxRecvMsgSize(max),
		grpc.ChainUnaryInterceptor(e.authUnary), grpc.ChainStreamInterceptor(e.authStream)}
	if tlsOn {
		creds, err := credentials.NewServerTLSFromFile(o.TLSCert, o.TLSKey)
		if err != nil {
			return nil, fmt.Errorf("stream serve: TLS: %w", err)
		}
		opts = append(opts, grpc.Creds(creds))
	}
	s := grpc.NewServer(opts...)
	nexusv1.RegisterIngestServer(s, e)
	hs := health.NewServer()
	hs.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	hs.SetServingStatus(nexusv1.Ingest_ServiceDesc.ServiceName, healthpb.HealthCheckResponse_SERVING)
	healthpb.RegisterHealthServer(s, hs)
	reflection.Register(s)
	return s, nil
}

// isLoopback reports whether host:port names a loopback address.
func isLoopback(addr string) (bool, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false, fmt.Errorf("%q: want host:port", addr)
	}
	if host == "localhost" {
		return true, nil
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback(), nil
}

// authorized checks the bearer token of a call; health checks need none (a
// load balancer asks them).
func (e *Edge) authorized(ctx context.Context, method string) error {
	if e.opts.Token == "" || strings.HasPrefix(method, "/grpc.health.v1.Health/") {
		return nil
	}
	md, _ := metadata.FromIncomingContext(ctx)
	auth := md.Get("authorization")
	for _, v := range auth {
		if tok, ok := strings.CutPrefix(v, "Bearer "); ok && subtle.ConstantTimeCompare([]byte(tok), []byte(e.opts.Token)) == 1 {
			return nil
		}
	}
	if len(auth) > 0 {
		return status.Error(codes.Unauthenticated, "the bearer token is not the edge's")
	}
	return status.Error(codes.Unauthenticated, "a bearer token is required (authorization: Bearer <token>)")
}

func (e *Edge) authUnary(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
	if err := e.authorized(ctx, info.FullMethod); err != nil {
		return nil, err
	}
	return h(ctx, req)
}

func (e *Edge) authStream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
	if err := e.authorized(ss.Context(), info.FullMethod); err != nil {
		return err
	}
	return h(srv, ss)
}
