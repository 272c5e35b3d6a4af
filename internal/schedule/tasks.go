package schedule

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"

	"github.com/keystone/nexus/internal/engine"
	"github.com/keystone/nexus/internal/lake"
	"github.com/keystone/nexus/internal/outputs"
	"github.com/keystone/nexus/internal/pipeline"
	"github.com/keystone/nexus/internal/quality"
	"github.com/keystone/nexus/internal/schedule/runstore"
)

// Task is what a job does; each has one entry in taskDefs.
type Task string

// Tasks.
const (
	TaskIngest    Task = "ingest"    // the landing zone's complete batches up to the date, into Bronze
	TaskTransform Task = "transform" // Silver and Gold models, with their gates
	TaskCheck     Task = "check"     // the quality suites on what is published
	TaskReports   Task = "reports"   // quality report, charts, dashboard export, deck
)

// TaskDef is the one home of a task: what it does and how it runs.
type TaskDef struct {
	Task Task
	Doc  string
	run  func(ctx context.Context, env *Env, in TaskInput) (*Outcome, error)
}

func taskDefs() []TaskDef {
	return []TaskDef{
		{TaskIngest, "ingest the complete dt= folders of the landing zone up to the logical date into Bronze (waits for them: sensor)", runIngest},
		{TaskTransform, "build the Silver and Gold models incrementally, behind their quality gates", runTransform},
		{TaskCheck, "run the quality suites on the published tables; a failed check of severity error fails the job", runCheck},
		{TaskReports, "refresh the quality report, charts, dashboard export and executive deck", runReports},
	}
}

// LookupTask returns a task's definition.
func LookupTask(t Task) (TaskDef, bool) {
	for _, d := range taskDefs() {
		if d.Task == t {
			return d, true
		}
	}
	return TaskDef{}, false
}

// TaskNames lists the tasks.
func TaskNames() []string {
	var out []string
	for _, d := range taskDefs() {
		out = append(out, string(d.Task))
	}
	return out
}

// Env is what every task runs against.
type Env struct {
	Lake       string             // lake root: a directory or s3://bucket/prefix
	Remote     lake.RemoteOptions // how to reach a lake on S3, and where its mirrors go
	Source     string             // landing zone (dt=YYYY-MM-DD folders) or a directory of source files
	ProjectDir string
	OnDrift    string
	Engine     engine.Options
	Logger     *slog.Logger
	Sensor     Sensor
}

// TaskInput is one run of a task.
type TaskInput struct {
	// Date is the logical date (YYYY-MM-DD): ingest takes the batches up to
	// it. Empty: everything there is.
	Date string
	// Force rebuilds what is unchanged (a manual trigger of the reports).
	Force bool
	// Upstream is what the earlier jobs of the cycle did (the reports are
	// refreshed when they changed something).
	Upstream []pipeline.Step
}

// Outcome is what a task did, as recorded in the run store.
type Outcome struct {
	PipelineRun string          // the lake's run record (pipeline/check run id)
	Snapshot    int64           // snapshot committed, 0 for none
	Steps       []pipeline.Step // per table/model/report
	Failed      []quality.Result
	Sales       *pipeline.SalesQuarantine
	Note        string
}

// Totals sums the rows the steps processed: an unchanged step did no work,
// and reports count files, checks rows looked at, not rows that flowed.
func (o *Outcome) Totals() (in, out, quarantined int64) {
	for _, s := range o.Steps {
		if s.Kind == pipeline.StepReport || s.Kind == pipeline.StepCheck || s.Status == pipeline.StepUnchanged {
			continue
		}
		in += s.RowsIn
		out += s.RowsOut
		quarantined += s.Quarantined
	}
	return
}

func (o *Outcome) stepRows() []runstore.StepRow {
	if o == nil {
		return nil
	}
	out := make([]runstore.StepRow, len(o.Steps))
	for i, p := range o.Steps {
		out[i] = runstore.StepRow{Name: p.Name, Kind: string(p.Kind), Status: string(p.Status), RowsIn: p.RowsIn, RowsOut: p.RowsOut,
			Quarantined: p.Quarantined, Seconds: p.Duration.Seconds(), Error: p.Error}
	}
	return out
}

func (o *Outcome) checkRows() []runstore.CheckRow {
	if o == nil {
		return nil
	}
	out := make([]runstore.CheckRow, len(o.Failed))
	for i, c := range o.Failed {
		out[i] = checkRow(c)
	}
	return out
}

func checkRow(c quality.Result) runstore.CheckRow {
	return runstore.CheckRow{Table: c.Table, CheckID: c.CheckID, Kind: string(c.Kind), Severity: string(c.Severity),
		OnFail: string(c.OnFail), Blocking: c.Blocking, RowsFailed: c.RowsFailed, Observed: c.Observed}
}

// ExitPermanent is the exit status of `nexus trigger` and `nexus backfill`
// when a job failed permanently, so that an outer retry loop (an exported
// workflow) stops instead of retrying what cannot succeed.
const ExitPermanent = 3

// errChecksFailed: a quality check of severity error failed (permanent: the
// data, not the run, is wrong).
var errChecksFailed = errors.New("quality checks failed")

func (e *Env) logger() *slog.Logger {
	if e.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return e.Logger
}

