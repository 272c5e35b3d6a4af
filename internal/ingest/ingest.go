package ingest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
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
const formatVersion = "bronze-v3"

// Options configure an ingest run.
type Options struct {
	SourceDir string
	RunID     string
	OnDrift   string   // DriftFail (default) or DriftEvolve
	Tables    []string // subset of tables; empty = all nine
	// Until (YYYY-MM-DD), for a landing zone: only the batches of that day
	// and before are considered. Later ones are left for a later run; those
	// already ingested stay as they are (a backfill of an older date never
	// removes newer data).
	Until string
	// Batches, when not nil, lists the only batch folders of a landing zone
	// this run considers (those a sensor saw complete; maybe none); the
	// others are left for a later run, as those after Until.
	Batches []string
	Force   bool // re-ingest even when the inputs are unchanged
	// SwitchSource lets plain source files replace the tables a landing
	// zone built, batch by batch, or a landing zone replace tables of plain
	// files; without it such an ingest is refused, as the likely mistake it
	// is (the wrong --source).
	SwitchSource bool
	// Rerun is the command the user ran with the arguments they gave it,
	// less the lake's (lake.Lake.Flag spells those): ["run", "--source",
	// "src", "--project", "p"]. The refusal of a source switch suggests it
	// again with --switch-source, to paste as it is (a run's --project or
	// --no-gates kept). Empty: an ingest with these options.
	Rerun   []string
	Workers int // tables ingested at once, and parsers at once; 0 = GOMAXPROCS
	Codec   compress.Codec
	Logger  *slog.Logger
	// Progress, when set, is called from time to time with the bytes read so
	// far of each file; it must be safe for concurrent use.
	Progress func(table string, read, total int64)
	Now      func() time.Time

	// ChunkBytes: a plain (not gzip) source file with more bytes than this is
	// parsed in chunks of about this size, in parallel on the parsers that no
	// table needs; the rows, lines and quarantine are the same. 0 means
	// DefaultChunkBytes; < 0, never split.
	ChunkBytes int64

	slots cpuSlots // the run's parsers (Workers), shared by its tables
	// splitBlind (tests) splits at the first line start past each share of a
	// file, unprobed, so that many guesses are wrong and are redone.
	splitBlind bool
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
	Table           string `json:"table"`
	File            string `json:"file"`
	Status          Status `json:"status"`
	RecordsRead     int64  `json:"records_read"`
	RowsWritten     int64  `json:"rows_written"`
	RowsQuarantined int64  `json:"rows_quarantined"`
	BlankLines      int64  `json:"blank_lines,omitempty"`
	InputBytes      int64  `json:"input_bytes"`
	// BytesHashed is what was read of the source to fingerprint it: 0 for
	// files their size, time and identity vouched for (unchangedByStat).
	BytesHashed  int64         `json:"bytes_hashed,omitempty"`
	ParquetBytes int64         `json:"parquet_bytes"`
	Version      int64         `json:"version"`
	Duration     time.Duration `json:"duration_ns"`
	ExtraColumns []string      `json:"extra_columns,omitempty"`
	// Batches is set for a landing zone: what happened to each batch.
	Batches []BatchResult `json:"batches,omitempty"`
	Err     error         `json:"-"`
}

