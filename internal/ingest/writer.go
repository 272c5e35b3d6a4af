package ingest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"math/bits"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/parquet-go/parquet-go"

	"github.com/keystone/nexus/internal/lake"
	"github.com/keystone/nexus/internal/olist"
)

// tableWriter streams one source file into a Bronze file and a quarantine file.
type tableWriter struct {
	opts       Options
	t          olist.Table
	path       string
	file       *os.File    // the opened source, checked to be a regular file
	info       fs.FileInfo // its state when opened: size for progress, and the file must still match it at the end
	size       int64       // info.Size(), for progress
	sourceName string
	batch      int32 // _batch, days since the epoch, when hasBatch
	hasBatch   bool
	// lineOf, when set, maps the line a record starts on to the
	// _source_line it gets (a stream's records carry their Kafka offset).
	lineOf map[int64]int64
	// eventOf, when set, maps the line a record starts on to its event_id.
	eventOf map[int64]string
	// ownQuoting: the source was written by this program (a stream's
	// micro-batch), its quoting is right, and a quoted value may span any
	// number of lines (a file's reader stops a quote after 200 lines, so
	// that a stray quote cannot swallow the file).
	ownQuoting bool
	// rejected, when set, gives the reason and raw text of a record
	// rejected before it was parsed (by its _source_line): they replace the
	// parser's (whose raw text is the record as re-encoded for parsing).
	rejected map[int64]rejected

	cols    []bronzeColumn
	extras  []string
	colIdx  []int // file field → Bronze column (contract columns first, then extras)
	nFields int

	counts

	// trimmed records the trimmed string columns (lake.File.Trimmed) of
	// each Bronze part written; shared by the copies that parse a file's
	// chunks in parallel. Set by parse.
	trimmed *trimmedParts
}

// trimmedParts maps Bronze parts, by name, to their trimmed string columns.
type trimmedParts struct {
	mu   sync.Mutex
	cols map[string][]string
}

// rejected is a record rejected before it was parsed: why, and as it came.
type rejected struct{ reason, raw string }

// counts is the accounting of the records of a file, or of a chunk of it.
type counts struct {
	read, written, quarantined, blank int64
}

func (c *counts) add(o counts) {
	c.read += o.read
	c.written += o.written
	c.quarantined += o.quarantined
	c.blank += o.blank
}

// partRows maps the Parquet files that a run wrote, relative to their
// staging directory, to their row counts: lake.Staging.Publish takes them.
type partRows struct {
	bronze, quarantine map[string]int64
	// trimmed gives the trimmed string columns of each Bronze part
	// (lake.File.Trimmed).
	trimmed map[string][]string
}

// serialPart is the one file of a source parsed in one piece.
const serialPart = "part-0.parquet"

func (w *tableWriter) schemaColumns() []lake.Column {
	var out []lake.Column
	for _, c := range w.cols {
		out = append(out, lake.Column{Name: c.Name, Type: sqlTypeOf(c.Type)})
	}
	return append(out,
		lake.Column{Name: ColSourceFile, Type: "VARCHAR"}, lake.Column{Name: ColSourceLine, Type: "BIGINT"},
		lake.Column{Name: ColRunID, Type: "VARCHAR"}, lake.Column{Name: ColIngestedAt, Type: "TIMESTAMP WITH TIME ZONE"},
		lake.Column{Name: ColBatch, Type: "DATE"}, lake.Column{Name: ColEventID, Type: "VARCHAR"})
}

// run writes the source's records into Parquet files of bronzeDir when they
// fit the contract, and of quarDir (with the reason) when they do not: one
// part-0.parquet each, or one part per chunk of a large file (see chunks.go).
// It returns the files written and their rows.
func (w *tableWriter) run(ctx context.Context, bronzeDir, quarDir string) (partRows, error) {
	parts, err := w.parse(ctx, bronzeDir, quarDir)
	if err != nil && ctx.Err() == nil {
		// A file that changed while it was read failed for that reason (a
		// truncated gzip stream, a header cut short): say so, so that the
		// failure is retried rather than taken as a broken file.
		if serr := w.stillSame(); errors.Is(serr, ErrSourceChanging) {
			return partRows{}, serr
		}
	}
	return parts, err
}

