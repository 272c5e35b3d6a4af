package ingest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
)

// A large source file is parsed in chunks, in parallel: one Bronze part and
// one quarantine part per chunk, whose rows, lines and reasons are exactly
// those that one reader going through the whole file would give.
//
// The split points are found by speculation, then verified; a quote-aware
// scan was the other way, and it is not exact here. Where a record ends is
// what csvReader says it is: besides the quoting (a quoted field may hold
// LF or CRLF), a stray quote costs one line and the reader resumes on the
// next one, and an unterminated quote is cut off after 200 lines. A scan
// counting quotes from the start of the file would, after one stray quote,
// take every later line break for one inside a field; a scan repeating the
// recovery rules would be a second parser to keep in step with the first.
// So:
//   - Each split point is a line start near an even share of the file, the
//     first from which a few records parse cleanly with the header's field
//     count: a line inside a quoted multi-line field seldom does.
//   - Each chunk is parsed from its split point by a csvReader that is told
//     the byte offset and line it starts at, and records where the first
//     record at or after its end starts. A reader keeps no state from one
//     record to the next but its position (the bytes it pushes back after a
//     recovery are the file's next bytes), so from a true record start it
//     yields exactly the serial reader's records.
//   - Chunk 0 starts after the header, a true record start. Going through
//     the chunks in order, chunk i+1 is kept when it starts where the
//     records of the chunks kept before it end; otherwise (a bad guess) its
//     parts are deleted and its range is parsed again from where they end.
//     A bad guess costs time, never a difference in the result.
//
// The line a chunk starts at is counted first: each chunk counts the line
// breaks of its own range and waits for the counts of the chunks before it.
//
// Gzip input cannot be split (a gzip stream has no seekable offsets): it is
// parsed serially, as is a file below Options.ChunkBytes.

// DefaultChunkBytes is the chunk size when Options.ChunkBytes is 0.
const DefaultChunkBytes = 64 << 20

// probeRecords is the number of records that must parse cleanly from a
// split point for it to be taken as a record start.
const probeRecords = 8

// probeWindow is how far past its share of the file a split point is looked
// for.
const probeWindow = 1 << 20

// cpuSlots bounds the parsers running at once in an ingest run: each file
// being ingested holds one, and a slot that is free (no table left for it)
// parses chunks of a large file.
type cpuSlots chan struct{}

func newCPUSlots(n int) cpuSlots { return make(cpuSlots, max(n, 1)) }

