package transform

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"time"

	"github.com/keystone/nexus/internal/engine"
	"github.com/keystone/nexus/internal/lake"
	"github.com/keystone/nexus/internal/quality"
)

// Quarantine columns added to the rows a gate takes out of the flow.
const (
	QColCheckIDs      = "check_id"
	QColReason        = "reason"
	QColFailures      = "failures"
	QColRunID         = "_quarantine_run_id"
	QColQuarantinedAt = "_quarantined_at"
)

// QuarantineColumnDoc documents a column the gate adds to quarantined rows
// ("" for any other name).
func QuarantineColumnDoc(name string) string {
	switch name {
	case QColCheckIDs:
		return "Ids of the quarantine rules the row failed, comma-separated."
	case QColReason:
		return "Why the row failed each of them, with the offending values."
	case QColFailures:
		return "Every row-level check the row failed: check id, reason and whether it quarantines."
	case QColRunID:
		return "Run that quarantined the row."
	case QColQuarantinedAt:
		return "When the row was quarantined, UTC."
	}
	return ""
}

// QuarantineTable is the name of the quarantine table of a model's rows.
func QuarantineTable(layer, table string) string { return layer + "_" + table }

// stageName names a model's working tables in the _stage schema.
func stageName(m *Model) string { return m.Layer + "__" + m.Table }

// annotate runs the model's SQL through its quality gate's row-level
// checks: the rows are computed, checked and stored in one pass (no
// separate materialization of the model). The caller judges them
// (evaluate), publishes g.Passing() and the quarantine, then closes the
// gate.
func (x *executor) annotate(ctx context.Context, m *Model, s *quality.Suite) (*quality.Gate, error) {
	if err := x.eng.EnsureSchema(ctx, "_stage"); err != nil {
		return nil, err
	}
	g := quality.NewGate(x.eng.DB(), s, "_stage", stageName(m))
	t0 := time.Now()
	if err := g.Annotate(ctx, m.Compiled()); err != nil {
		g.Close()
		var se *quality.SourceError
		if errors.As(err, &se) {
			return nil, x.modelError(m, se.Err)
		}
		return nil, fmt.Errorf("model %s: %w", m.Name, err)
	}
	x.opts.Logger.Debug("model phase", "model", m.Name, "phase", "annotate", "ms", time.Since(t0).Milliseconds())
	return g, nil
}

// evaluate judges the rows annotate made with the whole suite. A blocking
// check stops the model: the error wraps quality.ErrGateFailed and the
// results are still returned.
func (x *executor) evaluate(ctx context.Context, m *Model, g *quality.Gate) ([]quality.Result, error) {
	t0 := time.Now()
	results, err := g.Evaluate(ctx, quality.EvalOptions{Key: m.Key})
	x.opts.Logger.Debug("model phase", "model", m.Name, "phase", "evaluate", "ms", time.Since(t0).Milliseconds())
	if err != nil {
		return results, fmt.Errorf("model %s: %w", m.Name, err)
	}
	return results, nil
}

// writeQuarantine publishes quarantine.<layer>_<table> with the rows of this
// build that failed a quarantine rule: every original column plus the ids and
// reasons of all the rules each failed (a row is quarantined once).
func (x *executor) writeQuarantine(ctx context.Context, m *Model, checked, fingerprint string) error {
	st, err := x.lk.Stage(lake.Quarantine, QuarantineTable(m.Layer, m.Table), x.opts.RunID)
	if err != nil {
		return err
	}
	if err := x.copyQuarantine(ctx, checked, filepath.Join(st.Dir(), "part-0.parquet")); err != nil {
		st.Abort()
		return fmt.Errorf("model %s: write quarantine: %w", m.Name, err)
	}
	rows, schema, err := x.inspect(ctx, st.Dir(), false)
	if err != nil {
		st.Abort()
		return err
	}
	man, err := st.Publish(lake.Manifest{Schema: schema, Fingerprint: fingerprint,
		Description: "Rows of " + m.Name + " that failed a quarantine rule, with the rules and reasons."}, rows)
	if err != nil {
		return err
	}
	return x.eng.Register(ctx, man)
}

// copyQuarantine writes the rows of an annotated relation that fail a
// quarantine rule, as quality.QuarantineSQL shapes them (every original
// column, check_id, reason), with the failures list, the run and the time.
func (x *executor) copyQuarantine(ctx context.Context, annotated, file string) error {
	stmt := fmt.Sprintf("COPY (SELECT * EXCLUDE (%[1]s), %[1]s AS %[2]s, %[3]s AS %[4]s, %[5]s::TIMESTAMPTZ AS %[6]s FROM (%[7]s)) TO %[8]s (%[9]s)",
		quality.FailuresColumn, QColFailures, engine.Literal(x.opts.RunID), QColRunID,
		engine.Literal(time.Now().UTC().Format(time.RFC3339Nano)), QColQuarantinedAt,
		quality.QuarantineSQL(annotated), engine.Literal(file), ParquetWrite)
	_, err := x.eng.DB().ExecContext(ctx, stmt)
	return err
}

// suiteFingerprint makes a rule change rebuild the table it gates.
func suiteFingerprint(s *quality.Suite) string {
	if s == nil {
		return ""
	}
	b, _ := json.Marshal(s.Checks)
	return lake.HashStrings(string(b))
}
