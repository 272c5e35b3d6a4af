package quality

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"testing"

	_ "github.com/duckdb/duckdb-go/v2"
)

func openDB(t *testing.T, setup ...string) *sql.DB {
	t.Helper()
	db, err := sql.Open("duckdb", "")
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	t.Cleanup(func() { db.Close() })
	for _, q := range append([]string{"SET TimeZone = 'UTC'"}, setup...) {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	return db
}

// suiteOf parses a suite of main.t from the YAML of its checks.
func suiteOf(t *testing.T, checks string) *Suite {
	t.Helper()
	src := "table: main.t\nchecks:\n" + checks
	s, err := ParseSuite("test.yaml", []byte(src))
	if err != nil {
		t.Fatalf("parse:\n%s\n%v", src, err)
	}
	return s
}

type want struct {
	checked, failed int64
	verdict         Verdict
	blocking        bool
	observed        string   // substring of Observed
	reasons         []string // substrings of the examples' reasons, in key order
}

// run annotates main.t, evaluates the suite and returns the results by id.
func run(t *testing.T, db *sql.DB, s *Suite) map[string]Result {
	t.Helper()
	ctx := context.Background()
	annotated := ""
	if s.HasRowLevel() {
		annotated = "_annotated"
		if err := Annotate(ctx, db, s, "t", annotated); err != nil {
			t.Fatal(err)
		}
		var in, out int64
		if err := db.QueryRow("SELECT (SELECT count(*) FROM t), (SELECT count(*) FROM _annotated)").Scan(&in, &out); err != nil {
			t.Fatal(err)
		}
		if in != out {
			t.Fatalf("annotation changed the row count: %d rows in, %d out", in, out)
		}
	}
	res, err := Evaluate(ctx, db, s, annotated, "t", "", []string{"id"})
	if err != nil {
		t.Fatal(err)
	}
	by := map[string]Result{}
	for _, r := range res {
		by[r.CheckID] = r
	}
	return by
}

func TestCheckKinds(t *testing.T) {
	t.Parallel()
	const people = `CREATE TABLE t AS SELECT * FROM (VALUES
		(1, 'a', 10, 'SP', '01234', TIMESTAMPTZ '2017-01-01 10:00:00+00', TIMESTAMPTZ '2017-01-05 10:00:00+00'),
		(2, 'b', 20, 'RJ', '1234x', TIMESTAMPTZ '2017-01-02 10:00:00+00', TIMESTAMPTZ '2017-01-01 09:00:00+00'),
		(3, NULL, NULL, NULL, NULL, NULL, NULL),
		(4, 'b', -5, 'XX', '99999', TIMESTAMPTZ '2017-01-03 10:00:00+00', NULL)
	) v(id, name, amount, state, zip, bought, delivered)`
	const empty = `CREATE TABLE t (id INTEGER, name VARCHAR, amount INTEGER, state VARCHAR, zip VARCHAR, bought TIMESTAMPTZ, delivered TIMESTAMPTZ)`
	const parent = `CREATE SCHEMA ref; CREATE TABLE ref.p AS SELECT * FROM (VALUES ('a'), ('a'), ('c')) v(name)`
	tests := []struct {
		name   string
		setup  []string
		checks string
		want   map[string]want
	}{
		{"not_null", []string{people}, `
  - {id: nn, kind: not_null, column: name}
  - {id: nn_id, kind: not_null, column: id}`, map[string]want{
			"nn":    {checked: 4, failed: 1, verdict: "fail", reasons: []string{"name is NULL"}},
			"nn_id": {checked: 4, failed: 0, verdict: "pass"},
		}},
		{"not_null empty table", []string{empty}, `
  - {id: nn, kind: not_null, column: name}`, map[string]want{
			"nn": {checked: 0, failed: 0, verdict: "pass"},
		}},
		{"unique", []string{people}, `
  - {id: u, kind: unique, column: name}
  - {id: u_id, kind: unique, column: id}
  - {id: u2, kind: unique, columns: [name, state]}`, map[string]want{
			// NULL names are not duplicates; both 'b' rows fail.
			"u":    {checked: 4, failed: 2, verdict: "fail", reasons: []string{"name (b) is not unique: 2 rows have it", "name (b) is not unique"}},
			"u_id": {checked: 4, failed: 0, verdict: "pass"},
			"u2":   {checked: 4, failed: 0, verdict: "pass"},
		}},
		{"unique with where", []string{people}, `
  - {id: u, kind: unique, column: name, where: "amount > 0"}`, map[string]want{
			// only row 2 has name b and amount > 0
			"u": {checked: 2, failed: 0, verdict: "pass"},
		}},
		{"accepted_values", []string{people}, `
  - {id: av, kind: accepted_values, column: state, values: [SP, RJ]}`, map[string]want{
			"av": {checked: 4, failed: 1, verdict: "fail", reasons: []string{"state (XX) is not one of SP, RJ"}},
		}},
		{"accepted_values numeric", []string{people}, `
  - {id: av, kind: accepted_values, column: amount, values: ["10", "20", "-5"]}`, map[string]want{
			"av": {checked: 4, failed: 0, verdict: "pass"},
		}},
		{"between", []string{people}, `
  - {id: b, kind: between, column: amount, min: "0", max: "10"}
  - {id: bx, kind: between, column: amount, min: "-5", max: "20", exclusive: true}
  - {id: bmin, kind: between, column: amount, min: "0", severity: warn, on_fail: keep}
  - {id: bts, kind: between, column: bought, min: "2017-01-02 00:00:00+00"}`, map[string]want{
			"b":    {checked: 4, failed: 2, verdict: "fail", reasons: []string{"amount (20) is outside [0, 10]", "amount (-5) is outside [0, 10]"}},
			"bx":   {checked: 4, failed: 2, verdict: "fail", reasons: []string{"amount (20) is outside (-5, 20)", "amount (-5) is outside (-5, 20)"}},
			"bmin": {checked: 4, failed: 1, verdict: "warn", reasons: []string{"amount (-5) is not >= 0"}},
			"bts":  {checked: 4, failed: 1, verdict: "fail", reasons: []string{"bought (2017-01-01 10:00:00+00) is not >= 2017-01-02 00:00:00+00"}},
		}},
		{"regex", []string{people}, `
  - {id: re, kind: regex, column: zip, pattern: "[0-9]{5}"}`, map[string]want{
			"re": {checked: 4, failed: 1, verdict: "fail", reasons: []string{"zip (1234x) does not match [0-9]{5}"}},
		}},
		{"regex is a full match", []string{people}, `
  - {id: re, kind: regex, column: zip, pattern: "[0-9]{4}"}`, map[string]want{
			"re": {checked: 4, failed: 3, verdict: "fail"},
		}},
		{"relationships", []string{people, parent}, `
  - {id: fk, kind: relationships, column: name, to: ref.p}`, map[string]want{
			// a is found (twice in the parent: no duplicated rows), b is not, NULL passes.
			"fk": {checked: 4, failed: 2, verdict: "fail", reasons: []string{"name (b) not found in ref.p.name", "name (b) not found in ref.p.name"}},
		}},
		{"relationships other field", []string{people, `CREATE SCHEMA ref; CREATE TABLE ref.s AS SELECT * FROM (VALUES ('SP'), ('RJ')) v(uf)`}, `
  - {id: fk, kind: relationships, column: state, to: ref.s, field: uf, severity: warn, on_fail: keep}`, map[string]want{
			"fk": {checked: 4, failed: 1, verdict: "warn", reasons: []string{"state (XX) not found in ref.s.uf"}},
		}},
		{"expression", []string{people}, `
  - {id: ex, kind: expression, expr: delivered >= bought, message: "{delivered} is before {bought}"}
  - {id: ex2, kind: expression, expr: "amount > 0 AND state <> 'XX'"}`, map[string]want{
			// NULL delivered passes.
			"ex":  {checked: 4, failed: 1, verdict: "fail", reasons: []string{"delivered (2017-01-01 09:00:00+00) is before bought (2017-01-02 10:00:00+00)"}},
			"ex2": {checked: 4, failed: 1, verdict: "fail", reasons: []string{"expression failed: amount > 0 AND state <> 'XX' [amount=-5, state=XX]"}},
		}},
		{"expression on empty table", []string{empty}, `
  - {id: ex, kind: expression, expr: delivered >= bought}`, map[string]want{
			"ex": {checked: 0, failed: 0, verdict: "pass"},
		}},
		{"where restricts the rows checked", []string{people}, `
  - {id: nn, kind: not_null, column: name, where: "id <= 2"}`, map[string]want{
			"nn": {checked: 2, failed: 0, verdict: "pass"},
		}},
		{"max_failed_ratio blocks", []string{people}, `
  - {id: nn, kind: not_null, column: name, max_failed_ratio: 0.2}
  - {id: nn_ok, kind: not_null, column: name, max_failed_ratio: 0.3}
  - {id: nn_warn, kind: not_null, column: name, max_failed_ratio: 0.2, severity: warn}`, map[string]want{
			"nn":      {checked: 4, failed: 1, verdict: "fail", blocking: true, observed: "1 of 4 rows (25%) > max_failed_ratio 0.2"},
			"nn_ok":   {checked: 4, failed: 1, verdict: "fail"},
			"nn_warn": {checked: 4, failed: 1, verdict: "warn"},
		}},
		{"row_count", []string{people, parent}, `
  - {id: min, kind: row_count, min_rows: 1}
  - {id: max, kind: row_count, max_rows: 3}
  - {id: rel, kind: row_count, relative_to: ref.p, min_ratio: 1, max_ratio: 1.5}
  - {id: relbad, kind: row_count, relative_to: ref.p, max_ratio: 1, severity: warn}`, map[string]want{
			"min":    {checked: 4, verdict: "pass", observed: "rows 4"},
			"max":    {checked: 4, verdict: "fail", blocking: true, observed: "rows 4 > max 3"},
			"rel":    {checked: 4, verdict: "pass", observed: "ratio 1.3333 (4 / 3 rows of ref.p)"},
			"relbad": {checked: 4, verdict: "warn", observed: "ratio 1.3333 (4 / 3 rows of ref.p) > max_ratio 1"},
		}},
		{"row_count empty table", []string{empty}, `
  - {id: min, kind: row_count, min_rows: 1}`, map[string]want{
			"min": {checked: 0, verdict: "fail", blocking: true, observed: "rows 0 < min 1"},
		}},
		{"schema", []string{empty}, `
  - id: ok
    kind: schema
    expect: {id: INT, name: TEXT, amount: INTEGER, state: VARCHAR, zip: VARCHAR, bought: TIMESTAMPTZ, delivered: TIMESTAMP WITH TIME ZONE}
  - id: drift
    kind: schema
    ignore: [zip]
    expect: {id: BIGINT, name: VARCHAR, amount: INTEGER, state: VARCHAR, bought: TIMESTAMPTZ, gone: DATE}
  - id: ignoring
    kind: schema
    ignore: [zip, delivered]
    expect: {id: INT, name: TEXT, amount: INTEGER, state: VARCHAR, bought: TIMESTAMPTZ}`, map[string]want{
			"ok": {checked: 7, verdict: "pass", observed: "7 columns as expected"},
			// Rows checked counts every column: the detail says which were not compared.
			"ignoring": {checked: 7, verdict: "pass", observed: "5 columns as expected; 2 not compared (zip, delivered)"},
			"drift":    {checked: 7, verdict: "fail", blocking: true, failed: 3, observed: "schema drift: gone: missing (expected DATE); id: type INTEGER, expected BIGINT; delivered: extra column (TIMESTAMP WITH TIME ZONE)"},
		}},
		{"freshness", []string{people}, `
  - {id: fresh, kind: freshness, column: bought, max_age: 2 days, reference: "TIMESTAMPTZ '2017-01-04 00:00:00+00'"}
  - {id: stale, kind: freshness, column: bought, max_age: 12 hours, reference: "TIMESTAMPTZ '2017-01-04 00:00:00+00'", severity: warn}
  - {id: now, kind: freshness, column: bought, max_age: 1 day}`, map[string]want{
			"fresh": {checked: 4, verdict: "pass", observed: "newest bought is 14.0 hours old, max_age 2 days (2017-01-03 10:00:00+00, at 2017-01-04"},
			// The age and the limit first: a clipped detail keeps them.
			"stale": {checked: 4, verdict: "warn", observed: "newest bought is 14.0 hours old > max_age 12 hours (2017-01-03 10:00:00+00"},
			"now":   {checked: 4, verdict: "fail", blocking: true},
		}},
		{"freshness empty table", []string{empty}, `
  - {id: fresh, kind: freshness, column: bought, max_age: 2 days}`, map[string]want{
			"fresh": {verdict: "fail", blocking: true, observed: "no bought value"},
		}},
		{"reconcile", []string{people, `CREATE SCHEMA ref; CREATE TABLE ref.pay AS SELECT * FROM (VALUES (10.001), (20.0), (-5.0), (100.0)) v(amount)`}, `
  - {id: sum, kind: reconcile, expr: sum(amount), to: ref.pay, to_where: amount < 100, tolerance: 0.005}
  - {id: sumbad, kind: reconcile, expr: sum(amount), to: ref.pay, tolerance: 0.005}
  - {id: self, kind: reconcile, expr: count(*), to_expr: count(id)}
  - {id: exact, kind: reconcile, expr: sum(amount), to: ref.pay, to_where: amount < 100}`, map[string]want{
			"sum":    {verdict: "pass", observed: "sum(amount) = 25, ref.pay sum(amount) = 25.001"},
			"sumbad": {verdict: "fail", blocking: true, observed: "difference -100.001"},
			"self":   {verdict: "pass"},
			"exact":  {verdict: "fail", blocking: true},
		}},
		{"reconcile empty tables", []string{empty, `CREATE SCHEMA ref; CREATE TABLE ref.pay (amount DECIMAL(12,2))`}, `
  - {id: sum, kind: reconcile, expr: sum(amount), to: ref.pay}`, map[string]want{
			"sum": {verdict: "pass"},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			db := openDB(t, tc.setup...)
			s := suiteOf(t, tc.checks)
			got := run(t, db, s)
			if len(got) != len(tc.want) {
				t.Fatalf("%d results, want %d", len(got), len(tc.want))
			}
			for id, w := range tc.want {
				r, ok := got[id]
				if !ok {
					t.Fatalf("no result for %s", id)
				}
				if r.RowsChecked != w.checked || r.RowsFailed != w.failed || r.Verdict != w.verdict || r.Blocking != w.blocking {
					t.Errorf("%s: checked %d failed %d verdict %s blocking %v, want %d %d %s %v (observed %q)",
						id, r.RowsChecked, r.RowsFailed, r.Verdict, r.Blocking, w.checked, w.failed, w.verdict, w.blocking, r.Observed)
				}
				if !strings.Contains(r.Observed, w.observed) {
					t.Errorf("%s: observed %q, want it to contain %q", id, r.Observed, w.observed)
				}
				if w.reasons != nil {
					if len(r.Examples) != len(w.reasons) {
						t.Fatalf("%s: examples %+v, want %d", id, r.Examples, len(w.reasons))
					}
					for i, sub := range w.reasons {
						if !strings.Contains(r.Examples[i].Reason, sub) {
							t.Errorf("%s: example %d reason %q, want it to contain %q", id, i, r.Examples[i].Reason, sub)
						}
						if r.Examples[i].Key["id"] == "" {
							t.Errorf("%s: example %d without key: %+v", id, i, r.Examples[i])
						}
					}
				} else if r.RowsFailed == 0 && len(r.Examples) > 0 {
					t.Errorf("%s: examples %+v for a passing check", id, r.Examples)
				}
			}
		})
	}
}

// A row failing two rules is one annotated row carrying both failures; a row
// failing only keep rules is not quarantined.
func TestRowFailingTwoRules(t *testing.T) {
	t.Parallel()
	db := openDB(t, `CREATE TABLE t AS SELECT * FROM (VALUES (1, NULL, -1), (2, 'x', -1), (3, 'y', 5)) v(id, name, amount)`)
	s := suiteOf(t, `
  - {id: name_nn, kind: not_null, column: name}
  - {id: amount_pos, kind: between, column: amount, min: "0"}
  - {id: amount_small, kind: between, column: amount, max: "3", severity: warn, on_fail: keep}`)
	if err := Annotate(context.Background(), db, s, "t", "_a"); err != nil {
		t.Fatal(err)
	}
	rows, err := db.Query(`SELECT id, list_transform(_nexus_failures, lambda f: f.check_id || '|' || f.reason || '|' || CAST(f.quarantine AS VARCHAR)),
		list_bool_or(list_transform(_nexus_failures, lambda f: f.quarantine)) FROM _a ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var got []string
	for rows.Next() {
		var id int
		var fails []any
		var q sql.NullBool
		if err := rows.Scan(&id, &fails, &q); err != nil {
			t.Fatal(err)
		}
		var parts []string
		for _, f := range fails {
			parts = append(parts, f.(string))
		}
		got = append(got, strings.Join(parts, "; ")+" => quarantine="+map[bool]string{true: "true", false: "false"}[q.Valid && q.Bool])
	}
	want := []string{
		"name_nn|name is NULL|true; amount_pos|amount (-1) is not >= 0|true => quarantine=true",
		"amount_pos|amount (-1) is not >= 0|true => quarantine=true",
		"amount_small|amount (5) is not <= 3|false => quarantine=false",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// A DuckDB error in an expression names the file, line and check.
func TestExpressionErrorNamesCheck(t *testing.T) {
	t.Parallel()
	db := openDB(t, `CREATE TABLE t AS SELECT 1 AS id, 2 AS amount`)
	s := suiteOf(t, `
  - id: fine
    kind: not_null
    column: id
  - id: broken
    kind: expression
    expr: amount >= no_such_column`)
	err := Annotate(context.Background(), db, s, "t", "_a")
	if err == nil || !strings.HasPrefix(err.Error(), "test.yaml:7: check broken (expression of main.t): ") {
		t.Fatalf("err = %v", err)
	}
	s = suiteOf(t, `
  - {id: fine, kind: row_count, min_rows: 1}
  - {id: broken, kind: reconcile, expr: sum(nope), to_expr: count(*)}`)
	_, err = Evaluate(context.Background(), db, s, "", "t", "", nil)
	if err == nil || !strings.HasPrefix(err.Error(), "test.yaml:5: check broken (reconcile of main.t): ") {
		t.Fatalf("err = %v", err)
	}
}

// No row-level check: the annotation still adds an empty failures list.
func TestAnnotateWithoutRowChecks(t *testing.T) {
	t.Parallel()
	db := openDB(t, `CREATE TABLE t AS SELECT 1 AS id`)
	s := suiteOf(t, `
  - {id: rc, kind: row_count, min_rows: 1}`)
	if err := Annotate(context.Background(), db, s, "t", "_a"); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := db.QueryRow(`SELECT len(_nexus_failures) FROM _a`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("len = %d, %v", n, err)
	}
}

// PublishSQL and QuarantineSQL split the annotated rows: rows in = rows out +
// rows quarantined, each quarantined row once with all its reasons.
func TestPublishAndQuarantine(t *testing.T) {
	t.Parallel()
	db := openDB(t, `CREATE TABLE t AS SELECT * FROM (VALUES (1, NULL, -1), (2, 'x', -1), (3, 'y', 5), (4, 'z', 1)) v(id, name, amount)`)
	s := suiteOf(t, `
  - {id: name_nn, kind: not_null, column: name}
  - {id: amount_pos, kind: between, column: amount, min: "0"}
  - {id: amount_small, kind: between, column: amount, max: "3", severity: warn, on_fail: keep}`)
	if err := Annotate(context.Background(), db, s, "t", "_a"); err != nil {
		t.Fatal(err)
	}
	var published string
	if err := db.QueryRow(`SELECT string_agg(CAST(id AS VARCHAR) || ':' || name || ':' || CAST(amount AS VARCHAR), ',' ORDER BY id) FROM (` + PublishSQL(s, "_a") + `)`).Scan(&published); err != nil {
		t.Fatal(err)
	}
	if published != "3:y:5,4:z:1" {
		t.Errorf("published %q", published)
	}
	rows, err := db.Query(`SELECT id, check_id, reason FROM (` + QuarantineSQL("_a") + `) ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var got []string
	for rows.Next() {
		var id int
		var ids, reason string
		if err := rows.Scan(&id, &ids, &reason); err != nil {
			t.Fatal(err)
		}
		got = append(got, fmt.Sprintf("%d|%s|%s", id, ids, reason))
	}
	want := "1|name_nn, amount_pos|name is NULL; amount (-1) is not >= 0\n2|amount_pos|amount (-1) is not >= 0"
	if strings.Join(got, "\n") != want {
		t.Errorf("quarantined\n%s\nwant\n%s", strings.Join(got, "\n"), want)
	}
}

// A keep rule keeps the row, lists its id in quality_flags and nulls only
// the measures it names; a quarantine rule still takes the row out.
func TestKeepFlagsAndNulls(t *testing.T) {
	t.Parallel()
	db := openDB(t, `CREATE TABLE t AS SELECT * FROM (VALUES
		(1, 'o1', 10, 5.5, TRUE),
		(2, 'o2', -2, -3.0, FALSE),
		(3, 'o3', 10, 99.0, TRUE),
		(4, 'o4', -2, 99.0, TRUE),
		(5, NULL, -2, 1.0, FALSE)) v(id, order_id, carrier_gap, delivery_days, is_late)`)
	s := suiteOf(t, `
  - {id: order_nn, kind: not_null, column: order_id}
  - {id: delivered_after_purchase, kind: between, column: delivery_days, min: "0", severity: warn, on_fail: keep, nulls: [delivery_days, is_late]}
  - {id: carrier_after_purchase, kind: between, column: carrier_gap, min: "0", severity: warn, on_fail: keep}
  - {id: fast, kind: between, column: delivery_days, max: "60", severity: warn, on_fail: keep, nulls: [delivery_days]}`)
	if err := Annotate(context.Background(), db, s, "t", "_a"); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		id   int
		want string // order_id|delivery_days|is_late|quality_flags, or "" when not published
	}{
		{"passes every rule: nothing flagged or nulled", 1, "o1|5.5|true|[]"},
		{"two keep rules: both listed in suite order, the named measures nulled", 2, "o2|NULL|NULL|[delivered_after_purchase, carrier_after_purchase]"},
		{"keep rule that nulls one measure only", 3, "o3|NULL|true|[fast]"},
		{"keep rule without nulls: flagged, measures kept", 4, "o4|NULL|true|[carrier_after_purchase, fast]"},
		{"a quarantine rule still takes the row out", 5, ""},
	}
	q := `SELECT coalesce(order_id, 'NULL') || '|' || coalesce(CAST(delivery_days AS VARCHAR), 'NULL') || '|' ||
		coalesce(CAST(is_late AS VARCHAR), 'NULL') || '|' || CAST(quality_flags AS VARCHAR) FROM (` + PublishSQL(s, "_a") + `) WHERE id = ?`
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var got string
			err := db.QueryRow(q, tc.id).Scan(&got)
			if tc.want == "" {
				if err != sql.ErrNoRows {
					t.Fatalf("row %d published (%q, %v), want it quarantined", tc.id, got, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("row %d = %q, want %q", tc.id, got, tc.want)
			}
		})
	}
	// Column order is kept; the flags come last, typed as a list of ids.
	var cols string
	if err := db.QueryRow(`SELECT string_agg(column_name || ' ' || column_type, ', ') FROM (DESCRIBE ` + PublishSQL(s, "_a") + `)`).Scan(&cols); err != nil {
		t.Fatal(err)
	}
	if want := "id INTEGER, order_id VARCHAR, carrier_gap INTEGER, delivery_days DECIMAL(3,1), is_late BOOLEAN, quality_flags VARCHAR[]"; cols != want {
		t.Errorf("columns\n%s\nwant\n%s", cols, want)
	}
	// Without keep rules there is nothing to flag: no extra column.
	s2 := suiteOf(t, `
  - {id: order_nn, kind: not_null, column: order_id}`)
	if err := Annotate(context.Background(), db, s2, "t", "_b"); err != nil {
		t.Fatal(err)
	}
	if err := db.QueryRow(`SELECT string_agg(column_name, ',') FROM (DESCRIBE ` + PublishSQL(s2, "_b") + `)`).Scan(&cols); err != nil {
		t.Fatal(err)
	}
	if cols != "id,order_id,carrier_gap,delivery_days,is_late" {
		t.Errorf("columns without keep rules: %s", cols)
	}
}

