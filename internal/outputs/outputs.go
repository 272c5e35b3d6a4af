// Package outputs owns what a run leaves for people to read: the quality
// report, the charts, the static dashboard and the executive deck, refreshed
// at the end of a pipeline run (pipeline.Options.Finish).
package outputs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/keystone/nexus/internal/engine"
	"github.com/keystone/nexus/internal/lake"
	"github.com/keystone/nexus/internal/pipeline"
	"github.com/keystone/nexus/internal/report"
	"github.com/keystone/nexus/internal/server"
)

// Report directories under <lake>/_nexus/reports.
func reportDir(lk *lake.Lake, name string) string { return lk.MetaDir("reports", name) }

// Refresh is the last step of a run (use it as pipeline.Options.Finish): the
// validation report always (it shows this run); the charts, dashboard export
// and deck when something was rebuilt or they are missing. Every number in
// them is queried from the lake now.
func Refresh(ctx context.Context, lk *lake.Lake, opts pipeline.Options, sum *pipeline.Summary) pipeline.Step {
	from := len(sum.Reports)
	st := refresh(ctx, lk, opts, sum)
	// A lake on S3: the reports were rendered in the run's mirror, which
	// goes when the command ends; the bucket keeps them, and that is where
	// the summary says they are.
	if err := lk.PublishMeta(ctx, "reports"); err != nil {
		st.Status, st.Error = pipeline.StepFailed, strings.TrimPrefix(st.Error+"; "+err.Error(), "; ")
		return st
	}
	if lk.Location() != lk.Root {
		for i := from; i < len(sum.Reports); i++ {
			if rel, err := filepath.Rel(lk.Root, sum.Reports[i]); err == nil && !strings.HasPrefix(rel, "..") {
				sum.Reports[i] = lk.Location() + "/" + filepath.ToSlash(rel)
			}
		}
	}
	return st
}

func refresh(ctx context.Context, lk *lake.Lake, opts pipeline.Options, sum *pipeline.Summary) pipeline.Step {
	start := time.Now()
	st := pipeline.Step{Name: "reports", Kind: pipeline.StepReport, Status: pipeline.StepBuilt}
	done := func() pipeline.Step { st.Duration = time.Since(start); return st }
	// The validation report failing is reported, and the other reports are
	// still written.
	var qerr error
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	q, err := WriteQualityReport(lk, "", report.DefaultTrend)
	switch {
	case errors.Is(err, report.ErrNoCheckRuns):
		// Built without gates and never checked: nothing to validate yet.
		opts.Logger.Info("no validation report: no run has check results (built with --no-gates?)")
	case err != nil:
		qerr = fmt.Errorf("quality report: %w", err)
		st.Status, st.Error = pipeline.StepFailed, qerr.Error()
	default:
		sum.Reports = append(sum.Reports, q)
	}
	if _, err := lk.Manifest(lake.Gold, "fact_sales"); errors.Is(err, lake.ErrNoTable) {
		if qerr == nil {
			st.Status = pipeline.StepSkipped
		}
		return done() // nothing to chart until Gold is published
	} else if err != nil {
		st.Status, st.Error = pipeline.StepFailed, errors.Join(qerr, err).Error()
		return done()
	}
	deckHTML := filepath.Join(reportDir(lk, "deck"), "deck.html")
	if _, err := os.Stat(deckHTML); err == nil && sum.NothingToDo() && !opts.Force && qerr == nil {
		st.Status = pipeline.StepUnchanged
		sum.Reports = append(sum.Reports, deckHTML)
		// The deck's other forms, when there.
		for _, ext := range []string{".pptx", ".pdf"} {
			if p := strings.TrimSuffix(deckHTML, ".html") + ext; fileExists(p) {
				sum.Reports = append(sum.Reports, p)
			}
		}
		sum.Reports = append(sum.Reports, filepath.Join(reportDir(lk, "dashboard"), "dashboard.html"), reportDir(lk, "charts"))
		return done()
	}
	eng, err := engine.Open(ctx, lk, opts.Engine)
	if err != nil {
		st.Status, st.Error = pipeline.StepFailed, err.Error()
		return done()
	}
	defer eng.Close()
	charts, deck, err := report.WriteReports(ctx, eng.DB(), lk, reportDir(lk, "charts"), reportDir(lk, "deck"))
	if err != nil {
		st.Status, st.Error = pipeline.StepFailed, errors.Join(qerr, fmt.Errorf("charts and deck: %w", err)).Error()
		return done()
	}
	dash, err := server.WriteDashboard(ctx, eng.DB(), lk, reportDir(lk, "dashboard"))
	if err != nil {
		st.Status, st.Error = pipeline.StepFailed, errors.Join(qerr, fmt.Errorf("dashboard: %w", err)).Error()
		return done()
	}
	st.RowsOut = int64(len(charts)) + 2
	sum.Reports = append(sum.Reports, deck.HTML, deck.PPTX)
	if deck.PDF != "" {
		sum.Reports = append(sum.Reports, deck.PDF)
	} else if deck.PDFNote != "" {
		opts.Logger.Info("deck PDF not written", "why", deck.PDFNote)
	}
	sum.Reports = append(sum.Reports, dash, reportDir(lk, "charts"))
	return done()
}

// WriteQualityReport renders quality.html from the run history into dir
// (default <lake>/_nexus/reports), with a trend over the last runs that have
// check results.
func WriteQualityReport(lk *lake.Lake, dir string, runs int) (string, error) {
	if dir == "" {
		dir = lk.MetaDir("reports")
	}
	trend := runs
	if trend <= 0 {
		trend = report.DefaultTrend
	}
	// The runs of the trend, and the older ones a table's verdicts come
	// from (a later `check` looked at other tables only).
	hist, err := pipeline.VerdictHistory(lk, trend)
	if err != nil {
		return "", err
	}
	var qruns []report.QualityRun
	for _, h := range hist {
		if len(h.Results) == 0 {
			continue
		}
		qruns = append(qruns, report.QualityRun{RunID: h.RunID, Started: h.Started, Kind: h.Kind, Results: h.Results})
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("report directory: %w", err)
	}
	path := filepath.Join(dir, "quality.html")
	tmp := path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return "", err
	}
	if err := report.WriteQuality(f, report.QualityData{Generated: time.Now(), Lake: lk.Root, Runs: qruns, Trend: trend}); err != nil {
		f.Close()
		os.Remove(tmp)
		return "", err
	}
	if err := f.Close(); err != nil {
		return "", err
	}
	return path, os.Rename(tmp, path)
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
