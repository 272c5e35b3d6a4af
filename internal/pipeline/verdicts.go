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

// LatestVerdicts merges a run history (newest first, as History returns it).
func LatestVerdicts(hist []RunRecord) Verdicts {
	owner := map[string]int{} // table → index in hist of its newest checking run
	for i, h := range hist {
		for _, r := range h.Results {
			if _, ok := owner[r.Table]; !ok {
				owner[r.Table] = i
			}
		}
	}
	var v Verdicts
	seen := map[string]bool{}
	for i := len(hist) - 1; i >= 0; i-- {
		for _, r := range hist[i].Results {
			if owner[r.Table] != i {
				continue
			}
			if !seen[r.Table] {
				seen[r.Table] = true
				v.Tables = append(v.Tables, TableSource{Table: r.Table, RunID: hist[i].RunID, Kind: hist[i].Kind, Started: hist[i].Started})
			}
			v.Results = append(v.Results, r)
		}
	}
	return v
}