// The Bronze = Silver + quarantine reconciliations of the default suites:
// they pass when every real is accounted for (an exact duplicate record of
// Bronze counts once) and fail when a payment or an item is dropped.
func TestBronzeReconciliation(t *testing.T) {
	t.Parallel()
	suites, err := LoadSuites("")
	if err != nil {
		t.Fatal(err)
	}
	checkOf := func(table, id string) Check {
		for _, s := range suites {
			if c, ok := s.Check(id); ok && s.Table == table {
				return c
			}
		}
		t.Fatalf("no check %s in %s", id, table)
		return Check{}
	}
	setup := []string{
		"CREATE SCHEMA bronze",
		// Line 3 is an exact duplicate of line 2 (Silver keeps one).
		`CREATE TABLE bronze.order_payments AS SELECT * FROM (VALUES
			('o1', 1, 'credit_card', 1, 10.10, 2), ('o1', 1, 'credit_card', 1, 10.10, 3),
			('o1', 2, 'voucher', 1, 0.05, 4), ('o2', 1, 'boleto', 1, 99.99, 5), ('o3', 1, 'boleto', 1, 7.00, 6))
			v(order_id, payment_sequential, payment_type, payment_installments, payment_value, _source_line)`,
		`CREATE TABLE bronze.order_items AS SELECT * FROM (VALUES
			('o1', 1, 20.00, 2), ('o1', 2, 0.01, 3), ('o2', 1, 5.55, 4), ('o2', 1, 5.55, 5))
			v(order_id, order_item_id, price, _source_line)`,
		// o3's payment was quarantined (its order is unknown).
		`CREATE TABLE pay AS SELECT * FROM (VALUES ('o1', 1, CAST(10.10 AS DECIMAL(12,2))), ('o1', 2, 0.05), ('o2', 1, 99.99)) v(order_id, payment_sequential, payment_value)`,
		`CREATE TABLE pay_q AS SELECT * FROM (VALUES ('o3', 1, CAST(7.00 AS DECIMAL(12,2)), 'order_exists')) v(order_id, payment_sequential, payment_value, check_id)`,
		`CREATE TABLE items AS SELECT * FROM (VALUES ('o1', 1, CAST(20.00 AS DECIMAL(12,2))), ('o1', 2, 0.01), ('o2', 1, 5.55)) v(order_id, order_item_id, price)`,
		`CREATE TABLE items_q AS SELECT 'x' AS order_id, 1 AS order_item_id, CAST(1 AS DECIMAL(12,2)) AS price WHERE false`,
	}
	db := openDB(t, setup...)
	tests := []struct {
		name, table, check, published, quarantine string
		pass                                      bool
		diff                                      string // the difference as Observed shows it
	}{
		{"payments: Silver + quarantine = Bronze", "silver.order_payments", "payments_bronze_reconcile", "pay", "pay_q", true, "0"},
		{"payments: a payment dropped", "silver.order_payments", "payments_bronze_reconcile", "(SELECT * FROM pay WHERE payment_sequential <> 2)", "pay_q", false, "-0.05"},
		{"payments: the quarantine not counted", "silver.order_payments", "payments_bronze_reconcile", "pay", "(SELECT * FROM pay_q WHERE false)", false, "-7"},
		{"items: Silver + quarantine = Bronze", "silver.order_items", "prices_bronze_reconcile", "items", "items_q", true, "0"},
		{"items: an item dropped", "silver.order_items", "prices_bronze_reconcile", "(SELECT * FROM items WHERE order_item_id <> 2)", "items_q", false, "-0.01"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := checkOf(tc.table, tc.check)
			s := &Suite{Table: tc.table, Checks: []Check{c}}
			built := fmt.Sprintf("(SELECT * FROM %s UNION ALL BY NAME SELECT * FROM %s)", tc.published, tc.quarantine)
			res, err := Evaluate(context.Background(), db, s, "", tc.published, built, nil)
			if err != nil {
				t.Fatal(err)
			}
			r := res[0]
			if got := r.Verdict == VerdictPass; got != tc.pass {
				t.Errorf("verdict %s (%s), want pass=%v", r.Verdict, r.Observed, tc.pass)
			}
			if !tc.pass && !r.Blocking {
				t.Errorf("a failed reconciliation must block the publish: %+v", r)
			}
			if !strings.Contains(r.Observed, "difference "+tc.diff+" ") {
				t.Errorf("observed %q, want difference %s", r.Observed, tc.diff)
			}
			if !strings.Contains(r.Observed, "(published + quarantined)") || !strings.Contains(r.Observed, "(distinct records)") {
				t.Errorf("observed %q does not say what was summed", r.Observed)
			}
		})
	}
}

