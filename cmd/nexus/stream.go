package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"

	"github.com/spf13/cobra"

	"github.com/keystone/nexus/internal/lake"
	"github.com/keystone/nexus/internal/stream"
)

func newStreamCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "stream",
		Short: "Live ingestion: gRPC edge → Kafka → workers → Bronze",
		Long: `The stream feeds the lake event by event, under the same contract as the files:
'stream serve' validates events at a gRPC edge and produces them to Kafka
(one topic per entity, key = order_id), acknowledging once Kafka has them;
'stream broker' is a Kafka-protocol broker in this process for when no Kafka
is at hand. The proto is api/nexus/v1/events.proto.`,
	}
	cmd.AddCommand(newStreamBrokerCmd(a), newStreamServeCmd(a), newStreamWorkerCmd(a), newStreamLoadCmd(a), newStreamDemoCmd(a))
	return cmd
}

func newStreamBrokerCmd(_ *app) *cobra.Command {
	var o stream.BrokerOptions
	cmd := &cobra.Command{
		Use:   "broker",
		Short: "Run an embedded Kafka-protocol broker (franz-go's kfake) on loopback",
		Long: `Run a Kafka-protocol broker in this process, on a loopback address, for a stream
without a Kafka at hand. It keeps the events IN MEMORY: they are lost when it
stops, unless --data-dir keeps its log on disk. Production points --brokers at
Kafka (Amazon MSK, for instance) with the same code.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			b, err := stream.StartBroker(o)
			if err != nil {
				return err
			}
			defer b.Close()
			where := "IN MEMORY: they are lost when it stops (--data-dir DIR keeps them)"
			if o.DataDir != "" {
				where = "on disk in " + o.DataDir
			}
			fmt.Printf("embedded Kafka-protocol broker at %s; it keeps events %s. Production: point --brokers at Kafka.\n",
				strings.Join(b.Addrs(), ","), where)
			<-cmd.Context().Done()
			return nil
		},
	}
	cmd.Flags().StringVar(&o.Addr, "addr", "127.0.0.1:9092", "loopback host:port to listen on")
	cmd.Flags().StringVar(&o.DataDir, "data-dir", "", "keep the broker's log in this directory (default: memory only)")
	cmd.Flags().Int32Var(&o.Partitions, "partitions", 3, "partitions of a topic created on first use")
	return cmd
}

func newStreamServeCmd(a *app) *cobra.Command {
	var (
		o          stream.ServeOptions
		brokers    string
		tokenEnv   string
		kafkaCreds func()
	)
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Serve the gRPC edge: validate events, produce them to Kafka, acknowledge",
		Long: `Serve nexus.v1.Ingest (api/nexus/v1/events.proto): Send(Batch) and the client
stream SendStream. Each event is checked against the source contract (required
fields, types, allowed values); an invalid one fails the call with
INVALID_ARGUMENT naming the event and the field, and nothing of that batch is
produced. Valid events go to Kafka (idempotent producer, acks=all, key =
order_id, one topic per entity) and a call is acknowledged only once Kafka has
all of it. Health and reflection services are on. Off loopback, a bearer token
(from the variable --token-env names) and TLS are required.`,
		Example: `  nexus stream broker &
  nexus stream serve --grpc 127.0.0.1:7070 --brokers 127.0.0.1:9092`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o.Brokers = strings.Split(brokers, ",")
			o.Token = os.Getenv(tokenEnv)
			kafkaCreds()
			o.Logger = a.log
			e, err := stream.NewEdge(cmd.Context(), o)
			if err != nil {
				return err
			}
			defer e.Close()
			srv, err := e.GRPCServer()
			if err != nil {
				return err
			}
			ln, err := net.Listen("tcp", o.Addr)
			if err != nil {
				return fmt.Errorf("stream serve --grpc: %w", err)
			}
			fmt.Printf("gRPC edge at %s, producing to %s (topics %s<table>)\n", ln.Addr(), brokers, o.TopicPrefix)
			go func() {
				<-cmd.Context().Done()
				// The calls under way finish (their events are acknowledged or
				// not, never half), for at most 10 s: a call waiting on a
				// broker that is gone is then cut off.
				t := time.AfterFunc(10*time.Second, srv.Stop)
				srv.GracefulStop()
				t.Stop()
			}()
			return srv.Serve(ln)
		},
	}
	cmd.Flags().StringVar(&o.Addr, "grpc", "127.0.0.1:7070", "host:port of the gRPC service")
	cmd.Flags().StringVar(&brokers, "brokers", "127.0.0.1:9092", "Kafka bootstrap servers, comma-separated")
	cmd.Flags().StringVar(&o.TopicPrefix, "topic-prefix", stream.DefaultTopicPrefix, "topic of an entity: this prefix and its table name")
	cmd.Flags().Int32Var(&o.Partitions, "partitions", 3, "partitions of the topics created at start (existing ones are kept)")
	cmd.Flags().Int16Var(&o.ReplicationFactor, "replication-factor", -1, "replication factor of the topics created (-1: the broker's default)")
	cmd.Flags().StringVar(&tokenEnv, "token-env", "NEXUS_STREAM_TOKEN", "environment variable holding the bearer token clients must send; when that variable is empty, no token is asked (allowed on loopback only)")
	cmd.Flags().StringVar(&o.TLSCert, "tls-cert", "", "TLS certificate file")
	cmd.Flags().StringVar(&o.TLSKey, "tls-key", "", "TLS key file")
	cmd.Flags().IntVar(&o.MaxMessageBytes, "max-message-bytes", 16<<20, "largest request message (a batch) accepted")
	kafkaCreds = kafkaFlags(cmd, &o.Kafka)
	return cmd
}

func newStreamLoadCmd(a *app) *cobra.Command {
	var (
		o         stream.LoadOptions
		addr      string
		tokenEnv  string
		freshLake string
		freshWait time.Duration
		tlsOn     bool
		tlsCA     string
	)
	cmd := &cobra.Command{
		Use:   "load --from DIR",
		Short: "Replay a data set as events through the gRPC edge and report events/s and latency",
		Long: `Read a generated data set (or a landing zone, folder by folder) as the events of
the seven entities and send them through 'nexus stream serve': with client
streams (default), or with --unary calls, whose acknowledgement latency is
measured per call (p50/p95/p99 from an HDR histogram). With --duration the data
set is replayed again (new event ids) until the time is up. A call that fails
for want of the edge or of Kafka (Unavailable, a deadline) is sent again with
the same events for up to --retry-for: Kafka may already hold some of them, and
the workers write an event id once. Exit status 1 when any event was rejected
or not acknowledged.`,
		Example: `  nexus stream load --from data/generated --duration 60s
  nexus stream load --from data/generated --unary --batch 1 --rate 2000 --duration 30s`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if o.From == "" {
				return fmt.Errorf("--from DIR is required")
			}
			reg, err := stream.NewRegistry()
			if err != nil {
				return err
			}
			events, err := stream.Events(reg, o.From)
			if err != nil {
				return err
			}
			o.Token = os.Getenv(tokenEnv)
			creds, err := stream.ClientCredentials(tlsOn, tlsCA)
			if err != nil {
				return err
			}
			conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(creds),
				grpc.WithDefaultCallOptions(grpc.MaxCallSendMsgSize(64<<20)))
			if err != nil {
				return err
			}
			defer conn.Close()
			ctx := cmd.Context()
			stopProbe := func() {}
			if freshLake != "" {
				// A directory or a bucket, read only; the lake may be made
				// by the worker's first commit.
				o.Probe = stream.NewFreshnessProbe(func(ctx context.Context) (*lake.Lake, error) {
					return lake.OpenAny(ctx, freshLake, a.remote, false)
				})
				pctx, cancel := context.WithCancel(ctx)
				probed := make(chan struct{})
				go func() { o.Probe.Run(pctx, 20*time.Millisecond); close(probed) }()
				stopProbe = sync.OnceFunc(func() {
					cancel()
					<-probed
					if err := o.Probe.Close(); err != nil {
						a.log.Warn("releasing the mirror of the freshness lake", "lake", freshLake, "err", err)
					}
				})
			}
			defer stopProbe()
			o.OnRetry = func(err error) {
				fmt.Fprintf(os.Stderr, "calls failing (%v): sending them again for up to %s\n", err, o.RetryFor)
			}
			rep, err := stream.Load(ctx, conn, events, o)
			mode := "client streams"
			if o.Unary {
				mode = "unary calls"
			}
			fmt.Printf("%d events (%d in the data set) in %d %s over %s: %d acknowledged, %d not acknowledged (in failed calls); %.0f events/s\n",
				rep.Events, len(events), rep.Calls, mode, rep.Elapsed.Round(time.Millisecond), rep.Accepted, rep.Rejected, rep.EventsPerSecond())
			if rep.Accepted > 0 {
				fmt.Printf("acknowledgement latency per call: p50 %s, p95 %s, p99 %s, max %s\n", rep.P50, rep.P95, rep.P99, rep.Max)
			}
			if rep.Retries > 0 {
				fmt.Printf("%d retries: calls sent again after the edge or Kafka failed (same event ids: the workers write each event once)\n", rep.Retries)
			}
			if o.Probe != nil {
				o.Probe.Wait(ctx, freshWait)
				stopProbe()
				f := o.Probe.Report()
				fmt.Printf("freshness (acknowledged → visible in %s, as nexus query sees it), %d sampled events: p50 %s, p95 %s, p99 %s, max %s\n",
					freshLake, f.Visible, f.P50, f.P95, f.P99, f.Max)
				switch {
				case f.Err != nil:
					err = errors.Join(err, fmt.Errorf("freshness: reading the lake: %w", f.Err))
				case f.Waiting > 0:
					err = errors.Join(err, fmt.Errorf("freshness: %d acknowledged sampled event(s) not visible in %s after %s (is a worker writing there? Events whose ids the lake holds already are not written again: a replay of a data set already streamed adds nothing)", f.Waiting, freshLake, freshWait))
				}
			}
			return err
		},
	}
	cmd.Flags().StringVar(&addr, "grpc", "127.0.0.1:7070", "host:port of nexus stream serve")
	cmd.Flags().BoolVar(&tlsOn, "tls", false, "call the edge over TLS, trusting the system's roots (an edge off loopback serves TLS)")
	cmd.Flags().StringVar(&tlsCA, "tls-ca", "", "PEM file of the CA that signed the edge's certificate (implies --tls)")
	cmd.Flags().StringVar(&o.From, "from", "", "a directory of the Olist files, or a landing zone")
	cmd.Flags().BoolVar(&o.Unary, "unary", false, "send each batch with a unary call (latency per call)")
	cmd.Flags().IntVar(&o.Batch, "batch", 500, "events per batch")
	cmd.Flags().IntVar(&o.StreamBatches, "stream-batches", 20, "batches per client stream (one acknowledgement each)")
	cmd.Flags().IntVar(&o.Concurrency, "concurrency", 4, "calls at once")
	cmd.Flags().Float64Var(&o.Rate, "rate", 0, "calls per second in all with --unary, else events per second; 0: as fast as acknowledged")
	cmd.Flags().DurationVar(&o.Duration, "duration", 0, "replay until this long has passed (0: one pass over the data set)")
	cmd.Flags().StringVar(&tokenEnv, "token-env", "NEXUS_STREAM_TOKEN", "environment variable holding the bearer token")
	cmd.Flags().DurationVar(&o.CallTimeout, "call-timeout", time.Minute, "longest wait for one call's acknowledgement")
	cmd.Flags().StringVar(&freshLake, "freshness-lake", "", "measure end-to-end freshness: follow the last event of each batch until it is visible in this lake (read only)")
	cmd.Flags().DurationVar(&freshWait, "freshness-wait", 30*time.Second, "with --freshness-lake: how long to wait after the load for the last events to be visible")
	cmd.Flags().DurationVar(&o.RetryFor, "retry-for", time.Minute, "how long a call failing with Unavailable or a deadline is sent again (negative: never)")
	return cmd
}

func newStreamWorkerCmd(a *app) *cobra.Command {
	var (
		o          stream.WorkerOptions
		brokers    string
		kafkaCreds func()
	)
	cmd := &cobra.Command{
		Use:   "worker",
		Short: "Consume the entity topics and append micro-batches to Bronze, exactly once",
		Long: `Join a consumer group (several workers share the partitions) on the entity
topics, collect micro-batches (--batch-events, --batch-interval) and append each
to Bronze through the lake's commit, with the offsets it consumed in the SAME
snapshot: after any crash a worker resumes from the lake's offsets, so no event
is lost and none is written twice. Events are typed by the same rules as the
files; one that does not fit goes to the quarantine with its topic, partition
and offset. An event_id is written once per table (a client retry puts an event
in Kafka twice): the worker checks each against the ids the table holds in the
lake (its _event_id column). Stop with Ctrl-C: what is not committed is read
again. On a lake on S3 (--lake s3://bucket/prefix) the worker keeps one mirror,
pulled again only when another writer moved the lake; a micro-batch that loses
its commit to another writer is done again on the new snapshot.`,
		Example: `  nexus stream worker --brokers 127.0.0.1:9092 --lake lake`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o.Brokers = strings.Split(brokers, ",")
			kafkaCreds()
			// One handle for the worker's life: on S3 its mirror is pulled
			// once, and again only when another writer moved the lake.
			lk, err := a.open(true, false)
			if err != nil {
				return err
			}
			o.Lake = lk
			o.Logger = a.log
			o.OnCommit = func(s stream.BatchStats) {
				fmt.Printf("snapshot %d: %d event(s), %d row(s), %d quarantined, %d duplicate(s)\n", s.Snapshot, s.Events, s.Rows, s.Quarantined, s.Duplicates)
			}
			w, err := stream.NewWorker(o)
			if err != nil {
				return err
			}
			defer w.Close()
			fmt.Printf("stream worker in group %s on %s, committing to %s\n", o.Group, brokers, lk.Location())
			return w.Run(cmd.Context())
		},
	}
	cmd.Flags().StringVar(&brokers, "brokers", "127.0.0.1:9092", "Kafka bootstrap servers, comma-separated")
	cmd.Flags().StringVar(&o.Group, "group", "nexus-workers", "consumer group")
	cmd.Flags().StringVar(&o.TopicPrefix, "topic-prefix", stream.DefaultTopicPrefix, "topic of an entity: this prefix and its table name")
	cmd.Flags().IntVar(&o.BatchEvents, "batch-events", 50000, "commit a micro-batch at this many events")
	cmd.Flags().DurationVar(&o.BatchInterval, "batch-interval", time.Second, "or this long after its first event")
	cmd.Flags().StringVar(&o.InstanceID, "instance-id", "", "static group membership: a worker restarted with the same id takes its partitions back at once")
	cmd.Flags().DurationVar(&o.SessionTimeout, "session-timeout", 10*time.Second, "how long the group waits for a silent worker before it gives its partitions to the others")
	kafkaCreds = kafkaFlags(cmd, &o.Kafka)
	return cmd
}

func newStreamDemoCmd(a *app) *cobra.Command {
	var o stream.DemoOptions
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Run broker, edge and worker in this process, stream a small data set, build the models",
		Long: `Start an embedded broker (events in memory), the gRPC edge and a worker on
loopback, stream a generated data set through them as events, wait until every
event is committed to Bronze, then build Silver and Gold, and print a summary.
The reference tables (geolocation, category translation) have no events and are
ingested as files.`,
		Example: `  nexus stream demo --lake stream-lake`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			lk, err := a.open(true, false)
			if err != nil {
				return err
			}
			o.Lake = lk
			o.Engine = a.engineOptions(0)
			o.Say = func(format string, args ...any) { fmt.Printf(format+"\n", args...) }
			fmt.Printf("data set in %s, lake in %s\n", o.Data, lk.Location())
			rep, err := stream.Demo(cmd.Context(), o)
			if err != nil {
				return err
			}
			fmt.Printf("\n%d events streamed at %.0f events/s, committed in %d micro-batch(es), all visible %s after the last acknowledgement\n",
				rep.Events, rep.Load.EventsPerSecond(), rep.Commits, rep.Freshness.Round(time.Millisecond))
			printRun(os.Stdout, rep.Summary, nil) // a new lake: no earlier verdicts
			if rep.Summary.Err() != nil {
				return exitError{1}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&o.Data, "data", "data/stream-demo", "where the data set is generated")
	cmd.Flags().Float64Var(&o.Scale, "scale", 0.05, "size of the data set (1 is the real one)")
	cmd.Flags().Int64Var(&o.Seed, "seed", 42, "seed of the data set")
	return cmd
}

// kafkaFlags adds the flags of a Kafka that is not on loopback (TLS, SASL)
// to cmd; resolve, called in RunE, reads the credentials from the
// environment into k.
func kafkaFlags(cmd *cobra.Command, k *stream.KafkaOptions) (resolve func()) {
	var userEnv, passEnv string
	cmd.Flags().BoolVar(&k.TLS, "kafka-tls", false, "dial the brokers over TLS (system roots; Amazon MSK's TLS listener)")
	cmd.Flags().StringVar(&k.CAFile, "kafka-ca", "", "PEM file of the CA that signed the brokers' certificates (implies --kafka-tls)")
	cmd.Flags().StringVar(&k.SASL, "kafka-sasl", "", "SASL mechanism: "+strings.Join(stream.SASLMechanisms, ", ")+" (plain over TLS only)")
	cmd.Flags().StringVar(&userEnv, "kafka-user-env", "NEXUS_KAFKA_USER", "environment variable holding the SASL user")
	cmd.Flags().StringVar(&passEnv, "kafka-password-env", "NEXUS_KAFKA_PASSWORD", "environment variable holding the SASL password")
	return func() { k.User, k.Password = os.Getenv(userEnv), os.Getenv(passEnv) }
}
