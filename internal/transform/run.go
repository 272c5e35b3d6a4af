package transform

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/keystone/nexus/internal/engine"
	"github.com/keystone/nexus/internal/lake"
	"github.com/keystone/nexus/internal/quality"
)

// ParquetWrite are the COPY options of every Parquet file a model build
// writes (bench/baseline's bare script writes with them too). ZSTD at level 1, not DuckDB's default 3: on gold.fact_sales at
// scale 1, writes took 35% less time (156 against 214 ms for one file, 261
// against 394 ms for its month partitions) for files within 1% of the size;
// reading is as fast (ZSTD decompresses at the same speed at any level).
const ParquetWrite = "FORMAT parquet, COMPRESSION zstd, COMPRESSION_LEVEL 1"

// modelFormat changes when the way models are materialized changes, so a new
// binary rebuilds instead of trusting old outputs.
const modelFormat = "model-v1"

// Options configure a transform run.
type Options struct {
	RunID       string
	Select      []string // build only these models (their inputs must be published)
	FullRefresh bool     // rebuild even when the inputs are unchanged
	Workers     int      // models built at once; 0 = 2
	Logger      *slog.Logger
	// Suites are the quality suites by table (layer.table). A model with a
	// suite is gated: its rows are checked before it is published. Nil = no
	// gates.
	Suites map[string]*quality.Suite
}

// Status of a model after a run.
type Status string

// Model statuses.
const (
	StatusBuilt     Status = "built"
	StatusUnchanged Status = "unchanged"
	StatusFailed    Status = "failed"
	StatusSkipped   Status = "skipped" // an input failed in this run
)

// ModelResult is what happened to one model.
type ModelResult struct {
	Model   string `json:"model"`
	Status  Status `json:"status"`
	RowsIn  int64  `json:"rows_in"`
	RowsOut int64  `json:"rows_out"`
	// RowsBuilt is what the model's SQL produced (= RowsOut + Quarantined
	// in a full build; in an incremental one, the rows of the keys rebuilt,
	// published or quarantined, while RowsOut is the whole table).
	RowsBuilt int64         `json:"rows_built,omitempty"`
	Files     int           `json:"files"`
	Bytes     int64         `json:"bytes"`
	Version   int64         `json:"version"`
	Duration  time.Duration `json:"duration_ns"`
	// Quarantined rows failed a quarantine rule of the model's suite.
	Quarantined int64 `json:"quarantined"`
	// Incremental is set when only the rows of changed keys were rebuilt:
	// how many keys. FullReason says why an incremental model was rebuilt
	// in full.
	Incremental *IncrementalStats `json:"incremental,omitempty"`
	FullReason  string            `json:"full_reason,omitempty"`
	// FullExpected: FullReason is one the user expects (--full-refresh, the
	// model's first build); otherwise a run tells it.
	FullExpected bool             `json:"full_expected,omitempty"`
	Checks       []quality.Result `json:"checks,omitempty"`
	Err          error            `json:"-"`
}

// IncrementalStats describe an incremental build.
type IncrementalStats struct {
	Column       string `json:"column"`
	Keys         int64  `json:"keys"`          // key values rebuilt
	RowsRebuilt  int64  `json:"rows_rebuilt"`  // rows the model's SQL produced for them
	FilesCarried int    `json:"files_carried"` // published files reused as they were
	// TablesFromTotals: other tables the checks aggregate whole (a
	// reconcile's to) that were judged from the totals kept last time and
	// their changed rows, not read (quality.Parts.FromTotals).
	TablesFromTotals []string `json:"tables_from_totals,omitempty"`
}

// Result of a transform run, in build order.
type Result struct {
	RunID  string
	Models []ModelResult
}

// Err joins the errors of the failed models.
func (r Result) Err() error {
	var errs []error
	for _, m := range r.Models {
		if m.Err != nil {
			errs = append(errs, m.Err)
		}
	}
	return errors.Join(errs...)
}