// parse is run without the final check of the source.
func (w *tableWriter) parse(ctx context.Context, bronzeDir, quarDir string) (partRows, error) {
	slots := w.opts.slots
	if slots == nil {
		slots = newCPUSlots(1)
	}
	// The file's own parser holds a slot; idle slots parse its chunks.
	if err := slots.acquire(ctx); err != nil {
		return partRows{}, fmt.Errorf("ingest %s: %w", w.path, err)
	}
	defer slots.release()
	var readBytes atomic.Int64
	src, err := readSource(ctx, w.file, w.path, &readBytes)
	if err != nil {
		return partRows{}, err
	}
	// Closing a source only ends its gzip reader (w.file is the caller's): it
	// returns nil after a full read, and after a failed one that read's error,
	// which is already returned.
	defer src.Close()

	rd := w.reader(src)
	rd.consumed = src.offset
	schema, err := w.readHeader(rd)
	if err != nil {
		return partRows{}, err
	}
	dirs := outDirs{bronze: bronzeDir, quar: quarDir, schema: schema}
	w.trimmed = &trimmedParts{cols: map[string][]string{}}
	var parts partRows
	if chunks, err := w.planChunks(ctx, rd, src); err != nil {
		return partRows{}, err
	} else if len(chunks) > 1 {
		parts, err = w.runChunks(ctx, chunks, rd.line, src, dirs, slots, &readBytes)
		if err != nil {
			return partRows{}, err
		}
	} else {
		out, err := w.openOutputs(dirs, serialPart)
		if err != nil {
			return partRows{}, err
		}
		if _, err := w.readRecords(ctx, rd, src, out, &readBytes, noEnd); err != nil {
			out.abandon()
			return partRows{}, err
		}
		if err := out.close(); err != nil {
			return partRows{}, err
		}
		w.setTrimmed(serialPart, out.padded)
		parts = partRows{
			bronze:     map[string]int64{serialPart: w.written},
			quarantine: map[string]int64{serialPart: w.quarantined},
		}
	}
	parts.trimmed = w.trimmedOf(parts.bronze)
	if err := w.stillSame(); err != nil {
		return partRows{}, err
	}
	if w.opts.Progress != nil {
		w.opts.Progress(w.t.Name, w.size, w.size)
	}
	return parts, nil
}

// reader is a CSV reader of the source with the writer's settings.
func (w *tableWriter) reader(r io.Reader) *csvReader {
	rd := newCSVReader(r)
	if w.ownQuoting {
		rd.maxQuotedLines = math.MaxInt
	}
	return rd
}

// stillSame fails when the source changed while it was read (a copy still in
// progress, a writer still appending): what was read is not a whole file, and
// reading it again later will succeed.
func (w *tableWriter) stillSame() error {
	if w.info == nil {
		return nil
	}
	now, err := os.Stat(w.path)
	if err != nil {
		return fileErr(w.path, "%v", err)
	}
	if now.Size() != w.info.Size() || !now.ModTime().Equal(w.info.ModTime()) || !os.SameFile(now, w.info) {
		return &FileError{File: w.path, Err: ErrSourceChanging,
			Msg: fmt.Sprintf("changed while it was read (%d bytes when opened, %d now): it is still being written; it is read again on the next run", w.info.Size(), now.Size())}
	}
	return nil
}

// readHeader reads line 1, checks it against the contract and lays out the
// Bronze columns (w.cols, w.extras, w.nFields, w.colIdx); it returns their
// Parquet schema.
func (w *tableWriter) readHeader(rd *csvReader) (*parquet.Schema, error) {
	hdr, err := rd.Next()
	if err != nil {
		return nil, w.headerError(err)
	}
	if err := checkDelimiter(w.path, w.t, hdr.Raw); err != nil {
		return nil, err
	}
	idx, extras, err := headerMap(w.path, w.t, hdr.Fields, w.opts.OnDrift)
	if err != nil {
		return nil, err
	}
	if len(extras) > 0 {
		w.opts.Logger.Warn("schema drift: keeping extra columns as text", "file", w.path, "columns", extras)
	}
	schema, cols := bronzeSchema(w.t, extras)
	w.extras, w.cols, w.nFields = extras, cols, len(hdr.Fields)
	w.colIdx = bronzeIndex(idx, len(w.t.Columns))
	return schema, nil
}

