package ingest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/parquet-go/parquet-go"

	"github.com/keystone/nexus/internal/lake"
)

// EventIDs calls fn with each non-NULL _event_id of a Bronze file: the
// stream's workers read them to write a retried event once. A file written
// before the column existed has none.
func EventIDs(ctx context.Context, lk *lake.Lake, f lake.File, fn func(id string)) error {
	fh, err := os.Open(lk.Abs(f.Path))
	if err != nil {
		return fmt.Errorf("event ids of %s: %w", f.Path, err)
	}
	defer fh.Close() // read only: nothing to lose
	info, err := fh.Stat()
	if err != nil {
		return fmt.Errorf("event ids of %s: %w", f.Path, err)
	}
	pf, err := parquet.OpenFile(fh, info.Size())
	if err != nil {
		return fmt.Errorf("event ids of %s: %w", f.Path, err)
	}
	leaf, ok := pf.Schema().Lookup(ColEventID)
	if !ok {
		return nil
	}
	buf := make([]parquet.Value, 4096)
	for _, rg := range pf.RowGroups() {
		if err := ctx.Err(); err != nil {
			return err
		}
		pages := rg.ColumnChunks()[leaf.ColumnIndex].Pages()
		err := func() error {
			defer pages.Close()
			for {
				p, err := pages.ReadPage()
				if errors.Is(err, io.EOF) {
					return nil
				}
				if err != nil {
					return err
				}
				vr := p.Values()
				for {
					n, err := vr.ReadValues(buf)
					for _, v := range buf[:n] {
						if !v.IsNull() {
							fn(string(v.ByteArray()))
						}
					}
					if errors.Is(err, io.EOF) {
						break
					}
					if err != nil {
						parquet.Release(p)
						return err
					}
				}
				parquet.Release(p)
			}
		}()
		if err != nil {
			return fmt.Errorf("event ids of %s: %w", f.Path, err)
		}
	}
	return nil
}
