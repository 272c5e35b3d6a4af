package stream

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"

	nexusv1 "github.com/keystone/nexus/api/nexus/v1"
	"github.com/keystone/nexus/internal/ingest"
	"github.com/keystone/nexus/internal/lake"
)

// FreshnessProbe measures end-to-end freshness: how long after its
// acknowledgement an event is visible to a reader of the lake (in its
// current snapshot, as `nexus query` sees it). It follows a sample of the
// events a load sends (the last of each batch) and watches the lake's
// snapshots, reading only the event ids of the Bronze files each new one
// adds. It only reads the lake.
type FreshnessProbe struct {
	open func(context.Context) (*lake.Lake, error)
	// opened is the handle open gave (nil until the lake exists), lk the
	// one pinned to the snapshot looked at last.
	opened, lk *lake.Lake
	mu         sync.Mutex
	// pending: sampled events not yet visible, with their acknowledgement
	// time (zero until acknowledged).
	pending map[string]time.Time
	// early: sampled events visible before their acknowledgement reached
	// the client (the worker can commit an event before the edge's answer
	// is back): their freshness is 0.
	early map[string]bool
	hist  *hdrhistogram.Histogram
	read  map[string]bool // Bronze files whose ids were read
	snap  int64
	err   error // the first error reading the lake
}

// NewFreshnessProbe follows the lake open opens for reading (a directory
// or a bucket: lake.OpenAny). The lake may not exist yet: open then fails
// with lake.ErrNoLake, and is called again at the next look. Close releases
// the lake once Run has returned.
func NewFreshnessProbe(open func(context.Context) (*lake.Lake, error)) *FreshnessProbe {
	return &FreshnessProbe{open: open, pending: map[string]time.Time{}, early: map[string]bool{},
		hist: hdrhistogram.New(1, int64(10*time.Minute/time.Millisecond), 3), read: map[string]bool{}}
}

// sent samples an event about to be sent.
func (p *FreshnessProbe) sent(id string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, ok := p.pending[id]; !ok { // a resent event keeps its first acknowledgement
		p.pending[id] = time.Time{}
	}
}

// acked records the acknowledgement of a sampled event (ok false: the call
// failed; the event is not followed).
func (p *FreshnessProbe) acked(id string, at time.Time, ok bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch {
	case !ok:
		delete(p.pending, id)
		delete(p.early, id)
	case p.early[id]:
		delete(p.early, id)
		p.record(0)
	default:
		if _, ok := p.pending[id]; ok {
			p.pending[id] = at
		}
	}
}

func (p *FreshnessProbe) record(d time.Duration) {
	if err := p.hist.RecordValue(min(max(0, d.Milliseconds()), p.hist.HighestTrackableValue())); err != nil && p.err == nil {
		p.err = fmt.Errorf("freshness histogram: %w", err)
	}
}

// poll looks once at the lake: when its snapshot moved, the event ids of
// the Bronze files it has not read yet are matched with the sampled events.
func (p *FreshnessProbe) poll(ctx context.Context) error {
	if p.opened == nil {
		lk, err := p.open(ctx)
		if errors.Is(err, lake.ErrNoLake) {
			return nil // not yet: the worker's first commit makes it
		}
		if err != nil {
			return err
		}
		p.opened, p.lk = lk, lk
	} else {
		// A lake on an object store: its mirror follows the store (one HEAD
		// request when the lake did not move).
		if err := p.lk.Sync(ctx); err != nil {
			return err
		}
		lk, err := p.lk.Reopen()
		if err != nil {
			return err
		}
		p.lk = lk
	}
	lk := p.lk
	snap := lk.Snapshot()
	if snap == nil || snap.ID == p.snap {
		return nil
	}
	now := time.Now()
	p.snap = snap.ID
	ms, err := lk.Manifests()
	if err != nil {
		return err
	}
	for _, m := range ms {
		if m.Layer != lake.Bronze {
			continue
		}
		for _, f := range m.Files {
			if p.read[f.Path] {
				continue
			}
			p.read[f.Path] = true
			err := ingest.EventIDs(ctx, lk, f, func(id string) {
				p.mu.Lock()
				defer p.mu.Unlock()
				at, ok := p.pending[id]
				if !ok {
					return
				}
				delete(p.pending, id)
				if at.IsZero() {
					p.early[id] = true
					return
				}
				p.record(now.Sub(at))
			})
			if err != nil {
				return err
			}
		}
	}
	return nil
}

// Close releases the lake the probe opened; call it once Run has returned.
func (p *FreshnessProbe) Close() error {
	if p.opened == nil {
		return nil
	}
	return p.opened.Release()
}

// Run polls the lake every interval until ctx is done.
func (p *FreshnessProbe) Run(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if err := p.poll(ctx); err != nil && ctx.Err() == nil {
			p.mu.Lock()
			if p.err == nil {
				p.err = err
			}
			p.mu.Unlock()
		}
	}
}

// Wait waits until every acknowledged sample is visible, or timeout.
func (p *FreshnessProbe) Wait(ctx context.Context, timeout time.Duration) {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		if p.Report().Waiting == 0 {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// FreshnessReport is what a probe measured.
type FreshnessReport struct {
	Visible            int64 // acknowledged samples seen in the lake
	Waiting            int   // acknowledged samples not (yet) visible
	P50, P95, P99, Max time.Duration
	Err                error
}

// Report says what the probe measured so far.
func (p *FreshnessProbe) Report() FreshnessReport {
	p.mu.Lock()
	defer p.mu.Unlock()
	r := FreshnessReport{Visible: p.hist.TotalCount(), Err: p.err}
	for _, at := range p.pending {
		if !at.IsZero() {
			r.Waiting++
		}
	}
	ms := func(v int64) time.Duration { return time.Duration(v) * time.Millisecond }
	r.P50, r.P95, r.P99, r.Max = ms(p.hist.ValueAtQuantile(50)), ms(p.hist.ValueAtQuantile(95)), ms(p.hist.ValueAtQuantile(99)), ms(p.hist.Max())
	return r
}

// eventID is the event_id of an event.
func eventID(ev *nexusv1.Event) string {
	m := ev.ProtoReflect()
	f := m.WhichOneof(m.Descriptor().Oneofs().ByName("entity"))
	if f == nil {
		return ""
	}
	msg := m.Get(f).Message()
	return msg.Get(msg.Descriptor().Fields().Get(0)).String()
}
