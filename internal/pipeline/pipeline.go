// Package pipeline owns the end-to-end run: ingest, then transform, under one
// run id, with one summary of every step and a run record kept in the lake's
// run history. The CLI and (later) the scheduler both run pipelines here.
package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/keystone/nexus/internal/engine"
	"github.com/keystone/nexus/internal/ingest"
	"github.com/keystone/nexus/internal/lake"
	"github.com/keystone/nexus/internal/olist"
	"github.com/keystone/nexus/internal/quality"
	"github.com/keystone/nexus/internal/transform"
)

// Options configure a pipeline run.
type Options struct {
	RunID     string
	SourceDir string
	OnDrift   string
	Force     bool // re-ingest and rebuild everything
	// SwitchSource lets a source of the other kind replace the Bronze
	// tables (ingest.Options.SwitchSource).
	SwitchSource bool
	// Rerun is the command the user ran with its arguments
	// (ingest.Options.Rerun), which the refusal of a source switch suggests
	// again.
	Rerun      []string
	ProjectDir string
	Engine     engine.Options
	Logger     *slog.Logger
	Progress   func(table string, read, total int64)
	SkipIngest bool
	// Until (YYYY-MM-DD) limits the ingest of a landing zone to the batches
	// of that day and before (a scheduled cycle's or a backfill's date).
	Until string
	// Batches, when set, are the only batch folders the ingest considers
	// (the ones a sensor saw complete).
	Batches     []string
	SkipModels  bool
	ModelSelect []string
	// NoGates builds the models without their quality suites.
	NoGates bool
	// Finish, when set, runs last and adds its step to the summary (the CLI
	// refreshes the reports there: see package outputs).
	Finish func(ctx context.Context, lk *lake.Lake, opts Options, sum *Summary) Step
}

// Step is one line of the run summary.
type Step struct {
	Name      string     `json:"name"`
	Kind      StepKind   `json:"kind"`
	Status    StepStatus `json:"status"`
	RowsIn    int64      `json:"rows_in"`              // records read (ingest) or rows built (model)
	InputRows int64      `json:"input_rows,omitempty"` // a model: rows of the inputs its SQL reads
	RowsOut   int64      `json:"rows_out"`
	// TableRows is the table after the step (Bronze's or the model's). An
	// incremental build's rows in and out are those of the keys it rebuilt,
	// which a daily drop makes a small part of the table; an unchanged
	// step's are 0.
	TableRows   int64         `json:"table_rows,omitempty"`
	Quarantined int64         `json:"quarantined"`
	Duration    time.Duration `json:"duration_ns"`
	Error       string        `json:"error,omitempty"`
	// Incremental is set for a model built incrementally (the keys it
	// rebuilt); FullReason says why an incremental model was built in full.
	Incremental *transform.IncrementalStats `json:"incremental,omitempty"`
	FullReason  string                      `json:"full_reason,omitempty"`
	// FullExpected: the full build was asked for or the model's first
	// (transform.ModelResult.FullExpected); otherwise the summary tells it.
	FullExpected bool `json:"full_expected,omitempty"`
	// Checks are the quality results of the step's gate.
	Checks []quality.Result `json:"checks,omitempty"`
}

// StepKind is what a step did.
type StepKind string

// Step kinds.
const (
	StepIngest StepKind = "ingest" // a Bronze table ingested
	StepModel  StepKind = "model"  // a Silver or Gold model built
	StepReport StepKind = "report" // the reports refreshed (files, not rows)
	StepCheck  StepKind = "check"  // the quality suite of one table run on what is published
)

// StepStatus is what happened to one step of a run: the statuses of ingest
// (ingest.Status) and of models (transform.Status) carry over by value.
type StepStatus string

// Step statuses.
const (
	StepIngested  StepStatus = "ingested"
	StepBuilt     StepStatus = "built"
	StepUnchanged StepStatus = "unchanged"
	StepSkipped   StepStatus = "skipped"
	StepChecked   StepStatus = "checked" // a table's quality suite ran and no check of severity error failed
	StepFailed    StepStatus = "failed"
)