// Result of an ingest run.
type Result struct {
	RunID  string
	Tables []TableResult
	// Batches is the number of batch folders of a landing zone; 0 for a
	// directory of plain source files.
	Batches int
	// Switch is the switch of source kind the run made (SwitchSource), nil
	// when it made none.
	Switch *SourceSwitch
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

// withDefaults fills in what a caller left unset.
func (opts Options) withDefaults() Options {
	if opts.OnDrift == "" {
		opts.OnDrift = DriftFail
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
	if opts.slots == nil {
		opts.slots = newCPUSlots(opts.Workers)
	}
	return opts
}

// Run ingests the source files into Bronze. Each table is independent: a file
// that fails leaves its table's published version as it was and the others go
// on; the returned Result says what happened to each. The error is non-nil
// only when the run could not start.
func Run(ctx context.Context, lk *lake.Lake, opts Options) (Result, error) {
	opts = opts.withDefaults()
	if opts.OnDrift != DriftFail && opts.OnDrift != DriftEvolve {
		return Result{}, fmt.Errorf("ingest: --on-drift must be %q or %q, not %q", DriftFail, DriftEvolve, opts.OnDrift)
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
	batches, landing, err := DiscoverBatches(opts.SourceDir)
	if err != nil {
		return Result{}, err
	}
	if opts.Until != "" {
		if _, err := time.Parse(time.DateOnly, opts.Until); err != nil {
			return Result{}, fmt.Errorf("ingest: until %q is not a date YYYY-MM-DD", opts.Until)
		}
		if !landing {
			return Result{}, fmt.Errorf("ingest: a date limit (until %s) needs a landing zone of dt=YYYY-MM-DD folders; %s holds plain source files", opts.Until, opts.SourceDir)
		}
		kept := batches[:0]
		for _, b := range batches {
			if b.ID <= opts.Until {
				kept = append(kept, b)
			}
		}
		batches = kept
	}
	if opts.Batches != nil && landing {
		kept := batches[:0]
		for _, b := range batches {
			if slices.Contains(opts.Batches, b.ID) {
				kept = append(kept, b)
			}
		}
		batches = kept
	}
	sw := sourceSwitch(lk, tables, opts.SourceDir, landing)
	if sw != nil {
		if !opts.SwitchSource {
			return Result{}, sw.refusal(lk, opts)
		}
		opts.Logger.Info("switching source", "from", sw.From, "to", sw.To, "source", sw.Source, "tables", len(sw.Tables),
			"before_snapshot", sw.Before, "undo", sw.Undo)
	}
	if landing {
		res, err := runLanding(ctx, lk, opts, tables, batches)
		if err == nil {
			res.Switch = sw.made(res.Tables)
		}
		return res, err
	}

	// Largest files first, so the long pole starts at once.
	type job struct {
		i    int
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
		jobs = append(jobs, job{i, path, st.Size()})
	}
	sort.SliceStable(jobs, func(a, b int) bool { return jobs[a].size > jobs[b].size })

	order := make([]int, len(jobs))
	paths := map[int]string{}
	for n, j := range jobs {
		order[n], paths[j.i] = j.i, j.path
	}
	ingestTables(opts.Workers, order, results, func(i int) TableResult {
		return ingestTable(ctx, lk, opts, tables[i], paths[i])
	})
	res := Result{RunID: opts.RunID, Tables: results}
	if ctx.Err() == nil {
		res.Switch = sw.made(results)
	}
	return res, ctx.Err()
}

// ingestTables runs ingest(i) for the tables in order, on at most workers
// goroutines, into results[i] with its duration.
func ingestTables(workers int, order []int, results []TableResult, ingest func(i int) TableResult) {
	ch := make(chan int)
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range ch {
				start := time.Now()
				r := ingest(i)
				r.Duration = time.Since(start)
				results[i] = r
			}
		}()
	}
	for _, i := range order {
		ch <- i
	}
	close(ch)
	wg.Wait()
}

// ErrSourceSwitch: a source of the other kind than the one that built the
// lake's Bronze tables (plain files for a landing zone's batches, or a
// landing zone for tables of plain files) would replace them. Retrying does
// not help; the caller says what to do instead.
var ErrSourceSwitch = errors.New("source switch refused")

// Kinds of source that build Bronze tables (SourceSwitch).
const (
	SourcePlainFiles  = "plain_files"  // the nine files: a changed file replaces its table
	SourceLandingZone = "landing_zone" // dt=YYYY-MM-DD batches (or the stream's)
)

// SourceSwitch is a source of the other kind than the one that built some
// of the lake's Bronze tables, which replaces them: refused unless asked
// for (Options.SwitchSource), and said when made (Result.Switch).
type SourceSwitch struct {
	From   string   `json:"from"` // SourcePlainFiles or SourceLandingZone
	To     string   `json:"to"`
	Source string   `json:"source"` // the directory of the new source (--source)
	Tables []string `json:"tables"` // the Bronze tables it replaces
	// Batches are the batches a landing zone (or the stream) built the
	// tables from, which plain files replace; none the other way.
	Batches []string `json:"batches,omitempty"`
	// Before is the snapshot current before the switch (0: none), and Undo
	// the command that makes it current again.
	Before int64  `json:"before_snapshot,omitempty"`
	Undo   string `json:"undo,omitempty"`
}

// made is the switch as the ingest made it: of the tables it replaces,
// those ingested (a table that failed keeps what it was built from); nil
// when none was (or s is nil).
func (s *SourceSwitch) made(results []TableResult) *SourceSwitch {
	if s == nil {
		return nil
	}
	done := map[string]bool{}
	for _, r := range results {
		if r.Status == StatusIngested {
			done["bronze."+r.Table] = true
		}
	}
	m := *s
	m.Tables = nil
	for _, t := range s.Tables {
		if done[t] {
			m.Tables = append(m.Tables, t)
		}
	}
	if len(m.Tables) == 0 {
		return nil
	}
	return &m
}

// String is the switch in one line, for a run's summary.
func (s *SourceSwitch) String() string {
	line := fmt.Sprintf("source switched: %s, built from %s, now from %s in %s", s.what(), s.kind(s.From), s.kind(s.To), s.Source)
	if s.Before > 0 {
		line += fmt.Sprintf("; snapshot %d holds the lake before the switch: %s undoes it", s.Before, s.Undo)
	}
	return line
}

// what names the tables, briefly when they are all of them.
func (s *SourceSwitch) what() string {
	if len(s.Tables) == len(olist.Tables()) {
		return fmt.Sprintf("every Bronze table (%d)", len(s.Tables))
	}
	return strings.Join(s.Tables, ", ")
}

// kind says in words what the source kind k is, with the span of the
// batches of a landing zone the tables were built from.
func (s *SourceSwitch) kind(k string) string {
	if k == SourcePlainFiles {
		return "plain source files"
	}
	if k != s.From || len(s.Batches) == 0 {
		return "a landing zone"
	}
	span := slices.Min(s.Batches)
	if last := slices.Max(s.Batches); last != span {
		span += " … " + last
	}
	return fmt.Sprintf("a landing zone (or the stream) in batches (%s)", span)
}

// sourceSwitch says whether the source of dir (a landing zone or not) would
// replace Bronze tables that a source of the other kind built: plain files
// would drop every batch of a landing zone's table, and a landing zone's
// batches would replace a table of plain files (or empty it, when no batch
// has its file yet). Nil when it would not. Plain files count only for the
// tables whose file dir holds (a missing file is the ingest's own error).
// It reads manifests only.
func sourceSwitch(lk *lake.Lake, tables []olist.Table, dir string, landing bool) *SourceSwitch {
	sw := &SourceSwitch{From: SourcePlainFiles, To: SourceLandingZone, Source: dir}
	if landing {
		sw.Tables = builtFromPlainFiles(lk, tables)
	} else {
		sw.From, sw.To = SourceLandingZone, SourcePlainFiles
		for _, t := range tables {
			if _, err := locate(dir, t); err != nil {
				continue
			}
			if b, _ := builtFrom(lk, t); len(b) > 0 {
				sw.Tables = append(sw.Tables, "bronze."+t.Name)
				sw.Batches = append(sw.Batches, b...)
			}
		}
	}
	if len(sw.Tables) == 0 {
		return nil
	}
	slices.Sort(sw.Batches)
	sw.Batches = slices.Compact(sw.Batches)
	if id := lk.SnapshotID(); id > 0 {
		sw.Before, sw.Undo = id, fmt.Sprintf("nexus rollback %s %d", lk.Flag(), id)
	}
	return sw
}

// refusal is the error of a switch not asked for: most likely the wrong
// --source, and silent if made. It says which source the lake wants, and
// the command that makes the switch: the one the user ran (opts.Rerun)
// on the same lake and source, to paste as it is.
func (s *SourceSwitch) refusal(lk *lake.Lake, opts Options) error {
	keep := ""
	if s.Before > 0 {
		keep = fmt.Sprintf("; the current snapshot %d stays for %s", s.Before, s.Undo)
	}
	switchOnce := "or switch once with " + switchCommand(lk, opts)
	if s.To == SourceLandingZone {
		return fmt.Errorf("ingest: %w: %s is a landing zone, and plain source files built %s, which its batches would replace: "+
			"give --source the directory of those files, %s%s", ErrSourceSwitch, s.Source, s.what(), switchOnce, keep)
	}
	return fmt.Errorf("ingest: %w: %s holds plain source files, and %s built %s, which they would replace: "+
		"give --source the landing zone (its dt=YYYY-MM-DD folders), %s%s", ErrSourceSwitch, s.Source, s.kind(s.From), s.what(), switchOnce, keep)
}

// switchCommand is the command the user ran (opts.Rerun; by default an
// ingest with opts' source, tables and drift policy) on the same lake, with
// --switch-source.
func switchCommand(lk *lake.Lake, opts Options) string {
	rerun := opts.Rerun
	if len(rerun) == 0 {
		rerun = []string{"ingest", "--source", opts.SourceDir}
		for _, t := range opts.Tables {
			rerun = append(rerun, "--table", t)
		}
		if opts.OnDrift == DriftEvolve {
			rerun = append(rerun, "--on-drift", DriftEvolve)
		}
	}
	args := []string{"nexus", lake.ShellArg(rerun[0]), lk.Flag()}
	for _, a := range rerun[1:] {
		args = append(args, lake.ShellArg(a))
	}
	if !slices.Contains(rerun, "--source") { // from the configuration
		args = append(args, "--source", lake.ShellArg(opts.SourceDir))
	}
	return strings.Join(append(args, "--switch-source"), " ")
}

// builtFromPlainFiles names the Bronze tables among tables that plain
// source files built, which a landing zone's batches would replace.
func builtFromPlainFiles(lk *lake.Lake, tables []olist.Table) []string {
	var out []string
	for _, t := range tables {
		if _, plain := builtFrom(lk, t); plain {
			out = append(out, "bronze."+t.Name)
		}
	}
	return out
}

// builtFrom says which kind of source built the published Bronze table t,
// from its manifest's inputs (no data file is read): the batches of a
// landing zone (or the stream), or plain files. Neither for a table not
// published, or published empty with no input.
func builtFrom(lk *lake.Lake, t olist.Table) (batches []string, plain bool) {
	m, err := lk.Manifest(lake.Bronze, t.Name)
	if err != nil {
		return nil, false
	}
	for _, in := range m.Inputs {
		if in.Batch != "" {
			batches = append(batches, in.Batch)
		}
	}
	return batches, len(m.Inputs) > 0 && len(batches) == 0
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
	// The source is only read: closing it cannot lose data, and the outcome
	// is already decided by the time it is closed.
	defer f.Close()
	// A damaged Bronze version is re-ingested, not trusted.
	prev := lk.Intact(lake.Bronze, t.Name)
	var in lake.Input
	if prev != nil && !opts.Force && len(prev.Inputs) == 1 && unchangedByStat(prev.Inputs[0], filepath.Base(path), info) {
		// Not written to since it was ingested: its recorded hash stands.
		in = prev.Inputs[0]
	} else {
		hashed := time.Now()
		if in, err = lake.FingerprintReader(fileReader{ctx: ctx, r: f}); err != nil {
			return fail(readErr(path, err))
		}
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			return fail(fileErr(path, "%v", err))
		}
		in.Name = filepath.Base(path)
		vouch(&in, info, hashed)
		res.BytesHashed = in.Size
	}
	res.InputBytes = in.Size
	fp := tableFingerprint(in, t, opts.OnDrift)
	upToDate := prev != nil && prev.Fingerprint == fp
	if upToDate {
		// Bronze is current only together with the quarantine of the same file.
		qm := lk.Intact(lake.Quarantine, quarantineTable(t))
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

	bronze, quar, err := stageTable(lk, t, opts.RunID)
	if err != nil {
		return fail(err)
	}
	w := &tableWriter{opts: opts, t: t, path: path, file: f, info: info, size: info.Size(), sourceName: in.Name}
	parts, err := w.run(ctx, bronze.Dir(), quar.Dir())
	if err != nil {
		bronze.Abort()
		quar.Abort()
		return fail(err)
	}
	res.RecordsRead, res.RowsWritten, res.RowsQuarantined, res.BlankLines = w.read, w.written, w.quarantined, w.blank
	res.ExtraColumns = w.extras
	if err := w.accounted(); err != nil {
		bronze.Abort()
		quar.Abort()
		return fail(err)
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
		Delta:       &lake.Delta{Full: true},
	}, parts.quarantine); err != nil {
		bronze.Abort()
		return fail(err)
	}
	for name, cols := range parts.trimmed {
		bronze.Trimmed(name, cols)
	}
	// A file replaces its table whole: the models downstream say so when
	// they build in full ("version N replaced the table whole").
	m, err := bronze.Publish(lake.Manifest{
		Schema: w.schemaColumns(), Inputs: inputs, Fingerprint: fp, Stats: stats, Description: t.Doc,
		Delta: &lake.Delta{Full: true},
	}, parts.bronze)
	if err != nil {
		return fail(err)
	}
	res.Status = StatusIngested
	res.Version = m.Version
	res.ParquetBytes = m.Bytes
	opts.Logger.Info("ingested", "table", t.Name, "version", m.Version, "rows", res.RowsWritten, "quarantined", res.RowsQuarantined)
	return res
}

