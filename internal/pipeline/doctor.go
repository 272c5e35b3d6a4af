package pipeline

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/keystone/nexus/internal/engine"
	"github.com/keystone/nexus/internal/ingest"
	"github.com/keystone/nexus/internal/lake"
	"github.com/keystone/nexus/internal/olist"
	"github.com/keystone/nexus/internal/transform"
)

// RepairAction says how doctor --repair fixed (or could not fix) a table.
type RepairAction string

// Repair actions.
const (
	RepairRebuilt    RepairAction = "rebuilt from upstream"
	RepairReingested RepairAction = "re-ingested from source"
	RepairRolledBack RepairAction = "rolled back"
	RepairFailed     RepairAction = "not repaired"
)

// Repair is what doctor --repair did about one damaged table.
type Repair struct {
	Table  string       `json:"table"`
	Action RepairAction `json:"action"`
	Detail string       `json:"detail"`
}

// DoctorOptions configure a repair.
type DoctorOptions struct {
	RunID      string
	SourceDir  string // where Bronze tables can be re-ingested from; empty = roll back only
	OnDrift    string
	ProjectDir string
	Engine     engine.Options
	Logger     *slog.Logger
}

// RepairLake fixes every damaged table of the writer's snapshot: a Silver or
// Gold table (and its quarantine) is rebuilt from its inputs; a Bronze table
// is re-ingested when its source file is at hand, else rolled back to its
// newest intact version in a kept snapshot; a model that cannot be rebuilt is
// rolled back too. Everything is committed as one snapshot (kind repair).
func RepairLake(ctx context.Context, lk *lake.Lake, opts DoctorOptions) ([]Repair, *lake.Snapshot, error) {
	if opts.RunID == "" {
		opts.RunID = lake.NewRunID(time.Now())
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	damaged := map[string]bool{}
	for _, f := range lk.Check() {
		damaged[f.Table] = true
	}
	if len(damaged) == 0 {
		return nil, lk.Snapshot(), nil
	}
	g, suites, err := LoadGated(opts.ProjectDir)
	if err != nil {
		return nil, nil, err
	}
	var out []Repair
	done := map[string]bool{}
	rolled := map[string]lake.TableRef{}

	// Bronze first: models are rebuilt from it.
	var bronze []string
	for _, t := range olist.Tables() {
		if damaged[lake.Bronze+"."+t.Name] || damaged[lake.Quarantine+".bronze_"+t.Name] {
			bronze = append(bronze, t.Name)
		}
	}
	for _, t := range bronze {
		names := []string{lake.Bronze + "." + t, lake.Quarantine + ".bronze_" + t}
		if src := sourceFile(opts.SourceDir, t); src != "" {
			res, err := ingest.Run(ctx, lk, ingest.Options{SourceDir: opts.SourceDir, RunID: opts.RunID, OnDrift: opts.OnDrift,
				Tables: []string{t}, Logger: opts.Logger})
			if err == nil && len(res.Failed()) == 0 {
				for _, n := range names {
					if damaged[n] {
						out = append(out, Repair{Table: n, Action: RepairReingested, Detail: src})
						done[n] = true
					}
				}
				continue
			}
			if err == nil {
				err = res.Failed()[0].Err
			}
			opts.Logger.Warn("re-ingest failed, rolling back instead", "table", t, "err", err)
		}
		for _, n := range names {
			if damaged[n] {
				out = append(out, rollbackTable(lk, n, rolled))
				done[n] = true
			}
		}
	}

	// Models: the damaged ones and those whose quarantine is damaged.
	var models []string
	for _, name := range g.Order {
		m := g.Models[name]
		q := lake.Quarantine + "." + transform.QuarantineTable(m.Layer, m.Table)
		if damaged[name] || damaged[q] {
			models = append(models, name)
		}
	}
	if len(models) > 0 {
		eopts := opts.Engine
		if eopts.Conns == 0 {
			eopts.Conns = 2
		}
		eng, err := engine.Open(ctx, lk, eopts)
		if err != nil {
			return nil, nil, err
		}
		res, err := transform.Run(ctx, lk, eng, g, transform.Options{RunID: opts.RunID, Select: models, Suites: suites, Logger: opts.Logger})
		eng.Close()
		if err != nil {
			return nil, nil, err
		}
		for _, r := range res.Models {
			m := g.Models[r.Model]
			names := []string{r.Model, lake.Quarantine + "." + transform.QuarantineTable(m.Layer, m.Table)}
			for _, n := range names {
				if !damaged[n] {
					continue
				}
				if r.Err == nil && lk.Intact(splitName(n)) != nil {
					out = append(out, Repair{Table: n, Action: RepairRebuilt, Detail: fmt.Sprintf("version %d", r.Version)})
				} else {
					rep := rollbackTable(lk, n, rolled)
					if r.Err != nil {
						rep.Detail += " (rebuild failed: " + firstLine(r.Err.Error()) + ")"
					}
					out = append(out, rep)
				}
				done[n] = true
			}
		}
	}
	for n := range damaged {
		if !done[n] {
			out = append(out, rollbackTable(lk, n, rolled))
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Table < out[j].Table })

	snap := lk.Snapshot()
	if len(rolled) > 0 {
		// Rolled-back tables point at older versions; rebuilt ones are pending.
		// Both go into one commit.
		snap, err = lk.Replace(rolled, lake.CommitInfo{Kind: lake.CommitRepair, RunID: opts.RunID, Note: "doctor --repair: roll back damaged tables"})
		if err != nil {
			return out, nil, err
		}
	} else if len(lk.Pending()) > 0 {
		snap, err = Commit(lk, lake.CommitInfo{Kind: lake.CommitRepair, RunID: opts.RunID, Note: "doctor --repair"}, opts.Logger)
		if err != nil {
			return out, nil, err
		}
	}
	return out, snap, nil
}

// rollbackTable finds the newest intact version of a table in the kept
// snapshots other than the current one and records it in rolled.
func rollbackTable(lk *lake.Lake, name string, rolled map[string]lake.TableRef) Repair {
	cur := lk.Snapshot()
	ids, err := lk.SnapshotIDs()
	if err != nil {
		return Repair{Table: name, Action: RepairFailed, Detail: err.Error()}
	}
	var curRef string
	if cur != nil {
		curRef = cur.Tables[name].Manifest
	}
	for i := len(ids) - 1; i >= 0; i-- {
		s, err := lk.ReadSnapshot(ids[i])
		if err != nil {
			continue
		}
		ref, ok := s.Tables[name]
		if !ok || ref.Manifest == curRef {
			continue
		}
		old, err := lk.At(s.ID)
		if err != nil {
			continue
		}
		if old.Intact(splitName(name)) == nil {
			continue
		}
		rolled[name] = ref
		return Repair{Table: name, Action: RepairRolledBack,
			Detail: fmt.Sprintf("to version %d of snapshot %d (%s)", ref.Version, s.ID, s.CreatedAt.Format(time.DateTime))}
	}
	return Repair{Table: name, Action: RepairFailed,
		Detail: "no intact older version is kept; re-run `nexus run --source DIR` (Bronze) or fix its inputs"}
}

func splitName(n string) (string, string) {
	l, t, _ := strings.Cut(n, ".")
	return l, t
}

func firstLine(s string) string {
	first, _, _ := strings.Cut(s, "\n")
	return first
}

// sourceFile returns the source file of a Bronze table in dir, or "".
func sourceFile(dir, table string) string {
	if dir == "" {
		return ""
	}
	t, err := olist.Lookup(table)
	if err != nil {
		return ""
	}
	for _, name := range []string{t.File, t.File + ".gz"} {
		p := filepath.Join(dir, name)
		if info, err := os.Stat(p); err == nil && info.Mode().IsRegular() {
			return p
		}
	}
	return ""
}
