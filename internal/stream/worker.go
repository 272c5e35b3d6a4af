package stream

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"golang.org/x/sync/errgroup"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	nexusv1 "github.com/keystone/nexus/api/nexus/v1"
	"github.com/keystone/nexus/internal/ingest"
	"github.com/keystone/nexus/internal/lake"
	"github.com/keystone/nexus/internal/pipeline"
)

// WorkerOptions configure a stream worker.
type WorkerOptions struct {
	Brokers []string
	Kafka   KafkaOptions
	// Lake is the lake the worker commits to, open for writing (a
	// directory or a bucket: lake.OpenAny), for the worker's life: the
	// caller releases it after Close. Between micro-batches it is brought
	// up to date only when another writer moved the lake (Lake.Sync).
	Lake        *lake.Lake
	Group       string // consumer group: workers of one group share the partitions
	TopicPrefix string
	// A micro-batch is committed when it holds BatchEvents events or when
	// BatchInterval has passed since its first event.
	BatchEvents   int
	BatchInterval time.Duration
	// InstanceID, when set, makes the worker a static member of its group
	// (KIP-345): restarted with the same id, it takes its partitions back at
	// once instead of waiting for the group to notice the old one is gone.
	InstanceID string
	// SessionTimeout: how long the group waits for a silent member before it
	// reassigns its partitions.
	SessionTimeout time.Duration
	Logger         *slog.Logger
	// OnCommit, when set, is called after each commit (tests, progress).
	OnCommit func(BatchStats)
	// After a commit, at most once per VacuumEvery (default 10 minutes:
	// a vacuum reads every snapshot kept, one per micro-batch of the last
	// hour), the worker removes what Retention (default
	// lake.DefaultRetention) no longer keeps, as every run's commit does:
	// else the snapshots of a stream and the files its compactions
	// replaced would pile up for ever. A Retention whose Grace is under
	// lake.ReaderPin may remove files a reader still reads (tests).
	VacuumEvery time.Duration
	Retention   lake.Retention
}

// BatchStats is what one micro-batch commit wrote.
type BatchStats struct {
	Events, Rows, Quarantined, Duplicates int64
	Snapshot                              int64
}

// offsetKey is the snapshot meta key of a partition's next offset: the lake
// says where to resume, so that a batch and its offsets commit together.
func offsetKey(topic string, partition int32) string {
	return fmt.Sprintf("stream.offset.%s.%d", topic, partition)
}

// Worker consumes the entity topics and appends micro-batches to Bronze,
// committing each with the offsets it consumed in one lake snapshot: after
// any crash it resumes from the lake's offsets, so no event is lost or
// written twice.
type Worker struct {
	o       WorkerOptions
	reg     *Registry
	client  *kgo.Client
	log     *slog.Logger
	byTopic map[string]*Entity
	// zone is the business calendar: an event's _batch is its local date.
	zone *time.Location
	// rewound: the lake offset of a partition this worker already went
	// back to once; a batch that starts past it is then a gap in the log.
	rewound map[string]int64
	// topicIDs are the topics' ids on the broker: the lake's offsets are
	// offsets of those topics, not of a topic of the same name made anew.
	topicIDs map[string]string
	// ids are the event ids of each Bronze table (see eventIDs).
	ids map[string]*eventIDs
	// lakeMu: one use of the lake handle at a time (a commit, the offsets
	// read when partitions are assigned, from the client's goroutine).
	lakeMu sync.Mutex
	// beforeCommit, when set (tests), runs just before a micro-batch's
	// snapshot is committed: another writer can commit there.
	beforeCommit func()
	// vacuumed is when this worker last vacuumed (zero: not yet, so its
	// first commit does); guarded by lakeMu.
	vacuumed time.Time
}