func (s cpuSlots) acquire(ctx context.Context) error {
	select {
	case s <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (s cpuSlots) release() { <-s }

// chunk is a range of a source file parsed on its own, and what became of it.
type chunk struct {
	index      int
	start, end int64 // byte offsets: start is a (supposed) record start
	name       string

	// lines is the number of line breaks in [start, end); counted is closed
	// once lines or countErr is set.
	lines    int64
	countErr error
	counted  chan struct{}

	counts
	next next
	err  error
}

// partName names the part of chunk i of n: the names sort in file order.
func partName(i, n int) string {
	return fmt.Sprintf("part-%0*d.parquet", max(4, len(fmt.Sprint(n-1))), i)
}

// chunkBytes is the chunk size of the run: 0 when files are never split.
func (w *tableWriter) chunkBytes() int64 {
	switch {
	case w.opts.ChunkBytes < 0:
		return 0
	case w.opts.ChunkBytes == 0:
		return DefaultChunkBytes
	default:
		return w.opts.ChunkBytes
	}
}

// planChunks splits the records after the header, which rd has just read,
// into chunks; it returns one chunk or none when the file is read serially.
func (w *tableWriter) planChunks(ctx context.Context, rd *csvReader, src *source) ([]*chunk, error) {
	body := w.size - rd.consumed
	cb := w.chunkBytes()
	// A reader with bytes pushed back is not at a plain file offset; after a
	// header that parsed, it never has any.
	if src.gz || cb == 0 || body <= cb || len(rd.pending) > 0 {
		return nil, nil
	}
	n := (body + cb - 1) / cb
	starts := []int64{rd.consumed}
	probe := newCSVReaderSize(nil, 4<<10)
	buf := make([]byte, probeWindow)
	for k := int64(1); k < n; k++ {
		at := rd.consumed + body*k/n
		if at <= starts[len(starts)-1] {
			continue
		}
		s, err := w.splitPoint(ctx, at, probe, buf)
		if err != nil {
			return nil, err
		}
		if s > starts[len(starts)-1] && s < w.size {
			starts = append(starts, s)
		}
	}
	chunks := make([]*chunk, len(starts))
	for i, s := range starts {
		end := w.size
		if i+1 < len(starts) {
			end = starts[i+1]
		}
		chunks[i] = &chunk{index: i, start: s, end: end, name: partName(i, len(starts)), counted: make(chan struct{})}
	}
	return chunks, nil
}

// splitPoint guesses a record start at or after offset at: the first line
// start within probeWindow from which probeRecords records parse cleanly, or
// else the first line start (verification will tell). It returns the file's
// size when no line starts there.
func (w *tableWriter) splitPoint(ctx context.Context, at int64, probe *csvReader, buf []byte) (int64, error) {
	if err := ctx.Err(); err != nil {
		return 0, fmt.Errorf("ingest %s: %w", w.path, err)
	}
	buf = buf[:min(int64(len(buf)), w.size-at)]
	if _, err := w.file.ReadAt(buf, at); err != nil && !errors.Is(err, io.EOF) {
		return 0, readErr(w.path, err)
	}
	atEOF := at+int64(len(buf)) == w.size
	first := int64(-1)
	for off := 0; ; {
		i := bytes.IndexByte(buf[off:], '\n')
		if i < 0 || off+i+1 == len(buf) {
			break
		}
		off += i + 1
		if first < 0 {
			first = at + int64(off)
		}
		if w.opts.splitBlind || w.parsesCleanly(probe, buf[off:], atEOF) {
			return at + int64(off), nil
		}
	}
	if first < 0 {
		return w.size, nil
	}
	return first, nil
}

// parsesCleanly says whether b starts with probeRecords records that parse
// with the header's field count (fewer when b ends first). Only the records
// that end inside b count, unless b ends the file.
func (w *tableWriter) parsesCleanly(probe *csvReader, b []byte, atEOF bool) bool {
	probe.reset(bytes.NewReader(b))
	good := 0
	for good < probeRecords {
		rec, err := probe.Next()
		if errors.Is(err, io.EOF) || (!atEOF && probe.consumed >= int64(len(b))) {
			return good > 0
		}
		if err != nil || len(rec.Fields) != w.nFields {
			return false
		}
		good++
	}
	return true
}

// runChunks parses the chunks, in parallel as far as slots allows (the
// calling goroutine holds one already), then keeps those that start where
// the records before them end and parses the ranges of the others again.
// firstLine is the number of lines before chunk 0 (the header's).
func (w *tableWriter) runChunks(ctx context.Context, chunks []*chunk, firstLine int64, src *source, dirs outDirs, slots cpuSlots, readBytes *atomic.Int64) (partRows, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var taken atomic.Int64
	allTaken := make(chan struct{})
	var once sync.Once
	// take returns the next chunk to parse, in file order, or nil when all
	// are taken. In file order, a chunk waits only for the line counts of
	// chunks that are taken already, and counting comes first.
	take := func() *chunk {
		i := taken.Add(1) - 1
		if i >= int64(len(chunks)) {
			once.Do(func() { close(allTaken) })
			return nil
		}
		return chunks[i]
	}
	parse := func(c *chunk) {
		c.err = w.parseChunk(ctx, chunks, c, firstLine, src, dirs, readBytes)
		if c.err != nil {
			cancel()
		}
	}
	var wg sync.WaitGroup
	for range min(len(chunks), cap(slots)) - 1 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				// A slot is taken for one chunk at a time, so that a table
				// waiting for one gets it soon.
				select {
				case slots <- struct{}{}:
				case <-allTaken:
					return
				case <-ctx.Done():
					return
				}
				c := take()
				if c != nil {
					parse(c)
				}
				slots.release()
				if c == nil {
					return
				}
			}
		}()
	}
	for c := take(); c != nil && ctx.Err() == nil; c = take() {
		parse(c)
	}
	wg.Wait()
	if err := chunkErr(chunks); err != nil {
		return partRows{}, err
	}
	if err := ctx.Err(); err != nil { // cancelled before every chunk was taken
		return partRows{}, fmt.Errorf("ingest %s: %w", w.path, err)
	}
	return w.keepVerified(ctx, chunks, src, dirs, readBytes)
}

// chunkErr returns the first error of the chunks that is not the
// cancellation that another chunk's error caused.
func chunkErr(chunks []*chunk) error {
	var first error
	for _, c := range chunks {
		if c.err == nil {
			continue
		}
		if !errors.Is(c.err, context.Canceled) {
			return c.err
		}
		if first == nil {
			first = c.err
		}
	}
	return first
}

