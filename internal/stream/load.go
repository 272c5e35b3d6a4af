package stream

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/timestamppb"

	nexusv1 "github.com/keystone/nexus/api/nexus/v1"
	"github.com/keystone/nexus/internal/ingest"
)

// LoadOptions configure a replay of a data set as events.
type LoadOptions struct {
	From string // a directory of the Olist files, or a landing zone of dt= folders
	// Unary sends each batch with Send (one acknowledgement per batch,
	// whose latency is measured); else each worker keeps a client stream
	// and closes it every StreamBatches batches (one acknowledgement each).
	Unary         bool
	Batch         int           // events per batch
	StreamBatches int           // batches per client stream
	Concurrency   int           // calls at once
	Rate          float64       // batches (unary) or events (stream) per second in all; 0: as fast as acknowledged
	Duration      time.Duration // stop after this long (the data set is replayed again with new event ids if it runs out); 0: one pass
	Token         string
	// CallTimeout bounds one call (0: 1 minute): a call to an edge whose
	// broker is gone fails instead of hanging.
	CallTimeout time.Duration
	// RetryFor is how long calls that fail for want of the edge or of
	// Kafka (Unavailable, a deadline) are sent again with the same events,
	// hence the same event ids, which the workers write once: from the
	// first failure of a run of failures, for all calls (0: 1 minute;
	// negative: never). A rejected event (InvalidArgument) is never resent.
	RetryFor time.Duration
	// Probe, when set, follows the last event of each batch until it is
	// visible in the lake (end-to-end freshness).
	Probe *FreshnessProbe
	// OnRetry, when set, is told when calls start failing in a way that is
	// retried (once per run of failures).
	OnRetry func(err error)
}

// LoadReport is what a load achieved.
type LoadReport struct {
	Events, Accepted, Rejected int64
	Calls                      int64
	// Retries: calls sent again after an edge or Kafka failure.
	Retries int64
	Elapsed time.Duration
	// Latency of the acknowledgements (per call), microseconds.
	P50, P95, P99, Max time.Duration
	FirstError         string
}

// EventsPerSecond is the acknowledged events per second.
func (r LoadReport) EventsPerSecond() float64 { return float64(r.Accepted) / r.Elapsed.Seconds() }

// Events reads a data set (the nine files, or a landing zone folder by
// folder) as the events of the seven entities, in file order. An event's id
// is the file's content hash, its table and line: a replay of the same
// files is idempotent (the workers write each event once), and another
// data set, even in a folder of the same name, brings new events.
func Events(reg *Registry, dir string) ([]*nexusv1.Event, error) {
	dirs := []string{dir}
	if m, _ := filepath.Glob(filepath.Join(dir, "dt=*")); len(m) > 0 {
		sort.Strings(m)
		dirs = m
	}
	var out []*nexusv1.Event
	for _, d := range dirs {
		for _, e := range reg.List() {
			evs, err := fileEvents(e, d)
			if err != nil {
				return nil, err
			}
			out = append(out, evs...)
		}
	}
	if len(out) == 0 {
		if _, err := os.Stat(dir); err != nil {
			return nil, fmt.Errorf("stream load --from: %w", err)
		}
		var names []string
		for _, e := range reg.List() {
			names = append(names, e.Table.File)
		}
		return nil, fmt.Errorf("stream load: no Olist file in %s (want %s, or dt=YYYY-MM-DD folders of them; `nexus generate --out %s` writes a data set)",
			dir, strings.Join(names, ", "), dir)
	}
	return out, nil
}

// contentID is a short hash of a file's bytes: the part of its events' ids
// that says which data set they come from.
func contentID(f *os.File) (string, error) {
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil))[:12], nil
}

