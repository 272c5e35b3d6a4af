// Package progress draws progress bars on a terminal and nothing elsewhere,
// so logs and CI output stay clean.
package progress

import (
	"io"
	"os"
	"sync"

	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"
)

// Bars is a set of named progress bars. The zero value and a Bars made for a
// non-terminal writer do nothing.
type Bars struct {
	mu   sync.Mutex
	p    *mpb.Progress
	bars map[string]*mpb.Bar
}

// IsTerminal reports whether f is a character device (a terminal).
func IsTerminal(f *os.File) bool {
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// New returns bars drawn on w when enabled, else a no-op.
func New(w io.Writer, enabled bool) *Bars {
	if !enabled {
		return &Bars{}
	}
	return &Bars{p: mpb.New(mpb.WithOutput(w), mpb.WithWidth(40)), bars: map[string]*mpb.Bar{}}
}

// Update sets the bar called name to done of total, creating it on first use.
// Safe for concurrent use.
func (b *Bars) Update(name string, done, total int64) {
	if b == nil || b.p == nil {
		return
	}
	b.mu.Lock()
	bar, ok := b.bars[name]
	if !ok {
		bar = b.p.AddBar(total,
			mpb.PrependDecorators(decor.Name(name, decor.WC{C: decor.DindentRight | decor.DextraSpace | decor.DSyncWidth})),
			mpb.AppendDecorators(decor.Percentage(decor.WC{W: 5})),
		)
		b.bars[name] = bar
	}
	b.mu.Unlock()
	if total > 0 {
		bar.SetTotal(total, false)
	}
	bar.SetCurrent(done)
	if total > 0 && done >= total {
		bar.SetTotal(total, true)
	}
}

// Wait completes every bar and waits for the last redraw.
func (b *Bars) Wait() {
	if b == nil || b.p == nil {
		return
	}
	b.mu.Lock()
	for _, bar := range b.bars {
		if !bar.Completed() {
			bar.Abort(false)
		}
	}
	b.mu.Unlock()
	b.p.Wait()
}
