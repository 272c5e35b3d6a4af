package transform

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/keystone/nexus/internal/engine"
	"github.com/keystone/nexus/internal/lake"
	"github.com/keystone/nexus/internal/quality"
)

// ReplayResult says what a replay did.
type ReplayResult struct {
	Table    string // the model, e.g. silver.orders
	Replayed int64  // quarantined rows re-checked
	Moved    int64  // now pass: appended to the table
	Kept     int64  // still fail: stay in quarantine, with their current reasons
}

// Replay re-checks the rows in quarantine.<layer>_<table> against the
// model's current suite (after a rule or data fix). Rows that now pass are
// appended to the published table as a new version; the rest stay in a new
// quarantine version with their current reasons. Uniqueness and foreign keys
// are checked together with the published rows, so a replayed row can never
// duplicate one already there. Nothing is lost or duplicated:
// Replayed = Moved + Kept, checked before publishing.
func Replay(ctx context.Context, lk *lake.Lake, eng *engine.Engine, g *Graph, suites map[string]*quality.Suite, model, runID string) (ReplayResult, error) {
	res := ReplayResult{Table: model}
	m, ok := g.Models[model]
	if !ok {
		return res, fmt.Errorf("replay: no model %s (quarantines of models can be replayed; Bronze parse rejects are fixed in the source and re-ingested)", model)
	}
	s := suites[model]
	if s == nil {
		return res, fmt.Errorf("replay %s: the table has no quality suite", model)
	}
	qName := QuarantineTable(m.Layer, m.Table)
	qm, err := lk.Manifest(lake.Quarantine, qName)
	if errors.Is(err, lake.ErrNoTable) {
		return res, fmt.Errorf("replay %s: nothing to replay (table or quarantine not published)", model)
	}
	if err != nil {
		return res, err
	}
	pm, err := lk.Manifest(m.Layer, m.Table)
	if errors.Is(err, lake.ErrNoTable) {
		return res, fmt.Errorf("replay %s: nothing to replay (table or quarantine not published)", model)
	}
	if err != nil {
		return res, err
	}
	if qm.Rows == 0 {
		return res, nil
	}
	// The table is published before its quarantine; a replay interrupted in
	// between has moved this quarantine's passing rows already. Replaying it
	// again would append them twice.
	for _, in := range pm.Inputs {
		if in.Name == "replay:"+qm.Name() && in.Version == qm.Version {
			return res, fmt.Errorf("replay %s: a replay of quarantine version %d was interrupted after it published the table; run `nexus run` (or `nexus transform --select %s --full-refresh`) to rebuild the table and its quarantine from their inputs", model, qm.Version, model)
		}
	}
	db := eng.DB()
	qView := engine.Ident(lake.Quarantine) + "." + engine.Ident(qName)
	pView := engine.Ident(m.Layer) + "." + engine.Ident(m.Table)
	exclude := []string{QColCheckIDs, QColReason, QColFailures, QColRunID, QColQuarantinedAt}
	// The published rows keep their partition columns out (they are in the
	// paths) and the flags of their gate (the replayed rows get theirs from
	// the annotation below).
	partCols := pm.PartitionBy
	pExclude := append([]string(nil), partCols...)
	for _, c := range pm.Schema {
		if c.Name == quality.FlagsColumn {
			pExclude = append(pExclude, quality.Ident(quality.FlagsColumn))
		}
	}
	pSelect := "SELECT *, false AS _replayed FROM " + pView
	if len(pExclude) > 0 {
		pSelect = "SELECT * EXCLUDE (" + strings.Join(pExclude, ", ") + "), false AS _replayed FROM " + pView
	}
	union := `"_stage"."replay__` + qName + `"`
	defer db.ExecContext(context.Background(), "DROP TABLE IF EXISTS "+union)
	if err := eng.EnsureSchema(ctx, "_stage"); err != nil {
		return res, err
	}
	stmt := fmt.Sprintf("CREATE OR REPLACE TABLE %s AS %s UNION ALL BY NAME SELECT * EXCLUDE (%s), true AS _replayed FROM %s",
		union, pSelect, strings.Join(exclude, ", "), qView)
	if _, err := db.ExecContext(ctx, stmt); err != nil {
		return res, fmt.Errorf("replay %s: %w", model, err)
	}
	// The same gate as the build's, over the published and the quarantined
	// rows together (unique and the ratios see the whole table).
	gate := quality.NewGate(db, s, "_stage", "replay__"+qName)
	defer gate.Close()
	if err := gate.Annotate(ctx, union); err != nil {
		return res, fmt.Errorf("replay %s: %w", model, err)
	}
	checked := gate.Checked()
	fails := quality.Quarantined
	if err := db.QueryRowContext(ctx, fmt.Sprintf("SELECT count(*), count(*) FILTER (WHERE NOT (%s)), count(*) FILTER (WHERE %s) FROM %s WHERE _replayed",
		fails, fails, checked)).Scan(&res.Replayed, &res.Moved, &res.Kept); err != nil {
		return res, err
	}
	if res.Replayed != qm.Rows || res.Moved+res.Kept != res.Replayed {
		return res, fmt.Errorf("replay %s: row accounting broken: %d quarantined, %d replayed = %d moved + %d kept", model, qm.Rows, res.Replayed, res.Moved, res.Kept)
	}
	if res.Moved == 0 {
		return res, nil
	}

	// New table version: the published files, carried as they are (with
	// their deleted rows), plus the rows that now pass.
	x := &executor{lk: lk, eng: eng, g: g, opts: Options{RunID: runID}}
	st, err := lk.Stage(m.Layer, m.Table, runID)
	if err != nil {
		return res, err
	}
	st.Carry(pm.Files...)
	rows := map[string]int64{}
	passing := quality.PublishSQL(s, fmt.Sprintf("(SELECT * EXCLUDE (_replayed) FROM %s WHERE _replayed)", checked))
	newDir := filepath.Join(st.Dir(), "replay-"+runID)
	if err := os.MkdirAll(newDir, 0o755); err != nil { // COPY to one file does not create its directory
		st.Abort()
		return res, err
	}
	if _, err := x.write(ctx, m, newDir, passing); err != nil {
		st.Abort()
		return res, err
	}
	newRows, _, err := x.inspect(ctx, newDir, len(partCols) > 0)
	if err != nil {
		st.Abort()
		return res, err
	}
	var added int64
	for rel, n := range newRows {
		rows["replay-"+runID+"/"+rel] = n
		added += n
	}
	if added != res.Moved {
		st.Abort()
		return res, fmt.Errorf("replay %s: wrote %d rows, expected %d", model, added, res.Moved)
	}
	np := *pm
	np.CreatedAt = time.Time{} // this version's own time, set by Publish
	// Rows came back: the models downstream cannot follow this version
	// incrementally, and the table's next build must not continue it.
	np.Delta, np.Code = &lake.Delta{Full: true}, ""
	// The build's check totals (row counts and aggregates) count the rows
	// that came back as failed, and the replay judged them on another
	// suite: none (see checkTotals; the next build reads the table).
	np.Stats, np.Totals = nil, nil
	np.Inputs = append(append([]lake.Input(nil), pm.Inputs...), lake.Input{Name: "replay:" + qm.Name(), Version: qm.Version})
	newTable, err := st.Publish(np, rows)
	if err != nil {
		return res, err
	}
	if err := eng.Register(ctx, newTable); err != nil {
		return res, err
	}

	// New quarantine version: the rows that still fail, with their reasons now.
	qst, err := lk.Stage(lake.Quarantine, qName, runID)
	if err != nil {
		return res, err
	}
	kept := fmt.Sprintf("(SELECT * EXCLUDE (_replayed) FROM %s WHERE _replayed)", checked)
	if err := x.copyQuarantine(ctx, kept, filepath.Join(qst.Dir(), "part-0.parquet")); err != nil {
		qst.Abort()
		return res, err
	}
	qrows, schema, err := x.inspect(ctx, qst.Dir(), false)
	if err != nil {
		qst.Abort()
		return res, err
	}
	nq, err := qst.Publish(lake.Manifest{Schema: schema, Description: qm.Description}, qrows)
	if err != nil {
		return res, err
	}
	return res, eng.Register(ctx, nq)
}