// parseChunk counts the line breaks of c's range, waits for the counts of
// the chunks before it, and parses its records.
func (w *tableWriter) parseChunk(ctx context.Context, chunks []*chunk, c *chunk, firstLine int64, src *source, dirs outDirs, readBytes *atomic.Int64) error {
	c.lines, c.countErr = w.countLines(ctx, c.start, c.end)
	close(c.counted)
	if c.countErr != nil {
		return c.countErr
	}
	line := firstLine
	for _, p := range chunks[:c.index] {
		select {
		case <-p.counted:
		case <-ctx.Done():
			return fmt.Errorf("ingest %s: %w", w.path, ctx.Err())
		}
		if p.countErr != nil {
			return p.countErr
		}
		line += p.lines
	}
	var err error
	c.counts, c.next, err = w.parseRange(ctx, c.start, c.end, line, c.name, src, dirs, readBytes)
	return err
}

// countLines counts the line breaks in [start, end) of the source file.
func (w *tableWriter) countLines(ctx context.Context, start, end int64) (int64, error) {
	r := fileReader{ctx: ctx, r: io.NewSectionReader(w.file, start, end-start)}
	buf := make([]byte, 256<<10)
	var n int64
	for {
		k, err := r.Read(buf)
		n += int64(bytes.Count(buf[:k], []byte{'\n'}))
		if errors.Is(err, io.EOF) {
			return n, nil
		}
		if err != nil {
			return 0, readErr(w.path, err)
		}
	}
}

// parseRange parses the records of the source file that start in [start,
// end), start being a record start after line linesBefore, into the parts
// named name. It returns their accounting and where the next record starts.
func (w *tableWriter) parseRange(ctx context.Context, start, end, linesBefore int64, name string, src *source, dirs outDirs, readBytes *atomic.Int64) (counts, next, error) {
	cw := *w // the range's own accounting; the rest is shared and read-only
	cw.counts = counts{}
	rd := w.reader(fileReader{ctx: ctx, r: io.NewSectionReader(w.file, start, w.size-start), n: readBytes})
	rd.startAt(start, linesBefore)
	out, err := cw.openOutputs(dirs, name)
	if err != nil {
		return counts{}, next{}, err
	}
	nx, err := cw.readRecords(ctx, rd, src, out, readBytes, end)
	if err != nil {
		out.abandon()
		return counts{}, next{}, err
	}
	if err := out.close(); err != nil {
		return counts{}, next{}, err
	}
	cw.setTrimmed(name, out.padded)
	return cw.counts, nx, nil
}

// keepVerified goes through the parsed chunks in order and keeps each one
// that starts where the records kept before it end: it is then a true record
// start. The parts of a chunk that does not (a bad guess of planChunks) are
// deleted and its range is parsed again from there. Empty parts are deleted
// too, but for the first, so that a table always has its files.
func (w *tableWriter) keepVerified(ctx context.Context, chunks []*chunk, src *source, dirs outDirs, readBytes *atomic.Int64) (partRows, error) {
	parts := partRows{bronze: map[string]int64{}, quarantine: map[string]int64{}}
	var at next
	keep := func(name string, c counts, nx next) {
		w.counts.add(c)
		parts.bronze[name], parts.quarantine[name] = c.written, c.quarantined
		at = nx
	}
	keep(chunks[0].name, chunks[0].counts, chunks[0].next)
	redone := 0
	for _, c := range chunks[1:] {
		if c.start == at.offset {
			keep(c.name, c.counts, c.next)
			continue
		}
		redone++
		if err := removePart(dirs, c.name); err != nil {
			return partRows{}, fmt.Errorf("ingest %s: %w", w.path, err)
		}
		if at.offset >= c.end {
			continue // the records kept cover the whole range
		}
		cnt, nx, err := w.parseRange(ctx, at.offset, c.end, at.line-1, c.name, src, dirs, readBytes)
		if err != nil {
			return partRows{}, err
		}
		keep(c.name, cnt, nx)
	}
	for _, m := range []struct {
		dir  string
		rows map[string]int64
	}{{dirs.bronze, parts.bronze}, {dirs.quar, parts.quarantine}} {
		for name, n := range m.rows {
			if n == 0 && name != chunks[0].name {
				if err := os.Remove(filepath.Join(m.dir, name)); err != nil {
					return partRows{}, fmt.Errorf("ingest %s: %w", w.path, err)
				}
				delete(m.rows, name)
			}
		}
	}
	w.opts.Logger.Debug("parsed in chunks", "file", w.path, "chunks", len(chunks), "redone", redone,
		"bronze_parts", len(parts.bronze), "quarantine_parts", len(parts.quarantine))
	return parts, nil
}

// removePart deletes the Bronze and quarantine files name.
func removePart(dirs outDirs, name string) error {
	for _, d := range []string{dirs.bronze, dirs.quar} {
		if err := os.Remove(filepath.Join(d, name)); err != nil {
			return err
		}
	}
	return nil
}
