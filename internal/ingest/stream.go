package ingest

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/keystone/nexus/internal/lake"
	"github.com/keystone/nexus/internal/olist"
)

// StreamRecord is one event of a stream as a row of its source table.
type StreamRecord struct {
	Fields []*string // the contract's columns as the files write them; nil is NULL
	Batch  string    // YYYY-MM-DD: the row's _batch (the event's local date)
	Source string    // the row's _source_file, e.g. "kafka:olist.orders/1"
	Offset int64     // the row's _source_line: its offset in Source
	// EventID is the row's _event_id: the client's id of the event.
	EventID string
	// Reject, when set, is why the event could not be read as a row (not
	// decodable, not the topic's entity, out of the contract): it goes to
	// the quarantine with this reason, Raw as its text, and no row.
	Reject string
	Raw    string
}

// streamPrefix starts the name of an input that a stream appended.
const streamPrefix = "kafka:"

// AppendStream appends records of one table, in their order, to Bronze (and
// its quarantine) as their next versions, published but not committed: the
// caller commits them with the offsets they consumed. The records are typed
// by the same parser and rules as a file's (a record that does not fit the
// contract is quarantined with its reason); _source_file and _source_line
// say where each came from (topic, partition, offset). The files of the
// previous version are carried, not rewritten.
func AppendStream(ctx context.Context, lk *lake.Lake, opts Options, t olist.Table, recs []StreamRecord) TableResult {
	res := TableResult{Table: t.Name, File: streamPrefix + t.Name}
	fail := func(err error) TableResult {
		res.Status, res.Err = StatusFailed, err
		return res
	}
	opts = opts.withDefaults()
	prev := lk.Intact(lake.Bronze, t.Name)
	prevQ := lk.Intact(lake.Quarantine, quarantineTable(t))
	if prev != nil {
		for _, in := range prev.Inputs {
			if !strings.HasPrefix(in.Name, streamPrefix) {
				return fail(fmt.Errorf("ingest stream %s: bronze.%s is fed by files (%s); a table is fed by files or by the stream, not both", t.Name, t.Name, in.Name))
			}
		}
	}
	bronze, quar, err := stageTable(lk, t, opts.RunID)
	if err != nil {
		return fail(err)
	}
	abort := func(err error) TableResult {
		bronze.Abort()
		quar.Abort()
		return fail(err)
	}
	// One part per (batch, source): its rows share their lineage values.
	type group struct {
		batch, source string
		recs          []StreamRecord
	}
	var groups []*group
	byKey := map[string]*group{}
	for _, r := range recs {
		k := r.Batch + "|" + r.Source
		g := byKey[k]
		if g == nil {
			g = &group{batch: r.Batch, source: r.Source}
			byKey[k] = g
			groups = append(groups, g)
		}
		g.recs = append(g.recs, r)
	}
	inputs := map[string]*lake.Input{}
	var order []string
	if prev != nil {
		for _, in := range prev.Inputs {
			c := in
			inputs[in.Name+"|"+in.Batch] = &c
			order = append(order, in.Name+"|"+in.Batch)
		}
	}
	var schema []lake.Column
	if prev != nil {
		schema = prev.Schema
	}
	brows, qrows := map[string]int64{}, map[string]int64{}
	var bdelta, qdelta []string
	for _, g := range groups {
		if err := ctx.Err(); err != nil {
			return abort(err)
		}
		day, err := batchDate(g.batch)
		if err != nil {
			return abort(err)
		}
		first := g.recs[0].Offset
		sub := fmt.Sprintf("stream-%s-%s-%d", g.batch, safeName(g.source), first)
		bdir, qdir := filepath.Join(bronze.Dir(), sub), filepath.Join(quar.Dir(), sub)
		for _, d := range []string{bdir, qdir} {
			if err := os.MkdirAll(d, 0o755); err != nil {
				return abort(fmt.Errorf("ingest stream %s: %w", t.Name, err))
			}
		}
		path, lines, events, err := writeStreamCSV(bronze.Dir(), t, g.recs)
		if err != nil {
			return abort(err)
		}
		f, info, err := openRegular(path)
		if err != nil {
			return abort(err)
		}
		w := &tableWriter{opts: opts, t: t, path: path, file: f, info: info, size: info.Size(), sourceName: g.source,
			batch: day, hasBatch: true, lineOf: lines, eventOf: events, ownQuoting: true, rejected: rejectedOf(g.recs)}
		parts, err := w.run(ctx, bdir, qdir)
		_ = f.Close() // read only: nothing to lose
		_ = os.Remove(path)
		if err != nil {
			return abort(err)
		}
		if err := w.accounted(); err != nil {
			return abort(err)
		}
		for name, n := range parts.bronze {
			rel := sub + "/" + name
			brows[rel] = n
			bronze.Holds(rel, []string{g.batch})
			bronze.Trimmed(rel, parts.trimmed[name])
			bdelta = append(bdelta, bronze.RelDir()+"/"+rel)
		}
		for name, n := range parts.quarantine {
			rel := sub + "/" + name
			qrows[rel] = n
			quar.Holds(rel, []string{g.batch})
			qdelta = append(qdelta, quar.RelDir()+"/"+rel)
		}
		res.RecordsRead += w.read
		res.RowsWritten += w.written
		res.RowsQuarantined += w.quarantined
		schema = mergeSchema(schema, w.schemaColumns())
		// One input per source and batch, counting what it gave so far.
		k := g.source + "|" + g.batch
		in := inputs[k]
		if in == nil {
			in = &lake.Input{Name: g.source, Batch: g.batch}
			inputs[k] = in
			order = append(order, k)
		}
		in.Rows += w.written
		in.Quarantined += w.quarantined
		last := g.recs[len(g.recs)-1].Offset
		in.Fingerprint = lake.HashStrings(formatVersion, "stream", in.Name, in.Batch, strconv.FormatInt(last, 10))
		res.Batches = append(res.Batches, BatchResult{Batch: g.batch, Status: BatchNew, File: g.source, RowsWritten: w.written, RowsQuarantined: w.quarantined})
	}
	var carryB, carryQ []lake.File
	var written, quarantined int64 = res.RowsWritten, res.RowsQuarantined
	if prev != nil {
		carryB = prev.Files
		written += prev.Stats["rows_written"]
	}
	if prevQ != nil {
		carryQ = prevQ.Files
		quarantined += prevQ.Stats["rows_quarantined"]
	}
	if carryB, err = compactIfNeeded(ctx, lk, opts, bronze, carryB, nil, len(groups), brows); err != nil {
		return abort(fmt.Errorf("ingest stream %s: compact Bronze: %w", t.Name, err))
	}
	if carryQ, err = compactIfNeeded(ctx, lk, opts, quar, carryQ, nil, len(groups), qrows); err != nil {
		return abort(fmt.Errorf("ingest stream %s: compact quarantine: %w", t.Name, err))
	}
	bronze.Carry(carryB...)
	quar.Carry(carryQ...)
	sort.Strings(order)
	list := make([]lake.Input, 0, len(order))
	fps := []string{formatVersion, "stream"}
	for _, k := range order {
		list = append(list, *inputs[k])
		fps = append(fps, inputs[k].Fingerprint)
	}
	fp := lake.HashStrings(fps...)
	stats := map[string]int64{"records_read": written + quarantined, "rows_written": written, "rows_quarantined": quarantined}
	bd, qd := &lake.Delta{Full: true}, &lake.Delta{Full: true}
	if prev != nil && prevQ != nil {
		bd = &lake.Delta{Base: prev.Version, Files: bdelta, Rows: res.RowsWritten}
		qd = &lake.Delta{Base: prevQ.Version, Files: qdelta, Rows: res.RowsQuarantined}
	}
	if _, err := quar.Publish(lake.Manifest{Schema: quarantineColumns(), Inputs: list, Fingerprint: fp, Stats: stats,
		Description: "Records of the " + t.Name + " events that did not fit the contract, with topic, partition (source), offset (line) and reason.", Delta: qd}, qrows); err != nil {
		bronze.Abort()
		return fail(err)
	}
	m, err := bronze.Publish(lake.Manifest{Schema: schema, Inputs: list, Fingerprint: fp, Stats: stats, Description: t.Doc, Delta: bd}, brows)
	if err != nil {
		return fail(err)
	}
	res.Status, res.Version, res.ParquetBytes = StatusIngested, m.Version, m.Bytes
	return res
}

