package pipeline

import (
	"context"
	"errors"
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
	RepairRefreshed  RepairAction = "rebuilt, input repaired"
	RepairFailed     RepairAction = "not repaired"
)

// Repair is what doctor --repair did about one damaged table.
type Repair struct {
	Table  string       `json:"table"`
	Action RepairAction `json:"action"`
	Detail string       `json:"detail"`
}

// ErrRepairIncomplete: some table could not be repaired, so nothing of the
// repair was committed.
var ErrRepairIncomplete = errors.New("repair incomplete: nothing committed")

// DoctorOptions configure a repair.
type DoctorOptions struct {
	RunID      string
	SourceDir  string // where Bronze tables can be re-ingested from; empty = roll back only
	OnDrift    string
	ProjectDir string
	Engine     engine.Options
	Logger     *slog.Logger
}

// RepairLake fixes every damaged table of the writer's snapshot and keeps
// the lake consistent, in one commit (kind repair):
//   - a damaged Bronze table (or its quarantine) is re-ingested when its
//     source file is at hand, else the pair is rolled back together to the
//     newest snapshot where both are intact;
//   - then every model is brought up to date on what Bronze now holds: a
//     damaged one is rebuilt, and so is everything downstream of a Bronze
//     table or model that changed; a model that cannot be rebuilt is rolled
//     back with its quarantine.
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
	report := func(names []string, action RepairAction, detail string) {
		for _, n := range names {
			if damaged[n] && !done[n] {
				out = append(out, Repair{Table: n, Action: action, Detail: detail})
				done[n] = true
			}
		}
	}

	// Bronze first: the models are rebuilt from it.
	for _, t := range olist.Tables() {
		pair := []string{lake.Bronze + "." + t.Name, lake.Quarantine + ".bronze_" + t.Name}
		if !damaged[pair[0]] && !damaged[pair[1]] {
			continue
		}
		src := sourceFile(opts.SourceDir, t.Name)
		if src != "" && !sameSource(lk, pair[0], src) {
			// Re-ingesting another file would swap the data silently.
			opts.Logger.Warn("source file differs from the one ingested; rolling back instead", "table", t.Name, "file", src)
			src = ""
		}
		if src != "" {
			res, err := ingest.Run(ctx, lk, ingest.Options{SourceDir: opts.SourceDir, RunID: opts.RunID, OnDrift: opts.OnDrift,
				Tables: []string{t.Name}, Force: true, Logger: opts.Logger})
			if err == nil && len(res.Failed()) == 0 {
				report(pair, RepairReingested, src)
				continue
			}
			if err == nil {
				err = res.Failed()[0].Err
			}
			opts.Logger.Warn("re-ingest failed, rolling back instead", "table", t.Name, "err", err)
		}
		action, detail := rollbackGroup(ctx, lk, pair)
		report(pair, action, detail)
	}

	// Every model on what Bronze now holds: unchanged ones are skipped by
	// their fingerprints, damaged ones and those downstream of a change are
	// rebuilt.
	eopts := opts.Engine
	if eopts.Conns == 0 {
		eopts.Conns = 2
	}
	eng, err := engine.Open(ctx, lk, eopts)
	if err != nil {
		return nil, nil, err
	}
	res, err := transform.Run(ctx, lk, eng, g, transform.Options{RunID: opts.RunID, Suites: suites, Logger: opts.Logger})
	eng.Close()
	if err != nil {
		return nil, nil, err
	}
	for _, r := range res.Models {
		m := g.Models[r.Model]
		pair := []string{r.Model, lake.Quarantine + "." + transform.QuarantineTable(m.Layer, m.Table)}
		switch {
		case r.Err == nil && r.Status == transform.StatusBuilt:
			if damaged[pair[0]] || damaged[pair[1]] {
				report(pair, RepairRebuilt, fmt.Sprintf("version %d", r.Version))
			} else {
				out = append(out, Repair{Table: r.Model, Action: RepairRefreshed, Detail: fmt.Sprintf("version %d: an input was repaired", r.Version)})
			}
		case r.Err != nil && (damaged[pair[0]] || damaged[pair[1]]):
			action, detail := rollbackGroup(ctx, lk, pair)
			report(pair, action, detail+" (rebuild failed: "+firstLine(r.Err.Error())+")")
		case r.Err != nil:
			out = append(out, Repair{Table: r.Model, Action: RepairFailed,
				Detail: "not rebuilt after its inputs were repaired: " + firstLine(r.Err.Error())})
		}
	}
	for n := range damaged {
		if !done[n] {
			action, detail := rollbackGroup(ctx, lk, []string{n})
			report([]string{n}, action, detail)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Table < out[j].Table })
	for _, r := range out {
		if r.Action == RepairFailed {
			// A partial repair would publish tables that disagree (facts
			// without their dimension rows): commit nothing, say what failed.
			return out, nil, ErrRepairIncomplete
		}
	}
	snap, err := Commit(ctx, lk, lake.CommitInfo{Kind: lake.CommitRepair, RunID: opts.RunID, Note: "doctor --repair"}, opts.Logger)
	if err != nil {
		return out, nil, err
	}
	return out, snap, nil
}