func fileEvents(e *Entity, dir string) ([]*nexusv1.Event, error) {
	path := filepath.Join(dir, e.Table.File)
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil // a day without records of this table
	}
	if err != nil {
		return nil, fmt.Errorf("stream load: %w", err)
	}
	defer f.Close()
	col := make([]int, len(e.Table.Columns))
	header := func(h []string) error {
		idx := map[string]int{}
		for i, name := range h {
			idx[strings.TrimPrefix(name, "\ufeff")] = i
		}
		for i, c := range e.Table.Columns {
			j, ok := idx[c.Name]
			for _, a := range c.Aliases {
				if !ok {
					j, ok = idx[a]
				}
			}
			if !ok {
				return fmt.Errorf("no column %s in the header", c.Name)
			}
			col[i] = j
		}
		return nil
	}
	var out []*nexusv1.Event
	now := timestamppb.Now()
	id, err := contentID(f)
	if err != nil {
		return nil, fmt.Errorf("stream load %s: %w", path, err)
	}
	err = ingest.Records(f, header, func(line int64, rec []string, quoted []bool) error {
		ev, err := e.event(fmt.Sprintf("%s:%s:%d", id, e.Table.Name, line), now, func(i int) (string, bool) {
			if col[i] < len(rec) {
				return rec[col[i]], quoted[col[i]]
			}
			return "", false
		})
		if err != nil {
			return fmt.Errorf("line %d: %w", line, err)
		}
		out = append(out, ev)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("stream load %s: %w", path, err)
	}
	return out, nil
}

// event builds the entity's event from its columns' text (as the files
// write them): the contract mapping run backwards.
func (e *Entity) event(id string, at *timestamppb.Timestamp, value func(i int) (s string, quoted bool)) (*nexusv1.Event, error) {
	ev := &nexusv1.Event{}
	evm := ev.ProtoReflect()
	msg := evm.NewField(e.Field).Message()
	fields := msg.Descriptor().Fields()
	msg.Set(fields.Get(0), protoreflect.ValueOfString(id))
	msg.Set(fields.Get(1), protoreflect.ValueOfMessage(at.ProtoReflect()))
	for i, fd := range e.cols {
		s, quoted := value(i)
		// An unquoted empty field is NULL; a quoted one is an empty string
		// (text only: an empty number is NULL either way).
		if s == "" && e.Table.Columns[i].Nullable && (!quoted || fd.Kind() != protoreflect.StringKind) {
			continue
		}
		switch fd.Kind() {
		case protoreflect.Int32Kind:
			v, err := strconv.ParseInt(s, 10, 32)
			if err != nil {
				return nil, fmt.Errorf("%s: %q is not an integer", fd.Name(), s)
			}
			msg.Set(fd, protoreflect.ValueOfInt32(int32(v)))
		case protoreflect.DoubleKind:
			v, err := strconv.ParseFloat(s, 64)
			if err != nil {
				return nil, fmt.Errorf("%s: %q is not a number", fd.Name(), s)
			}
			msg.Set(fd, protoreflect.ValueOfFloat64(v))
		default:
			msg.Set(fd, protoreflect.ValueOfString(s))
		}
	}
	evm.Set(e.Field, protoreflect.ValueOfMessage(msg))
	return ev, nil
}

