package ingest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/parquet-go/parquet-go"

	"github.com/keystone/nexus/internal/lake"
	"github.com/keystone/nexus/internal/olist"
)

// BatchPrefix starts the name of every batch folder of a landing zone.
const BatchPrefix = olist.DropDirPrefix

// Batch is one folder of a landing zone: dt=YYYY-MM-DD/ with the usual
// file names, each file optional.
type Batch struct {
	ID  string // the folder's date, YYYY-MM-DD
	Dir string
}

// BatchStatus says what an ingest did with one batch of one table.
type BatchStatus string

// Batch statuses.
const (
	BatchNew       BatchStatus = "new"       // first seen: ingested and appended
	BatchReplaced  BatchStatus = "replaced"  // its file changed: re-ingested in place of the old rows
	BatchUnchanged BatchStatus = "unchanged" // ingested before from the same bytes: carried over
	BatchRemoved   BatchStatus = "removed"   // ingested before, gone from the landing zone: its rows stay
)

// BatchResult is the accounting of one batch of one table.
type BatchResult struct {
	Batch           string      `json:"batch"`
	Status          BatchStatus `json:"status"`
	File            string      `json:"file,omitempty"`
	RowsWritten     int64       `json:"rows_written"`
	RowsQuarantined int64       `json:"rows_quarantined"`
}

