package ingest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/compress"

	"github.com/keystone/nexus/internal/lake"
	"github.com/keystone/nexus/internal/olist"
)

// Schema-drift policies for a source file with columns the contract lacks.
const (
	DriftFail   = "fail"
	DriftEvolve = "evolve"
)

// formatVersion changes when the Bronze layout changes, so that a new binary
// re-ingests unchanged sources instead of trusting files it would write
// differently.
const formatVersion = "bronze-v1"

// Options configure an ingest run.
type Options struct {
	SourceDir string
	RunID     string
	OnDrift   string   // DriftFail (default) or DriftEvolve
	Tables    []string // subset of tables; empty = all nine
	Force     bool     // re-ingest even when the inputs are unchanged
	Workers   int      // tables ingested at once; 0 = GOMAXPROCS
	Codec     compress.Codec
	Logger    *slog.Logger
	// Progress, when set, is called from time to time with the bytes read so
	// far of each file; it must be safe for concurrent use.
	Progress func(table string, read, total int64)
	Now      func() time.Time
}

// Status of one table after a run.
type Status string

// Table statuses.
const (
	StatusIngested  Status = "ingested"
	StatusUnchanged Status = "unchanged"
	StatusFailed    Status = "failed"
)

// TableResult is the accounting of one source file.
type TableResult struct {
	Table           string        `json:"table"`
	File            string        `json:"file"`
	Status          Status        `json:"status"`
	RecordsRead     int64         `json:"records_read"`
	RowsWritten     int64         `json:"rows_written"`
	RowsQuarantined int64         `json:"rows_quarantined"`
	BlankLines      int64         `json:"blank_lines,omitempty"`
	InputBytes      int64         `json:"input_bytes"`
	ParquetBytes    int64         `json:"parquet_bytes"`
	Version         int64         `json:"version"`
	Duration        time.Duration `json:"duration_ns"`
	ExtraColumns    []string      `json:"extra_columns,omitempty"`
	Err             error         `json:"-"`
}

// Result of an ingest run.
type Result struct {
	RunID  string
	Tables []TableResult
}

// Failed returns the results of the tables that failed.
func (r Result) Failed() []TableResult {
	var out []TableResult
	for _, t := range r.Tables {
		if t.Status == StatusFailed {
			out = append(out, t)
		}
	}
	return out
}

// Err joins the errors of the failed tables.
func (r Result) Err() error {
	var errs []error
	for _, t := range r.Failed() {
		errs = append(errs, t.Err)
	}
	return errors.Join(errs...)
}

// Run ingests the source files into Bronze. Each table is independent: a file
// that fails leaves its table's published version as it was and the others go
// on; the returned Result says what happened to each. The error is non-nil
// only when the run could not start.
func Run(ctx context.Context, lk *lake.Lake, opts Options) (Result, error) {
	if opts.OnDrift == "" {
		opts.OnDrift = DriftFail
	}
	if opts.OnDrift != DriftFail && opts.OnDrift != DriftEvolve {
		return Result{}, fmt.Errorf("ingest: --on-drift must be %q or %q, not %q", DriftFail, DriftEvolve, opts.OnDrift)
	}
	if opts.RunID == "" {
		opts.RunID = lake.NewRunID(time.Now())
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Codec == nil {
		opts.Codec = &parquet.Snappy
	}
	if opts.Workers <= 0 {
		opts.Workers = runtime.GOMAXPROCS(0)
	}
	info, err := os.Stat(opts.SourceDir)
	if err != nil {
		return Result{}, fmt.Errorf("ingest: source directory: %w", err)
	}
	if !info.IsDir() {
		return Result{}, fmt.Errorf("ingest: source %s is not a directory", opts.SourceDir)
	}
	tables, err := selectTables(opts.Tables)
	if err != nil {
		return Result{}, err
	}

	// Largest files first, so the long pole starts at once.
	type job struct {
		i    int
		t    olist.Table
		path string
		size int64
	}
	results := make([]TableResult, len(tables))
	var jobs []job
	for i, t := range tables {
		results[i] = TableResult{Table: t.Name, File: t.File}
		path, err := locate(opts.SourceDir, t)
		if err != nil {
			results[i].Status, results[i].Err = StatusFailed, err
			continue
		}
		st, err := os.Stat(path)
		if err != nil {
			results[i].Status, results[i].Err = StatusFailed, fileErr(path, "%v", err)
			continue
		}
		if msg := notRegular(path, st.Mode()); msg != "" {
			results[i].Status, results[i].Err = StatusFailed, fileErr(path, "%s", msg)
			continue
		}
		results[i].File = path
		jobs = append(jobs, job{i, t, path, st.Size()})
	}
	sort.SliceStable(jobs, func(a, b int) bool { return jobs[a].size > jobs[b].size })

	ch := make(chan job)
	var wg sync.WaitGroup
	for w := 0; w < opts.Workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range ch {
				start := time.Now()
				r := ingestTable(ctx, lk, opts, j.t, j.path)
				r.Duration = time.Since(start)
				results[j.i] = r
			}
		}()
	}
	for _, j := range jobs {
		ch <- j
	}
	close(ch)
	wg.Wait()
	return Result{RunID: opts.RunID, Tables: results}, ctx.Err()
}