// RunStatus is the state of a run record.
type RunStatus string

// Run statuses. A record is written as running when the run starts, so a run
// killed midway is found and marked abandoned by the next writer.
const (
	RunRunning RunStatus = "running"
	// RunCommitting: the steps are done and recorded, the commit is under
	// way; the next writer resolves it from the snapshots.
	RunCommitting RunStatus = "committing"
	RunSucceeded  RunStatus = "succeeded"
	RunFailed     RunStatus = "failed"
	RunAbandoned  RunStatus = "abandoned"
	RunCancelled  RunStatus = "cancelled"
)

// Summary is the record of a run, also stored under _nexus/runs/.
type Summary struct {
	RunID string `json:"run_id"`
	Kind  string `json:"kind"` // "run"
	// CheckedTables lists the tables of the steps' checks (set when
	// saved), read from a record's head without decoding the rest
	// (VerdictHistory).
	CheckedTables []string      `json:"checked_tables"`
	Started       time.Time     `json:"started"`
	Duration      time.Duration `json:"duration_ns"`
	Status        RunStatus     `json:"status"`
	// Snapshot is the lake snapshot the run committed (0: it committed
	// nothing, e.g. nothing changed or it was cancelled).
	Snapshot int64    `json:"snapshot,omitempty"`
	Steps    []Step   `json:"steps"`
	Reports  []string `json:"reports,omitempty"`
	// Sales is what the Silver quarantines hold of the sales after the run
	// (nil when no model ran).
	Sales *SalesQuarantine `json:"sales_quarantined,omitempty"`
	// Batches says what happened to the batches of a landing zone.
	Batches *ingest.BatchChanges `json:"batches,omitempty"`
	// SourceSwitch is the switch of source kind the run made
	// (Options.SwitchSource); nil when it made none.
	SourceSwitch *ingest.SourceSwitch `json:"source_switch,omitempty"`
	// Error says why a failed or cancelled run failed, including what no
	// step holds (a bad model file, an unreadable landing zone, a commit
	// that could not be made).
	Error string `json:"error,omitempty"`
	err   error
}

// NothingToDo reports whether every step of the run was unchanged: its
// inputs were all as the last run left them.
func (s *Summary) NothingToDo() bool {
	for _, st := range s.Steps {
		if st.Status != StepUnchanged {
			return false
		}
	}
	return true
}

// Checks are the results of every step's checks, in step order.
func (s *Summary) Checks() []quality.Result {
	var out []quality.Result
	for _, st := range s.Steps {
		out = append(out, st.Checks...)
	}
	return out
}

// Err is the joined error of the failed steps.
func (s *Summary) Err() error { return s.err }