// open opens the lake (local or on S3) for writing or reading; metaOnly:
// the task reads no table (a lock, the manifests), so a lake on S3 brings
// no data file. Call release when done.
func (e *Env) open(ctx context.Context, write, metaOnly bool) (lk *lake.Lake, release func(), err error) {
	o := e.Remote
	o.MetadataOnly = metaOnly
	if o.Logger == nil {
		o.Logger = e.Logger
	}
	lk, err = lake.OpenAny(ctx, e.Lake, o, write)
	if err != nil {
		return nil, nil, err
	}
	return lk, func() {
		if err := lk.Release(); err != nil {
			e.logger().Warn("lake mirror not removed; swept later", "err", err)
		}
	}, nil
}

// withWriter opens the lake and holds its writer lock around fn.
func (e *Env) withWriter(ctx context.Context, fn func(lk *lake.Lake) error) error {
	lk, release, err := e.open(ctx, true, false)
	if err != nil {
		return err
	}
	defer release()
	unlock, err := lk.Lock()
	if err != nil {
		return err
	}
	defer unlock()
	return fn(lk)
}

func fromSummary(sum *pipeline.Summary) *Outcome {
	o := &Outcome{PipelineRun: sum.RunID, Snapshot: sum.Snapshot, Steps: sum.Steps, Sales: sum.Sales}
	for _, c := range sum.Checks() {
		if c.Verdict == quality.VerdictFail {
			o.Failed = append(o.Failed, c)
		}
	}
	if sum.Batches != nil {
		o.Note = sum.Batches.String()
	}
	return o
}

func runIngest(ctx context.Context, env *Env, in TaskInput) (*Outcome, error) {
	waited, batches, landing, err := waitForBatches(ctx, env, in.Date)
	if err != nil {
		return nil, err
	}
	until := ""
	if landing {
		until = in.Date // a directory of whole files has no dates: it is taken as it is
	}
	var out *Outcome
	err = env.withWriter(ctx, func(lk *lake.Lake) error {
		sum, err := pipeline.Run(ctx, lk, pipeline.Options{SourceDir: env.Source, OnDrift: env.OnDrift, SkipModels: true,
			Until: until, Batches: batches, Logger: env.logger(), Engine: env.Engine, ProjectDir: env.ProjectDir})
		if err != nil {
			return err
		}
		out = fromSummary(sum)
		return sum.Err()
	})
	if out != nil && waited != "" {
		out.Note = strings.TrimSpace(waited + "; " + out.Note)
	}
	return out, err
}

func runTransform(ctx context.Context, env *Env, in TaskInput) (*Outcome, error) {
	var out *Outcome
	err := env.withWriter(ctx, func(lk *lake.Lake) error {
		sum, err := pipeline.Run(ctx, lk, pipeline.Options{SkipIngest: true, Force: in.Force, Logger: env.logger(),
			Engine: env.Engine, ProjectDir: env.ProjectDir})
		if err != nil {
			return err
		}
		out = fromSummary(sum)
		return sum.Err()
	})
	return out, err
}

func runCheck(ctx context.Context, env *Env, _ TaskInput) (*Outcome, error) {
	_, suites, err := pipeline.LoadGated(env.ProjectDir)
	if err != nil {
		return nil, err
	}
	lk, release, err := env.open(ctx, false, false)
	if err != nil {
		return nil, err
	}
	defer release()
	eng, err := engine.Open(ctx, lk, env.Engine)
	if err != nil {
		return nil, err
	}
	defer eng.Close()
	run, err := pipeline.Check(ctx, lk, eng, suites, "", "")
	if err != nil {
		return nil, err
	}
	if err := pipeline.RecordCheck(lk, run); err != nil {
		return nil, err
	}
	out := &Outcome{PipelineRun: run.RunID}
	var blocking []string
	tables := map[string]*pipeline.Step{}
	for _, r := range run.Results {
		st := tables[r.Table]
		if st == nil {
			st = &pipeline.Step{Name: r.Table, Kind: pipeline.StepCheck, Status: pipeline.StepChecked}
			tables[r.Table] = st
		}
		// A table's step: the rows its checks looked at (nothing is moved:
		// the failures are the run's failed checks) and their time.
		st.Checks = append(st.Checks, r)
		st.RowsIn = max(st.RowsIn, r.RowsChecked)
		st.RowsOut = st.RowsIn
		st.Duration += r.Duration
		if r.Verdict != quality.VerdictFail {
			continue
		}
		out.Failed = append(out.Failed, r)
		if r.Severity == quality.SeverityError {
			st.Status = pipeline.StepFailed
			blocking = append(blocking, r.Table+"."+r.CheckID)
		}
	}
	names := make([]string, 0, len(tables))
	for n := range tables {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		out.Steps = append(out.Steps, *tables[n])
	}
	out.Note = fmt.Sprintf("%d checks on snapshot %d, %d failed", len(run.Results), run.Snapshot, len(out.Failed))
	if len(blocking) > 0 {
		return out, fmt.Errorf("%w: %s", errChecksFailed, strings.Join(blocking, ", "))
	}
	return out, nil
}

func runReports(ctx context.Context, env *Env, in TaskInput) (*Outcome, error) {
	var out *Outcome
	err := env.withWriter(ctx, func(lk *lake.Lake) error {
		// Alone (a trigger), the reports are redone; in a cycle, when the
		// jobs before changed something.
		sum := &pipeline.Summary{Steps: in.Upstream}
		force := in.Force || len(in.Upstream) == 0
		st := outputs.Refresh(ctx, lk, pipeline.Options{Force: force, ProjectDir: env.ProjectDir, Engine: env.Engine, Logger: env.logger()}, sum)
		out = &Outcome{Steps: []pipeline.Step{st}, Note: strings.Join(sum.Reports, ", ")}
		if st.Error != "" {
			return fmt.Errorf("reports: %s", st.Error)
		}
		return nil
	})
	return out, err
}