// rollbackGroup makes the newest kept snapshot in which every table of the
// group is intact (and one of them differs from now) the source of their
// versions, in the writer's transaction: a table and its quarantine move
// together.
func rollbackGroup(ctx context.Context, lk *lake.Lake, names []string) (RepairAction, string) {
	cur := lk.Snapshot()
	ids, err := lk.SnapshotIDs()
	if err != nil {
		return RepairFailed, err.Error()
	}
	// A version built from the same inputs holds the same rows: prefer it to a
	// merely newer one, which may hold other data (an earlier source).
	want := ""
	if m, err := lk.Manifest(splitName(names[0])); err == nil {
		want = m.Fingerprint
	}
	if want != "" {
		if action, detail, ok := rollbackTo(ctx, lk, cur, ids, names, want); ok {
			return action, detail + ", same inputs"
		}
	}
	if action, detail, ok := rollbackTo(ctx, lk, cur, ids, names, ""); ok {
		return action, detail + ", other inputs: what is built on it is rebuilt"
	}
	return RepairFailed, "no intact older version is kept; re-run `nexus run --source DIR` (Bronze) or fix its inputs"
}

// rollbackTo adopts the group's versions from the newest kept snapshot in
// which they are all intact (and, when fingerprint is set, the first table's
// version has that fingerprint).
func rollbackTo(ctx context.Context, lk *lake.Lake, cur *lake.Snapshot, ids []int64, names []string, fingerprint string) (RepairAction, string, bool) {
	for i := len(ids) - 1; i >= 0; i-- {
		s, err := lk.ReadSnapshot(ids[i])
		if err != nil {
			continue
		}
		old, err := lk.At(ctx, s.ID)
		if err != nil {
			continue
		}
		differs, ok := false, true
		for j, n := range names {
			ref, in := s.Tables[n]
			m := old.Intact(splitName(n))
			if !in || m == nil || (j == 0 && fingerprint != "" && m.Fingerprint != fingerprint) {
				ok = false
				break
			}
			if cur == nil || cur.Tables[n].Manifest != ref.Manifest {
				differs = true
			}
		}
		if !ok || !differs {
			continue
		}
		for _, n := range names {
			if err := lk.Adopt(n, s.Tables[n]); err != nil {
				return RepairFailed, err.Error(), true
			}
		}
		return RepairRolledBack, fmt.Sprintf("to version %d of snapshot %d (%s)", s.Tables[names[0]].Version, s.ID, s.CreatedAt.Format(time.DateTime)), true
	}
	return "", "", false
}

// sameSource reports whether src is the file a Bronze table's version was
// ingested from (same content hash); true when that cannot be told (the
// manifest is unreadable).
func sameSource(lk *lake.Lake, bronze, src string) bool {
	m, err := lk.Manifest(splitName(bronze))
	if err != nil || len(m.Inputs) == 0 || m.Inputs[0].Hash == "" {
		return true
	}
	in, err := lake.FingerprintFile(src)
	return err == nil && in.Hash == m.Inputs[0].Hash
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
