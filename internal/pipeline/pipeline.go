// Package pipeline owns the end-to-end run: ingest, then transform, under one
// run id, with one summary of every step and a run record kept in the lake's
// run history. The CLI and (later) the scheduler both run pipelines here.
package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/keystone/nexus/internal/engine"
	"github.com/keystone/nexus/internal/ingest"
	"github.com/keystone/nexus/internal/lake"
	"github.com/keystone/nexus/internal/olist"
	"github.com/keystone/nexus/internal/transform"
)

// Options configure a pipeline run.
type Options struct {
	RunID       string
	SourceDir   string
	OnDrift     string
	Force       bool // re-ingest and rebuild everything
	ProjectDir  string
	Engine      engine.Options
	Logger      *slog.Logger
	Progress    func(table string, read, total int64)
	SkipIngest  bool
	SkipModels  bool
	ModelSelect []string
}

// Step is one line of the run summary.
type Step struct {
	Name        string        `json:"name"`
	Kind        string        `json:"kind"` // ingest or model
	Status      string        `json:"status"`
	RowsIn      int64         `json:"rows_in"`
	RowsOut     int64         `json:"rows_out"`
	Quarantined int64         `json:"quarantined"`
	Duration    time.Duration `json:"duration_ns"`
	Error       string        `json:"error,omitempty"`
}

// Summary is the record of a run, also stored under _nexus/runs/.
type Summary struct {
	RunID    string        `json:"run_id"`
	Started  time.Time     `json:"started"`
	Duration time.Duration `json:"duration_ns"`
	Status   string        `json:"status"` // succeeded or failed
	Steps    []Step        `json:"steps"`
	err      error
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
	sum := &Summary{RunID: opts.RunID, Started: time.Now().UTC()}
	var errs []error
	if !opts.SkipIngest {
		res, err := ingest.Run(ctx, lk, ingest.Options{
			SourceDir: opts.SourceDir, RunID: opts.RunID, OnDrift: opts.OnDrift, Force: opts.Force,
			Logger: opts.Logger, Progress: opts.Progress,
		})
		if err != nil {
			return nil, err
		}
		for _, t := range res.Tables {
			st := Step{Name: lake.Bronze + "." + t.Table, Kind: "ingest", Status: t.Status, RowsIn: t.RecordsRead,
				RowsOut: t.RowsWritten, Quarantined: t.RowsQuarantined, Duration: t.Duration}
			if t.Err != nil {
				st.Error = t.Err.Error()
				errs = append(errs, t.Err)
			}
			sum.Steps = append(sum.Steps, st)
		}
	}
	if !opts.SkipModels {
		models, err := transform.LoadModels(opts.ProjectDir)
		if err != nil {
			return nil, err
		}
		var sources []string
		for _, t := range olist.Tables() {
			sources = append(sources, lake.Bronze+"."+t.Name)
		}
		g, err := transform.NewGraph(models, sources)
		if err != nil {
			return nil, err
		}
		eopts := opts.Engine
		if eopts.Conns == 0 {
			eopts.Conns = 2
		}
		eng, err := engine.Open(ctx, lk, eopts)
		if err != nil {
			return nil, err
		}
		res, err := transform.Run(ctx, lk, eng, g, transform.Options{
			RunID: opts.RunID, FullRefresh: opts.Force, Logger: opts.Logger, Select: opts.ModelSelect,
		})
		eng.Close()
		if err != nil {
			return nil, err
		}
		for _, m := range res.Models {
			st := Step{Name: m.Model, Kind: "model", Status: m.Status, RowsIn: m.RowsIn, RowsOut: m.RowsOut, Duration: m.Duration}
			if m.Err != nil {
				st.Error = m.Err.Error()
				errs = append(errs, m.Err)
			}
			sum.Steps = append(sum.Steps, st)
		}
	}
	sum.Duration = time.Since(sum.Started)
	sum.err = errors.Join(errs...)
	sum.Status = "succeeded"
	if sum.err != nil {
		sum.Status = "failed"
	}
	if err := saveRun(lk, sum); err != nil {
		return sum, err
	}
	return sum, ctx.Err()
}

// saveRun writes the run record to _nexus/runs/<run_id>.json.
func saveRun(lk *lake.Lake, s *Summary) error {
	dir := lk.MetaDir("runs")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("run history: %w", err)
	}
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	tmp := filepath.Join(dir, "."+s.RunID+".tmp")
	if err := os.WriteFile(tmp, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("run history: %w", err)
	}
	return os.Rename(tmp, filepath.Join(dir, s.RunID+".json"))
}
