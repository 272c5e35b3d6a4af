package quality

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
)

// ErrGateFailed marks a table stopped by a blocking check.
var ErrGateFailed = errors.New("quality gate failed")

// SourceError is a failure of the gated rows' own query (a model's SQL), not
// of a check: the caller knows where that query comes from.
type SourceError struct{ Err error }

func (e *SourceError) Error() string { return e.Err.Error() }
func (e *SourceError) Unwrap() error { return e.Err }

// Gate is the one seam every quality gate goes through: a model build, `nexus
// check` and a quarantine replay all annotate rows with a suite (Annotate),
// judge them (Evaluate) and split them into rows to publish and rows to
// quarantine (Passing, QuarantineRows).
type Gate struct {
	db    *sql.DB
	suite *Suite
	// checked is the table Annotate materializes.
	checked string
	pass    string
	// Built and Quarantined count the annotated rows and those that leave.
	Built, Quarantined int64
	// statement is the last one Annotate ran.
	statement string
	// Few says the source is a few rows of a large table (an incremental
	// build's rebuilt keys): see checkedRel.few.
	Few    bool
	totals Totals
}

// NewGate prepares a gate for suite s whose working tables are named
// <schema>.<name>__checked and __pass (the schema must exist).
func NewGate(db *sql.DB, s *Suite, schema, name string) *Gate {
	base := Ident(schema) + "." + Ident(name+"__checked")
	return &Gate{db: db, suite: s, checked: base, pass: Ident(schema) + "." + Ident(name+"__pass")}
}

// Checked is the annotated table (the source's columns plus FailuresColumn).
func (g *Gate) Checked() string { return g.checked }

// Passing selects the rows to publish: no quarantine failure, with flags and
// nulled measures (PublishSQL).
func (g *Gate) Passing() string { return "SELECT * FROM " + g.pass }

// QuarantineRows selects the rows that leave the flow, with their reasons
// (QuarantineSQL).
func (g *Gate) QuarantineRows() string { return QuarantineSQL(g.checked) }

// Annotate runs the suite's row-level checks over source, a table name or a
// query (a model's SELECT), in the same pass that materializes its rows: the
// rows are computed once, checked once and stored once. A failing query is
// diagnosed: a *SourceError when source itself fails, else the check (id,
// FILE:LINE) whose SQL fails.
func (g *Gate) Annotate(ctx context.Context, source string) error {
	relation, with := source, ""
	if !isRelationName(source) {
		// A check that reads the relation twice (unique joins its grouped
		// keys) must not run the source twice.
		mat := ""
		if g.suite.readsTwice(g.Few) {
			mat = "MATERIALIZED "
		}
		relation, with = "__nexus_source", "WITH __nexus_source AS "+mat+"(\n"+source+"\n)\n"
	}
	q, err := annotateSQL(g.suite, checkedRel{relation: relation, few: g.Few})
	if err != nil {
		return err
	}
	g.statement = "CREATE OR REPLACE TABLE " + g.checked + " AS " + with + q
	if _, err := g.db.ExecContext(ctx, g.statement); err != nil {
		if ctx.Err() != nil {
			return err
		}
		if relation != source {
			// Error path only: is it the source's own query?
			// The source starts on the first line: DuckDB's LINE n is its line n.
			if _, serr := g.db.ExecContext(ctx, "SELECT count(*) FROM ("+source+"\n)"); serr != nil {
				return &SourceError{Err: serr}
			}
			relation = "(" + source + ")"
		}
		// Diagnosed with each check's whole-table SQL (not Few's lookup):
		// the same columns and tables, so the same failing check.
		return DiagnoseAnnotate(ctx, g.db, g.suite, relation, err)
	}
	if _, err := g.db.ExecContext(ctx, "CREATE OR REPLACE VIEW "+g.pass+" AS "+PublishSQL(g.suite, g.checked)); err != nil {
		return fmt.Errorf("quality of %s: %w", g.suite.Table, err)
	}
	err = g.db.QueryRowContext(ctx, fmt.Sprintf("SELECT count(*), count(*) FILTER (WHERE %s) FROM %s", Quarantined, g.checked)).
		Scan(&g.Built, &g.Quarantined)
	if err != nil {
		return fmt.Errorf("quality of %s: count: %w", g.suite.Table, err)
	}
	return nil
}