// headerError says why line 1 could not be read as a header.
func (w *tableWriter) headerError(err error) error {
	var re *RecordError
	switch {
	case errors.As(err, &re):
		if derr := checkDelimiter(w.path, w.t, re.Raw); derr != nil {
			return derr
		}
		return fileErr(w.path, "line 1: unreadable header: %s", re.Msg)
	case errors.Is(err, io.EOF):
		return fileErr(w.path, "file is empty (no header line)")
	default:
		return fileErr(w.path, "%v", err)
	}
}

// bronzeIndex maps each field of the file to its Bronze column: idx gives the
// contract column or -1 for an extra one, and extras follow the contract's
// nContract columns in file order.
func bronzeIndex(idx []int, nContract int) []int {
	out := make([]int, len(idx))
	next := nContract
	for i, ci := range idx {
		if ci < 0 {
			out[i] = next
			next++
		} else {
			out[i] = ci
		}
	}
	return out
}

// noEnd is the end of a range that goes to the end of the source.
const noEnd = math.MaxInt64

// next is where a range of records ended: the byte offset and the line of
// the first record that starts at or after the range's end, or of the end of
// the source.
type next struct {
	offset, line int64
}

// readRecords reads the records after the header, each into Bronze or the
// quarantine, until the end of the source or the first record that starts at
// or after byte offset end; it returns where that record starts.
func (w *tableWriter) readRecords(ctx context.Context, rd *csvReader, src *source, out *outputs, readBytes *atomic.Int64, end int64) (next, error) {
	// The batch being filled is a local: its slices are updated for every
	// field, and on the stack that costs no GC write barrier.
	b := out.bronze.take()
	lastProgress := time.Now()
	for {
		rec, err := rd.Next()
		if errors.Is(err, io.EOF) {
			out.bronze.send(b)
			return next{rd.consumed, rd.line + 1}, nil
		}
		var re *RecordError
		switch {
		case errors.As(err, &re) && re.Offset >= end:
			out.bronze.send(b)
			return next{re.Offset, re.Line}, nil
		case err == nil && rec.Offset >= end:
			out.bronze.send(b)
			return next{rec.Offset, rec.Line}, nil
		}
		if err != nil {
			if err := w.rejectUnreadable(out, src, err); err != nil {
				return next{}, err
			}
			continue
		}
		if len(rec.Fields) == 1 && len(rec.Fields[0]) == 0 && !rec.Quoted[0] && w.nFields > 1 {
			w.blank++ // an empty line holds no record
			continue
		}
		w.read++
		if w.read&0x3fff == 0 {
			if err := ctx.Err(); err != nil {
				return next{}, err
			}
			if w.opts.Progress != nil && time.Since(lastProgress) > 100*time.Millisecond {
				// Chunks read a little past their ends: the sum may pass the size.
				w.opts.Progress(w.t.Name, min(readBytes.Load(), w.size), w.size)
				lastProgress = time.Now()
			}
		}
		if err := w.writeRecord(out, src, rec, &b); err != nil {
			return next{}, err
		}
	}
}

// rejectUnreadable quarantines a record the CSV reader could not split into
// fields; any other read error ends the file.
func (w *tableWriter) rejectUnreadable(out *outputs, src *source, err error) error {
	var re *RecordError
	if !errors.As(err, &re) {
		return fmt.Errorf("ingest %s: %w", w.path, err)
	}
	w.read++
	kind, msg := re.Kind, re.Msg
	if i := bytes.IndexByte(re.Raw, 0); i >= 0 {
		// A NUL before a quote breaks the quoting: the NUL is the cause.
		kind, msg = ErrKindNUL, fmt.Sprintf("NUL byte at offset %d of the %s (%s)", re.Offset+int64(i), src.what(), re.Msg)
	}
	return w.reject(out, w.line(re.Line), re.Column, kind, msg, re.Raw)
}

// line is the _source_line of a record starting on line l.
func (w *tableWriter) line(l int64) int64 {
	if v, ok := w.lineOf[l]; ok {
		return v
	}
	return l
}