// TestStateCustomersReconcile: gold.agg_state_customers' tie to the sales
// of gold.fact_sales (customers_reconcile) passes the aggregate its model
// builds (a NULL state is a state; a canceled order's person without a sale
// there has no row) and fails one that lost, kept or doubled a person.
func TestStateCustomersReconcile(t *testing.T) {
	t.Parallel()
	suites, err := LoadSuites("")
	if err != nil {
		t.Fatal(err)
	}
	var c Check
	ok := false
	for _, s := range suites {
		if s.Table == "gold.agg_state_customers" {
			c, ok = s.Check("customers_reconcile")
		}
	}
	if !ok {
		t.Fatal("no check customers_reconcile in gold.agg_state_customers")
	}
	db := openDB(t,
		"CREATE SCHEMA gold",
		// p1 bought in SP twice and in RJ; p2 in an unknown state; p3 only
		// canceled (is_sale false); p4's sale has is_sale NULL (no sale).
		`CREATE TABLE gold.fact_sales AS SELECT * FROM (VALUES
			('SP', 'p1', true), ('SP', 'p1', true), ('RJ', 'p1', true), (NULL, 'p2', true), ('MG', 'p3', false), ('BA', 'p4', NULL))
			v(customer_state, customer_unique_id, is_sale)`,
		`CREATE TABLE agg AS SELECT * FROM (VALUES ('SP', 'p1'), ('RJ', 'p1'), (NULL, 'p2')) v(customer_state, customer_unique_id)`,
	)
	s := &Suite{Table: "gold.agg_state_customers", Checks: []Check{c}}
	for _, tc := range []struct {
		name, rel string
		pass      bool
	}{
		{"as the model builds it", "agg", true},
		{"a person's second state lost", "(SELECT * FROM agg WHERE customer_state IS DISTINCT FROM 'RJ')", false},
		{"the unknown state dropped", "(SELECT * FROM agg WHERE customer_state IS NOT NULL)", false},
		{"a canceled order's person kept", "(SELECT * FROM agg UNION ALL SELECT 'MG', 'p3')", false},
		{"a row doubled", "(SELECT * FROM agg UNION ALL SELECT 'SP', 'p1')", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := Evaluate(context.Background(), db, s, "", tc.rel, tc.rel, nil)
			if err != nil {
				t.Fatal(err)
			}
			if r := res[0]; (r.Verdict == VerdictPass) != tc.pass || (!tc.pass && !r.Blocking) {
				t.Errorf("verdict %s (blocking %v, %s), want pass=%v", r.Verdict, r.Blocking, r.Observed, tc.pass)
			}
		})
	}
}