var unsafeChars = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

// safeName is a source name usable in a directory name.
func safeName(s string) string { return strings.Trim(unsafeChars.ReplaceAllString(s, "_"), "_") }

// rejectedOf maps the offsets of the rejected records to their reasons and raw text.
func rejectedOf(recs []StreamRecord) map[int64]rejected {
	var out map[int64]rejected
	for _, r := range recs {
		if r.Reject != "" {
			if out == nil {
				out = map[int64]rejected{}
			}
			out[r.Offset] = rejected{reason: r.Reject, raw: r.Raw}
		}
	}
	return out
}

// writeStreamCSV writes records as a CSV file of the table (header first),
// and maps the line each record starts on to its offset and event id. Every value is
// quoted, so that an empty string stays one (an unquoted empty field is
// NULL, as in the files); a rejected record is its raw text alone, one
// field, so that the parser quarantines it (with its Reject reason).
func writeStreamCSV(dir string, t olist.Table, recs []StreamRecord) (string, map[int64]int64, map[int64]string, error) {
	f, err := os.CreateTemp(dir, ".stream-*.csv")
	if err != nil {
		return "", nil, nil, fmt.Errorf("ingest stream %s: %w", t.Name, err)
	}
	var buf bytes.Buffer
	buf.WriteString(strings.Join(t.ColumnNames(), ",") + "\n")
	lines := make(map[int64]int64, len(recs))
	events := make(map[int64]string, len(recs))
	line := int64(2)
	for _, r := range recs {
		start := buf.Len()
		if r.Reject != "" {
			writeQuoted(&buf, r.Raw)
		} else {
			for i := range t.Columns {
				if i > 0 {
					buf.WriteByte(',')
				}
				if i < len(r.Fields) && r.Fields[i] != nil {
					writeQuoted(&buf, *r.Fields[i])
				}
			}
		}
		buf.WriteByte('\n')
		lines[line] = r.Offset
		if r.EventID != "" {
			events[line] = r.EventID
		}
		line += int64(bytes.Count(buf.Bytes()[start:], []byte("\n")))
	}
	if _, err := f.Write(buf.Bytes()); err != nil {
		f.Close()
		return "", nil, nil, fmt.Errorf("ingest stream %s: %w", t.Name, err)
	}
	return f.Name(), lines, events, f.Close()
}

// writeQuoted writes s as a quoted CSV field.
func writeQuoted(b *bytes.Buffer, s string) {
	b.WriteByte('"')
	b.WriteString(strings.ReplaceAll(s, `"`, `""`))
	b.WriteByte('"')
}
