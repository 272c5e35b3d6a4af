package server

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/keystone/nexus/internal/analytics"
	"github.com/keystone/nexus/internal/lake"
	"github.com/keystone/nexus/internal/pipeline"
	"github.com/keystone/nexus/internal/quality"
)

// Bundle is everything the dashboard page shows for one filter: the
// analyses of the registry that are part of the dashboard, keyed by name.
// The live page asks /api/NAME for each; the static export embeds it, and
// /api/dashboard answers it in one request.
type Bundle struct {
	Filter   analytics.Filter   `json:"filter"`
	Analyses *analytics.Results `json:"analyses"`
}

// Collect runs every analysis of the dashboard for f. The queries run
// concurrently; how many overlap is bounded by the pool of db.
func Collect(ctx context.Context, db *sql.DB, f analytics.Filter) (*Bundle, error) {
	r, err := analytics.RunAll(ctx, db, f, analytics.InDashboard)
	if err != nil {
		return nil, err
	}
	return &Bundle{Filter: f, Analyses: r}, nil
}

// FilterLists are the values the filters accept.
type FilterLists struct {
	States     []string  `json:"states"`
	Categories []string  `json:"categories"`
	DataFrom   time.Time `json:"data_from"` // first and last purchase date in the lake
	DataTo     time.Time `json:"data_to"`
}

type filterLists = FilterLists

// LoadFilters lists the states and categories of the lake and its date range.
func LoadFilters(ctx context.Context, db *sql.DB) (*FilterLists, error) {
	var fl FilterLists
	var err error
	if fl.States, err = analytics.States(ctx, db); err != nil {
		return nil, fmt.Errorf("states: %w", err)
	}
	if fl.Categories, err = analytics.Categories(ctx, db); err != nil {
		return nil, fmt.Errorf("categories: %w", err)
	}
	k, err := analytics.Kpis(ctx, db, analytics.Filter{})
	if err != nil {
		return nil, fmt.Errorf("kpis: %w", err)
	}
	fl.DataFrom, fl.DataTo = k.DataFrom, k.DataTo
	if fl.States == nil {
		fl.States = []string{}
	}
	if fl.Categories == nil {
		fl.Categories = []string{}
	}
	return &fl, nil
}

// Freshness says how current the lake is: its last pipeline run and the
// verdicts of the latest quality checks.
type Freshness struct {
	LastRun     *RunInfo  `json:"last_run"`         // latest `nexus run`; nil when none
	Checks      *RunInfo  `json:"checks,omitempty"` // latest verdict of every check (run_id: the newest run that gave some)
	GoldUpdated time.Time `json:"gold_updated"`     // newest publish of a gold table
	GoldTables  int       `json:"gold_tables"`
}

// RunInfo is one run of the history with its check verdicts.
type RunInfo struct {
	RunID   string         `json:"run_id"`
	Kind    string         `json:"kind"` // run or check
	Started time.Time      `json:"started"`
	Status  string         `json:"status,omitempty"` // the run's; none for Freshness.Checks, made of several runs
	Error   string         `json:"error,omitempty"`  // why a failed run failed
	Steps   map[string]int `json:"steps,omitempty"`  // steps by status (built, unchanged, ...)
	Pass    int            `json:"pass"`
	Warn    int            `json:"warn"`
	Fail    int            `json:"fail"`
	Issues  []CheckIssue   `json:"issues"` // failed and warned checks, failures first
}

// CheckIssue is a check that did not pass.
type CheckIssue struct {
	Table      string          `json:"table"`
	Check      string          `json:"check"`
	Verdict    quality.Verdict `json:"verdict"`
	RowsFailed int64           `json:"rows_failed"`
	Observed   string          `json:"observed,omitempty"`
}

// LoadFreshness reads the run history and the gold manifests.
func LoadFreshness(lk *lake.Lake) (*Freshness, error) {
	fr := &Freshness{}
	hist, err := pipeline.VerdictHistory(lk, 0)
	if err != nil {
		return nil, err
	}
	for i := range hist {
		h := &hist[i]
		if h.Kind == pipeline.RecordKindRun {
			fr.LastRun = runInfo(h)
			break
		}
	}
	// Each table's verdicts from the newest run that checked it.
	if v := pipeline.LatestVerdicts(hist); v.Found() {
		n := v.Newest()
		fr.Checks = runInfo(&pipeline.RunRecord{RunID: n.RunID, Kind: n.Kind, Started: n.Started, Results: v.Results})
	}
	ms, err := lk.Manifests()
	if err != nil {
		return nil, err
	}
	for _, m := range ms {
		if m.Layer != lake.Gold {
			continue
		}
		fr.GoldTables++
		if m.CreatedAt.After(fr.GoldUpdated) {
			fr.GoldUpdated = m.CreatedAt
		}
	}
	return fr, nil
}

func runInfo(h *pipeline.RunRecord) *RunInfo {
	ri := &RunInfo{RunID: h.RunID, Kind: h.Kind, Started: h.Started, Status: string(h.Status), Error: h.Error, Issues: []CheckIssue{}}
	for _, st := range h.Steps {
		if ri.Steps == nil {
			ri.Steps = map[string]int{}
		}
		ri.Steps[string(st.Status)]++
	}
	t := quality.TallyOf(h.Results)
	ri.Pass, ri.Warn, ri.Fail = t.Pass, t.Warn, t.Fail
	var warns []CheckIssue
	for _, r := range h.Results {
		switch r.Verdict {
		case quality.VerdictFail:
			ri.Issues = append(ri.Issues, CheckIssue{r.Table, r.CheckID, r.Verdict, r.RowsFailed, r.Observed})
		case quality.VerdictWarn:
			warns = append(warns, CheckIssue{r.Table, r.CheckID, r.Verdict, r.RowsFailed, r.Observed})
		}
	}
	ri.Issues = append(ri.Issues, warns...)
	return ri
}