// NewWorker joins the consumer group.
func NewWorker(o WorkerOptions) (*Worker, error) {
	reg, err := NewRegistry()
	if err != nil {
		return nil, err
	}
	if o.TopicPrefix == "" {
		o.TopicPrefix = DefaultTopicPrefix
	}
	if o.Group == "" {
		o.Group = "nexus-workers"
	}
	if o.BatchEvents <= 0 {
		o.BatchEvents = 50000
	}
	if o.BatchInterval <= 0 {
		o.BatchInterval = time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.VacuumEvery <= 0 {
		o.VacuumEvery = 10 * time.Minute
	}
	if o.Retention == (lake.Retention{}) {
		o.Retention = lake.DefaultRetention()
	}
	if o.Lake == nil || !o.Lake.Writable() {
		return nil, errors.New("stream worker: no lake open for writing")
	}
	zone, err := time.LoadLocation("America/Sao_Paulo")
	if err != nil {
		return nil, fmt.Errorf("stream worker: time zone: %w", err)
	}
	w := &Worker{o: o, reg: reg, log: o.Logger, byTopic: map[string]*Entity{}, zone: zone, rewound: map[string]int64{}, ids: map[string]*eventIDs{}}
	var topics []string
	for _, e := range reg.List() {
		t := e.Topic(o.TopicPrefix)
		w.byTopic[t] = e
		topics = append(topics, t)
	}
	if o.SessionTimeout <= 0 {
		o.SessionTimeout = 10 * time.Second
	}
	opts, err := o.Kafka.clientOpts()
	if err != nil {
		return nil, fmt.Errorf("stream worker: %w", err)
	}
	opts = append(opts, kgo.SeedBrokers(o.Brokers...), kgo.ConsumerGroup(o.Group), kgo.ConsumeTopics(topics...),
		kgo.SessionTimeout(o.SessionTimeout),
		// The offsets live in the lake, committed with the data: Kafka's
		// group offsets are never used.
		kgo.DisableAutoCommit(),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.OnPartitionsAssigned(w.assigned),
		// A rebalance waits until the micro-batch in hand is committed
		// (AllowRebalance): a partition never moves to another worker with
		// records of it read here and not yet in the lake.
		kgo.BlockRebalanceOnPoll(),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
	)
	if o.InstanceID != "" {
		opts = append(opts, kgo.InstanceID(o.InstanceID))
	}
	w.client, err = kgo.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("stream worker: kafka client: %w", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := o.Kafka.ping(ctx, w.client, o.Brokers); err != nil {
		w.client.Close()
		return nil, fmt.Errorf("stream worker: %w", err)
	}
	details, err := kadm.NewClient(w.client).ListTopics(ctx, topics...)
	if err != nil {
		w.client.Close()
		return nil, fmt.Errorf("stream worker: topics on %s: %w", strings.Join(o.Brokers, ","), err)
	}
	w.topicIDs = map[string]string{}
	for _, d := range details {
		if d.Err == nil && d.ID != (kadm.TopicID{}) {
			w.topicIDs[d.Topic] = d.ID.String()
		}
	}
	// Said at start, not at the first event: a lake whose offsets are about
	// other topics (an in-memory broker restarted) cannot take this stream.
	if snap := o.Lake.Snapshot(); snap != nil {
		if err := w.sameTopics(snap.Meta); err != nil {
			w.client.Close()
			return nil, err
		}
	}
	return w, nil
}

// sameTopics checks the broker's topics against the ids the lake's
// offsets are about.
func (w *Worker) sameTopics(meta map[string]string) error {
	topics := make([]string, 0, len(w.topicIDs))
	for t := range w.topicIDs {
		topics = append(topics, t)
	}
	sort.Strings(topics)
	for _, topic := range topics {
		id := w.topicIDs[topic]
		if was, ok := meta[topicKey(topic)]; ok && was != id {
			return fmt.Errorf("stream worker: %s: %w (id %s now, %s in the lake): the broker was reset or the topic made anew; use a new lake, or a broker that kept its log (nexus stream broker --data-dir)", topic, errTopicChanged, id, was)
		}
	}
	return nil
}

// topicKey is the snapshot meta key of the id of the topic the offsets of
// that topic are about.
func topicKey(topic string) string { return "stream.topic_id." + topic }

// errTopicChanged: the broker's topic is not the one the lake's offsets
// are about (an in-memory broker restarted, a topic deleted and made
// again): its offsets mean nothing there.
var errTopicChanged = errors.New("the topic is not the one the lake's stream offsets are about")

// Close leaves the group; call it once Run has returned. The lake is the
// caller's to release.
func (w *Worker) Close() { w.client.CloseAllowingRebalance() }

// assigned starts each new partition at the offset the lake recorded, in
// its current snapshot (another worker may have committed it last).
func (w *Worker) assigned(ctx context.Context, cl *kgo.Client, parts map[string][]int32) {
	w.lakeMu.Lock()
	snap, err := w.o.Lake.Current(ctx)
	w.lakeMu.Unlock()
	if err != nil {
		w.log.Error("stream worker: lake offsets not read; the partitions start where the lake says once readable", "err", err)
		return
	}
	var meta map[string]string
	if snap != nil {
		meta = snap.Meta
	}
	set := map[string]map[int32]kgo.EpochOffset{}
	for topic, ps := range parts {
		for _, p := range ps {
			off := int64(0)
			if v, ok := meta[offsetKey(topic, p)]; ok {
				n, err := strconv.ParseInt(v, 10, 64)
				if err == nil {
					off = n
				}
			}
			if set[topic] == nil {
				set[topic] = map[int32]kgo.EpochOffset{}
			}
			set[topic][p] = kgo.EpochOffset{Epoch: -1, Offset: off}
		}
	}
	cl.SetOffsets(set)
	w.log.Info("partitions assigned", "partitions", set)
}

// Run consumes until ctx is done, committing micro-batches.
func (w *Worker) Run(ctx context.Context) error {
	var batch []prepared
	var first time.Time
	for {
		pctx := ctx
		var cancel context.CancelFunc = func() {}
		if len(batch) > 0 {
			pctx, cancel = context.WithDeadline(ctx, first.Add(w.o.BatchInterval))
		}
		fs := w.client.PollRecords(pctx, w.o.BatchEvents-len(batch))
		cancel()
		if ctx.Err() != nil {
			return nil // what is not committed is consumed again from the lake's offsets
		}
		var ferr error
		fs.EachError(func(t string, p int32, err error) {
			if !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) {
				ferr = errors.Join(ferr, fmt.Errorf("fetch %s/%d: %w", t, p, err))
			}
		})
		if ferr != nil {
			w.log.Warn("stream worker: fetch", "err", ferr)
		}
		recs := fs.Records()
		if len(recs) > 0 && len(batch) == 0 {
			first = time.Now()
		}
		// Decoded and checked as they arrive, while the micro-batch fills:
		// the commit, which readers wait for, only writes.
		batch = append(batch, w.prepare(recs)...)
		if len(batch) > 0 && (len(batch) >= w.o.BatchEvents || time.Since(first) >= w.o.BatchInterval) {
			err := w.commitPrepared(ctx, batch)
			var fenced *fencedError
			switch {
			case err == nil:
			case ctx.Err() != nil:
				return nil // stopped mid-commit: nothing of it is visible
			case errors.As(err, &fenced):
				w.log.Warn("stream worker: micro-batch fenced", "err", err)
				w.rewind(batch)
			default:
				return err
			}
			batch = batch[:0]
		}
		if len(batch) == 0 {
			w.client.AllowRebalance()
		}
	}
}

// lock takes the lake's writer lock, waiting while another writer (another
// worker, a run) holds it.
func lockLake(ctx context.Context, lk *lake.Lake) (func(), error) {
	for {
		unlock, err := lk.Lock()
		if !errors.Is(err, lake.ErrLocked) {
			return unlock, err
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// fencedError: a micro-batch does not start where the lake says its
// partition is.
type fencedError struct {
	key         string
	lake, batch int64
}

func (e *fencedError) Error() string {
	return fmt.Sprintf("%s: the lake is at offset %d, this micro-batch starts at %d (another worker committed it, or the lake went back): dropped, consuming again from the lake", e.key, e.lake, e.batch)
}

// topicsOf is the set of topics of recs.
func topicsOf(recs []prepared) map[string]bool {
	out := map[string]bool{}
	for _, p := range recs {
		out[p.rec.Topic] = true
	}
	return out
}

// rewind sets the partitions of recs back to the lake's offsets.
func (w *Worker) rewind(recs []prepared) {
	parts := map[string][]int32{}
	seen := map[string]bool{}
	for _, p := range recs {
		r := p.rec
		k := offsetKey(r.Topic, r.Partition)
		if !seen[k] {
			seen[k] = true
			parts[r.Topic] = append(parts[r.Topic], r.Partition)
		}
	}
	w.assigned(context.Background(), w.client, parts)
}

// decode reads an event: protobuf (what the edge writes) or JSON (what a
// person or kcat writes, in protojson form).
func decode(r *kgo.Record) (*nexusv1.Event, error) {
	ev := &nexusv1.Event{}
	for _, h := range r.Headers {
		if h.Key == "content-type" && string(h.Value) == "application/json" {
			return ev, protojson.Unmarshal(r.Value, ev)
		}
	}
	if len(r.Value) > 0 && r.Value[0] == '{' {
		// JSON is the Event wrapper: {"order": {...}}, as protojson writes it.
		if err := protojson.Unmarshal(r.Value, ev); err != nil {
			return ev, fmt.Errorf("JSON event (want the nexus.v1.Event shape, e.g. {\"order\": {\"eventId\": ...}}): %w", err)
		}
		return ev, nil
	}
	return ev, proto.Unmarshal(r.Value, ev)
}

// unseen returns the records whose event id the table does not hold yet,
// each id once (the first of a batch): a retried event is written once.
// Rejected records have no id and are all kept (each is its own offset).
func (w *Worker) unseen(ctx context.Context, lk *lake.Lake, table string, recs []ingest.StreamRecord) ([]ingest.StreamRecord, error) {
	if len(recs) == 0 {
		return nil, nil
	}
	s := w.ids[table]
	if s == nil {
		s = &eventIDs{}
		w.ids[table] = s
	}
	if err := s.refresh(ctx, lk, lk.Intact(lake.Bronze, table)); err != nil {
		return nil, err
	}
	out := recs[:0:0]
	inBatch := map[string]bool{}
	for _, r := range recs {
		if r.EventID != "" {
			if s.has(r.EventID) || inBatch[r.EventID] {
				continue
			}
			inBatch[r.EventID] = true
		}
		out = append(out, r)
	}
	return out, nil
}

// prepared is a consumed record read as a row of its table (or as a
// rejected record, with why).
type prepared struct {
	rec   *kgo.Record
	table string // "" when the topic is not an entity's
	row   ingest.StreamRecord
}

// prepare decodes and checks records against the contract.
func (w *Worker) prepare(recs []*kgo.Record) []prepared {
	out := make([]prepared, 0, len(recs))
	for _, r := range recs {
		p := prepared{rec: r}
		e := w.byTopic[r.Topic]
		if e == nil {
			out = append(out, p)
			continue
		}
		p.table = e.Table.Name
		src := fmt.Sprintf("kafka:%s/%d", r.Topic, r.Partition)
		ev, err := decode(r)
		var rec Record
		if err == nil {
			rec, err = w.reg.Validate(int(r.Offset), ev)
		}
		if err == nil && rec.Entity != e {
			err = fmt.Errorf("a %s event in topic %s", rec.Entity.Table.Name, r.Topic)
		}
		if err != nil {
			// Kept, not dropped: the event goes to the table's quarantine
			// with its offset and why; its bytes as text, or base64 when
			// they are not (a protobuf that does not decode).
			w.log.Warn("stream worker: event does not fit the contract: quarantined", "topic", r.Topic, "partition", r.Partition, "offset", r.Offset, "err", err)
			raw := string(r.Value)
			if !utf8.Valid(r.Value) {
				raw = "base64:" + base64.StdEncoding.EncodeToString(r.Value)
			}
			p.row = ingest.StreamRecord{Reject: err.Error(), Raw: raw,
				Batch: r.Timestamp.In(w.zone).Format(time.DateOnly), Source: src, Offset: r.Offset}
		} else {
			p.row = ingest.StreamRecord{Fields: rec.Values, Batch: rec.EventTime.In(w.zone).Format(time.DateOnly), Source: src, Offset: r.Offset, EventID: rec.EventID}
		}
		out = append(out, p)
	}
	return out
}

// commit appends one micro-batch of records (see commitPrepared).
func (w *Worker) commit(ctx context.Context, recs []*kgo.Record) error {
	return w.commitPrepared(ctx, w.prepare(recs))
}

// commitAttempts bounds how often a micro-batch is done again after another
// writer committed first.
const commitAttempts = 5

// commitPrepared appends one micro-batch to Bronze and commits it with the
// next offsets of its partitions. When another writer commits between this
// worker's look at the lake and its commit (a run, another worker, on
// another machine when the lake is on S3: the commit is a conditional
// write there), nothing of the batch is visible and no offset moved, in
// the lake or in Kafka: the batch is done again on the new snapshot, with
// its fencing and event ids checked against it, as a worker started
// anew would. After commitAttempts the "concurrent commit" error stops the
// worker.
func (w *Worker) commitPrepared(ctx context.Context, recs []prepared) error {
	w.lakeMu.Lock()
	defer w.lakeMu.Unlock()
	start := time.Now()
	for attempt := 1; ; attempt++ {
		stats, err := w.commitOnce(ctx, recs)
		if err == nil {
			w.log.Info("micro-batch committed", "events", stats.Events, "rows", stats.Rows, "quarantined", stats.Quarantined,
				"duplicates", stats.Duplicates, "snapshot", stats.Snapshot, "attempts", attempt, "took", time.Since(start))
			if w.o.OnCommit != nil {
				w.o.OnCommit(stats)
			}
			return nil
		}
		if !errors.Is(err, lake.ErrConcurrentCommit) || attempt == commitAttempts {
			return err
		}
		w.log.Warn("stream worker: another writer committed first: the micro-batch is done again on its snapshot", "attempt", attempt, "err", err)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Duration(attempt)*20*time.Millisecond + rand.N(20*time.Millisecond)):
			// Apart, so that two workers that lost to each other do not
			// meet again.
		}
	}
}

// commitOnce is one attempt at a micro-batch's commit (see commitPrepared),
// under the lake's writer lock.
func (w *Worker) commitOnce(ctx context.Context, recs []prepared) (stats BatchStats, err error) {
	byTable := map[string][]ingest.StreamRecord{}
	next := map[string]string{}
	first := map[string]int64{} // the first offset of each partition in the batch
	for _, p := range recs {
		r := p.rec
		stats.Events++
		k := offsetKey(r.Topic, r.Partition)
		next[k] = strconv.FormatInt(r.Offset+1, 10)
		if _, ok := first[k]; !ok {
			first[k] = r.Offset
		}
		if p.table != "" {
			byTable[p.table] = append(byTable[p.table], p.row)
		}
	}
	lk := w.o.Lake
	// Another writer may have moved the lake since this handle's last
	// commit: a lake on an object store is mirrored again first (one HEAD
	// request when it did not move), and the lock re-pins the handle to the
	// current snapshot.
	if err := lk.Sync(ctx); err != nil {
		return stats, fmt.Errorf("stream worker: %w", err)
	}
	unlock, err := lockLake(ctx, lk)
	if err != nil {
		return stats, err
	}
	defer unlock()
	defer func() {
		if err != nil {
			// What this attempt published is not the next one's to commit.
			lk.Discard()
		}
	}()
	// Fencing: a partition of the batch must not start before where the
	// lake's last commit left it; if it does, another worker committed these
	// records (this one was out of the group for a while): nothing is
	// written, and consumption starts again from the lake.
	var cur map[string]string
	if snap := lk.Snapshot(); snap != nil {
		cur = snap.Meta
	}
	if err := w.sameTopics(cur); err != nil {
		return stats, err
	}
	for topic := range topicsOf(recs) {
		id := w.topicIDs[topic]
		if id != "" {
			next[topicKey(topic)] = id
		}
	}
	for k, off := range first {
		v, ok := cur[k]
		if !ok {
			continue // never committed: the log may start past 0 (retention)
		}
		at, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return stats, fmt.Errorf("stream worker: snapshot meta %s=%q: %w", k, v, err)
		}
		// Behind the lake: already committed (by another worker). Ahead:
		// either the lake went back (a rollback) or the log has a gap
		// (control records, retention): go back to the lake's offset once;
		// if the log still starts later, the gap is the log's.
		if off < at || (off > at && w.rewound[k] != at) {
			if off > at {
				w.rewound[k] = at
			}
			return stats, &fencedError{key: k, lake: at, batch: off}
		}
	}
	runID := lake.NewRunID(time.Now())
	type tableAppend struct {
		entity *Entity
		rows   []ingest.StreamRecord
		res    ingest.TableResult
	}
	var work []*tableAppend
	for _, e := range w.reg.List() {
		rows, err := w.unseen(ctx, lk, e.Table.Name, byTable[e.Table.Name])
		if err != nil {
			return stats, err
		}
		stats.Duplicates += int64(len(byTable[e.Table.Name]) - len(rows))
		if len(rows) > 0 {
			work = append(work, &tableAppend{entity: e, rows: rows})
		}
	}
	// The tables are independent versions of one commit: they are written
	// at once, on the cores there are; every failure is told.
	var g errgroup.Group
	g.SetLimit(runtime.GOMAXPROCS(0))
	for _, a := range work {
		g.Go(func() error {
			a.res = ingest.AppendStream(ctx, lk, ingest.Options{RunID: runID, Logger: w.log}, a.entity.Table, a.rows)
			return nil
		})
	}
	_ = g.Wait() // the results carry the errors
	var errs error
	for _, a := range work {
		errs = errors.Join(errs, a.res.Err)
		stats.Rows += a.res.RowsWritten
		stats.Quarantined += a.res.RowsQuarantined
	}
	if errs != nil {
		return stats, fmt.Errorf("stream worker: %w", errs)
	}
	if w.beforeCommit != nil {
		w.beforeCommit()
	}
	snap, err := lk.Commit(lake.CommitInfo{Kind: lake.CommitStream, RunID: runID, Meta: next})
	if err != nil {
		return stats, fmt.Errorf("stream worker: commit: %w", err)
	}
	stats.Snapshot = snap.ID
	if time.Since(w.vacuumed) >= w.o.VacuumEvery {
		pipeline.VacuumAfterCommit(ctx, lk, w.o.Retention, w.log)
		w.vacuumed = time.Now()
	}
	return stats, nil
}