// writeRecord adds a record to the Bronze batch b when every field fits its
// column, and quarantines it otherwise.
func (w *tableWriter) writeRecord(out *outputs, src *source, rec *Record, b *rowBatch) error {
	// A NUL is never text: it would pass into Bronze inside a value (a
	// 33-character order_id that then orphans the order's items), so the
	// record is quarantined here, whatever the column's type.
	if bytes.IndexByte(rec.Raw, 0) >= 0 {
		col, reason := w.nulReason(rec, src)
		return w.reject(out, w.line(rec.Line), col, ErrKindNUL, reason, clip(rec.Raw))
	}
	if len(rec.Fields) != w.nFields {
		reason := fmt.Sprintf("expected %d fields, found %d", w.nFields, len(rec.Fields))
		return w.reject(out, w.line(rec.Line), 0, ErrKindFieldCount, reason, clip(rec.Raw))
	}
	start := len(b.rowBuf)
	end := start + len(w.cols) + lineageWidth
	b.rowBuf = b.rowBuf[:end]
	row := b.rowBuf[start:end:end]
	if col, kind, reason := w.convert(rec, row, b, out.padded); col > 0 {
		b.rowBuf = b.rowBuf[:start]
		return w.reject(out, w.line(rec.Line), col, kind, reason, clip(rec.Raw))
	}
	out.bronze.setLineage(row, w.line(rec.Line), w.eventOf[rec.Line])
	b.rows = append(b.rows, row)
	w.written++
	// The arena is sent before it must grow, so that one batch's strings
	// stay in one allocation.
	if len(b.rows) == bronzeBatch || len(b.arena) > cap(b.arena)-64<<10 {
		*b = out.bronze.swap(*b)
	}
	return nil
}

// convert types the record's fields into row, each at its Bronze column; the
// bytes of strings are copied into b's arena, as the reader reuses its
// buffers. A string that begins or ends with anything but printable ASCII
// other than space sets padded at its column (see lake.File.Trimmed). For
// the first field that does not fit, it returns its position (1-based), the
// error kind and the reason; col is 0 when all fit.
func (w *tableWriter) convert(rec *Record, row []parquet.Value, b *rowBatch, padded []bool) (col int, kind, reason string) {
	var pad uint64 // columns < 64 with a padded value, marked in padded if the record fits
	for i, f := range rec.Fields {
		ci := w.colIdx[i]
		t := w.cols[ci].Type
		// Empty is NULL, except a quoted "" in a text column: an empty string.
		if len(f) == 0 && (!rec.Quoted[i] || t != olist.String) {
			row[ci] = parquet.NullValue().Level(0, 0, ci)
			continue
		}
		// The parsers are called here, not through a helper: this runs for
		// every field of 1.5 M rows, and a call per field made this loop run 30%
		// more instructions (cachegrind).
		var v parquet.Value
		var err error
		switch t {
		case olist.Int:
			var n int32
			n, err = parseInt32(f)
			v = parquet.Int32Value(n)
		case olist.Money:
			var n int64
			n, err = parseMoney(f)
			v = parquet.Int64Value(n)
		case olist.Float:
			var x float64
			x, err = parseFloat(f)
			v = parquet.DoubleValue(x)
		case olist.Timestamp:
			var n int64
			n, err = parseTimestamp(f)
			v = parquet.Int64Value(n)
		default: // olist.String, as in leafNode
			if err = checkUTF8(f); err == nil {
				if n := len(f); n > 0 && (f[0] <= ' ' || f[0] > '~' || f[n-1] <= ' ' || f[n-1] > '~') {
					// Marked once the whole record fits: a quarantined
					// record's values are not in the file.
					if ci < 64 {
						pad |= 1 << ci
					} else {
						padded[ci] = true // conservative: not known trimmed
					}
				}
				off := len(b.arena)
				b.arena = append(b.arena, f...)
				v = parquet.ByteArrayValue(b.arena[off:len(b.arena):len(b.arena)])
			}
		}
		if err != nil {
			kind, reason := w.fieldError(ci, err)
			return i + 1, kind, reason
		}
		row[ci] = v.Level(0, 1, ci)
	}
	for ; pad != 0; pad &= pad - 1 {
		padded[bits.TrailingZeros64(pad)] = true
	}
	return 0, "", ""
}

// fieldError is the kind and reason of a field that did not fit Bronze
// column ci.
func (w *tableWriter) fieldError(ci int, err error) (kind, reason string) {
	c := w.cols[ci]
	kind = ErrKindCast
	if c.Type == olist.String {
		kind = ErrKindUTF8
	}
	return kind, fmt.Sprintf("column %q (%s): %v", c.Name, c.Type, err)
}

