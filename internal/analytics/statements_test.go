package analytics

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"testing"
)

// asViews turns the fixture's source tables into views, as the engine
// registers a lake's tables: the working set is then kept between calls.
func asViews(t *testing.T, db *sql.DB) {
	t.Helper()
	for _, s := range sources {
		tbl := s[0] + "." + s[1]
		for _, stmt := range []string{"ALTER TABLE " + tbl + " RENAME TO " + s[1] + "_data",
			"CREATE VIEW " + tbl + " AS SELECT * FROM " + tbl + "_data"} {
			if _, err := db.Exec(stmt); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// rowsOf runs a statement and writes its rows as text.
func rowsOf(t *testing.T, db *sql.DB, stmt string, args []any) string {
	t.Helper()
	rows, err := db.Query(stmt, args...)
	if err != nil {
		t.Fatalf("%v\n%s", err, stmt)
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintln(&b, vals...)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// TestStatementsOnLake: the statements an analysis runs, written on the
// lake's tables, give the rows the analysis got from its working set.
func TestStatementsOnLake(t *testing.T) {
	t.Parallel()
	db := shop().open(t)
	asViews(t, db)
	for _, f := range []Filter{{}, {State: "SP", From: day("2017-01-01")}, {Category: "Y"}} {
		for _, a := range Registry() {
			args, err := a.complete(nil)
			if err != nil {
				t.Fatal(err)
			}
			rec := &recorder{}
			if _, err := a.run(context.WithValue(bg, recorderKey{}, rec), db, f, args); err != nil {
				t.Fatal(err)
			}
			if len(rec.stmts) == 0 {
				t.Errorf("%s: no statement recorded", a.Name)
			}
			for _, s := range rec.stmts {
				lakeSQL := onLake(s.SQL)
				if strings.Contains(lakeSQL, wsSchema) || !strings.Contains(lakeSQL, "gold.fact_sales") {
					t.Errorf("%s: the statement does not read the lake's tables only:\n%s", a.Name, lakeSQL)
				}
				if got, want := rowsOf(t, db, lakeSQL, s.Args), rowsOf(t, db, s.SQL, s.Args); got != want {
					t.Errorf("%s %+v: on the lake's tables\n%s\nwant (working set)\n%s", a.Name, f, got, want)
				}
			}
		}
	}
}

// TestStatements: one entry per statement of the dashboard's analyses, in
// registry order, with the filter's parameters.
func TestStatements(t *testing.T) {
	t.Parallel()
	db := shop().open(t)
	stmts, err := Statements(bg, db, Filter{}, InDashboard)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range stmts {
		names = append(names, s.Analysis)
		if len(s.Args) != 0 {
			t.Errorf("%s: parameters %v without a filter", s.Analysis, s.Args)
		}
	}
	// monthly-sales also reads the data set's span from gold.fact_sales.
	want := "kpis monthly-sales monthly-sales top-products top-categories review-vs-sales rfm geography delivery"
	if got := strings.Join(names, " "); got != want {
		t.Errorf("statements of %s, want %s", got, want)
	}
	stmts, err = Statements(bg, db, Filter{State: "SP"}, InDashboard)
	if err != nil {
		t.Fatal(err)
	}
	if len(stmts[0].Args) != 1 || stmts[0].Args[0] != "SP" {
		t.Errorf("kpis for SP: parameters %v", stmts[0].Args)
	}
}
