package quality

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
)

// TestGateSeam: one gate annotates a table or a query in one pass, counts
// what leaves, splits the rows, and names the check (file:line, id) whose
// SQL fails, or says the source itself failed.
func TestGateSeam(t *testing.T) {
	ctx := context.Background()
	db := openDB(t,
		"CREATE TABLE t AS SELECT * FROM (VALUES (1, 10), (2, -5), (2, 7), (3, NULL)) v(id, amount)",
		"CREATE SCHEMA g")
	suite := suiteOf(t, `
  - id: id_unique
    kind: unique
    column: id
  - id: amount_positive
    kind: expression
    expr: amount >= 0
    on_fail: keep
    severity: warn
  - id: rows
    kind: row_count
    min_rows: 1
`)
	for _, tc := range []struct {
		name, source string
	}{
		{"table", "t"},
		{"query", "SELECT id, amount FROM t\nWHERE true"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := NewGate(db, suite, "g", "x_"+tc.name)
			defer g.Close()
			if err := g.Annotate(ctx, tc.source); err != nil {
				t.Fatal(err)
			}
			if g.Built != 4 || g.Quarantined != 2 {
				t.Fatalf("built %d quarantined %d, want 4 and 2", g.Built, g.Quarantined)
			}
			results, err := g.Evaluate(ctx, EvalOptions{Key: []string{"id"}})
			if err != nil {
				t.Fatal(err)
			}
			if len(results) != 3 {
				t.Fatalf("results %+v", results)
			}
			var pass, quar int64
			if err := db.QueryRow("SELECT count(*) FROM (" + g.Passing() + ")").Scan(&pass); err != nil {
				t.Fatal(err)
			}
			if err := db.QueryRow("SELECT count(*) FROM (" + g.QuarantineRows() + ")").Scan(&quar); err != nil {
				t.Fatal(err)
			}
			if pass != 2 || quar != 2 {
				t.Errorf("passing %d, quarantined %d", pass, quar)
			}
		})
	}

	bad := suiteOf(t, `
  - id: amount_ok
    kind: expression
    expr: amount >= 0
  - id: broken
    kind: expression
    expr: no_such_function(amount) > 0
`)
	g := NewGate(db, bad, "g", "bad")
	defer g.Close()
	err := g.Annotate(ctx, "SELECT * FROM t")
	if err == nil || !strings.Contains(err.Error(), "check broken") || !strings.Contains(err.Error(), "test.yaml:7") {
		t.Errorf("bad expression error = %v, want the check id and test.yaml:7", err)
	}
	var se *SourceError
	if errors.As(err, &se) {
		t.Errorf("a check error reported as a source error")
	}
	err = NewGate(db, suite, "g", "src").Annotate(ctx, "SELECT nope FROM t")
	if !errors.As(err, &se) || !strings.Contains(err.Error(), "nope") {
		t.Errorf("source error = %v", err)
	}

	// A blocking check: the results come with an error wrapping ErrGateFailed.
	strict := suiteOf(t, `
  - id: many_rows
    kind: row_count
    min_rows: 100
`)
	sg := NewGate(db, strict, "g", "strict")
	defer sg.Close()
	if err := sg.Annotate(ctx, "t"); err != nil {
		t.Fatal(err)
	}
	res, err := sg.Evaluate(ctx, EvalOptions{})
	if !errors.Is(err, ErrGateFailed) || len(res) != 1 || !res[0].Blocking || !strings.Contains(err.Error(), "many_rows") {
		t.Errorf("blocking gate: %v %+v", err, res)
	}
}