// quarantineTable names the quarantine of a Bronze table's malformed records.
func quarantineTable(t olist.Table) string { return "bronze_" + t.Name }

// stageTable starts new versions of a Bronze table and of its quarantine,
// which are always published together.
func stageTable(lk *lake.Lake, t olist.Table, runID string) (bronze, quar *lake.Staging, err error) {
	if bronze, err = lk.Stage(lake.Bronze, t.Name, runID); err != nil {
		return nil, nil, err
	}
	if quar, err = lk.Stage(lake.Quarantine, quarantineTable(t), runID); err != nil {
		bronze.Abort()
		return nil, nil, err
	}
	return bronze, quar, nil
}

// accounted checks that every record read was written or quarantined:
// row accounting is checked, not assumed, so a bug here cannot publish.
func (w *tableWriter) accounted() error {
	if w.read != w.written+w.quarantined {
		return fmt.Errorf("ingest %s: row accounting broken: read %d != written %d + quarantined %d", w.path, w.read, w.written, w.quarantined)
	}
	return nil
}

func quarantineColumns() []lake.Column {
	return []lake.Column{
		{Name: ColSourceFile, Type: "VARCHAR"}, {Name: ColSourceLine, Type: "BIGINT"},
		{Name: "column_index", Type: "INTEGER"}, {Name: "column_name", Type: "VARCHAR"},
		{Name: "error_type", Type: "VARCHAR"}, {Name: "reason", Type: "VARCHAR"},
		{Name: "raw_record", Type: "VARCHAR"}, {Name: ColRunID, Type: "VARCHAR"},
		{Name: ColIngestedAt, Type: "TIMESTAMP WITH TIME ZONE"}, {Name: ColBatch, Type: "DATE"},
	}
}
