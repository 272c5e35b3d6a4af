package transform

import (
	"context"
	"time"

	"github.com/keystone/nexus/internal/lake"
)

// backgroundWrite is a model's new version being written into its staging
// while its gate judges the rows (both only read what the gate's annotation
// made): a model that runs alone, as the models its children wait for do,
// otherwise leaves a core idle. The full and the incremental builds both
// use it; a failed build aborts it, which cancels the write and discards
// what it staged.
type backgroundWrite[T any] struct {
	started time.Time
	cancel  context.CancelFunc
	done    chan struct{}
	st      *lake.Staging
	out     T
	err     error
	// settled: the staging is no longer the write's to discard (it is being
	// published, or was aborted).
	settled bool
}

// writeInBackground stages m's next version and runs write into it in a
// goroutine; a failed write aborts its own staging.
func writeInBackground[T any](ctx context.Context, x *executor, m *Model, write func(context.Context, *lake.Staging) (T, error)) *backgroundWrite[T] {
	wctx, cancel := context.WithCancel(ctx)
	b := &backgroundWrite[T]{started: time.Now(), cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(b.done)
		st, err := x.lk.Stage(m.Layer, m.Table, x.opts.RunID)
		if err != nil {
			b.err = err
			return
		}
		out, err := write(wctx, st)
		if err != nil {
			st.Abort()
			b.err = err
			return
		}
		b.st, b.out = st, out
	}()
	return b
}

// wait returns the staging and what the write returned, once it ends.
func (b *backgroundWrite[T]) wait() (*lake.Staging, T, error) {
	<-b.done
	b.cancel()
	return b.st, b.out, b.err
}

// publishing hands the staging over to the publish: abort leaves it alone.
func (b *backgroundWrite[T]) publishing() { b.settled = true }

// abort cancels the write if it still runs and discards what it staged,
// unless the staging is being published; nil-safe, for a build that failed
// before starting it.
func (b *backgroundWrite[T]) abort() {
	if b == nil || b.settled {
		return
	}
	b.settled = true
	b.cancel()
	<-b.done
	if b.st != nil {
		b.st.Abort()
	}
}