// TestGatePriorRows: with the counts of the table's rows the annotated rows
// do not replace (an incremental build), a failed-row ratio is judged on the
// whole table: one bad row among few rebuilt ones does not block a large
// table, and earlier failures count.
func TestGatePriorRows(t *testing.T) {
	ctx := context.Background()
	db := openDB(t,
		"CREATE TABLE t AS SELECT * FROM (VALUES (1, 10), (2, -5), (3, 7), (4, 1)) v(id, amount)",
		"CREATE TABLE clean AS SELECT * FROM (VALUES (1, 10), (3, 7)) v(id, amount)",
		"CREATE TABLE one AS SELECT * FROM (VALUES (5, 3)) v(id, amount)",
		"CREATE SCHEMA g")
	suite := suiteOf(t, `
  - id: amount_positive
    kind: expression
    expr: amount >= 0
    max_failed_ratio: 0.05
`)
	for _, tc := range []struct {
		name     string
		rebuilt  string // the table of the rows rebuilt
		prior    map[string]RowCounts
		replaced map[string]RowCounts
		blocking bool
		observed string
		// The result counts the table as it will be.
		checked, failed int64
		verdict         Verdict
	}{
		{"rebuilt rows alone", "t", nil, nil, true, "1 of 4 rows (25%) > max_failed_ratio 0.05", 4, 1, VerdictFail},
		{"large clean table", "t", map[string]RowCounts{"amount_positive": {Checked: 96, Failed: 0}}, nil, false, "1 of 100 rows (1%); 1 of the 4 rows rebuilt (25%)", 100, 1, VerdictFail},
		{"earlier failures", "t", map[string]RowCounts{"amount_positive": {Checked: 96, Failed: 5}}, nil, true, "6 of 100 rows (6%); 1 of the 4 rows rebuilt (25%) > max_failed_ratio 0.05", 100, 6, VerdictFail},
		// The rows rebuilt (table clean) pass, old ones failed: the table
		// still has them, so the check fails as a full build would say.
		{"only old failures", "clean", map[string]RowCounts{"amount_positive": {Checked: 996, Failed: 3}}, nil, false, "3 of 998 rows (0.301%); 0 of the 2 rows rebuilt (0%)", 998, 3, VerdictFail},
		// The rows rebuilt replace rows that failed too: the detail says so
		// (the table's failures did not grow); not when neither failed.
		{"replaced failures", "t", map[string]RowCounts{"amount_positive": {Checked: 996, Failed: 3}}, map[string]RowCounts{"amount_positive": {Checked: 4, Failed: 1}}, false,
			"4 of 1000 rows (0.4%); 1 of the 4 rows rebuilt (25%), where 1 of the 4 rows they replace failed", 1000, 4, VerdictFail},
		// New keys replace nothing: no clause of rows replaced.
		{"new keys", "t", map[string]RowCounts{"amount_positive": {Checked: 996, Failed: 3}}, map[string]RowCounts{"amount_positive": {}}, false,
			"4 of 1000 rows (0.4%); 1 of the 4 rows rebuilt (25%)", 1000, 4, VerdictFail},
		{"one row rebuilt", "one", map[string]RowCounts{"amount_positive": {Checked: 99, Failed: 2}}, map[string]RowCounts{"amount_positive": {Checked: 1, Failed: 1}}, false,
			"2 of 100 rows (2%); 0 of the 1 row rebuilt (0%), where 1 of the 1 row they replace failed", 100, 2, VerdictFail},
		{"replaced clean rows", "clean", map[string]RowCounts{"amount_positive": {Checked: 996, Failed: 3}}, map[string]RowCounts{"amount_positive": {Checked: 2, Failed: 0}}, false,
			"3 of 998 rows (0.301%); 0 of the 2 rows rebuilt (0%)", 998, 3, VerdictFail},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := NewGate(db, suite, "g", "p")
			defer g.Close()
			if err := g.Annotate(ctx, tc.rebuilt); err != nil {
				t.Fatal(err)
			}
			res, err := g.Evaluate(ctx, EvalOptions{Key: []string{"id"}, Prior: tc.prior, Replaced: tc.replaced})
			if errors.Is(err, ErrGateFailed) != tc.blocking || res[0].Blocking != tc.blocking {
				t.Errorf("blocking %v (err %v), want %v", res[0].Blocking, err, tc.blocking)
			}
			if res[0].Observed != tc.observed {
				t.Errorf("observed %q, want %q", res[0].Observed, tc.observed)
			}
			if r := res[0]; r.RowsChecked != tc.checked || r.RowsFailed != tc.failed || r.Verdict != tc.verdict {
				t.Errorf("rows %d checked, %d failed, %s; want %d, %d, %s", r.RowsChecked, r.RowsFailed, r.Verdict, tc.checked, tc.failed, tc.verdict)
			}
		})
	}
}

// A gate told its source is a few rows (an incremental build) looks up the
// referenced keys among the source's values: the same failures, NULLs and
// duplicates on either side included, as when it reads the referenced
// table whole.
func TestGateFewRelationships(t *testing.T) {
	ctx := context.Background()
	db := openDB(t,
		"CREATE TABLE t AS SELECT * FROM (VALUES (1, 'a', 'SP'), (2, 'b', 'RJ'), (3, NULL, 'SP'), (4, 'z', NULL), (5, 'a', 'XX'), (6, 'z', 'RJ')) v(id, name, uf)",
		"CREATE SCHEMA ref",
		"CREATE TABLE ref.p AS SELECT * FROM (VALUES ('a'), ('a'), ('b'), (NULL)) v(name)",
		"CREATE TABLE ref.s AS SELECT * FROM (VALUES ('SP', 1), ('RJ', 2), (NULL, 3)) v(state, n)",
		"CREATE SCHEMA g")
	suite := suiteOf(t, `
  - {id: fk, kind: relationships, column: name, to: ref.p}
  - {id: fk_state, kind: relationships, column: uf, to: ref.s, field: state, severity: warn, on_fail: keep}
`)
	failures := func(few bool, source string) string {
		t.Helper()
		g := NewGate(db, suite, "g", fmt.Sprintf("few_%v_%d", few, len(source)))
		g.Few = few
		defer g.Close()
		if err := g.Annotate(ctx, source); err != nil {
			t.Fatal(err)
		}
		// What the gate ran: with Few, the lookup among the source's values.
		lookup := `WHERE "name" IN (SELECT "name" FROM `
		if got := strings.Contains(g.statement, lookup); got != few {
			t.Errorf("few %v, source %q: the statement looks up the source's values: %v\n%s", few, source, got, g.statement)
		}
		var got string
		if err := db.QueryRow(fmt.Sprintf(`SELECT string_agg(id || ':' || array_to_string(list_transform(%s, lambda f: f.check_id), '+'), ' ' ORDER BY id)
			FROM %s WHERE len(%[1]s) > 0`, Ident(FailuresColumn), g.Checked())).Scan(&got); err != nil {
			t.Fatal(err)
		}
		return got
	}
	for _, tc := range []struct{ source, want string }{
		{"t", "4:fk 5:fk_state 6:fk"},
		{"SELECT * FROM t", "4:fk 5:fk_state 6:fk"},
		{"SELECT * FROM t WHERE id >= 5", "5:fk_state 6:fk"},
	} {
		if whole, few := failures(false, tc.source), failures(true, tc.source); whole != tc.want || few != tc.want {
			t.Errorf("%s: whole %q, few %q, want %q for both", tc.source, whole, few, tc.want)
		}
	}
	// The lookup reads the source again, so a query source is materialized once.
	if !suite.readsTwice(true) || suite.readsTwice(false) {
		t.Errorf("readsTwice(few) = %v, readsTwice(whole) = %v; want true and false", suite.readsTwice(true), suite.readsTwice(false))
	}
}