// DiscoverBatches reports whether dir is a landing zone (it holds dt= folders)
// and lists its batches, oldest first. Names starting with "." or "_" are
// ignored (temporary copies, markers); any other dt= entry must be a folder
// named after a valid date. A directory holding both batch folders and source
// files at its top is ambiguous and refused.
func DiscoverBatches(dir string) ([]Batch, bool, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, false, fmt.Errorf("ingest: source directory: %w", err)
	}
	var out []Batch
	for _, e := range entries {
		name := e.Name()
		id, ok := strings.CutPrefix(name, BatchPrefix)
		if !ok {
			continue
		}
		p := filepath.Join(dir, name)
		info, err := os.Stat(p)
		if err != nil {
			return nil, false, fileErr(p, "%v", err)
		}
		if !info.IsDir() {
			return nil, false, fileErr(p, "a batch must be a folder dt=YYYY-MM-DD/ holding the source files")
		}
		d, err := time.Parse(time.DateOnly, id)
		if err != nil || d.Format(time.DateOnly) != id {
			return nil, false, fileErr(p, "folder name is not dt=YYYY-MM-DD (a valid date)")
		}
		out = append(out, Batch{ID: id, Dir: p})
	}
	if len(out) == 0 {
		return nil, false, nil
	}
	for _, t := range olist.Tables() {
		for _, f := range []string{t.File, t.File + ".gz"} {
			if _, err := os.Stat(filepath.Join(dir, f)); err == nil {
				return nil, false, fileErr(filepath.Join(dir, f),
					"the source directory holds both dt= batch folders and source files; put each file in its batch folder")
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, true, nil
}

// locateInBatch finds a table's file in a batch folder; found is false when
// the batch has no such file (a day without records of that table).
func locateInBatch(b Batch, t olist.Table) (path string, found bool, err error) {
	for _, f := range []string{t.File, t.File + ".gz"} {
		if _, err := os.Lstat(filepath.Join(b.Dir, f)); err == nil {
			found = true
		} else if !errors.Is(err, fs.ErrNotExist) {
			return "", false, fileErr(filepath.Join(b.Dir, f), "%v", err)
		}
	}
	if !found {
		return "", false, nil
	}
	path, err = locate(b.Dir, t)
	return path, err == nil, err
}

// batchDate is a batch id as days since the Unix epoch (the _batch value).
func batchDate(id string) (int32, error) {
	d, err := time.Parse(time.DateOnly, id)
	if err != nil {
		return 0, fmt.Errorf("batch %q: %w", id, err)
	}
	return int32(d.Unix() / 86400), nil
}

// previousBatches is what the published Bronze version of a table holds per
// batch, when it was built from a landing zone.
type previousBatch struct {
	input             lake.Input
	bronze, quarFiles []lake.File
	written, quar     int64
}

func previousBatches(lk *lake.Lake, t olist.Table) (old map[string]*previousBatch, prev, prevQ *lake.Manifest) {
	prev = lk.Intact(lake.Bronze, t.Name)
	prevQ = lk.Intact(lake.Quarantine, quarantineTable(t))
	out := map[string]*previousBatch{}
	// Bronze and its quarantine are published together with one
	// fingerprint; a pair that disagrees is not trusted and re-ingested.
	if prev == nil || prevQ == nil || prev.Fingerprint != prevQ.Fingerprint {
		return out, nil, nil
	}
	for _, in := range prev.Inputs {
		if in.Batch != "" {
			out[in.Batch] = &previousBatch{input: in, written: in.Rows, quar: in.Quarantined}
		}
	}
	for _, f := range prev.Files {
		for _, b := range fileBatches(f) {
			if pb := out[b]; pb != nil {
				pb.bronze = append(pb.bronze, f)
			}
		}
	}
	for _, f := range prevQ.Files {
		for _, b := range fileBatches(f) {
			if pb := out[b]; pb != nil {
				pb.quarFiles = append(pb.quarFiles, f)
			}
		}
	}
	return out, prev, prevQ
}

// fileBatches are the batches whose rows a file holds: as its manifest
// lists them, or, for a file written before manifests listed them, the
// batch of its folder (batch=YYYY-MM-DD): without it, a batch no longer in
// the landing zone would lose its rows at the table's next version.
func fileBatches(f lake.File) []string {
	if len(f.Batches) > 0 {
		return f.Batches
	}
	if id, ok := f.Partition("batch"); ok {
		if _, err := batchDate(id); err == nil {
			return []string{id}
		}
	}
	return nil
}

// batchJob is a batch file to ingest: opened, checked regular, fingerprinted.
type batchJob struct {
	batch  Batch
	path   string
	file   *os.File
	info   fs.FileInfo
	input  lake.Input
	status BatchStatus
	// the files written, relative to the staging directories
	bparts, qparts []string
}

// ingestBatches brings a table up to date with a landing zone: every batch
// whose file is new or changed is ingested into its own folder of a new
// Bronze version (and of the quarantine), and every other batch's files are
// carried over unchanged, so that an append writes only the new batch.
func ingestBatches(ctx context.Context, lk *lake.Lake, opts Options, t olist.Table, batches []Batch) TableResult {
	res := TableResult{Table: t.Name, File: t.File}
	var jobs []*batchJob
	defer func() {
		for _, j := range jobs {
			// Read-only descriptors: closing cannot lose data.
			_ = j.file.Close()
		}
	}()
	fail := func(err error) TableResult {
		res.Status, res.Err = StatusFailed, err
		opts.Logger.Info("ingest failed", "table", t.Name, "err", err)
		return res
	}
	if err := ctx.Err(); err != nil {
		return fail(err)
	}
	old, prev, prevQ := previousBatches(lk, t)
	present := map[string]bool{}
	var carried []*previousBatch
	for _, b := range batches {
		path, found, err := locateInBatch(b, t)
		if err != nil {
			return fail(err)
		}
		if !found {
			continue
		}
		present[b.ID] = true
		f, info, err := openRegular(path)
		if err != nil {
			return fail(err)
		}
		name := BatchPrefix + b.ID + "/" + filepath.Base(path)
		pb := old[b.ID]
		if pb != nil && !opts.Force && unchangedByStat(pb.input, name, info) &&
			tableFingerprint(pb.input, t, opts.OnDrift) == pb.input.Fingerprint {
			// Not written to since it was ingested: not read again (the
			// base batch of a landing zone is most of its bytes).
			_ = f.Close()
			res.InputBytes += pb.input.Size
			carried = append(carried, pb)
			res.Batches = append(res.Batches, BatchResult{Batch: b.ID, Status: BatchUnchanged, File: name,
				RowsWritten: pb.written, RowsQuarantined: pb.quar})
			continue
		}
		hashed := time.Now()
		in, err := lake.FingerprintReader(fileReader{ctx: ctx, r: f})
		if err != nil {
			_ = f.Close()
			return fail(readErr(path, err))
		}
		in.Name = name
		in.Batch = b.ID
		vouch(&in, info, hashed)
		in.Fingerprint = tableFingerprint(in, t, opts.OnDrift)
		res.InputBytes += in.Size
		res.BytesHashed += in.Size
		if pb != nil && pb.input.Fingerprint == in.Fingerprint && !opts.Force {
			// The same bytes: what vouches for them now is kept, so that
			// the next run need not read them (a touched file, or one
			// hashed moments after it was written).
			pb.input.ModTime, pb.input.FileID = in.ModTime, in.FileID
			_ = f.Close()
			carried = append(carried, pb)
			res.Batches = append(res.Batches, BatchResult{Batch: b.ID, Status: BatchUnchanged, File: in.Name,
				RowsWritten: pb.written, RowsQuarantined: pb.quar})
			continue
		}
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			_ = f.Close()
			return fail(fileErr(path, "%v", err))
		}
		st := BatchNew
		if pb != nil {
			st = BatchReplaced
		}
		jobs = append(jobs, &batchJob{batch: b, path: path, file: f, info: info, input: in, status: st})
	}
	for id, pb := range old {
		if present[id] {
			continue
		}
		if opts.Until != "" && id > opts.Until {
			// Beyond this run's date: kept as it is, not looked at.
			carried = append(carried, pb)
			res.Batches = append(res.Batches, BatchResult{Batch: id, Status: BatchUnchanged, File: pb.input.Name,
				RowsWritten: pb.written, RowsQuarantined: pb.quar})
			continue
		}
		// Bronze is the record of what arrived: a batch that vanished from
		// the landing zone keeps its rows, and the user is told.
		carried = append(carried, pb)
		res.Batches = append(res.Batches, BatchResult{Batch: id, Status: BatchRemoved, File: pb.input.Name,
			RowsWritten: pb.written, RowsQuarantined: pb.quar})
		opts.Logger.Info("file no longer in the landing zone; its rows stay in Bronze", "table", t.Name, "batch", id, "file", pb.input.Name)
	}
	if len(jobs) == 0 && len(carried) == 0 {
		// No batch has brought this table yet (a landing zone that starts
		// early): the table exists, empty, so that the models run.
		return publishEmpty(lk, opts, t, res)
	}
	sort.Slice(res.Batches, func(i, j int) bool { return res.Batches[i].Batch < res.Batches[j].Batch })
	if len(jobs) == 0 {
		res.Status = StatusUnchanged
		res.Version = prev.Version
		res.ParquetBytes = prev.Bytes
		res.InputBytes = 0
		opts.Logger.Info("unchanged, skipped", "table", t.Name, "version", prev.Version, "batches", len(carried))
		return res
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
	inputs := make([]lake.Input, 0, len(jobs)+len(carried))
	var schema []lake.Column
	if prev != nil && len(carried) > 0 {
		schema = prev.Schema
	}
	brows, qrows := map[string]int64{}, map[string]int64{}
	for _, j := range jobs {
		if err := ctx.Err(); err != nil {
			return abort(err)
		}
		day, err := batchDate(j.batch.ID)
		if err != nil {
			return abort(err)
		}
		sub := "batch=" + j.batch.ID
		bdir, qdir := filepath.Join(bronze.Dir(), sub), filepath.Join(quar.Dir(), sub)
		for _, d := range []string{bdir, qdir} {
			if err := os.MkdirAll(d, 0o755); err != nil {
				return abort(fmt.Errorf("ingest %s: %w", j.path, err))
			}
		}
		w := &tableWriter{opts: opts, t: t, path: j.path, file: j.file, info: j.info, size: j.info.Size(), sourceName: j.input.Name,
			batch: day, hasBatch: true}
		parts, err := w.run(ctx, bdir, qdir)
		if err != nil {
			return abort(err)
		}
		if err := w.accounted(); err != nil {
			return abort(err)
		}
		for name, n := range parts.bronze {
			brows[sub+"/"+name] = n
			j.bparts = append(j.bparts, sub+"/"+name)
			bronze.Holds(sub+"/"+name, []string{j.batch.ID})
			bronze.Trimmed(sub+"/"+name, parts.trimmed[name])
		}
		for name, n := range parts.quarantine {
			qrows[sub+"/"+name] = n
			j.qparts = append(j.qparts, sub+"/"+name)
			quar.Holds(sub+"/"+name, []string{j.batch.ID})
		}
		sort.Strings(j.bparts)
		sort.Strings(j.qparts)
		res.RecordsRead += w.read
		res.RowsWritten += w.written
		res.RowsQuarantined += w.quarantined
		res.BlankLines += w.blank
		res.ExtraColumns = mergeNames(res.ExtraColumns, w.extras)
		schema = mergeSchema(schema, w.schemaColumns())
		j.input.Rows, j.input.Quarantined = w.written, w.quarantined
		inputs = append(inputs, j.input)
		res.Batches = append(res.Batches, BatchResult{Batch: j.batch.ID, Status: j.status, File: j.input.Name,
			RowsWritten: w.written, RowsQuarantined: w.quarantined})
	}
	sort.Slice(res.Batches, func(i, j int) bool { return res.Batches[i].Batch < res.Batches[j].Batch })
	var written, quarantined int64 = res.RowsWritten, res.RowsQuarantined
	replaced := map[string]bool{}
	for _, j := range jobs {
		if j.status == BatchReplaced {
			replaced[j.batch.ID] = true
		}
	}
	var carryB, carryQ []lake.File
	for _, pb := range carried {
		carryB = append(carryB, pb.bronze...)
		carryQ = append(carryQ, pb.quarFiles...)
		inputs = append(inputs, pb.input)
		written += pb.written
		quarantined += pb.quar
	}
	// A file of a replaced batch that also holds other batches (a merged
	// file) is rewritten without the replaced one.
	holdsOthers := func(f lake.File) bool {
		return slices.ContainsFunc(fileBatches(f), func(b string) bool { return !replaced[b] })
	}
	for id := range replaced {
		for _, f := range old[id].bronze {
			if holdsOthers(f) {
				carryB = append(carryB, f)
			}
		}
		for _, f := range old[id].quarFiles {
			if holdsOthers(f) {
				carryQ = append(carryQ, f)
			}
		}
	}
	carryB, carryQ = uniqueFiles(carryB), uniqueFiles(carryQ)
	var err2 error
	if carryB, err2 = compactIfNeeded(ctx, lk, opts, bronze, carryB, replaced, len(jobs), brows); err2 != nil {
		return abort(fmt.Errorf("ingest %s: compact Bronze: %w", t.Name, err2))
	}
	if carryQ, err2 = compactIfNeeded(ctx, lk, opts, quar, carryQ, replaced, len(jobs), qrows); err2 != nil {
		return abort(fmt.Errorf("ingest %s: compact quarantine: %w", t.Name, err2))
	}
	bronze.Carry(carryB...)
	quar.Carry(carryQ...)
	sort.Slice(inputs, func(i, j int) bool { return inputs[i].Batch < inputs[j].Batch })
	bdelta, qdelta := batchDeltas(prev, prevQ, old, jobs, bronze.RelDir(), quar.RelDir())
	parts := make([]string, len(inputs))
	for i, in := range inputs {
		parts[i] = in.Batch + "=" + in.Fingerprint
	}
	fp := lake.HashStrings(append([]string{formatVersion, "landing"}, parts...)...)
	stats := map[string]int64{
		"records_read":     written + quarantined,
		"rows_written":     written,
		"rows_quarantined": quarantined,
		"batches":          int64(len(inputs)),
	}
	if _, err := quar.Publish(lake.Manifest{
		Schema: quarantineColumns(), Inputs: inputs, Fingerprint: fp, Stats: stats,
		Description: "Malformed records of " + t.File + " with line, raw text, reason and batch.", Delta: qdelta,
	}, qrows); err != nil {
		bronze.Abort()
		return fail(err)
	}
	m, err := bronze.Publish(lake.Manifest{
		Schema: schema, Inputs: inputs, Fingerprint: fp, Stats: stats, Description: t.Doc, Delta: bdelta,
	}, brows)
	if err != nil {
		return fail(err)
	}
	res.Status = StatusIngested
	res.Version = m.Version
	res.ParquetBytes = m.Bytes
	opts.Logger.Info("ingested", "table", t.Name, "version", m.Version, "batches_ingested", len(jobs),
		"batches_total", len(inputs), "rows", res.RowsWritten, "quarantined", res.RowsQuarantined)
	return res
}

// publishEmpty publishes an empty Bronze table (and quarantine) for a
// table no batch of the landing zone has a file of yet.
func publishEmpty(lk *lake.Lake, opts Options, t olist.Table, res TableResult) TableResult {
	fp := lake.HashStrings(formatVersion, "landing-empty", t.Name)
	if prev := lk.Intact(lake.Bronze, t.Name); prev != nil && prev.Fingerprint == fp {
		res.Status, res.Version = StatusUnchanged, prev.Version
		return res
	}
	opts.Logger.Warn("no batch of the landing zone has a file of this table yet: published empty", "table", t.Name, "file", t.File)
	fail := func(err error) TableResult {
		res.Status, res.Err = StatusFailed, fmt.Errorf("ingest %s: empty table: %w", t.Name, err)
		return res
	}
	schema, cols := bronzeSchema(t, nil)
	w := &tableWriter{t: t, cols: cols}
	bronze, quar, err := stageTable(lk, t, opts.RunID)
	if err != nil {
		return fail(err)
	}
	// The quarantine first, as for any ingest: Bronze is the commit point.
	parts := []struct {
		st      *lake.Staging
		schema  *parquet.Schema
		columns []lake.Column
	}{
		{quar, quarantineSchema(), quarantineColumns()},
		{bronze, schema, w.schemaColumns()},
	}
	for i, part := range parts {
		f, err := os.Create(filepath.Join(part.st.Dir(), serialPart))
		if err == nil {
			err = errors.Join(newParquetWriter(f, part.schema, opts.Codec).Close(), f.Close())
		}
		var m *lake.Manifest
		if err == nil {
			m, err = part.st.Publish(lake.Manifest{Schema: part.columns, Fingerprint: fp, Delta: &lake.Delta{Full: true},
				Description: t.Doc + " (no batch has brought this table yet)"}, map[string]int64{serialPart: 0})
		}
		if err != nil {
			for _, rest := range parts[i:] { // not published: nothing refers to them
				rest.st.Abort()
			}
			return fail(err)
		}
		res.Version = m.Version
	}
	res.Status = StatusIngested
	return res
}

// batchDeltas describe an append for the models downstream: the rows that
// changed are those of the batches ingested now and, for a replaced batch,
// its old rows. A first ingest, or one that replaces a version not built
// from this landing zone, changes everything.
func batchDeltas(prev, prevQ *lake.Manifest, old map[string]*previousBatch, jobs []*batchJob, bronzeDir, quarDir string) (b, q *lake.Delta) {
	if prev == nil || prevQ == nil || len(old) == 0 {
		return &lake.Delta{Full: true}, &lake.Delta{Full: true}
	}
	b, q = &lake.Delta{Base: prev.Version}, &lake.Delta{Base: prevQ.Version}
	for _, j := range jobs {
		for _, f := range j.bparts {
			b.Files = append(b.Files, bronzeDir+"/"+f)
		}
		for _, f := range j.qparts {
			q.Files = append(q.Files, quarDir+"/"+f)
		}
		if pb := old[j.batch.ID]; pb != nil {
			for _, f := range pb.bronze {
				b.Files = append(b.Files, f.Path)
			}
			for _, f := range pb.quarFiles {
				q.Files = append(q.Files, f.Path)
			}
		}
	}
	return b, q
}

// trimmedOfAll returns the columns trimmed in every one of files: those of
// a file that merges their rows.
func trimmedOfAll(files []lake.File) []string {
	var cols []string
	for i, f := range files {
		if i == 0 {
			cols = slices.Clone(f.Trimmed)
			continue
		}
		cols = slices.DeleteFunc(cols, func(c string) bool { return !slices.Contains(f.Trimmed, c) })
	}
	return cols
}

// compactIfNeeded merges carried files of a table into one new file as
// planCompaction says (a replaced batch, or too many files). It returns the
// files still to carry; rows gets the new file's row count.
func compactIfNeeded(ctx context.Context, lk *lake.Lake, opts Options, st *lake.Staging, carry []lake.File, replaced map[string]bool, added int, rows map[string]int64) ([]lake.File, error) {
	merge, keep := planCompaction(carry, replaced, added, compactedBytes)
	if len(merge) == 0 {
		return carry, nil
	}
	filter := false
	var batches []string
	for _, f := range merge {
		for _, b := range fileBatches(f) {
			if replaced[b] {
				filter = true
			} else {
				batches = append(batches, b)
			}
		}
	}
	if err := os.MkdirAll(filepath.Join(st.Dir(), CompactDir), 0o755); err != nil {
		return nil, err
	}
	rel := CompactDir + "/part-0.parquet"
	n, err := compactFiles(ctx, lk, merge, replaced, filepath.Join(st.Dir(), filepath.FromSlash(rel)), opts.Codec)
	if errors.Is(err, errSchemasDiffer) && !filter {
		// Batches with different extra columns stay in their own files.
		_ = os.RemoveAll(filepath.Join(st.Dir(), CompactDir))
		return carry, nil
	}
	if err != nil {
		return nil, err
	}
	sort.Strings(batches)
	st.Holds(rel, slices.Compact(batches))
	st.Trimmed(rel, trimmedOfAll(merge))
	rows[rel] = n
	opts.Logger.Info("compacted", "table", st.Layer+"."+st.Table, "files", len(merge), "kept", len(keep), "rows", n)
	return keep, nil
}

// mergeSchema adds the columns of next that cur lacks (extra columns of a
// later batch under --on-drift evolve), keeping cur's order; the lineage
// columns stay last.
func mergeSchema(cur, next []lake.Column) []lake.Column {
	if len(cur) == 0 {
		return next
	}
	have := map[string]bool{}
	for _, c := range cur {
		have[c.Name] = true
	}
	var add []lake.Column
	for _, c := range next {
		if !have[c.Name] {
			add = append(add, c)
		}
	}
	if len(add) == 0 {
		return cur
	}
	out := make([]lake.Column, 0, len(cur)+len(add))
	var lineage []lake.Column
	for _, c := range cur {
		if isLineage(c.Name) {
			lineage = append(lineage, c)
		} else {
			out = append(out, c)
		}
	}
	out = append(out, add...)
	return append(out, lineage...)
}

func isLineage(name string) bool {
	switch name {
	case ColSourceFile, ColSourceLine, ColRunID, ColIngestedAt, ColBatch:
		return true
	}
	return false
}

func mergeNames(cur, next []string) []string {
	for _, n := range next {
		if !slices.Contains(cur, n) {
			cur = append(cur, n)
		}
	}
	return cur
}

// runLanding ingests a landing zone: each table is brought up to date with
// every batch, tables in parallel as in snapshot mode.
func runLanding(ctx context.Context, lk *lake.Lake, opts Options, tables []olist.Table, batches []Batch) (Result, error) {
	results := make([]TableResult, len(tables))
	order := make([]int, len(tables))
	for i := range order {
		order[i] = i
	}
	ingestTables(opts.Workers, order, results, func(i int) TableResult {
		return ingestBatches(ctx, lk, opts, tables[i], batches)
	})
	return Result{RunID: opts.RunID, Tables: results, Batches: len(batches)}, ctx.Err()
}

// DropFolders lists the batch folders of a landing zone, oldest first.
func DropFolders(dir string) ([]string, error) {
	batches, landing, err := DiscoverBatches(dir)
	if err != nil {
		return nil, err
	}
	if !landing {
		return nil, fmt.Errorf("ingest: %s is not a landing zone (no dt=YYYY-MM-DD folders)", dir)
	}
	out := make([]string, len(batches))
	for i, b := range batches {
		out[i] = b.Dir
	}
	return out, nil
}

// BatchChanges says what an ingest did with the batches of a landing zone:
// the ids of the batches new, replaced or removed in some table (each once).
type BatchChanges struct {
	Total    int      `json:"total"`
	New      []string `json:"new,omitempty"`
	Replaced []string `json:"replaced,omitempty"`
	Removed  []string `json:"removed,omitempty"`
}

// BatchChanges sums up the batches; nil for a directory of plain files.
func (r Result) BatchChanges() *BatchChanges {
	if r.Batches == 0 {
		return nil
	}
	c := &BatchChanges{Total: r.Batches}
	seen := map[BatchStatus]map[string]bool{}
	for _, t := range r.Tables {
		for _, b := range t.Batches {
			if seen[b.Status] == nil {
				seen[b.Status] = map[string]bool{}
			}
			if seen[b.Status][b.Batch] {
				continue
			}
			seen[b.Status][b.Batch] = true
			switch b.Status {
			case BatchNew:
				c.New = append(c.New, b.Batch)
			case BatchReplaced:
				c.Replaced = append(c.Replaced, b.Batch)
			case BatchRemoved:
				c.Removed = append(c.Removed, b.Batch)
			}
		}
	}
	for _, l := range [][]string{c.New, c.Replaced, c.Removed} {
		sort.Strings(l)
	}
	return c
}

// String is one line for a run summary.
func (c *BatchChanges) String() string {
	list := func(ids []string) string {
		if len(ids) > 5 {
			return fmt.Sprintf("%s … %s", strings.Join(ids[:2], ", "), ids[len(ids)-1])
		}
		return strings.Join(ids, ", ")
	}
	s := fmt.Sprintf("landing zone: %d batch(es); %d new", c.Total, len(c.New))
	if len(c.New) > 0 {
		s += " (" + list(c.New) + ")"
	}
	s += fmt.Sprintf(", %d replaced", len(c.Replaced))
	if len(c.Replaced) > 0 {
		s += " (" + list(c.Replaced) + ")"
	}
	if len(c.Removed) > 0 {
		// A batch is removed in a table when its file is gone: the whole
		// folder, or one file of it (the info log names the files).
		s += fmt.Sprintf(", %d with files gone from the landing zone (%s: their rows kept in Bronze)", len(c.Removed), list(c.Removed))
	}
	return s
}
