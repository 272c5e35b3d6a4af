package quality

import (
	"fmt"
	"strings"
)

// Compiled is the SQL one check compiles to, as the gate runs it: the
// reference shows it (docs/quality_checks.md), and a test runs it.
type Compiled struct {
	Level Level
	// Row-level: Fail is the predicate that is TRUE when a row fails (its
	// where included), Reason the SQL expression of the failure's reason,
	// Join a join the predicate needs ("" none). Query is AnnotateSQL of
	// the check alone.
	Fail, Reason, Join string
	// Query: row-level, the annotation query of the check alone; table-level,
	// the query whose values the check judges (its aggregates, or the
	// columns a schema check compares with expect in Go). The gate fuses the
	// aggregates of a suite's table-level checks into one query.
	Query string
}

// Compile returns the SQL of check c of suite s. relation names the rows the
// check judges: for a row-level check every row the model built, for a
// table-level one the rows to publish; built names every row the build
// produced (published and quarantined), which reconcile's
// include_quarantined reads.
func Compile(s *Suite, c Check, relation, built string) (Compiled, error) {
	k, ok := lookupKind(c.Kind)
	if !ok {
		return Compiled{}, fmt.Errorf("%s: check %s: unknown kind %q", c.Pos(), c.ID, c.Kind)
	}
	if k.compile != nil {
		r := k.compile(s, c, checkedRel{relation: relation}, 1)
		one := &Suite{Table: s.Table, File: s.File, Line: s.Line, Checks: []Check{c}, columns: s.columns}
		q, err := AnnotateSQL(one, relation)
		if err != nil {
			return Compiled{}, err
		}
		return Compiled{Level: LevelRow, Fail: r.failWhere(c), Reason: r.reason, Join: r.join, Query: q}, nil
	}
	if k.agg != nil {
		q, _, _ := fusedQuery([]aggPlan{k.agg(c, tableInput{relation: relation, built: built})}, tableInput{})
		return Compiled{Level: LevelTable, Query: q}, nil
	}
	if k.query != nil {
		return Compiled{Level: LevelTable, Query: k.query(c, tableInput{relation: relation, built: built})}, nil
	}
	return Compiled{}, fmt.Errorf("check %s: kind %s has no SQL to show", c.ID, c.Kind)
}

// ExampleSuite parses the example of a kind as the suite of its table.
func ExampleSuite(e KindExample) (*Suite, error) {
	var b strings.Builder
	b.WriteString("table: " + e.Table + "\nchecks:\n")
	for _, l := range strings.Split(e.YAML, "\n") {
		b.WriteString("  " + l + "\n")
	}
	return ParseSuite("example of "+e.Table, []byte(b.String()))
}