// Run runs ingest and transform with one run id. Failures of single tables or
// models are recorded in the summary and make Err non-nil; the error return is
// for a run that could not start or was cancelled.
func Run(ctx context.Context, lk *lake.Lake, opts Options) (*Summary, error) {
	if opts.RunID == "" {
		opts.RunID = lake.NewRunID(time.Now())
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	sum := &Summary{RunID: opts.RunID, Kind: RecordKindRun, Started: time.Now().UTC(), Status: RunRunning}
	if err := MarkAbandoned(lk); err != nil {
		return nil, err
	}
	// Only speed depends on it: a record left without its head is read
	// whole, as before.
	if err := addHeads(lk); err != nil {
		opts.Logger.Warn("run history: old records not given their head; they are read whole", "err", err)
	}
	if err := updateHeadIndex(lk); err != nil {
		opts.Logger.Warn("run history: the index of its heads not updated; records are read", "err", err)
	}
	if err := saveRun(lk, sum); err != nil {
		return nil, err
	}
	var errs []error
	// A run that cannot go on is recorded as failed (not left running, which
	// the next run would call abandoned); nothing of it was committed.
	abort := func(err error) (*Summary, error) {
		sum.finish(append(errs, err))
		if ctx.Err() != nil {
			sum.Status = RunCancelled
		}
		return nil, errors.Join(err, saveRun(lk, sum))
	}
	// The models and suites are loaded first: a bad header or suite in a
	// project fails the run at once, with its file and line, not after an
	// ingest whose work would then not be committed.
	var g *transform.Graph
	var suites map[string]*quality.Suite
	if !opts.SkipModels {
		var err error
		if g, suites, err = LoadGated(opts.ProjectDir); err != nil {
			return abort(err)
		}
	}
	// DuckDB opens, with a view per published table, while the files are
	// ingested (parquet-go, no DuckDB): a drop's ingest is short and waits
	// on the disk, the views' footers want a core. The tables the ingest
	// changed are registered again after it (Engine.Update).
	var opened *openingEngine
	if !opts.SkipModels {
		eopts := opts.Engine
		if eopts.Conns == 0 {
			eopts.Conns = 2
		}
		opened = openEngine(ctx, lk, eopts)
		defer opened.close()
	}
	if !opts.SkipIngest {
		res, err := ingest.Run(ctx, lk, ingest.Options{
			SourceDir: opts.SourceDir, RunID: opts.RunID, OnDrift: opts.OnDrift, Force: opts.Force, SwitchSource: opts.SwitchSource,
			Rerun: opts.Rerun, Logger: opts.Logger, Progress: opts.Progress, Until: opts.Until, Batches: opts.Batches,
		})
		if err != nil {
			return abort(err)
		}
		sum.Batches, sum.SourceSwitch = res.BatchChanges(), res.Switch
		for _, t := range res.Tables {
			st := Step{Name: lake.Bronze + "." + t.Table, Kind: StepIngest, Status: StepStatus(t.Status), Duration: t.Duration}
			if st.Status != StepUnchanged {
				// An unchanged file read nothing in this run (ingest reports
				// the counts of the version it kept; the step says what it did).
				st.RowsIn, st.RowsOut, st.Quarantined = t.RecordsRead, t.RowsWritten, t.RowsQuarantined
			}
			if man, err := lk.Manifest(lake.Bronze, t.Table); err == nil {
				st.TableRows = man.Rows
			}
			if t.Err != nil {
				st.Error = t.Err.Error()
				errs = append(errs, stepError(st.Name, t.Err))
			}
			sum.Steps = append(sum.Steps, st)
		}
	}
	if !opts.SkipModels {
		if opts.NoGates {
			suites = nil
		}
		eng, err := opened.wait()
		if err == nil {
			err = eng.Update(ctx)
		}
		if err != nil {
			return abort(err)
		}
		res, err := transform.Run(ctx, lk, eng, g, transform.Options{
			RunID: opts.RunID, FullRefresh: opts.Force, Logger: opts.Logger, Select: opts.ModelSelect, Suites: suites,
		})
		if err == nil {
			var serr error
			if sum.Sales, serr = salesOfRun(ctx, eng, res); serr != nil {
				errs = append(errs, serr)
			}
		}
		opened.close()
		if err != nil {
			return abort(err)
		}
		for _, m := range res.Models {
			// A model's rows in are the rows it built (its gate's input), so
			// rows in = rows out + quarantined on every step; what it read
			// from its inputs is InputRows. An incremental build built the
			// rows of its keys only: its rows out are those it published,
			// the table holds more.
			st := Step{Name: m.Model, Kind: StepModel, Status: StepStatus(m.Status), RowsIn: m.RowsOut + m.Quarantined, InputRows: m.RowsIn,
				RowsOut: m.RowsOut, TableRows: m.RowsOut, Quarantined: m.Quarantined, Duration: m.Duration, Checks: m.Checks,
				Incremental: m.Incremental, FullReason: m.FullReason, FullExpected: m.FullExpected}
			switch {
			case m.Incremental != nil && m.Status == transform.StatusBuilt:
				st.RowsIn, st.RowsOut = m.RowsBuilt, m.RowsBuilt-m.Quarantined
			case m.Status == transform.StatusUnchanged:
				// Nothing built, nothing published or quarantined: an
				// unchanged Bronze table says 0 too.
				st.RowsIn, st.RowsOut, st.Quarantined = 0, 0, 0
			}
			if m.Err != nil {
				st.Error = m.Err.Error()
				errs = append(errs, stepError(st.Name, m.Err))
			}
			sum.Steps = append(sum.Steps, st)
		}
	}
	// One commit for the whole run: readers see all of it or none of it. A
	// cancelled run commits nothing.
	if err := ctx.Err(); err != nil {
		return abort(err)
	}
	// The record holds the steps before the commit: a run killed after its
	// commit is then resolved from the snapshot, not lost as abandoned.
	sum.Status, sum.Duration = RunCommitting, time.Since(sum.Started)
	if err := saveRun(lk, sum); err != nil {
		return sum, err
	}
	snap, err := Commit(ctx, lk, lake.CommitInfo{Kind: lake.CommitRun, RunID: opts.RunID}, opts.Logger)
	if err != nil {
		return abort(err)
	}
	if snap != nil && snap.RunID == opts.RunID {
		sum.Snapshot = snap.ID
	}
	// The reports Finish writes read this record: it must carry the run's
	// status already, or they show a run in progress as failed.
	sum.finish(errs)
	if err := saveRun(lk, sum); err != nil {
		return sum, err
	}
	if opts.Finish != nil {
		st := opts.Finish(ctx, lk, opts, sum)
		if st.Error != "" {
			errs = append(errs, fmt.Errorf("%s: %s", st.Name, st.Error))
		}
		sum.Steps = append(sum.Steps, st)
	}
	sum.finish(errs)
	if err := saveRun(lk, sum); err != nil {
		return sum, err
	}
	return sum, ctx.Err()
}

// openingEngine is a DuckDB session being opened in the background.
type openingEngine struct {
	done   chan struct{}
	eng    *engine.Engine
	err    error
	closed bool
}

func openEngine(ctx context.Context, lk *lake.Lake, opts engine.Options) *openingEngine {
	o := &openingEngine{done: make(chan struct{})}
	go func() {
		defer close(o.done)
		o.eng, o.err = engine.Open(ctx, lk, opts)
	}()
	return o
}

// wait returns the session once open.
func (o *openingEngine) wait() (*engine.Engine, error) {
	<-o.done
	return o.eng, o.err
}

// close waits for the opening and closes the session, once.
func (o *openingEngine) close() {
	if o.closed {
		return
	}
	o.closed = true
	if eng, err := o.wait(); err == nil {
		// Closing an in-memory session only frees it: nothing to report.
		_ = eng.Close()
	}
}

// finish sets the duration, error and status from the failures so far.
func (s *Summary) finish(errs []error) {
	s.Duration = time.Since(s.Started)
	s.err = errors.Join(errs...)
	s.Status, s.Error = RunSucceeded, ""
	if s.err != nil {
		s.Status, s.Error = RunFailed, s.err.Error()
	}
}

// LoadGraph reads the models (built-in plus the project's) and checks their
// references against the Bronze sources.
func LoadGraph(projectDir string) (*transform.Graph, error) {
	models, err := transform.LoadModels(projectDir)
	if err != nil {
		return nil, err
	}
	return transform.NewGraph(models, sourceTables())
}

func sourceTables() []string {
	var sources []string
	for _, t := range olist.Tables() {
		sources = append(sources, lake.Bronze+"."+t.Name)
	}
	return sources
}

// Schemas returns the columns of every table the pipeline knows before it
// runs: Bronze from the source contract, models from their documented columns.
func Schemas(g *transform.Graph) map[string][]string {
	out := SourceSchemas()
	for name, m := range g.Models {
		var cols []string
		for _, c := range m.Columns {
			cols = append(cols, c.Name)
		}
		out[name] = cols
	}
	return out
}

// LoadGated loads the models and the quality suites, and orders the models so
// that the tables a gate reads (foreign-key targets, reconcile partners) are
// built before the gated table.
func LoadGated(projectDir string) (*transform.Graph, map[string]*quality.Suite, error) {
	g, err := LoadGraph(projectDir)
	if err != nil {
		return nil, nil, err
	}
	suites, err := LoadSuites(projectDir, g)
	if err != nil {
		return nil, nil, err
	}
	deps := map[string][]string{}
	for name, s := range suites {
		deps[name] = s.Dependencies()
	}
	models := make([]*transform.Model, 0, len(g.Models))
	for _, m := range g.Models {
		models = append(models, m)
	}
	gated, err := transform.NewGraph(models, sourceTables(), deps)
	if err != nil {
		return nil, nil, err
	}
	return gated, suites, nil
}

// SourceSchemas returns the Bronze tables' columns: the source contract plus
// the lineage columns ingest adds.
func SourceSchemas() map[string][]string {
	out := map[string][]string{}
	for _, t := range olist.Tables() {
		out[lake.Bronze+"."+t.Name] = append(t.ColumnNames(), ingest.ColSourceFile, ingest.ColSourceLine, ingest.ColRunID, ingest.ColIngestedAt, ingest.ColBatch)
	}
	return out
}

// LoadSuites reads the quality suites, checks them against the known tables
// and columns before anything runs, and returns them by table.
func LoadSuites(projectDir string, g *transform.Graph) (map[string]*quality.Suite, error) {
	suites, err := quality.LoadSuites(projectDir)
	if err != nil {
		return nil, err
	}
	if err := quality.Validate(suites, Schemas(g)); err != nil {
		return nil, err
	}
	out := map[string]*quality.Suite{}
	for _, s := range suites {
		out[s.Table] = s
	}
	return out, nil
}

// saveRun writes the run record to _nexus/runs/<run_id>.json.
func saveRun(lk *lake.Lake, s *Summary) error {
	s.CheckedTables = checkedTables(s.Checks())
	return saveJSON(lk, s.RunID, s)
}

// Commit commits what the handle published as one snapshot, then removes
// what retention no longer keeps. A failed clean-up is logged, not fatal: the
// commit stands and the next one retries.
func Commit(ctx context.Context, lk *lake.Lake, info lake.CommitInfo, log *slog.Logger) (*lake.Snapshot, error) {
	pending := len(lk.Pending())
	snap, err := lk.Commit(info)
	if err != nil {
		return nil, err
	}
	if pending == 0 {
		return snap, nil
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log.Info("committed", "snapshot", snap.ID, "tables", len(snap.Changed))
	VacuumAfterCommit(ctx, lk, lake.DefaultRetention(), log)
	return snap, nil
}

// VacuumAfterCommit removes what retention r no longer keeps, right after a
// commit (under the writer lock, nothing pending): lake.VacuumExpired, which
// walks the lake only when a snapshot expires or a version may be an
// orphan. A failure is logged, not returned: the commit stands and the next
// vacuum retries.
func VacuumAfterCommit(ctx context.Context, lk *lake.Lake, r lake.Retention, log *slog.Logger) {
	res, err := lk.VacuumExpired(ctx, r, time.Now())
	if err != nil {
		log.Warn("vacuum after commit failed; the next one retries", "err", err)
	} else if n := len(res.Versions) + len(res.Snapshots); n > 0 {
		log.Info("vacuumed", "snapshots", len(res.Snapshots), "versions", len(res.Versions))
	}
}

// MarkAbandoned resolves the run records left unfinished by a process that
// died (the caller holds the lake's writer lock, so no run is in progress): a
// run whose snapshot was committed gets its outcome and snapshot; the others
// are abandoned. On an object store the lock is this machine's only (two
// machines' commits exclude each other, not their runs): a record is
// resolved there only once remoteRunLimit has passed since its run started.
func MarkAbandoned(lk *lake.Lake) error {
	dir := lk.MetaDir("runs")
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("run history: %w", err)
	}
	var committed map[string]int64 // run id → snapshot, read once when needed
	idx := readHeadIndex(dir)      // the finished records it lists stay so
	for _, e := range entries {
		name := e.Name()
		if _, done := idx[name]; done || !strings.HasSuffix(name, ".json") || strings.HasPrefix(name, ".") {
			continue
		}
		p := filepath.Join(dir, name)
		if done, err := finishedRecord(p); err != nil {
			return fmt.Errorf("run history: %w", err)
		} else if done {
			continue
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return fmt.Errorf("run history: %w", err)
		}
		var s Summary
		if err := json.Unmarshal(b, &s); err != nil {
			continue // History reports unreadable records
		}
		// Records of runs killed before this version wrote a status stay
		// without one; they are unfinished runs too.
		if finished(s.Kind, s.Status) {
			continue
		}
		if lk.Remote() && time.Since(s.Started) < remoteRunLimit {
			continue // maybe another machine's run, still going
		}
		if committed == nil {
			if committed, err = committedRuns(lk); err != nil {
				return err
			}
		}
		s.Status, s.Error = RunAbandoned, abandonedError
		if id, ok := committed[s.RunID]; ok {
			s.Snapshot, s.Status, s.Error = id, RunSucceeded, ""
			var failed []error
			for _, st := range s.Steps {
				if st.Error != "" {
					failed = append(failed, stepError(st.Name, errors.New(st.Error)))
				}
			}
			if len(failed) > 0 {
				s.Status, s.Error = RunFailed, errors.Join(failed...).Error()
			}
		}
		if err := saveRun(lk, &s); err != nil {
			return err
		}
	}
	return nil
}

// remoteRunLimit is how long after its start an unfinished run record of a
// lake on an object store may still be a live run of another machine: longer
// than any run (a full run at scale 30 takes 4 minutes here). A run killed
// there shows as running until then.
const remoteRunLimit = 24 * time.Hour

// stepError names the step of err, unless its text already does (most
// model errors start with "model NAME:"): a run's error says which step
// failed.
func stepError(step string, err error) error {
	if strings.Contains(err.Error(), step) {
		return err
	}
	return fmt.Errorf("%s: %w", step, err)
}

// abandonedError is the error of a run record that a later run found
// unfinished and uncommitted.
const abandonedError = "the run stopped before it finished (its process was killed or crashed); nothing of it was committed"

// finishedRecord reads the head of a run record, the fields before its
// steps (Summary's order: kind, then status), and reports whether it is
// not a run left unfinished: every writer starts by looking for those, and
// reading each record whole made that cost grow with the run history (a
// record is ~100 KB). A head that does not say is reported unfinished, and
// the caller reads the whole record.
func finishedRecord(p string) (bool, error) {
	h, err := readHead(p)
	if err != nil {
		return false, err
	}
	return finished(h.kind, h.status), nil
}

// finished reports whether a record is not a run left unfinished.
func finished(kind string, status RunStatus) bool {
	return kind != RecordKindRun || (status != RunRunning && status != RunCommitting && status != "")
}

// committedRuns maps the run ids of the committed snapshots still kept (the
// chain of parents from the current one: a snapshot file whose writer died
// before the pointer swap was never committed) to their snapshot.
func committedRuns(lk *lake.Lake) (map[string]int64, error) {
	out := map[string]int64{}
	s := lk.Snapshot()
	for s != nil && s.ID > 0 {
		if s.RunID != "" && s.Kind == lake.CommitRun {
			out[s.RunID] = s.ID
		}
		if s.Parent <= 0 {
			break
		}
		parent, err := lk.ReadSnapshot(s.Parent)
		if err != nil {
			break // older ones are no longer kept
		}
		s = parent
	}
	return out, nil
}