// Load sends events through the edge as o says and reports what it achieved.
func Load(ctx context.Context, conn grpc.ClientConnInterface, events []*nexusv1.Event, o LoadOptions) (LoadReport, error) {
	if o.Batch <= 0 {
		o.Batch = 500
	}
	if o.StreamBatches <= 0 {
		o.StreamBatches = 20
	}
	if o.Concurrency <= 0 {
		o.Concurrency = 4
	}
	if o.CallTimeout <= 0 {
		o.CallTimeout = time.Minute
	}
	if o.RetryFor == 0 {
		o.RetryFor = time.Minute
	}
	if o.Token != "" {
		ctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+o.Token)
	}
	client := nexusv1.NewIngestClient(conn)
	hist := hdrhistogram.New(1, int64(time.Minute/time.Microsecond), 3)
	var (
		mu   sync.Mutex
		rep  LoadReport
		next atomic.Int64 // the next event to send, over every pass
		// failingSince: when the current run of failures began (zero while
		// calls succeed). The retries stop once it is RetryFor old, however
		// many calls are in flight: an edge that is down, or a wrong
		// address, ends the load after RetryFor, not RetryFor per call.
		failingSince time.Time
	)
	start := time.Now()
	stopAt := time.Time{}
	if o.Duration > 0 {
		stopAt = start.Add(o.Duration)
	}
	// take returns the next batch, renaming replayed events; nil when done.
	take := func() []*nexusv1.Event {
		n := next.Add(int64(o.Batch)) - int64(o.Batch)
		if !stopAt.IsZero() && time.Now().After(stopAt) {
			return nil
		}
		p := n / int64(len(events))
		if o.Duration == 0 && p > 0 {
			return nil
		}
		var out []*nexusv1.Event
		for i := n; i < n+int64(o.Batch); i++ {
			if o.Duration == 0 && i >= int64(len(events)) {
				break
			}
			ev := events[i%int64(len(events))]
			if k := i / int64(len(events)); k > 0 {
				ev = renamed(ev, k)
			}
			out = append(out, ev)
		}
		return out
	}
	// Pacing: call k (or the k-th batch) is due at start + k/rate; a worker
	// takes the next slot and sleeps until it (a ticker drops ticks under
	// load and undershoots the rate).
	var slot atomic.Int64
	per := float64(o.Batch)
	if o.Unary {
		per = 1
	}
	wait := func() bool {
		if ctx.Err() != nil {
			return false
		}
		if o.Rate <= 0 {
			return true
		}
		due := start.Add(time.Duration(float64(slot.Add(1)-1) * per / o.Rate * float64(time.Second)))
		if d := time.Until(due); d > 0 {
			select {
			case <-time.After(d):
			case <-ctx.Done():
				return false
			}
		}
		return true
	}
	record := func(events, accepted int, took time.Duration, err error) {
		mu.Lock()
		defer mu.Unlock()
		rep.Calls++
		rep.Events += int64(events)
		rep.Accepted += int64(accepted)
		if err == nil {
			failingSince = time.Time{}
		}
		if err != nil {
			rep.Rejected += int64(events - accepted)
			if rep.FirstError == "" {
				rep.FirstError = err.Error()
			}
			return
		}
		// Clamped into the histogram's range (a call over a minute counts as
		// a minute), so that every call is in the percentiles.
		if err := hist.RecordValue(min(max(1, took.Microseconds()), hist.HighestTrackableValue())); err != nil && rep.FirstError == "" {
			rep.FirstError = "latency histogram: " + err.Error()
		}
	}
	// retry waits before a call is sent again, and says whether it may be:
	// the failure is the edge's or Kafka's (not the events'), the call has
	// not been failing for longer than RetryFor, and the load goes on.
	retry := func(err error, attempt int) bool {
		if !retryable(err) || o.RetryFor < 0 || ctx.Err() != nil {
			return false
		}
		mu.Lock()
		if failingSince.IsZero() {
			failingSince = time.Now()
			if o.OnRetry != nil {
				o.OnRetry(err)
			}
		}
		expired := time.Since(failingSince) > o.RetryFor
		if !expired {
			rep.Retries++
		}
		mu.Unlock()
		if expired {
			return false
		}
		select {
		case <-time.After(min(50*time.Millisecond<<min(attempt, 6), 2*time.Second)):
			return true
		case <-ctx.Done():
			return false
		}
	}
	// sendUnary sends one batch until it is acknowledged or may not be retried.
	// sample follows the last event of each batch; track says whether
	// the sampled events were acknowledged.
	sample := func(b []*nexusv1.Event) string {
		if o.Probe == nil || len(b) == 0 {
			return ""
		}
		id := eventID(b[len(b)-1])
		o.Probe.sent(id)
		return id
	}
	track := func(ids []string, err error) {
		if o.Probe == nil {
			return
		}
		at := time.Now()
		for _, id := range ids {
			o.Probe.acked(id, at, err == nil)
		}
	}
	sendUnary := func(b []*nexusv1.Event) {
		id := sample(b)
		t0 := time.Now()
		for attempt := 0; ; attempt++ {
			cctx, cancel := context.WithTimeout(ctx, o.CallTimeout)
			res, err := client.Send(cctx, &nexusv1.Batch{Events: b})
			cancel()
			if err != nil && retry(err, attempt) {
				continue
			}
			track([]string{id}, err)
			record(len(b), int(res.GetAccepted()), time.Since(t0), err)
			return
		}
	}
	// sendStream sends the batches that next gives (nil: no more) on one
	// client stream, and returns them all; Kafka may hold some of them when
	// the call fails, so a retry sends all of them again.
	sendStream := func(next func() []*nexusv1.Event) ([][]*nexusv1.Event, int, error) {
		sctx, cancel := context.WithTimeout(ctx, o.CallTimeout*time.Duration(o.StreamBatches))
		defer cancel()
		var batches [][]*nexusv1.Event
		n := 0
		st, err := client.SendStream(sctx)
		for b := next(); b != nil; b = next() {
			batches = append(batches, b)
			n += len(b)
			if err == nil {
				// A failed Send ends the sending; its error comes with
				// CloseAndRecv. The batches are still taken, to be resent.
				err = st.Send(&nexusv1.Batch{Events: b})
			}
		}
		if st == nil {
			return batches, n, err
		}
		res, cerr := st.CloseAndRecv()
		if cerr == nil && res.GetAccepted() != int64(n) {
			cerr = fmt.Errorf("the edge acknowledged %d of %d events", res.GetAccepted(), n)
		}
		return batches, n, cerr
	}
	var wg sync.WaitGroup
	for range o.Concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for wait() {
				if o.Unary {
					b := take()
					if b == nil {
						return
					}
					sendUnary(b)
					continue
				}
				t0 := time.Now()
				i, last := 0, false
				var ids []string
				batches, n, err := sendStream(func() []*nexusv1.Event {
					if i == o.StreamBatches || (i > 0 && !wait()) {
						last = last || i < o.StreamBatches
						return nil
					}
					i++
					b := take()
					last = last || b == nil
					if b != nil {
						ids = append(ids, sample(b))
					}
					return b
				})
				if len(batches) == 0 {
					return
				}
				for attempt := 0; err != nil && retry(err, attempt); attempt++ {
					k := 0
					_, _, err = sendStream(func() []*nexusv1.Event {
						if k == len(batches) {
							return nil
						}
						k++
						return batches[k-1]
					})
				}
				accepted := n
				if err != nil {
					accepted = 0
				}
				track(ids, err)
				record(n, accepted, time.Since(t0), err)
				if last || err != nil {
					return
				}
			}
		}()
	}
	wg.Wait()
	rep.Elapsed = time.Since(start)
	rep.P50 = time.Duration(hist.ValueAtQuantile(50)) * time.Microsecond
	rep.P95 = time.Duration(hist.ValueAtQuantile(95)) * time.Microsecond
	rep.P99 = time.Duration(hist.ValueAtQuantile(99)) * time.Microsecond
	rep.Max = time.Duration(hist.Max()) * time.Microsecond
	if rep.Rejected > 0 || rep.Accepted != rep.Events {
		return rep, fmt.Errorf("stream load: %d of %d event(s) not acknowledged (first error: %s)", rep.Events-rep.Accepted, rep.Events, rep.FirstError)
	}
	return rep, nil
}