func selectTables(names []string) ([]olist.Table, error) {
	all := olist.Tables()
	if len(names) == 0 {
		return all, nil
	}
	var out []olist.Table
	for _, n := range names {
		t, err := olist.Lookup(n)
		if err != nil {
			return nil, fmt.Errorf("ingest: %w", err)
		}
		out = append(out, t)
	}
	return out, nil
}

// tableFingerprint identifies what a Bronze version was built from: the input
// file, the contract of its table, the Bronze format and the drift policy.
func tableFingerprint(in lake.Input, t olist.Table, onDrift string) string {
	var sb strings.Builder
	for _, c := range t.Columns {
		fmt.Fprintf(&sb, "%s:%s:%v;", c.Name, c.Type, c.Aliases)
	}
	return lake.HashStrings(formatVersion, in.Hash, fmt.Sprint(in.Size), sb.String(), onDrift)
}

func ingestTable(ctx context.Context, lk *lake.Lake, opts Options, t olist.Table, path string) TableResult {
	res := TableResult{Table: t.Name, File: path}
	fail := func(err error) TableResult {
		res.Status, res.Err = StatusFailed, err
		// The caller reports the failure from the result; logging it as an
		// error too printed it twice.
		opts.Logger.Info("ingest failed", "table", t.Name, "file", path, "err", err)
		return res
	}
	if err := ctx.Err(); err != nil {
		return fail(err)
	}
	// One descriptor, checked to be a regular file, is hashed and then read,
	// so the bytes ingested are the bytes fingerprinted.
	f, info, err := openRegular(path)
	if err != nil {
		return fail(err)
	}
	defer f.Close()
	in, err := lake.FingerprintReader(fileReader{ctx: ctx, r: f})
	if err != nil {
		return fail(readErr(path, err))
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return fail(fileErr(path, "%v", err))
	}
	in.Name = filepath.Base(path)
	res.InputBytes = in.Size
	fp := tableFingerprint(in, t, opts.OnDrift)
	// A damaged Bronze version is re-ingested, not trusted.
	prev := lk.Intact(lake.Bronze, t.Name)
	upToDate := prev != nil && prev.Fingerprint == fp
	if upToDate {
		// Bronze is current only together with the quarantine of the same file.
		qm := lk.Intact(lake.Quarantine, "bronze_"+t.Name)
		upToDate = qm != nil && qm.Fingerprint == fp
	}
	if upToDate && !opts.Force {
		res.Status = StatusUnchanged
		res.Version = prev.Version
		res.RecordsRead = prev.Stats["records_read"]
		res.RowsWritten = prev.Stats["rows_written"]
		res.RowsQuarantined = prev.Stats["rows_quarantined"]
		res.BlankLines = prev.Stats["blank_lines"]
		res.ParquetBytes = prev.Bytes
		if opts.Progress != nil {
			opts.Progress(t.Name, in.Size, in.Size)
		}
		opts.Logger.Info("unchanged, skipped", "table", t.Name, "version", prev.Version)
		return res
	}

	bronze, err := lk.Stage(lake.Bronze, t.Name, opts.RunID)
	if err != nil {
		return fail(err)
	}
	quar, err := lk.Stage(lake.Quarantine, "bronze_"+t.Name, opts.RunID)
	if err != nil {
		bronze.Abort()
		return fail(err)
	}
	w := &tableWriter{opts: opts, t: t, path: path, file: f, size: info.Size(), sourceName: in.Name}
	if err := w.run(ctx, bronze.Dir(), quar.Dir()); err != nil {
		bronze.Abort()
		quar.Abort()
		return fail(err)
	}
	res.RecordsRead, res.RowsWritten, res.RowsQuarantined, res.BlankLines = w.read, w.written, w.quarantined, w.blank
	res.ExtraColumns = w.extras
	// Row accounting is checked, not assumed: a bug here must not publish.
	if res.RecordsRead != res.RowsWritten+res.RowsQuarantined {
		bronze.Abort()
		quar.Abort()
		return fail(fmt.Errorf("ingest %s: row accounting broken: read %d != written %d + quarantined %d", path, res.RecordsRead, res.RowsWritten, res.RowsQuarantined))
	}
	stats := map[string]int64{
		"records_read":     res.RecordsRead,
		"rows_written":     res.RowsWritten,
		"rows_quarantined": res.RowsQuarantined,
		"blank_lines":      res.BlankLines,
	}
	inputs := []lake.Input{in}
	// The quarantine goes first: the Bronze manifest is the commit point that a
	// re-run compares against, so a crash in between only causes a re-ingest.
	if _, err := quar.Publish(lake.Manifest{
		Schema: quarantineColumns(), Inputs: inputs, Fingerprint: fp, Stats: stats,
		Description: "Malformed records of " + t.File + " with line, raw text and reason.",
	}, map[string]int64{"part-0.parquet": res.RowsQuarantined}); err != nil {
		bronze.Abort()
		return fail(err)
	}
	m, err := bronze.Publish(lake.Manifest{
		Schema: w.schemaColumns(), Inputs: inputs, Fingerprint: fp, Stats: stats, Description: t.Doc,
	}, map[string]int64{"part-0.parquet": res.RowsWritten})
	if err != nil {
		return fail(err)
	}
	res.Status = StatusIngested
	res.Version = m.Version
	res.ParquetBytes = m.Bytes
	opts.Logger.Info("ingested", "table", t.Name, "version", m.Version, "rows", res.RowsWritten, "quarantined", res.RowsQuarantined)
	return res
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

func quarantineColumns() []lake.Column {
	return []lake.Column{
		{Name: ColSourceFile, Type: "VARCHAR"}, {Name: ColSourceLine, Type: "BIGINT"},
		{Name: "column_index", Type: "INTEGER"}, {Name: "column_name", Type: "VARCHAR"},
		{Name: "error_type", Type: "VARCHAR"}, {Name: "reason", Type: "VARCHAR"},
		{Name: "raw_record", Type: "VARCHAR"}, {Name: ColRunID, Type: "VARCHAR"},
		{Name: ColIngestedAt, Type: "TIMESTAMP WITH TIME ZONE"},
	}
}

// tableWriter streams one source file into a Bronze file and a quarantine file.
type tableWriter struct {
	opts       Options
	t          olist.Table
	path       string
	file       *os.File // the opened source, checked to be a regular file
	size       int64    // its size, for progress
	sourceName string

	cols    []bronzeColumn
	extras  []string
	colIdx  []int // file field → Bronze column (contract columns first, then extras)
	nFields int

	read, written, quarantined, blank int64
}

func (w *tableWriter) schemaColumns() []lake.Column {
	var out []lake.Column
	for _, c := range w.cols {
		out = append(out, lake.Column{Name: c.Name, Type: sqlTypeOf(c.Type)})
	}
	return append(out,
		lake.Column{Name: ColSourceFile, Type: "VARCHAR"}, lake.Column{Name: ColSourceLine, Type: "BIGINT"},
		lake.Column{Name: ColRunID, Type: "VARCHAR"}, lake.Column{Name: ColIngestedAt, Type: "TIMESTAMP WITH TIME ZONE"})
}

func (w *tableWriter) run(ctx context.Context, bronzeDir, quarDir string) (err error) {
	var readBytes atomic.Int64
	src, err := readSource(ctx, w.file, w.path, &readBytes)
	if err != nil {
		return err
	}
	defer src.Close()
	total := w.size

	rd := newCSVReader(src)
	rd.consumed = src.offset
	hdr, err := rd.Next()
	if err != nil {
		var re *RecordError
		if errors.As(err, &re) {
			if derr := checkDelimiter(w.path, w.t, re.Raw); derr != nil {
				return derr
			}
			return fileErr(w.path, "line 1: unreadable header: %s", re.Msg)
		}
		if errors.Is(err, io.EOF) {
			return fileErr(w.path, "file is empty (no header line)")
		}
		return fileErr(w.path, "%v", err)
	}
	if err := checkDelimiter(w.path, w.t, hdr.Raw); err != nil {
		return err
	}
	idx, extras, err := headerMap(w.path, w.t, hdr.Fields, w.opts.OnDrift)
	if err != nil {
		return err
	}
	if len(extras) > 0 {
		w.opts.Logger.Warn("schema drift: keeping extra columns as text", "file", w.path, "columns", extras)
	}
	w.extras = extras
	schema, cols := bronzeSchema(w.t, extras)
	w.cols = cols
	w.nFields = len(hdr.Fields)
	w.colIdx = make([]int, len(idx))
	next := len(w.t.Columns)
	for i, ci := range idx {
		if ci < 0 {
			w.colIdx[i] = next
			next++
		} else {
			w.colIdx[i] = ci
		}
	}

	bf, err := os.Create(filepath.Join(bronzeDir, "part-0.parquet"))
	if err != nil {
		return fmt.Errorf("ingest %s: %w", w.path, err)
	}
	defer bf.Close()
	qf, err := os.Create(filepath.Join(quarDir, "part-0.parquet"))
	if err != nil {
		return fmt.Errorf("ingest %s: %w", w.path, err)
	}
	defer qf.Close()
	bw := newParquetWriter(bf, schema, w.opts.Codec)
	qw := newParquetWriter(qf, quarantineSchema(), w.opts.Codec)

	now := w.opts.Now().UTC().UnixMicro()
	ncols := len(cols)
	lineageBase := ncols
	fileVal := parquet.ByteArrayValue([]byte(w.sourceName)).Level(0, 0, lineageBase)
	runVal := parquet.ByteArrayValue([]byte(w.opts.RunID)).Level(0, 0, lineageBase+2)
	atVal := parquet.Int64Value(now).Level(0, 0, lineageBase+3)

	// Parsing and Parquet encoding each take about half the CPU of a file, so
	// they run in two goroutines: the parser fills a batch while the writer
	// encodes the previous one. Three batches rotate; a batch's bytes live in
	// its own arena until the writer is done with it.
	const batch = 4096
	type rowBatch struct {
		rows   []parquet.Row
		rowBuf []parquet.Value
		arena  []byte
	}
	free := make(chan *rowBatch, 3)
	for i := 0; i < 3; i++ {
		free <- &rowBatch{rows: make([]parquet.Row, 0, batch), rowBuf: make([]parquet.Value, 0, batch*(ncols+4)), arena: make([]byte, 0, 1<<20)}
	}
	work := make(chan *rowBatch, 2)
	writeErr := make(chan error, 1)
	go func() {
		var err error
		for b := range work {
			if err == nil {
				if _, werr := bw.WriteRows(b.rows); werr != nil {
					err = fmt.Errorf("ingest %s: write parquet: %w", w.path, werr)
				}
			}
			b.rows, b.rowBuf, b.arena = b.rows[:0], b.rowBuf[:0], b.arena[:0]
			free <- b
		}
		writeErr <- err
	}()
	cur := <-free
	rows, rowBuf, arena := cur.rows, cur.rowBuf, cur.arena
	writerDone := false
	finishWriter := func() error {
		if writerDone {
			return nil
		}
		writerDone = true
		close(work)
		return <-writeErr
	}
	defer finishWriter()
	flush := func() error {
		if len(rows) == 0 {
			return nil
		}
		cur.rows, cur.rowBuf, cur.arena = rows, rowBuf, arena
		work <- cur
		cur = <-free
		rows, rowBuf, arena = cur.rows, cur.rowBuf, cur.arena
		return nil
	}
	var quarRows []parquet.Row
	reject := func(line int64, col int, kind, reason string, raw []byte) error {
		w.quarantined++
		colIdx, colName := parquet.NullValue().Level(0, 0, 2), parquet.NullValue().Level(0, 0, 3)
		if col > 0 {
			colIdx = parquet.Int32Value(int32(col)).Level(0, 1, 2)
			if col <= len(w.colIdx) {
				colName = parquet.ByteArrayValue([]byte(cols[w.colIdx[col-1]].Name)).Level(0, 1, 3)
			}
		}
		rawStr := textOf(raw)
		quarRows = append(quarRows, parquet.Row{
			fileVal.Level(0, 0, 0), parquet.Int64Value(line).Level(0, 0, 1), colIdx, colName,
			parquet.ByteArrayValue([]byte(kind)).Level(0, 0, 4), parquet.ByteArrayValue([]byte(reason)).Level(0, 0, 5),
			parquet.ByteArrayValue([]byte(rawStr)).Level(0, 0, 6), runVal.Level(0, 0, 7), atVal.Level(0, 0, 8),
		})
		if len(quarRows) >= 1024 {
			if _, err := qw.WriteRows(quarRows); err != nil {
				return fmt.Errorf("ingest %s: write quarantine: %w", w.path, err)
			}
			quarRows = quarRows[:0]
		}
		return nil
	}

	lastProgress := time.Now()
	for {
		rec, err := rd.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
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
			if err := reject(re.Line, re.Column, kind, msg, re.Raw); err != nil {
				return err
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
				return err
			}
			if w.opts.Progress != nil && time.Since(lastProgress) > 100*time.Millisecond {
				w.opts.Progress(w.t.Name, readBytes.Load(), total)
				lastProgress = time.Now()
			}
		}
		// A NUL is never text: it would pass into Bronze inside a value (a
		// 33-character order_id that then orphans the order's items), so the
		// record is quarantined here, whatever the column's type.
		if bytes.IndexByte(rec.Raw, 0) >= 0 {
			col, reason := w.nulReason(rec, src)
			if err := reject(rec.Line, col, ErrKindNUL, reason, clip(rec.Raw)); err != nil {
				return err
			}
			continue
		}
		if len(rec.Fields) != w.nFields {
			kind := "expected %d fields, found %d"
			if err := reject(rec.Line, 0, ErrKindFieldCount, fmt.Sprintf(kind, w.nFields, len(rec.Fields)), clip(rec.Raw)); err != nil {
				return err
			}
			continue
		}
		start := len(rowBuf)
		rowBuf = rowBuf[:start+ncols+4]
		row := rowBuf[start : start+ncols+4 : start+ncols+4]
		bad := false
		for i, f := range rec.Fields {
			ci := w.colIdx[i]
			c := cols[ci]
			if len(f) == 0 && !rec.Quoted[i] || len(f) == 0 && c.Type != olist.String {
				row[ci] = parquet.NullValue().Level(0, 0, ci)
				continue
			}
			var v parquet.Value
			var perr error
			switch c.Type {
			case olist.String:
				if perr = checkUTF8(f); perr == nil {
					off := len(arena)
					arena = append(arena, f...)
					v = parquet.ByteArrayValue(arena[off:len(arena):len(arena)])
				}
			case olist.Int:
				var n int32
				n, perr = parseInt32(f)
				v = parquet.Int32Value(n)
			case olist.Money:
				var n int64
				n, perr = parseMoney(f)
				v = parquet.Int64Value(n)
			case olist.Float:
				var x float64
				x, perr = parseFloat(f)
				v = parquet.DoubleValue(x)
			case olist.Timestamp:
				var n int64
				n, perr = parseTimestamp(f)
				v = parquet.Int64Value(n)
			}
			if perr != nil {
				kind := ErrKindCast
				if c.Type == olist.String {
					kind = ErrKindUTF8
				}
				if err := reject(rec.Line, i+1, kind, fmt.Sprintf("column %q (%s): %v", c.Name, c.Type, perr), clip(rec.Raw)); err != nil {
					return err
				}
				bad = true
				break
			}
			row[ci] = v.Level(0, 1, ci)
		}
		if bad {
			rowBuf = rowBuf[:start]
			continue
		}
		row[lineageBase] = fileVal
		row[lineageBase+1] = parquet.Int64Value(rec.Line).Level(0, 0, lineageBase+1)
		row[lineageBase+2] = runVal
		row[lineageBase+3] = atVal
		rows = append(rows, row)
		w.written++
		if len(rows) == batch || len(arena) > cap(arena)-64<<10 {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	if err := flush(); err != nil {
		return err
	}
	if err := finishWriter(); err != nil {
		return err
	}
	if len(quarRows) > 0 {
		if _, err := qw.WriteRows(quarRows); err != nil {
			return fmt.Errorf("ingest %s: write quarantine: %w", w.path, err)
		}
	}
	if err := bw.Close(); err != nil {
		return fmt.Errorf("ingest %s: close parquet: %w", w.path, err)
	}
	if err := qw.Close(); err != nil {
		return fmt.Errorf("ingest %s: close quarantine: %w", w.path, err)
	}
	if w.opts.Progress != nil {
		w.opts.Progress(w.t.Name, total, total)
	}
	return nil
}
