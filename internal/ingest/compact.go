package ingest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"sort"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/compress"

	"github.com/keystone/nexus/internal/lake"
)

// compactAt is the number of files past which the batch files of a Bronze
// table (and of its quarantine) are merged: a landing zone gets a folder a
// day, and every read of a table opens each of its files (measured at scale
// 1: 31 files per table made a drop ~10% slower than 2 did; 8 keeps it
// within the noise).
const compactAt = 8

// copiedRowGroupRows is the size from which a row group that keeps all its
// rows is copied into a compacted file as it is; a smaller one (a
// micro-batch's, a small batch file's) is decoded and its rows merged with
// the next ones into full row groups.
const copiedRowGroupRows = 64 << 10

// compactedBytes is the size from which a file is left as it is: merging
// only the files under it bounds a compaction's work (a table fed every
// second by the stream would otherwise rewrite all of itself, again and
// again, at a cost that grows with the table).
const compactedBytes = 64 << 20

// planCompaction chooses the carried files to merge into one: the files
// holding a replaced batch (their rows of it must go) and, once the version
// would list more than compactAt files, the small files (under big bytes)
// but the table's base: the largest small file, when it is at least as big
// as the others together. The base (the first batch of a landing zone, or
// an earlier compaction's output) is merged only once the recent files have
// grown as big as it: each row is rewritten a few times, not at every
// compaction. The rest are carried as they are. Nothing is merged when
// there is no replaced batch and fewer than two small files to merge.
func planCompaction(carry []lake.File, replaced map[string]bool, added int, big int64) (merge, keep []lake.File) {
	var small []lake.File
	for _, f := range carry {
		holds := false
		for _, b := range fileBatches(f) {
			holds = holds || replaced[b]
		}
		switch {
		case holds:
			merge = append(merge, f)
		case f.Bytes < big:
			small = append(small, f)
		default:
			keep = append(keep, f)
		}
	}
	if base := baseFile(small); base >= 0 {
		keep = append(keep, small[base])
		small = slices.Delete(small, base, base+1)
	}
	if len(carry)+added > compactAt && len(small) >= 2 || len(merge) > 0 {
		return append(merge, small...), keep
	}
	return nil, carry
}

// baseFile is the index of the largest of two or more files when it is at
// least as big as the others together, else -1.
func baseFile(files []lake.File) int {
	if len(files) < 2 {
		return -1
	}
	at, rest := -1, int64(0)
	for i, f := range files {
		if at < 0 || f.Bytes > files[at].Bytes {
			at = i
		}
		rest += f.Bytes
	}
	if at < 0 || 2*files[at].Bytes < rest {
		return -1
	}
	return at
}

// CompactDir is the subdirectory of a Bronze version holding the file that
// merges the files of many batches.
const CompactDir = "compact"

// errSchemasDiffer stops a compaction whose files do not share one schema
// (extra columns kept under --on-drift evolve); the files stay as they are.
var errSchemasDiffer = errors.New("files have different schemas")

// compactFiles writes the rows of srcs (lake files) into dst, in order,
// leaving out the rows of the batches in drop (a replaced batch). The rows
// are copied as they are; only the files change.
func compactFiles(ctx context.Context, lk *lake.Lake, srcs []lake.File, drop map[string]bool, dst string, codec compress.Codec) (int64, error) {
	var schema *parquet.Schema
	var files []*parquet.File
	for _, f := range srcs {
		fh, err := os.Open(lk.Abs(f.Path))
		if err != nil {
			return 0, err
		}
		// Read-only: closing cannot lose data.
		defer fh.Close()
		info, err := fh.Stat()
		if err != nil {
			return 0, err
		}
		pf, err := parquet.OpenFile(fh, info.Size())
		if err != nil {
			return 0, fmt.Errorf("%s: %w", f.Path, err)
		}
		if schema == nil {
			schema = pf.Schema()
		} else if !parquet.EqualNodes(schema, pf.Schema()) {
			return 0, errSchemasDiffer
		}
		files = append(files, pf)
	}
	if schema == nil {
		return 0, errors.New("nothing to compact")
	}
	leaf, ok := schema.Lookup(ColBatch)
	if !ok {
		return 0, fmt.Errorf("no %s column", ColBatch)
	}
	days := map[int32]bool{}
	for id := range drop {
		d, err := batchDate(id)
		if err != nil {
			return 0, err
		}
		days[d] = true
	}
	out, err := os.Create(dst)
	if err != nil {
		return 0, err
	}
	w := newParquetWriter(out, schema, codec)
	var n int64
	copyRows := func() error {
		buf := make([]parquet.Row, 1024)
		for i, pf := range files {
			keepAll := !holdsAny(srcs[i], drop)
			for _, rg := range pf.RowGroups() {
				if keepAll && rg.NumRows() >= copiedRowGroupRows {
					// Every row stays and the group is full enough: it is
					// copied as it is (parquet-go splices its compressed
					// pages in, without decoding a value). A smaller one
					// is read row by row below, so that the rows of many
					// small files fill one group instead of each staying
					// a group of its own, compaction after compaction.
					if err := ctx.Err(); err != nil {
						return err
					}
					k, err := w.WriteRowGroup(rg)
					if err != nil {
						return err
					}
					n += k
					continue
				}
				rows := rg.Rows()
				for {
					if err := ctx.Err(); err != nil {
						_ = rows.Close()
						return err
					}
					k, rerr := rows.ReadRows(buf)
					kept := buf[:0]
					for _, r := range buf[:k] {
						v := r[leaf.ColumnIndex]
						if !keepAll && !v.IsNull() && days[v.Int32()] {
							continue
						}
						kept = append(kept, r)
					}
					if len(kept) > 0 {
						if _, err := w.WriteRows(kept); err != nil {
							_ = rows.Close()
							return err
						}
						n += int64(len(kept))
					}
					if errors.Is(rerr, io.EOF) {
						break
					}
					if rerr != nil {
						_ = rows.Close()
						return rerr
					}
				}
				if err := rows.Close(); err != nil {
					return err
				}
			}
		}
		return nil
	}
	if err := copyRows(); err != nil {
		_ = out.Close()
		return 0, err
	}
	if err := w.Close(); err != nil {
		_ = out.Close()
		return 0, err
	}
	return n, out.Close()
}

// holdsAny reports whether f holds one of the batches.
func holdsAny(f lake.File, batches map[string]bool) bool {
	for _, b := range fileBatches(f) {
		if batches[b] {
			return true
		}
	}
	return false
}

// uniqueFiles returns the files of the batches, each file once, in path
// order (a compacted file serves many batches).
func uniqueFiles(lists ...[]lake.File) []lake.File {
	seen := map[string]bool{}
	var out []lake.File
	for _, l := range lists {
		for _, f := range l {
			if !seen[f.Path] {
				seen[f.Path] = true
				out = append(out, f)
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out
}