// EvalOptions say what the table-level checks judge.
type EvalOptions struct {
	// Relation is what table-level checks judge; "" = the passing rows.
	Relation string
	// Built is every row the build produced, for reconcile with
	// include_quarantined; "" = the passing rows plus the quarantined ones.
	Built string
	// Key are the columns shown with failing rows.
	Key []string
	// Prior counts, per row-level check id, the rows of the table the
	// annotated rows do not replace (an incremental build): each check's
	// counts, verdict and failed-row ratio are the table's as it will be
	// (its examples come from the annotated rows).
	Prior map[string]RowCounts
	// Replaced counts, per row-level check id, the rows of the table the
	// annotated rows replace (the old versions of the keys rebuilt), when
	// known: the detail then says how the table's failures moved.
	Replaced map[string]RowCounts
	// Parts, for an incremental build, says how Relation and Built are made
	// of the previous version's totals and a few rows: the table-level
	// checks' additive aggregates are taken from them, not read.
	Parts *Parts
}

// Evaluate judges the annotated rows with the whole suite. It returns the
// results and, when a check blocks, an error wrapping ErrGateFailed that
// lists them.
func (g *Gate) Evaluate(ctx context.Context, o EvalOptions) ([]Result, error) {
	relation := o.Relation
	if relation == "" {
		relation = g.pass
	}
	built := o.Built
	if built == "" {
		built = fmt.Sprintf("(SELECT * FROM %s UNION ALL BY NAME SELECT * EXCLUDE (%s) FROM %s WHERE %s)",
			g.pass, Ident(FailuresColumn), g.checked, Quarantined)
	}
	g.totals = Totals{}
	results, err := evaluate(ctx, g.db, g.suite, g.checked, relation, built, o.Key, otherRows{o.Prior, o.Replaced}, o.Parts, g.totals)
	if err != nil {
		return nil, err
	}
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
		return results, fmt.Errorf("%w: %s", ErrGateFailed, strings.Join(failed, "; "))
	}
	return results, nil
}

// Totals are the exact totals of the table-level checks' additive
// aggregates over the relations the last Evaluate judged, to keep with the
// version published (EvalOptions.Parts of the next incremental build). Nil
// when there are none, or no gate.
func (g *Gate) Totals() Totals {
	if g == nil || len(g.totals) == 0 {
		return nil
	}
	return g.totals
}

// Close drops the gate's working tables.
func (g *Gate) Close() {
	// Best effort: working tables of an in-memory session; a failed drop
	// only holds memory until the engine closes.
	_, _ = g.db.ExecContext(context.Background(), "DROP VIEW IF EXISTS "+g.pass+"; DROP TABLE IF EXISTS "+g.checked)
}

// readsTwice reports whether the annotation reads its relation more than
// once: a row-level check's compiled SQL reads the relation itself (unique
// joins the relation's duplicated keys). Asked of the compilers, so that a
// new kind needs no entry here.
func (s *Suite) readsTwice(few bool) bool {
	const probe = "__nexus_probe_relation"
	for _, c := range s.Checks {
		k, ok := lookupKind(c.Kind)
		if !ok || k.compile == nil {
			continue
		}
		if r := k.compile(s, c, checkedRel{relation: probe, few: few}, 1); strings.Contains(r.fail+r.reason+r.join+r.carry, probe) {
			return true
		}
	}
	return false
}

// isRelationName reports whether s names a table or view rather than being
// a query.
func isRelationName(s string) bool {
	t := strings.TrimSpace(s)
	return t != "" && !strings.ContainsAny(t, " \n\t(")
}