// retryable reports whether a failed call may be sent again as it is: the
// edge or Kafka failed, not the events. RESOURCE_EXHAUSTED is not: gRPC
// answers it to a message past the edge's size limit, which fails again.
func retryable(err error) bool {
	switch status.Code(err) {
	case codes.Unavailable, codes.DeadlineExceeded:
		return true
	}
	return false
}

// renamed is a replayed event with an event id of its pass, so that it is a
// new event and not a retry of the first.
func renamed(ev *nexusv1.Event, pass int64) *nexusv1.Event {
	c := proto.Clone(ev).(*nexusv1.Event)
	m := c.ProtoReflect()
	f := m.WhichOneof(m.Descriptor().Oneofs().ByName("entity"))
	msg := m.Get(f).Message()
	idFD := msg.Descriptor().Fields().Get(0)
	msg.Set(idFD, protoreflect.ValueOfString(fmt.Sprintf("%s#%d", msg.Get(idFD).String(), pass)))
	return c
}

// ClientCredentials are the transport credentials of a client of the edge:
// TLS when tlsOn or a CA file is given (the CA file's certificates, else
// the system's roots), plaintext otherwise (loopback).
func ClientCredentials(tlsOn bool, caFile string) (credentials.TransportCredentials, error) {
	if caFile != "" {
		c, err := credentials.NewClientTLSFromFile(caFile, "")
		if err != nil {
			return nil, fmt.Errorf("TLS CA %s: %w", caFile, err)
		}
		return c, nil
	}
	if tlsOn {
		return credentials.NewTLS(&tls.Config{MinVersion: tls.VersionTLS12}), nil
	}
	return insecure.NewCredentials(), nil
}