// reject counts a record as quarantined and adds it to the quarantine; col is
// the 1-based field at fault, or 0 for the whole record.
func (w *tableWriter) reject(out *outputs, line int64, col int, kind, reason string, raw []byte) error {
	if r, ok := w.rejected[line]; ok {
		col, kind, reason, raw = 0, ErrKindEvent, r.reason, clip([]byte(r.raw))
	}
	w.quarantined++
	name := ""
	if col > 0 && col <= len(w.colIdx) {
		name = w.cols[w.colIdx[col-1]].Name
	}
	return out.quar.add(line, col, name, kind, reason, raw)
}

// nulReason locates the first NUL byte of a record: its column (1-based,
// 0 when it is not inside a field value) and a reason with its offsets in the
// value and in the file.
func (w *tableWriter) nulReason(rec *Record, src *source) (int, string) {
	file := src.what()
	at := rec.Offset + int64(bytes.IndexByte(rec.Raw, 0))
	for i, f := range rec.Fields {
		j := bytes.IndexByte(f, 0)
		if j < 0 {
			continue
		}
		name := fmt.Sprintf("field %d", i+1)
		if i < len(w.colIdx) {
			name = fmt.Sprintf("column %q", w.cols[w.colIdx[i]].Name)
		}
		return i + 1, fmt.Sprintf("NUL byte in %s at offset %d of the value, offset %d of the %s", name, j, at, file)
	}
	return 0, fmt.Sprintf("NUL byte at offset %d of the %s", at, file)
}

// textOf makes raw record bytes storable text for the quarantine: invalid
// UTF-8 and NUL bytes become U+FFFD (the reason says where they were).
func textOf(raw []byte) string {
	return strings.ReplaceAll(strings.ToValidUTF8(string(raw), "\uFFFD"), "\x00", "\uFFFD")
}

// outputs are the two Parquet files of one source file, being written.
type outputs struct {
	path       string // the source, for messages
	bronzeFile *os.File
	quarFile   *os.File
	bronze     *bronzeSink
	quar       *quarantineSink
	// padded marks the Bronze columns with a value trim() would change
	// (convert), for the part's trimmed columns (setTrimmed).
	padded []bool
}

// outDirs are the staging directories of a file's Bronze and quarantine
// parts, and the Bronze schema.
type outDirs struct {
	bronze, quar string
	schema       *parquet.Schema
}

// openOutputs creates the file name in both staging directories and starts
// the Bronze encoder.
func (w *tableWriter) openOutputs(dirs outDirs, name string) (*outputs, error) {
	bf, err := os.Create(filepath.Join(dirs.bronze, name))
	if err != nil {
		return nil, fmt.Errorf("ingest %s: %w", w.path, err)
	}
	qf, err := os.Create(filepath.Join(dirs.quar, name))
	if err != nil {
		// The empty file is removed with its staging directory; its close
		// error has nothing to add to this one.
		_ = bf.Close()
		return nil, fmt.Errorf("ingest %s: %w", w.path, err)
	}
	lin := lineage{
		file:  []byte(w.sourceName),
		run:   []byte(w.opts.RunID),
		at:    w.opts.Now().UTC().UnixMicro(),
		batch: w.batch, hasBatch: w.hasBatch,
	}
	return &outputs{
		path:       w.path,
		bronzeFile: bf,
		quarFile:   qf,
		bronze:     newBronzeSink(newParquetWriter(bf, dirs.schema, w.opts.Codec), w.path, len(w.cols), lin),
		quar:       newQuarantineSink(newParquetWriter(qf, quarantineSchema(), w.opts.Codec), w.path, lin),
		padded:     make([]bool, len(w.cols)),
	}, nil
}

// setTrimmed records the trimmed string columns of the Bronze part name,
// whose padded columns are marked; a part parsed again replaces its entry.
func (w *tableWriter) setTrimmed(name string, padded []bool) {
	var cols []string
	for i, c := range w.cols {
		if c.Type == olist.String && !padded[i] {
			cols = append(cols, c.Name)
		}
	}
	w.trimmed.mu.Lock()
	defer w.trimmed.mu.Unlock()
	w.trimmed.cols[name] = cols
}