// Run builds the graph's models in dependency order, each published
// atomically. A model whose inputs and SQL are unchanged since its published
// version is skipped. A failed model is not published (its previous version
// stays), and the models downstream of it are skipped, so no table is built on
// top of a failure.
func Run(ctx context.Context, lk *lake.Lake, eng *engine.Engine, g *Graph, opts Options) (Result, error) {
	if opts.RunID == "" {
		opts.RunID = lake.NewRunID(time.Now())
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Workers <= 0 {
		opts.Workers = 2
	}
	todo := g.Order
	if len(opts.Select) > 0 {
		sel := map[string]bool{}
		for _, s := range opts.Select {
			if _, ok := g.Models[s]; !ok {
				return Result{}, fmt.Errorf("transform --select %s: no such model (models: %s)", s, strings.Join(g.Order, ", "))
			}
			sel[s] = true
		}
		todo = nil
		for _, n := range g.Order {
			if sel[n] {
				todo = append(todo, n)
			}
		}
	}
	x := &executor{lk: lk, eng: eng, g: g, opts: opts}
	if x.wide(todo) {
		// A sizing error costs speed, not results: the build goes on.
		restore, err := eng.Wide(ctx)
		if err != nil {
			opts.Logger.Warn("duckdb threads not resized", "err", err)
		} else {
			defer func() {
				if err := restore(); err != nil {
					opts.Logger.Warn("duckdb threads not resized", "err", err)
				}
			}()
		}
	}
	results := x.schedule(ctx, todo)
	return Result{RunID: opts.RunID, Models: results}, ctx.Err()
}

type executor struct {
	lk   *lake.Lake
	eng  *engine.Engine
	g    *Graph
	opts Options
}

// wide says whether the run builds its models in full, few large
// statements that want every core (engine.Wide): with --full-refresh or on
// a lake where none of them is published yet. Otherwise most are built
// incrementally, many small statements, faster with one thread each.
func (x *executor) wide(todo []string) bool {
	if x.opts.FullRefresh {
		return true
	}
	for _, n := range todo {
		m := x.g.Models[n]
		if x.lk.Intact(m.Layer, m.Table) != nil {
			return false
		}
	}
	return true
}

// schedule runs models as soon as their inputs are done, up to Workers at a
// time: independent models (the Silver tables, the Gold dimensions) overlap.
// When several are ready and a worker is free, the one heading the longest
// chain of work still to do goes first (the critical path), so that the
// chain ending in the marts does not wait behind models nothing waits for.
func (x *executor) schedule(ctx context.Context, todo []string) []ModelResult {
	return schedule(x.g, todo, x.opts.Workers, x.priorities(todo), func(name string) ModelResult {
		return x.build(ctx, x.g.Models[name])
	})
}

// schedule builds todo (a part of g, in g's order) with build, up to workers
// at a time, highest priority first among the models whose inputs are done.
func schedule(g *Graph, todo []string, workers int, prio map[string]time.Duration, build func(string) ModelResult) []ModelResult {
	inRun := map[string]bool{}
	for _, n := range todo {
		inRun[n] = true
	}
	waiting := map[string]int{} // inputs of the run not done yet
	children := map[string][]string{}
	for _, n := range todo {
		for _, p := range g.Parents[n] {
			if inRun[p] {
				waiting[n]++
				children[p] = append(children[p], n)
			}
		}
	}
	results := make(map[string]ModelResult, len(todo))
	var ready []string
	for _, n := range todo {
		if waiting[n] == 0 {
			ready = append(ready, n)
		}
	}
	type built struct {
		name string
		res  ModelResult
	}
	finished := make(chan built)
	running := 0
	// settle records a result and readies the children whose inputs are
	// all done; a child of a failed or skipped model is skipped at once.
	var settle func(name string, r ModelResult)
	settle = func(name string, r ModelResult) {
		results[name] = r
		for _, c := range children[name] {
			if r.Status == StatusFailed || r.Status == StatusSkipped {
				if _, done := results[c]; !done {
					waiting[c] = -1 // never ready: skipped below
					settle(c, ModelResult{Model: c, Status: StatusSkipped,
						Err: fmt.Errorf("model %s: skipped because its input %s failed", c, name)})
				}
				continue
			}
			if waiting[c] > 0 {
				waiting[c]--
				if waiting[c] == 0 {
					ready = append(ready, c)
				}
			}
		}
	}
	for len(results) < len(todo) {
		for running < workers && len(ready) > 0 {
			best := 0
			for i, n := range ready {
				if prio[n] > prio[ready[best]] {
					best = i
				}
			}
			name := ready[best]
			ready = slices.Delete(ready, best, best+1)
			running++
			go func() {
				start := time.Now()
				r := build(name)
				r.Duration = time.Since(start)
				finished <- built{name, r}
			}()
		}
		b := <-finished
		running--
		settle(b.name, b.res)
	}
	out := make([]ModelResult, 0, len(todo))
	for _, n := range todo {
		out = append(out, results[n])
	}
	return out
}

// priorities gives each model of the run the work on its longest chain to
// the end of the run (criticalPath), with its published version's build
// time as its own: the best guess of the next build.
func (x *executor) priorities(todo []string) map[string]time.Duration {
	own := map[string]time.Duration{}
	for _, n := range todo {
		m := x.g.Models[n]
		if man, err := x.lk.Manifest(m.Layer, m.Table); err == nil && man.BuildTime > 0 {
			own[n] = man.BuildTime
		}
	}
	return criticalPath(x.g, todo, own)
}

// criticalPath gives each model of todo its own build time plus the largest
// priority of its children in todo. A model without a time (never built, or
// built before times were kept) counts as the median of the others.
func criticalPath(g *Graph, todo []string, own map[string]time.Duration) map[string]time.Duration {
	inRun := map[string]bool{}
	var known []time.Duration
	for _, n := range todo {
		inRun[n] = true
		if d, ok := own[n]; ok {
			known = append(known, d)
		}
	}
	guess := time.Second
	if len(known) > 0 {
		slices.Sort(known)
		guess = known[len(known)/2]
	}
	prio := map[string]time.Duration{}
	// g.Order lists parents first: walked backwards, children come first.
	for i := len(g.Order) - 1; i >= 0; i-- {
		n := g.Order[i]
		if !inRun[n] {
			continue
		}
		w, ok := own[n]
		if !ok {
			w = guess
		}
		var longest time.Duration
		for _, c := range g.Children(n) {
			if inRun[c] && prio[c] > longest {
				longest = prio[c]
			}
		}
		prio[n] = w + longest
	}
	return prio
}

func (x *executor) build(ctx context.Context, m *Model) ModelResult {
	started := time.Now()
	res := ModelResult{Model: m.Name}
	var write *backgroundWrite[fullWrite]
	fail := func(err error) ModelResult {
		write.abort()
		res.Status, res.Err = StatusFailed, err
		// Info, not error: the run summary prints the failure once.
		x.opts.Logger.Info("model failed", "model", m.Name, "err", err)
		return res
	}
	if err := ctx.Err(); err != nil {
		return fail(err)
	}
	suite := x.opts.Suites[m.Name]
	var inputs []lake.Input
	fpParts := []string{modelFormat, m.SQL, m.PartitionBy, m.Granularity, suiteFingerprint(suite)}
	sqlInputs := map[string]bool{}
	for _, in := range m.Inputs() {
		sqlInputs[in] = true
	}
	// Every parent counts for the fingerprint, also the tables only the gate
	// reads: a new dim changes which fact rows pass the foreign keys.
	for _, in := range x.g.Parents[m.Name] {
		layer, table, _ := strings.Cut(in, ".")
		im, err := x.lk.Manifest(layer, table)
		if errors.Is(err, lake.ErrNoTable) {
			return fail(fmt.Errorf("model %s (%s): input %s is not published yet; run `nexus ingest` or build it first", m.Name, m.Path, in))
		}
		if err != nil {
			return fail(fmt.Errorf("model %s: input %w", m.Name, err))
		}
		inputs = append(inputs, lake.Input{Name: in, Version: im.Version, Fingerprint: im.Fingerprint})
		fpParts = append(fpParts, fmt.Sprintf("%s@%d:%s", in, im.Version, im.Fingerprint))
		if sqlInputs[in] {
			res.RowsIn += im.Rows
		}
	}
	fp := lake.HashStrings(fpParts...)
	// A damaged published version (missing file, bad footer, unreadable
	// manifest) is not up to date: it is rebuilt.
	prev := x.lk.Intact(m.Layer, m.Table)
	upToDate := prev != nil && prev.Fingerprint == fp
	var quarantined int64
	if upToDate && suite != nil {
		// A gated table is up to date only with the quarantine of the same build.
		qm := x.lk.Intact(lake.Quarantine, QuarantineTable(m.Layer, m.Table))
		upToDate = qm != nil && qm.Fingerprint == fp
		if upToDate {
			quarantined = qm.Rows
		}
	}
	if upToDate && !x.opts.FullRefresh {
		res.Status, res.Version, res.RowsOut, res.Files, res.Bytes = StatusUnchanged, prev.Version, prev.Rows, len(prev.Files), prev.Bytes
		res.Quarantined = quarantined
		return res
	}
	if err := x.checkKeyHeaders(ctx, m); err != nil {
		return fail(err)
	}
	code := m.codeFingerprint(suiteFingerprint(suite))
	tp := time.Now()
	plan, why, err := x.planIncremental(ctx, m, suite, code)
	if err != nil {
		// The working tables planning made would hold memory while the
		// other models build.
		x.dropInc(m)
		return fail(err)
	}
	x.opts.Logger.Debug("model phase", "model", m.Name, "phase", "plan", "ms", time.Since(tp).Milliseconds())
	if plan != nil {
		return x.buildInc(ctx, m, suite, plan, res, inputs, fp, code, started)
	}
	if m.Incremental != "" {
		res.FullReason, res.FullExpected = why, expectedFull(why)
		x.opts.Logger.Info("full build", "model", m.Name, "why", why)
	}

	body := m.Compiled()
	// Phase timings at debug level: where a build's time goes.
	phase := func(name string, since time.Time) {
		x.opts.Logger.Debug("model phase", "model", m.Name, "phase", name, "ms", time.Since(since).Milliseconds())
	}
	var gate *quality.Gate
	if suite != nil {
		g, err := x.annotate(ctx, m, suite)
		if err != nil {
			return fail(err)
		}
		gate = g
		defer gate.Close()
		body = gate.Passing()
		res.Quarantined = gate.Quarantined
	}
	write = writeInBackground(ctx, x, m, func(ctx context.Context, st *lake.Staging) (fullWrite, error) {
		t1 := time.Now()
		partCols, err := x.write(ctx, m, st.Dir(), body)
		if err != nil {
			return fullWrite{}, err
		}
		phase("write", t1)
		t1 = time.Now()
		rows, schema, err := x.inspect(ctx, st.Dir(), len(partCols) > 0)
		phase("inspect", t1)
		if err != nil {
			return fullWrite{}, fmt.Errorf("model %s: inspect output: %w", m.Name, err)
		}
		return fullWrite{partCols, rows, schema}, nil
	})
	if gate != nil {
		checks, err := x.evaluate(ctx, m, gate)
		res.Checks = checks
		if err != nil {
			return fail(err)
		}
	}
	st, w, err := write.wait()
	if err != nil {
		return fail(err)
	}
	partCols, rows, schema := w.partCols, w.rows, w.schema
	if gate != nil {
		// Row accounting: every row the model produced is published (the
		// files just written say how many) or quarantined.
		var written int64
		for _, n := range rows {
			written += n
		}
		total := gate.Built
		acct := rowAccounting(m, total, total-written-gate.Quarantined,
			fmt.Sprintf("%d built = %d published + %d quarantined", total, written, gate.Quarantined))
		res.Checks = append(res.Checks, acct)
		if acct.Blocking {
			return fail(fmt.Errorf("model %s: row accounting broken: %s", m.Name, acct.Observed))
		}
		res.RowsBuilt = total
	}
	write.publishing()
	delta := x.diffDelta(ctx, m, prev, code, st, rows, len(partCols) > 0)
	man, err := st.Publish(lake.Manifest{
		Schema: schema, PartitionBy: partCols, Inputs: inputs, Fingerprint: fp, Description: m.Description,
		Code: code, Delta: delta, Stats: checkStats(suite, res.Checks), BuildTime: time.Since(started),
		Totals: gate.Totals(),
	}, rows)
	if err != nil {
		return fail(err)
	}
	t1 := time.Now()
	if err := x.eng.Register(ctx, man); err != nil {
		return fail(err)
	}
	phase("register", t1)
	if gate != nil {
		// The quarantine follows its table: a crash in between leaves the
		// previous quarantine and a fingerprint mismatch, so the next run
		// rebuilds both.
		t1 = time.Now()
		if err := x.writeQuarantine(ctx, m, gate.Checked(), fp); err != nil {
			return fail(err)
		}
		phase("quarantine", t1)
	}
	res.Status, res.Version, res.RowsOut, res.Files, res.Bytes = StatusBuilt, man.Version, man.Rows, len(man.Files), man.Bytes
	x.opts.Logger.Info("model built", "model", m.Name, "rows", man.Rows, "files", len(man.Files))
	return res
}

// fullWrite is what a full build wrote into its staging.
type fullWrite struct {
	partCols []string
	rows     map[string]int64
	schema   []lake.Column
}

// rowAccounting is the built-in check "rows built = rows published + rows
// quarantined", reported with the suite's; missing rows (non-zero) fail it
// and block the model.
func rowAccounting(m *Model, built, missing int64, observed string) quality.Result {
	r := quality.Result{Table: m.Name, CheckID: "row_accounting", Kind: quality.KindRowAccounting, Severity: quality.SeverityError,
		Description: "Rows built = rows published + rows quarantined.", RowsChecked: built, Verdict: quality.VerdictPass,
		Observed: observed}
	if missing != 0 {
		r.Verdict, r.Blocking, r.RowsFailed = quality.VerdictFail, true, missing
	}
	return r
}

// write materializes the model into dir with DuckDB's COPY. The model's SQL
// starts on the first line of the statement, so DuckDB's "LINE n" is the
// model body's line n.
func (x *executor) write(ctx context.Context, m *Model, dir, body string) ([]string, error) {
	opts := ParquetWrite + ", ROW_GROUP_SIZE 122880"
	var stmt string
	var partCols []string
	if m.PartitionBy != "" {
		col := engine.Ident(m.PartitionBy)
		exprs := []string{"year(" + col + ") AS year"}
		partCols = []string{"year"}
		if m.Granularity == "month" || m.Granularity == "day" {
			exprs = append(exprs, "month("+col+") AS month")
			partCols = append(partCols, "month")
		}
		if m.Granularity == "day" {
			exprs = append(exprs, "day("+col+") AS day")
			partCols = append(partCols, "day")
		}
		stmt = fmt.Sprintf("COPY (SELECT *, %s FROM (%s\n) AS _model) TO %s (%s, PARTITION_BY (%s), FILENAME_PATTERN 'part-{i}', OVERWRITE_OR_IGNORE)",
			strings.Join(exprs, ", "), body, engine.Literal(dir), opts, strings.Join(partCols, ", "))
	} else {
		stmt = fmt.Sprintf("COPY (%s\n) TO %s (%s)", body, engine.Literal(filepath.Join(dir, "part-0.parquet")), opts)
	}
	if _, err := x.eng.DB().ExecContext(ctx, stmt); err != nil {
		return nil, x.modelError(m, err)
	}
	if len(partCols) > 0 {
		// No rows means no partition files: write one empty file with the
		// partition columns so the table still has its schema.
		written, err := filepath.Glob(filepath.Join(dir, partCols[0]+"=*"))
		if err != nil {
			return nil, err
		}
		if len(written) == 0 {
			empty := fmt.Sprintf("COPY (SELECT *, %s FROM (%s\n) AS _model LIMIT 0) TO %s (%s)",
				strings.Join(partColsExprs(m, partCols), ", "), body, engine.Literal(filepath.Join(dir, "part-0.parquet")), opts)
			if _, err := x.eng.DB().ExecContext(ctx, empty); err != nil {
				return nil, x.modelError(m, err)
			}
			return nil, nil
		}
	}
	return partCols, nil
}

func partColsExprs(m *Model, cols []string) []string {
	var out []string
	for _, c := range cols {
		out = append(out, c+"("+engine.Ident(m.PartitionBy)+") AS "+c)
	}
	return out
}

var duckLine = regexp.MustCompile(`LINE (\d+):`)

// modelError names the model, its file and the file line DuckDB points at.
func (x *executor) modelError(m *Model, err error) error {
	msg := err.Error()
	loc := m.Path
	if mm := duckLine.FindStringSubmatch(msg); mm != nil {
		if n, convErr := strconv.Atoi(mm[1]); convErr == nil {
			loc = fmt.Sprintf("%s:%d", m.Path, m.bodyLine+n-1)
		}
	}
	first, _, _ := strings.Cut(msg, "\n")
	return fmt.Errorf("model %s (%s): %s", m.Name, loc, first)
}

// inspect returns the row count of every file written (relative path →
// rows) and the table's schema, from the Parquet footers.
func (x *executor) inspect(ctx context.Context, dir string, hive bool) (map[string]int64, []lake.Column, error) {
	var files []string
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && d.IsDir() && d.Name() == lake.DeltaDir {
			return filepath.SkipDir // not data of the table
		}
		if err == nil && !d.IsDir() && strings.HasSuffix(p, ".parquet") {
			files = append(files, p)
		}
		return err
	})
	if err != nil {
		return nil, nil, err
	}
	sort.Strings(files)
	list := make([]string, len(files))
	for i, f := range files {
		list[i] = engine.Literal(f)
	}
	fileList := "[" + strings.Join(list, ", ") + "]"
	rows := map[string]int64{}
	r, err := x.eng.DB().QueryContext(ctx, "SELECT file_name, num_rows FROM parquet_file_metadata("+fileList+")")
	if err != nil {
		return nil, nil, err
	}
	for r.Next() {
		var name string
		var n int64
		if err := r.Scan(&name, &n); err != nil {
			r.Close()
			return nil, nil, err
		}
		rel, err := filepath.Rel(dir, name)
		if err != nil {
			r.Close()
			return nil, nil, err
		}
		rows[filepath.ToSlash(rel)] = n
	}
	if err := r.Err(); err != nil {
		r.Close()
		return nil, nil, fmt.Errorf("parquet footers of %s: %w", dir, err)
	}
	r.Close()
	var schema []lake.Column
	r, err = x.eng.DB().QueryContext(ctx, fmt.Sprintf("DESCRIBE SELECT * FROM read_parquet(%s, hive_partitioning = %t)", fileList, hive))
	if err != nil {
		return nil, nil, err
	}
	defer r.Close()
	cols, err := r.Columns()
	if err != nil {
		return nil, nil, err
	}
	for r.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := r.Scan(ptrs...); err != nil {
			return nil, nil, err
		}
		schema = append(schema, lake.Column{Name: fmt.Sprint(vals[0]), Type: fmt.Sprint(vals[1])})
	}
	return rows, schema, r.Err()
}
