package report

import (
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/keystone/nexus/internal/pipeline"
	"github.com/keystone/nexus/internal/quality"
)

//go:embed templates
var templates embed.FS

// QualityRun is one run's check results, for the report's trend.
type QualityRun struct {
	RunID   string
	Started time.Time
	Kind    string
	Results []quality.Result
}

// QualityData is the input of the quality report: the runs, newest first.
// Every table shows the verdicts of the newest run that checked it.
type QualityData struct {
	Generated time.Time
	Lake      string
	Runs      []QualityRun
	Trend     int // runs shown in the trend (default DefaultTrend)
}

// DefaultTrend is how many runs the trend shows unless told.
const DefaultTrend = 12

type reportCheck struct {
	quality.Result
	Trend []trendPoint // oldest first
}

type trendPoint struct {
	RunID  string
	Failed int64
	Height int // bar height in px
	Known  bool
}

type reportTable struct {
	Name   string
	Checks []reportCheck
	Fail   int
	Warn   int
	From   pipeline.TableSource // the run that gave the verdicts
	Older  bool                 // From is not the newest run of the report
}

// ErrNoCheckRuns: no run recorded check results yet (a lake built with
// --no-gates, and never checked): there is no validation report to write.
var ErrNoCheckRuns = errors.New("no run with check results yet")

// WriteQuality renders the one-page HTML validation report: per table, each
// check of the newest run that checked the table with its verdict, failed
// rows and failing examples, and the failed-row trend over the last runs.
func WriteQuality(w io.Writer, d QualityData) error {
	if len(d.Runs) == 0 {
		return fmt.Errorf("quality report: %w; run `nexus run` or `nexus check`", ErrNoCheckRuns)
	}
	hist := make([]pipeline.RunRecord, len(d.Runs))
	for i, r := range d.Runs {
		hist[i] = pipeline.RunRecord{RunID: r.RunID, Started: r.Started, Kind: r.Kind, Results: r.Results}
	}
	latest := pipeline.LatestVerdicts(hist)
	newest := latest.Newest()
	from := map[string]pipeline.TableSource{}
	for _, ts := range latest.Tables {
		from[ts.Table] = ts
	}
	byTable := map[string]*reportTable{}
	history := d.Runs
	trend := d.Trend
	if trend <= 0 {
		trend = DefaultTrend
	}
	if len(history) > trend {
		history = history[:trend]
	}
	for _, r := range latest.Results {
		t := byTable[r.Table]
		if t == nil {
			t = &reportTable{Name: r.Table, From: from[r.Table], Older: from[r.Table].RunID != newest.RunID}
			byTable[r.Table] = t
		}
		rc := reportCheck{Result: r}
		var max int64 = 1
		for i := len(history) - 1; i >= 0; i-- {
			p := trendPoint{RunID: history[i].RunID}
			for _, hr := range history[i].Results {
				if hr.Table == r.Table && hr.CheckID == r.CheckID {
					p.Failed, p.Known = hr.RowsFailed, true
				}
			}
			if p.Failed > max {
				max = p.Failed
			}
			rc.Trend = append(rc.Trend, p)
		}
		for i := range rc.Trend {
			if rc.Trend[i].Known {
				rc.Trend[i].Height = 2 + int(22*rc.Trend[i].Failed/max)
			}
		}
		switch r.Verdict {
		case quality.VerdictFail:
			t.Fail++
		case quality.VerdictWarn:
			t.Warn++
		}
		t.Checks = append(t.Checks, rc)
	}
	var tables []*reportTable
	for _, t := range byTable {
		sort.SliceStable(t.Checks, func(i, j int) bool { return verdictRank(t.Checks[i].Verdict) < verdictRank(t.Checks[j].Verdict) })
		tables = append(tables, t)
	}
	// Tables that need attention first: failures, then warnings, then by name.
	sort.Slice(tables, func(i, j int) bool {
		a, b := tables[i], tables[j]
		if (a.Fail > 0) != (b.Fail > 0) {
			return a.Fail > 0
		}
		if (a.Warn > 0) != (b.Warn > 0) {
			return a.Warn > 0
		}
		return a.Name < b.Name
	})
	var pass, fail, warn int
	for _, r := range latest.Results {
		switch r.Verdict {
		case quality.VerdictPass:
			pass++
		case quality.VerdictFail:
			fail++
		case quality.VerdictWarn:
			warn++
		}
	}
	tpl, err := template.New("quality.html").Funcs(template.FuncMap{
		"fmtTime": func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04 UTC") },
		"num":     FormatInt,
		"sub":     func(a, b int) int { return a - b },
		"ms":      func(d time.Duration) string { return fmt.Sprintf("%.0f ms", float64(d.Microseconds())/1000) },
		"keys": func(m map[string]string) string {
			var parts []string
			for k, v := range m {
				parts = append(parts, k+"="+v)
			}
			sort.Strings(parts)
			return strings.Join(parts, ", ")
		},
	}).ParseFS(templates, "templates/quality.html")
	if err != nil {
		return err
	}
	return tpl.Execute(w, map[string]any{
		"Generated": d.Generated, "Lake": d.Lake, "Run": newest, "Tables": tables, "Sources": len(runsOf(latest)),
		"Pass": pass, "Fail": fail, "Warn": warn, "Runs": len(history),
	})
}

// runsOf lists the distinct runs the verdicts come from.
func runsOf(v pipeline.Verdicts) []string {
	var out []string
	seen := map[string]bool{}
	for _, t := range v.Tables {
		if !seen[t.RunID] {
			seen[t.RunID] = true
			out = append(out, t.RunID)
		}
	}
	return out
}

func verdictRank(v quality.Verdict) int {
	switch v {
	case quality.VerdictFail:
		return 0
	case quality.VerdictWarn:
		return 1
	}
	return 2
}