// trimmedOf returns the trimmed columns of the parts the writer kept.
func (w *tableWriter) trimmedOf(parts map[string]int64) map[string][]string {
	w.trimmed.mu.Lock()
	defer w.trimmed.mu.Unlock()
	out := make(map[string][]string, len(parts))
	for name := range parts {
		if cols, ok := w.trimmed.cols[name]; ok {
			out[name] = cols
		}
	}
	return out
}

// close writes the last rows and both footers, and closes the files. The
// files are closed whatever happens; the first error is returned.
func (o *outputs) close() error {
	err := o.finish()
	for _, f := range []*os.File{o.bronzeFile, o.quarFile} {
		if cerr := f.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("ingest %s: close %s: %w", o.path, f.Name(), cerr)
		}
	}
	return err
}

// finish writes the last rows of both files and their footers.
func (o *outputs) finish() error {
	if err := o.bronze.finish(); err != nil {
		return err
	}
	if err := o.quar.flush(); err != nil {
		return err
	}
	if err := o.bronze.pw.Close(); err != nil {
		return fmt.Errorf("ingest %s: close parquet: %w", o.path, err)
	}
	if err := o.quar.pw.Close(); err != nil {
		return fmt.Errorf("ingest %s: close quarantine: %w", o.path, err)
	}
	return nil
}

// abandon stops the encoder and closes the files of a run that failed. Their
// errors are dropped: the run's first error is the one to report, and the
// caller removes the staged files.
func (o *outputs) abandon() {
	_ = o.bronze.finish()
	_ = o.bronzeFile.Close()
	_ = o.quarFile.Close()
}

// lineageWidth is the number of lineage columns that follow the data columns
// of a Bronze row (see bronzeSchema and bronzeSink.setLineage).
const lineageWidth = 6

// lineage holds the lineage values that all rows of a file share.
type lineage struct {
	file, run []byte
	at        int64 // ingestion time, µs since the epoch
	batch     int32 // the batch's date, days since the epoch, when hasBatch
	hasBatch  bool
}

// batchValue is the _batch value of a row at column index col.
func (l lineage) batchValue(col int) parquet.Value {
	if !l.hasBatch {
		return parquet.NullValue().Level(0, 0, col)
	}
	return parquet.Int32Value(l.batch).Level(0, 1, col)
}

// bronzeBatch is the number of rows handed to the encoder at once.
const bronzeBatch = 4096

// rowBatch is a batch of Bronze rows. Its string values point into its own
// arena: the CSV reader reuses a record's bytes for the next one.
type rowBatch struct {
	rows   []parquet.Row
	rowBuf []parquet.Value
	arena  []byte
}

// bronzeSink encodes Bronze rows in a goroutine of its own. Parsing and
// Parquet encoding each take about half the CPU of a file, so the parser fills
// a batch while the encoder writes the previous one; three batches rotate.
type bronzeSink struct {
	pw                  *parquet.GenericWriter[any]
	path                string
	ncols               int // contract and extra columns; lineage follows
	fileVal, runVal, at parquet.Value
	batchVal            parquet.Value

	free, work chan rowBatch // empty batches; full batches to encode
	done       chan error    // the encoder's first error, once work is closed
	finished   bool
}

func newBronzeSink(pw *parquet.GenericWriter[any], path string, ncols int, lin lineage) *bronzeSink {
	s := &bronzeSink{
		pw: pw, path: path, ncols: ncols,
		fileVal:  parquet.ByteArrayValue(lin.file).Level(0, 0, ncols),
		runVal:   parquet.ByteArrayValue(lin.run).Level(0, 0, ncols+2),
		at:       parquet.Int64Value(lin.at).Level(0, 0, ncols+3),
		batchVal: lin.batchValue(ncols + 4),
		free:     make(chan rowBatch, 3),
		work:     make(chan rowBatch, 2),
		done:     make(chan error, 1),
	}
	for i := 0; i < 3; i++ {
		s.free <- rowBatch{
			rows:   make([]parquet.Row, 0, bronzeBatch),
			rowBuf: make([]parquet.Value, 0, bronzeBatch*(ncols+lineageWidth)),
			arena:  make([]byte, 0, 1<<20),
		}
	}
	go s.encode()
	return s
}

