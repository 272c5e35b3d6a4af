package pipeline

import (
	"time"

	"github.com/keystone/nexus/internal/quality"
)

// Verdicts are the current check results of the lake: for every table, the
// results of the newest run (pipeline run or `nexus check`) that checked it.
// A run that checked only some tables (`check --layer gold`, a run that
// rebuilt only what changed) then updates those tables' verdicts without
// hiding the others'.
type Verdicts struct {
	Results []quality.Result // grouped by table, tables in the order of their runs, oldest first
	Tables  []TableSource
}

// TableSource says which run gave a table its current verdicts.
type TableSource struct {
	Table   string
	RunID   string
	Kind    string // run or check
	Started time.Time
}

// Found reports whether any table has verdicts.
func (v Verdicts) Found() bool { return len(v.Results) > 0 }

// Newest is the most recent run that contributed verdicts.
func (v Verdicts) Newest() TableSource {
	var n TableSource
	for i, t := range v.Tables {
		if i == 0 || t.Started.After(n.Started) || (t.Started.Equal(n.Started) && t.RunID > n.RunID) {
			n = t
		}
	}
	return n
}

// The kinds of run record: a pipeline run's (a record of an older version
// without a kind is one) and a `nexus check`'s.
const (
	RecordKindRun   = "run"
	RecordKindCheck = "check"
)

// LatestVerdicts merges a run history (newest first, as History returns it).
func LatestVerdicts(hist []RunRecord) Verdicts {
	owner := map[string]int{} // table → index in hist of its newest checking run
	built := map[string]int{} // table → index of the newest pipeline run that judged it
	for i, h := range hist {
		for _, r := range h.Results {
			if _, ok := owner[r.Table]; !ok {
				owner[r.Table] = i
			}
			if _, ok := built[r.Table]; !ok && h.Kind == RecordKindRun {
				built[r.Table] = i
			}
		}
	}
	var v Verdicts
	for i := len(hist) - 1; i >= 0; i-- {
		var tables []string
		own := map[string][]quality.Result{}
		for _, r := range hist[i].Results {
			if owner[r.Table] != i {
				continue
			}
			if _, ok := own[r.Table]; !ok {
				tables = append(tables, r.Table)
			}
			own[r.Table] = append(own[r.Table], r)
		}
		for _, t := range tables {
			v.Tables = append(v.Tables, TableSource{Table: t, RunID: hist[i].RunID, Kind: hist[i].Kind, Started: hist[i].Started})
			v.Results = append(v.Results, own[t]...)
			// A check after the table's last run judged what is published;
			// that run's own verdicts on what it built (its row accounting;
			// none when its gate blocked) stand until the next run judges
			// the table, as they did before the check. (A build without
			// gates records no verdict at all: the earlier ones stand, as
			// for every check.)
			if b, ok := built[t]; ok && b != i && hist[i].Kind != RecordKindRun {
				for _, r := range hist[b].Results {
					if r.Table == t && r.Kind.BuildOnly() {
						v.Results = append(v.Results, r)
					}
				}
			}
		}
	}
	return v
}
