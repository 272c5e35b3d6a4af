package transform

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
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

// QuarantineTable is the name of the quarantine table of a model's rows.
func QuarantineTable(layer, table string) string { return layer + "_" + table }

// gateResult is what a quality gate decided for one model build.
type gateResult struct {
	checks      []quality.Result
	quarantined int64
	passing     string // SELECT of the rows to publish
	checked     string // the annotated rows
	cleanup     func()
}

// errGateFailed marks a model stopped by a table-level error check.
var errGateFailed = errors.New("quality gate failed")

// stageName is a table in the _stage schema for one model's build.
func stageName(m *Model, suffix string) string {
	return `"_stage"."` + m.Layer + "__" + m.Table + suffix + `"`
}

// gate materializes the model once, runs its suite in one pass, writes the
// rows that fail a quarantine rule to quarantine.<layer>_<table> (with every
// column, the failed check ids and reasons) and returns the query of the rows
// to publish. A failed table-level check of severity error stops the model.
func (x *executor) gate(ctx context.Context, m *Model, s *quality.Suite) (*gateResult, error) {
	db := x.eng.DB()
	stage, checked, pass := stageName(m, ""), stageName(m, "__checked"), stageName(m, "__pass")
	cleanup := func() {
		_, _ = db.ExecContext(context.Background(), "DROP VIEW IF EXISTS "+pass+"; DROP TABLE IF EXISTS "+checked+"; DROP TABLE IF EXISTS "+stage)
	}
	if err := x.eng.EnsureSchema(ctx, "_stage"); err != nil {
		return nil, err
	}
	if _, err := db.ExecContext(ctx, "CREATE OR REPLACE TABLE "+stage+" AS "+m.Compiled()); err != nil {
		cleanup()
		return nil, x.modelError(m, err)
	}
	annotate, err := quality.AnnotateSQL(s, stage)
	if err != nil {
		cleanup()
		return nil, fmt.Errorf("model %s: %w", m.Name, err)
	}
	if _, err := db.ExecContext(ctx, "CREATE OR REPLACE TABLE "+checked+" AS "+annotate); err != nil {
		cleanup()
		return nil, fmt.Errorf("model %s: quality suite %s: %w", m.Name, s.File, err)
	}
	failsQuarantine := quality.Quarantined
	if _, err := db.ExecContext(ctx, "CREATE OR REPLACE VIEW "+pass+" AS "+quality.PublishSQL(s, checked)); err != nil {
		cleanup()
		return nil, err
	}
	// Every row built, as published (flags, nulled measures) or quarantined:
	// what a reconcile with include_quarantined compares with its source.
	built := fmt.Sprintf("(SELECT * FROM %s UNION ALL BY NAME SELECT * EXCLUDE (%s) FROM %s WHERE %s)",
		pass, quality.Ident(quality.FailuresColumn), checked, failsQuarantine)
	results, err := quality.Evaluate(ctx, db, s, checked, pass, built, m.Key)
	if err != nil {
		cleanup()
		return nil, fmt.Errorf("model %s: %w", m.Name, err)
	}
	g := &gateResult{checks: results, passing: "SELECT * FROM " + pass, cleanup: cleanup}
	var failed []string
	for _, r := range results {
		if r.Blocking {
			detail := r.Observed
			if detail == "" {
				detail = fmt.Sprintf("%d of %d rows failed", r.RowsFailed, r.RowsChecked)
			}
			failed = append(failed, fmt.Sprintf("%s (%s)", r.CheckID, detail))
		}
	}
	if len(failed) > 0 {
		cleanup()
		g.cleanup = func() {}
		return g, fmt.Errorf("model %s: %w: %s", m.Name, errGateFailed, strings.Join(failed, "; "))
	}
	var total, quarantined int64
	if err := db.QueryRowContext(ctx, fmt.Sprintf("SELECT count(*), count(*) FILTER (WHERE %s) FROM %s", failsQuarantine, checked)).Scan(&total, &quarantined); err != nil {
		cleanup()
		return nil, err
	}
	g.quarantined = quarantined
	g.checked = checked
	return g, nil
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
	stmt := fmt.Sprintf("COPY (SELECT * EXCLUDE (%[1]s), %[1]s AS %[2]s, %[3]s AS %[4]s, %[5]s::TIMESTAMPTZ AS %[6]s FROM (%[7]s)) TO %[8]s (FORMAT parquet, COMPRESSION zstd)",
		quality.FailuresColumn, QColFailures, engine.Literal(x.opts.RunID), QColRunID,
		engine.Literal(time.Now().UTC().Format(time.RFC3339Nano)), QColQuarantinedAt,
		quality.QuarantineSQL(annotated), engine.Literal(file))
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