// encode writes the batches sent on work, then reports its first error on
// done. After an error it keeps recycling batches so that the parser never
// blocks; the error ends the run when the parser finishes.
func (s *bronzeSink) encode() {
	var err error
	for b := range s.work {
		if err == nil {
			if _, werr := s.pw.WriteRows(b.rows); werr != nil {
				err = fmt.Errorf("ingest %s: write parquet: %w", s.path, werr)
			}
		}
		s.free <- rowBatch{rows: b.rows[:0], rowBuf: b.rowBuf[:0], arena: b.arena[:0]}
	}
	s.done <- err
}

// take returns an empty batch to fill.
func (s *bronzeSink) take() rowBatch { return <-s.free }

// send hands a filled batch to the encoder.
func (s *bronzeSink) send(b rowBatch) {
	if len(b.rows) > 0 {
		s.work <- b
	}
}

// swap hands a filled batch to the encoder and returns an empty one.
func (s *bronzeSink) swap(b rowBatch) rowBatch {
	if len(b.rows) == 0 {
		return b
	}
	s.work <- b
	return <-s.free
}

// setLineage fills the lineage columns of row, after its ncols columns.
// eventID is the row's _event_id ("" is NULL: a file's row).
func (s *bronzeSink) setLineage(row []parquet.Value, line int64, eventID string) {
	row[s.ncols] = s.fileVal
	row[s.ncols+1] = parquet.Int64Value(line).Level(0, 0, s.ncols+1)
	row[s.ncols+2] = s.runVal
	row[s.ncols+3] = s.at
	row[s.ncols+4] = s.batchVal
	row[s.ncols+5] = parquet.NullValue().Level(0, 0, s.ncols+5)
	if eventID != "" {
		row[s.ncols+5] = parquet.ByteArrayValue([]byte(eventID)).Level(0, 1, s.ncols+5)
	}
}

// finish stops the encoder once it has written the batches sent, and returns
// its error. It may be called again; later calls return nil.
func (s *bronzeSink) finish() error {
	if s.finished {
		return nil
	}
	s.finished = true
	close(s.work)
	return <-s.done
}

// quarantineSink writes the rejected records, 1024 rows at a time.
type quarantineSink struct {
	pw                  *parquet.GenericWriter[any]
	path                string
	fileVal, runVal, at parquet.Value
	batchVal            parquet.Value
	rows                []parquet.Row
}

func newQuarantineSink(pw *parquet.GenericWriter[any], path string, lin lineage) *quarantineSink {
	return &quarantineSink{
		pw: pw, path: path,
		fileVal:  parquet.ByteArrayValue(lin.file).Level(0, 0, 0),
		runVal:   parquet.ByteArrayValue(lin.run).Level(0, 0, 7),
		at:       parquet.Int64Value(lin.at).Level(0, 0, 8),
		batchVal: lin.batchValue(9),
	}
}

// add adds a rejected record: its line, the 1-based field at fault (0: the
// whole record) and that field's column name ("" when unknown), the error
// kind, the reason and the raw bytes.
func (q *quarantineSink) add(line int64, col int, name, kind, reason string, raw []byte) error {
	colIdx, colName := parquet.NullValue().Level(0, 0, 2), parquet.NullValue().Level(0, 0, 3)
	if col > 0 {
		colIdx = parquet.Int32Value(int32(col)).Level(0, 1, 2)
		if name != "" {
			colName = parquet.ByteArrayValue([]byte(name)).Level(0, 1, 3)
		}
	}
	q.rows = append(q.rows, parquet.Row{
		q.fileVal, parquet.Int64Value(line).Level(0, 0, 1), colIdx, colName,
		parquet.ByteArrayValue([]byte(kind)).Level(0, 0, 4), parquet.ByteArrayValue([]byte(reason)).Level(0, 0, 5),
		parquet.ByteArrayValue([]byte(textOf(raw))).Level(0, 0, 6), q.runVal, q.at, q.batchVal,
	})
	if len(q.rows) >= 1024 {
		return q.flush()
	}
	return nil
}

// flush writes the rows added since the last flush.
func (q *quarantineSink) flush() error {
	if len(q.rows) == 0 {
		return nil
	}
	if _, err := q.pw.WriteRows(q.rows); err != nil {
		return fmt.Errorf("ingest %s: write quarantine: %w", q.path, err)
	}
	q.rows = q.rows[:0]
	return nil
}
