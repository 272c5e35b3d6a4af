package quality

import (
	"context"
	"strings"
	"testing"
)

// TestFusedTableChecks: the table-level checks of a suite that aggregate the
// same rows read them once, and judge as each check alone would.
func TestFusedTableChecks(t *testing.T) {
	db := openDB(t,
		"CREATE TABLE t AS SELECT i AS id, CAST(i AS DECIMAL(12,2)) AS amount, TIMESTAMPTZ '2018-01-01 00:00:00+00' + to_days(i) AS at FROM range(1, 11) r(i)",
		"CREATE TABLE other AS SELECT i AS id, CAST(i AS DECIMAL(12,2)) AS amount FROM range(1, 10) r(i)",
		// Every scan of the relation below takes one value of the sequence.
		"CREATE SEQUENCE scans",
	)
	s := suiteOf(t, `
  - id: rows
    kind: row_count
    min_rows: 1
  - id: rows_max
    kind: row_count
    max_rows: 5
  - id: fresh
    kind: freshness
    column: at
    max_age: 400 days
    reference: "TIMESTAMPTZ '2018-06-01 00:00:00+00'"
  - id: self
    kind: reconcile
    expr: count(*)
    to_expr: max(id)
  - id: other
    kind: reconcile
    expr: sum(amount)
    to: main.other
    to_expr: sum(amount)
    tolerance: 0.5
  - id: schema
    kind: schema
    expect: {id: BIGINT, amount: DECIMAL(12,2), at: TIMESTAMPTZ}
`)
	ctx := context.Background()
	relation := "(SELECT t.* FROM t CROSS JOIN (SELECT nextval('scans') AS n) WHERE n > 0)"
	fused, err := Evaluate(ctx, db, s, "", relation, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	var scans int64
	if err := db.QueryRow("SELECT currval('scans')").Scan(&scans); err != nil {
		t.Fatal(err)
	}
	// One scan for the aggregates; the schema check only describes it.
	if scans != 1 {
		t.Errorf("the relation was scanned %d times, want 1", scans)
	}
	for i, c := range s.Checks {
		k, _ := lookupKind(c.Kind)
		alone := Result{Verdict: VerdictPass}
		if err := k.eval(ctx, db, c, tableInput{relation: relation, built: relation}, &alone); err != nil {
			t.Fatalf("%s alone: %v", c.ID, err)
		}
		got := fused[i]
		if got.Verdict != alone.Verdict || got.Observed != alone.Observed || got.RowsChecked != alone.RowsChecked {
			t.Errorf("%s: fused %s %q %d, alone %s %q %d", c.ID, got.Verdict, got.Observed, got.RowsChecked, alone.Verdict, alone.Observed, alone.RowsChecked)
		}
	}
	want := map[string]Verdict{"rows": VerdictPass, "rows_max": VerdictFail, "fresh": VerdictPass, "self": VerdictPass, "other": VerdictFail}
	for _, r := range fused {
		if w, ok := want[r.CheckID]; ok && r.Verdict != w {
			t.Errorf("%s: %s (%s), want %s", r.CheckID, r.Verdict, r.Observed, w)
		}
	}

	// A bad expression is still pinned to its check.
	bad := suiteOf(t, `
  - id: rows
    kind: row_count
    min_rows: 1
  - id: bad_sum
    kind: reconcile
    expr: sum(no_such_column)
    to_expr: count(*)
`)
	_, err = Evaluate(ctx, db, bad, "", "t", "", nil)
	if err == nil || !strings.Contains(err.Error(), "check bad_sum (reconcile") {
		t.Errorf("bad expression: %v, want an error naming check bad_sum", err)
	}
}
