package quality

import (
	"context"
	"errors"
	"strings"
	"testing"
)

// TestOtherTableParts: a reconcile with another table's distinct records
// judged from the totals kept last time and the other table's changed rows
// (Parts.Tables) gives what a read of the whole table gives, when every
// other row is unchanged (an exact copy of an old record counts once, a
// record that only changes its lineage too); and it does read the changed
// rows only: a row outside them changed behind the build's back is not seen.
func TestOtherTableParts(t *testing.T) {
	ctx := context.Background()
	suite := suiteOf(t, `
  - id: prices
    kind: reconcile
    expr: sum(v)
    to: bronze.x
    to_expr: sum(v)
    to_distinct: true
    tolerance: 0.005
`)
	before := `SELECT * FROM (VALUES ('a', 1.50, 1), ('a', 1.50, 2), ('b', 2.25, 3), ('z', 10.00, 4)) v(k, v, _line)`
	for _, tc := range []struct {
		name  string
		added string // rows the other table gains, with keys among keys
		keys  string
		// behind changes a row outside keys without saying so.
		behind bool
		want   string // the reconcile's other side after the change
	}{
		{"nothing", "", "'a'", false, "13.75"},
		{"a copy of an old record", "('a', 1.50, 9)", "'a'", false, "13.75"},
		{"a new record of an old key", "('b', 4.00, 9)", "'b'", false, "17.75"},
		{"a new key and a copy", "('c', 0.25, 9), ('b', 2.25, 9), ('c', 0.25, 10)", "'b', 'c'", false, "14"},
		{"a row changed outside the keys is not read", "('c', 0.25, 9)", "'c'", true, "14"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db := openDB(t, "CREATE SCHEMA bronze", "CREATE SCHEMA g",
				"CREATE TABLE bronze.x AS "+before,
				"CREATE TABLE bronze.x_before AS SELECT * FROM bronze.x",
				"CREATE TABLE t AS SELECT DISTINCT k, v FROM bronze.x")
			full := func() (*Gate, []Result) {
				g := NewGate(db, suite, "g", "t")
				t.Cleanup(g.Close)
				if err := g.Annotate(ctx, "t"); err != nil {
					t.Fatal(err)
				}
				res, err := g.Evaluate(ctx, EvalOptions{})
				if err != nil && !errors.Is(err, ErrGateFailed) {
					t.Fatal(err)
				}
				return g, res
			}
			g0, _ := full()
			totals := g0.Totals()
			if !hasKey(totals, sideOther+"bronze.x distinct:") {
				t.Fatalf("no totals kept for bronze.x: %v", totals)
			}
			if tc.added != "" {
				if _, err := db.Exec("INSERT INTO bronze.x VALUES " + tc.added); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := db.Exec("CREATE OR REPLACE TABLE t AS SELECT DISTINCT k, v FROM bronze.x"); err != nil {
				t.Fatal(err)
			}
			if tc.behind {
				if _, err := db.Exec("UPDATE bronze.x SET v = 99 WHERE k = 'z'"); err != nil {
					t.Fatal(err)
				}
			}
			_, want := full()
			keys := "k IN (" + tc.keys + ")"
			g := NewGate(db, suite, "g", "t_inc")
			t.Cleanup(g.Close)
			if err := g.Annotate(ctx, "t"); err != nil {
				t.Fatal(err)
			}
			got, err := g.Evaluate(ctx, EvalOptions{Parts: &Parts{Totals: totals, Tables: map[string]TableParts{
				"bronze.x": {Minus: "SELECT * FROM bronze.x_before WHERE " + keys, Plus: "SELECT * FROM bronze.x WHERE " + keys},
			}}})
			if err != nil && !errors.Is(err, ErrGateFailed) {
				t.Fatal(err)
			}
			if !strings.Contains(got[0].Observed, "bronze.x (distinct records) sum(v) = "+tc.want+",") {
				t.Errorf("observed %q, want the other side %s", got[0].Observed, tc.want)
			}
			if !tc.behind && got[0].Observed != want[0].Observed {
				t.Errorf("from the changed rows: %q\nfrom the whole table: %q", got[0].Observed, want[0].Observed)
			}
			if tc.behind && got[0].Observed == want[0].Observed {
				t.Errorf("the whole table was read: %q", got[0].Observed)
			}
		})
	}
}

func hasKey(t Totals, prefix string) bool {
	for k := range t {
		if strings.HasPrefix(k, prefix) {
			return true
		}
	}
	return false
}
