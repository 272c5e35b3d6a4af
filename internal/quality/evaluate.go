package quality

import (
	"context"
	"database/sql"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Evaluate computes the results of every check of s, in suite order.
//
// Row-level results come from annotated, the output of AnnotateSQL (a table
// or view with FailuresColumn): one aggregation counts the rows checked and
// failed of every check, one query picks up to MaxExamples failing rows per
// check (ordered by key), showing keyCols (default: the first column).
// annotated may be "" when the suite has no row-level check. The time of these
// two queries is shared evenly among the row-level results; the annotation
// pass itself is not included.
//
// Table-level checks run one query each against relation, the rows that would
// be published (after quarantine); a reconcile with include_quarantined reads
// built instead: every row the build produced, published and quarantined
// ("" = relation).
//
// A DuckDB error (e.g. a bad expression) is returned naming FILE:LINE and the
// check id when it can be pinned to one check; for the shared row-level
// queries use DiagnoseAnnotate.
func Evaluate(ctx context.Context, db *sql.DB, s *Suite, annotated, relation, built string, keyCols []string) ([]Result, error) {
	return evaluate(ctx, db, s, annotated, relation, built, keyCols, otherRows{}, nil, nil)
}

// RowCounts are the rows a row-level check judged and the rows that failed
// it.
type RowCounts struct{ Checked, Failed int64 }

// otherRows are, per row-level check id, the counts of an incremental
// build's rows other than the annotated ones (EvalOptions.Prior and
// Replaced).
type otherRows struct{ prior, replaced map[string]RowCounts }

// evaluate is Evaluate with prior: per row-level check, the rows of the
// table that the annotated rows do not replace (an incremental build). A
// row-level check is then judged on the table as it will be, the annotated
// rows plus the prior ones, as a full build would judge it: its counts,
// verdict and failed-row ratio are the table's; its examples, the annotated
// rows' (the others are not read).
func evaluate(ctx context.Context, db *sql.DB, s *Suite, annotated, relation, built string, keyCols []string, other otherRows, parts *Parts, totals Totals) ([]Result, error) {
	results := make([]Result, len(s.Checks))
	for i, c := range s.Checks {
		results[i] = Result{
			Table: s.Table, CheckID: c.ID, Kind: c.Kind, Description: c.Description,
			Severity: c.Severity, OnFail: c.OnFail, File: c.File, Line: c.Line, Verdict: VerdictPass,
		}
	}
	if s.HasRowLevel() {
		if annotated == "" {
			return nil, fmt.Errorf("%s: quality of %s: row-level checks need the annotated table", pos(s.File, s.Line), s.Table)
		}
		if err := s.evalRowLevel(ctx, db, results, annotated, keyCols, other); err != nil {
			return nil, err
		}
	}
	in := tableInput{relation: relation, built: built, parts: parts, totals: totals}
	if built == "" {
		in.built = relation
	}
	var fused []int
	for i, c := range s.Checks {
		if c.RowLevel() {
			continue
		}
		k, ok := lookupKind(c.Kind)
		if !ok {
			return nil, fmt.Errorf("%s: check %s (%s of %s): unknown kind %q", c.Pos(), c.ID, c.Kind, s.Table, c.Kind)
		}
		if k.agg != nil {
			fused = append(fused, i)
			continue
		}
		start := time.Now()
		if err := k.eval(ctx, db, c, in, &results[i]); err != nil {
			return nil, fmt.Errorf("%s: check %s (%s of %s): %w", c.Pos(), c.ID, c.Kind, s.Table, err)
		}
		results[i].Duration = time.Since(start)
	}
	if len(fused) > 0 {
		start := time.Now()
		if err := s.evalFused(ctx, db, fused, in, results); err != nil {
			return nil, err
		}
		share := time.Since(start) / time.Duration(len(fused))
		for _, i := range fused {
			results[i].Duration = share
		}
	}
	for i, c := range s.Checks {
		if r := &results[i]; !c.RowLevel() && r.Verdict != VerdictPass && c.Severity == SeverityError {
			r.Blocking = true
		}
	}
	return results, nil
}

func (s *Suite) evalRowLevel(ctx context.Context, db *sql.DB, results []Result, annotated string, keyCols []string, other otherRows) error {
	start := time.Now()
	idx := map[string]int{}
	var inner, outer []string
	inner = append(inner, fmt.Sprintf("list_transform(%s, lambda f: f.check_id) AS __nexus_ids", Ident(FailuresColumn)))
	var rowChecks []int
	for i, c := range s.Checks {
		if !c.RowLevel() {
			continue
		}
		idx[c.ID] = i
		rowChecks = append(rowChecks, i)
		n := len(rowChecks)
		if c.Where != "" {
			inner = append(inner, fmt.Sprintf("coalesce((%s), FALSE) AS __nexus_w%d", c.Where, n))
			outer = append(outer, fmt.Sprintf("count(*) FILTER (WHERE __nexus_w%d)", n))
		} else {
			outer = append(outer, "count(*)")
		}
		outer = append(outer, fmt.Sprintf("count(*) FILTER (WHERE list_contains(__nexus_ids, %s))", lit(c.ID)))
	}
	q := fmt.Sprintf("SELECT %s FROM (SELECT %s FROM %s)", strings.Join(outer, ", "), strings.Join(inner, ", "), annotated)
	vals := make([]int64, len(outer))
	ptrs := make([]any, len(outer))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	if err := db.QueryRowContext(ctx, q).Scan(ptrs...); err != nil {
		return s.pinError(ctx, db, annotated, err, "counting row-level failures")
	}
	anyFailed := false
	for n, i := range rowChecks {
		c := s.Checks[i]
		r := &results[i]
		rebuilt, rebuiltFailed := vals[2*n], vals[2*n+1]
		anyFailed = anyFailed || rebuiltFailed > 0
		// With prior rows (an incremental build) the result is the table's as
		// it will be, what a full build or `nexus check` would report: a keep
		// check whose failing rows are all old ones still warns.
		pr, hasPrior := other.prior[c.ID]
		r.RowsChecked, r.RowsFailed = rebuilt+pr.Checked, rebuiltFailed+pr.Failed
		blocking := c.MaxFailedRatio != nil && c.Severity == SeverityError && r.RowsChecked > 0 &&
			float64(r.RowsFailed)/float64(r.RowsChecked) > *c.MaxFailedRatio
		if r.RowsFailed == 0 && !blocking {
			continue
		}
		r.Verdict = c.Severity.failed()
		r.Observed = fmt.Sprintf("%d of %d rows (%s)", r.RowsFailed, r.RowsChecked, pct(r.RowsFailed, r.RowsChecked))
		if hasPrior {
			r.Observed += fmt.Sprintf("; %d of the %s rebuilt (%s)", rebuiltFailed, rowsOf(rebuilt), pct(rebuiltFailed, rebuilt))
			// How the table's failures moved: the rows rebuilt replace
			// these, which may have failed as well (said when either did,
			// and some were replaced: new keys replace nothing).
			if rep, ok := other.replaced[c.ID]; ok && rep.Checked > 0 && rep.Failed+rebuiltFailed > 0 {
				r.Observed += fmt.Sprintf(", where %d of the %s they replace failed", rep.Failed, rowsOf(rep.Checked))
			}
		}
		if blocking {
			r.Blocking = true
			r.Observed += fmt.Sprintf(" > max_failed_ratio %g", *c.MaxFailedRatio)
		}
	}
	if anyFailed {
		if err := s.examples(ctx, db, results, idx, annotated, keyCols); err != nil {
			return err
		}
	}
	share := time.Since(start) / time.Duration(len(rowChecks))
	for _, i := range rowChecks {
		results[i].Duration = share
	}
	return nil
}

func (s *Suite) examples(ctx context.Context, db *sql.DB, results []Result, idx map[string]int, annotated string, keyCols []string) error {
	if len(keyCols) == 0 {
		var first string
		q := fmt.Sprintf("SELECT column_name FROM (DESCRIBE SELECT * FROM %s) LIMIT 1", annotated)
		if err := db.QueryRowContext(ctx, q).Scan(&first); err != nil {
			return fmt.Errorf("%s: quality of %s: %w", pos(s.File, s.Line), s.Table, err)
		}
		keyCols = []string{first}
	}
	var qk, casts []string
	for _, k := range keyCols {
		qk = append(qk, Ident(k))
		casts = append(casts, fmt.Sprintf("CAST(%s AS VARCHAR)", Ident(k)))
	}
	q := fmt.Sprintf(`SELECT check_id, reason, %s FROM (
    SELECT f.check_id AS check_id, f.reason AS reason, %s,
        row_number() OVER (PARTITION BY f.check_id ORDER BY %s) AS __nexus_rn
    FROM (SELECT %s, unnest(%s) AS f FROM %s WHERE len(%s) > 0)
) WHERE __nexus_rn <= %d ORDER BY check_id, __nexus_rn`,
		strings.Join(casts, ", "), strings.Join(qk, ", "), strings.Join(qk, ", "),
		strings.Join(qk, ", "), Ident(FailuresColumn), annotated, Ident(FailuresColumn), MaxExamples)
	rows, err := db.QueryContext(ctx, q)
	if err != nil {
		return fmt.Errorf("%s: quality of %s: examples: %w", pos(s.File, s.Line), s.Table, err)
	}
	defer rows.Close()
	for rows.Next() {
		var id, reason string
		keys := make([]sql.NullString, len(keyCols))
		dest := []any{&id, &reason}
		for i := range keys {
			dest = append(dest, &keys[i])
		}
		if err := rows.Scan(dest...); err != nil {
			return err
		}
		i, ok := idx[id]
		if !ok {
			continue
		}
		ex := Example{Key: map[string]string{}, Reason: reason}
		for j, k := range keyCols {
			if keys[j].Valid {
				ex.Key[k] = keys[j].String
			} else {
				ex.Key[k] = "NULL"
			}
		}
		results[i].Examples = append(results[i].Examples, ex)
	}
	return rows.Err()
}

// pinError finds which row-level check a failed shared query is due to, by
// running each check alone, and names it; otherwise it wraps err.
func (s *Suite) pinError(ctx context.Context, db *sql.DB, relation string, err error, what string) error {
	for _, c := range s.Checks {
		if !c.RowLevel() || c.Where == "" {
			continue
		}
		q := fmt.Sprintf("SELECT count(*) FROM %s WHERE %s", relation, c.Where)
		if _, e := db.ExecContext(ctx, q); e != nil {
			return fmt.Errorf("%s: check %s (%s of %s): where: %w", c.Pos(), c.ID, c.Kind, s.Table, e)
		}
	}
	return fmt.Errorf("%s: quality of %s: %s: %w", pos(s.File, s.Line), s.Table, what, err)
}

// DiagnoseAnnotate explains a failure of the query of AnnotateSQL(s,
// relation): it runs each row-level check alone against relation and returns
// the first one's error as "FILE:LINE: check ID (kind of table): <DuckDB
// error>". When no single check fails alone, err is returned wrapped with the
// suite's position.
func DiagnoseAnnotate(ctx context.Context, db *sql.DB, s *Suite, relation string, err error) error {
	for _, c := range s.Checks {
		if !c.RowLevel() {
			continue
		}
		one := &Suite{Table: s.Table, File: s.File, Line: s.Line, Checks: []Check{c}, columns: s.columns}
		q, cerr := AnnotateSQL(one, relation)
		if cerr != nil {
			return cerr
		}
		if _, e := db.ExecContext(ctx, "SELECT count(*) FROM ("+q+")"); e != nil {
			return fmt.Errorf("%s: check %s (%s of %s): %w", c.Pos(), c.ID, c.Kind, s.Table, e)
		}
	}
	return fmt.Errorf("%s: quality of %s: %w", pos(s.File, s.Line), s.Table, err)
}

// Annotate materializes AnnotateSQL(s, relation) as the temporary table
// target (replacing it), with DiagnoseAnnotate's error on failure.
func Annotate(ctx context.Context, db *sql.DB, s *Suite, relation, target string) error {
	q, err := AnnotateSQL(s, relation)
	if err != nil {
		return err
	}
	if _, err := db.ExecContext(ctx, "CREATE OR REPLACE TEMP TABLE "+target+" AS "+q); err != nil {
		return DiagnoseAnnotate(ctx, db, s, relation, err)
	}
	return nil
}

func whereClause(w string) string {
	if w == "" {
		return ""
	}
	return " WHERE " + w
}

func rowCountAgg(c Check, in tableInput) aggPlan {
	var n, other int64
	p := aggPlan{parts: []aggPart{{rel: in.relation, where: c.Where, exprs: []string{"count(*)"}, additive: true}}, dest: []any{&n}}
	if c.RelativeTo != "" {
		p.parts = append(p.parts, aggPart{rel: TableRef(c.RelativeTo), exprs: []string{"count(*)"}})
		p.dest = append(p.dest, &other)
	}
	p.judge = func(r *Result) { judgeRowCount(c, n, other, r) }
	return p
}

func judgeRowCount(c Check, n, other int64, r *Result) {
	r.RowsChecked = n
	var problems []string
	if c.MinRows != nil && n < *c.MinRows {
		problems = append(problems, fmt.Sprintf("rows %d < min %d", n, *c.MinRows))
	}
	if c.MaxRows != nil && n > *c.MaxRows {
		problems = append(problems, fmt.Sprintf("rows %d > max %d", n, *c.MaxRows))
	}
	obs := fmt.Sprintf("rows %d", n)
	if c.RelativeTo != "" {
		ratio := math.Inf(1)
		if other > 0 {
			ratio = float64(n) / float64(other)
		} else if n == 0 {
			ratio = 1
		}
		rs := fmt.Sprintf("ratio %s (%d / %d rows of %s)", strconv.FormatFloat(ratio, 'f', 4, 64), n, other, c.RelativeTo)
		if c.MinRatio != nil && ratio < *c.MinRatio {
			problems = append(problems, fmt.Sprintf("%s < min_ratio %g", rs, *c.MinRatio))
		} else if c.MaxRatio != nil && ratio > *c.MaxRatio {
			problems = append(problems, fmt.Sprintf("%s > max_ratio %g", rs, *c.MaxRatio))
		} else {
			obs += ", " + rs
		}
	}
	if len(problems) > 0 {
		r.Verdict = c.Severity.failed()
		r.Observed = strings.Join(problems, "; ")
	} else {
		r.Observed = obs
	}
}

func evalSchema(ctx context.Context, db *sql.DB, c Check, in tableInput, r *Result) error {
	rows, err := db.QueryContext(ctx, schemaQuery(in.relation))
	if err != nil {
		return err
	}
	defer rows.Close()
	actual := map[string]string{}
	var order []string
	for rows.Next() {
		var name, typ string
		if err := rows.Scan(&name, &typ); err != nil {
			return err
		}
		actual[name] = typ
		order = append(order, name)
	}
	if err := rows.Err(); err != nil {
		return err
	}
	// The gate's own columns are not part of a model's contract.
	ignore := map[string]bool{FailuresColumn: true, FlagsColumn: true}
	for _, c := range c.Ignore {
		ignore[c] = true
	}
	var drift []string
	expected := make([]string, 0, len(c.Expect))
	for k := range c.Expect {
		expected = append(expected, k)
	}
	sort.Strings(expected)
	for _, col := range expected {
		if ignore[col] {
			continue
		}
		want := c.Expect[col]
		got, ok := actual[col]
		switch {
		case !ok:
			drift = append(drift, fmt.Sprintf("%s: missing (expected %s)", col, want))
		case NormalizeType(got) != NormalizeType(want):
			drift = append(drift, fmt.Sprintf("%s: type %s, expected %s", col, got, want))
		}
	}
	for _, col := range order {
		if _, ok := c.Expect[col]; !ok && !ignore[col] {
			drift = append(drift, fmt.Sprintf("%s: extra column (%s)", col, actual[col]))
		}
	}
	r.RowsChecked = int64(len(order))
	r.RowsFailed = int64(len(drift))
	if len(drift) > 0 {
		r.Verdict = c.Severity.failed()
		r.Observed = "schema drift: " + strings.Join(drift, "; ")
	} else {
		r.Observed = fmt.Sprintf("%d columns as expected", len(expected))
	}
	// The columns counted but not compared (rows checked counts every
	// column), named so that the two numbers add up.
	var ignored []string
	for _, col := range order {
		if _, ok := c.Expect[col]; !ok && ignore[col] {
			ignored = append(ignored, col)
		}
	}
	if len(ignored) > 0 {
		r.Observed += fmt.Sprintf("; %d not compared (%s)", len(ignored), strings.Join(ignored, ", "))
	}
	return nil
}

// schemaQuery lists the columns of relation with their types; the schema
// kind compares them with expect in Go.
func schemaQuery(relation string) string {
	return fmt.Sprintf("SELECT column_name, column_type FROM (DESCRIBE SELECT * FROM %s)", relation)
}

var typeAliases = map[string]string{
	"TIMESTAMPTZ": "TIMESTAMP WITH TIME ZONE", "INT": "INTEGER", "INT4": "INTEGER", "SIGNED": "INTEGER",
	"INT8": "BIGINT", "LONG": "BIGINT", "INT2": "SMALLINT", "SHORT": "SMALLINT", "INT1": "TINYINT",
	"TEXT": "VARCHAR", "STRING": "VARCHAR", "CHAR": "VARCHAR", "BPCHAR": "VARCHAR", "BOOL": "BOOLEAN",
	"LOGICAL": "BOOLEAN", "FLOAT8": "DOUBLE", "FLOAT4": "FLOAT", "REAL": "FLOAT", "NUMERIC": "DECIMAL",
	"DATETIME": "TIMESTAMP", "TIMESTAMP WITHOUT TIME ZONE": "TIMESTAMP",
}

// NormalizeType returns the canonical spelling of a DuckDB type name, so that
// TIMESTAMPTZ equals TIMESTAMP WITH TIME ZONE and DECIMAL(12, 2) equals
// DECIMAL(12,2).
func NormalizeType(t string) string {
	t = strings.ToUpper(strings.Join(strings.Fields(t), " "))
	t = strings.ReplaceAll(t, ", ", ",")
	t = strings.ReplaceAll(t, " (", "(")
	base, args, hasArgs := strings.Cut(t, "(")
	if a, ok := typeAliases[base]; ok {
		base = a
	}
	if hasArgs {
		return base + "(" + args
	}
	if base == "DECIMAL" {
		return "DECIMAL(18,3)"
	}
	return base
}

func freshnessAgg(c Check, in tableInput) aggPlan {
	ref := "now()"
	if c.Reference != "" {
		ref = "(" + c.Reference + ")"
	}
	col := Ident(c.Column)
	var n int64
	var newest, refText sql.NullString
	var age sql.NullFloat64
	var stale sql.NullBool
	exprs := []string{
		"count(*)",
		fmt.Sprintf("CAST(max(%s) AS VARCHAR)", col),
		fmt.Sprintf("epoch(CAST(%s AS TIMESTAMPTZ) - CAST(max(%s) AS TIMESTAMPTZ))", ref, col),
		fmt.Sprintf("CAST(%s AS TIMESTAMPTZ) - CAST(max(%s) AS TIMESTAMPTZ) > CAST(%s AS INTERVAL)", ref, col, lit(c.MaxAge)),
		fmt.Sprintf("CAST(CAST(%s AS TIMESTAMPTZ) AS VARCHAR)", ref),
	}
	return aggPlan{
		parts: []aggPart{{rel: in.relation, where: c.Where, exprs: exprs}},
		dest:  []any{&n, &newest, &age, &stale, &refText},
		judge: func(r *Result) {
			r.RowsChecked = n
			switch {
			case !newest.Valid:
				r.Verdict = c.Severity.failed()
				r.Observed = fmt.Sprintf("no %s value: nothing is fresh", c.Column)
			// The age and the limit first: a clipped detail (a console
			// table) keeps what the verdict is about.
			case stale.Valid && stale.Bool:
				r.Verdict = c.Severity.failed()
				r.Observed = fmt.Sprintf("newest %s is %s old > max_age %s (%s, at %s)", c.Column, fmtAge(age.Float64), c.MaxAge, newest.String, refText.String)
			default:
				r.Observed = fmt.Sprintf("newest %s is %s old, max_age %s (%s, at %s)", c.Column, fmtAge(age.Float64), c.MaxAge, newest.String, refText.String)
			}
		},
	}
}

func fmtAge(seconds float64) string {
	switch a := math.Abs(seconds); {
	case a >= 86400:
		return strconv.FormatFloat(seconds/86400, 'f', 1, 64) + " days"
	case a >= 3600:
		return strconv.FormatFloat(seconds/3600, 'f', 1, 64) + " hours"
	default:
		return strconv.FormatFloat(seconds, 'f', 0, 64) + " s"
	}
}

// reconcileAgg: with include_quarantined, this table's side is every row
// built.
func reconcileAgg(c Check, in tableInput) aggPlan {
	relation := in.relation
	if c.IncludeQuarantined {
		relation = in.built
	}
	other, otherName := relation, "this table"
	if c.To != "" {
		other, otherName = TableRef(c.To), c.To
	}
	if c.ToDistinct {
		other = distinctRecords(other)
		otherName += " (distinct records)"
	}
	name := c.Expr
	if c.IncludeQuarantined {
		name += " (published + quarantined)"
	}
	var a, b sql.NullFloat64
	return aggPlan{
		parts: []aggPart{
			// An aggregate over no rows counts as 0 (judge): additive.
			{rel: relation, where: c.Where, exprs: []string{fmt.Sprintf("CAST((%s) AS DOUBLE)", c.Expr)}, additive: true},
			// The same holds for the other side: over the table itself (no
			// to), or over another table whose changes the build may give
			// (Parts.Tables).
			{rel: other, where: c.ToWhere, exprs: []string{fmt.Sprintf("CAST((%s) AS DOUBLE)", c.ToExpr)}, additive: true,
				table: c.To, distinct: c.ToDistinct && c.To != ""},
		},
		dest: []any{&a, &b},
		judge: func(r *Result) {
			// An aggregate over no rows (NULL) counts as 0.
			diff := a.Float64 - b.Float64
			r.Observed = fmt.Sprintf("%s = %s, %s %s = %s, difference %s (tolerance %g)",
				name, fmtNum(a.Float64), otherName, c.ToExpr, fmtNum(b.Float64), fmtNum(diff), c.Tolerance)
			if math.Abs(diff) > c.Tolerance+1e-12*math.Max(math.Abs(a.Float64), math.Abs(b.Float64)) {
				r.Verdict = c.Severity.failed()
			}
		},
	}
}

func fmtNum(f float64) string {
	if f == math.Trunc(f) && math.Abs(f) < 1e15 {
		return strconv.FormatFloat(f, 'f', 0, 64)
	}
	// Sums of cents carry binary noise (-1251.6999999999534): 6 decimals
	// are more than any amount needs.
	return strconv.FormatFloat(math.Round(f*1e6)/1e6, 'f', -1, 64)
}

// rowsOf is "1 row" or "n rows".
func rowsOf(n int64) string {
	if n == 1 {
		return "1 row"
	}
	return strconv.FormatInt(n, 10) + " rows"
}

func pct(n, of int64) string {
	if of == 0 {
		return "n/a"
	}
	return strconv.FormatFloat(100*float64(n)/float64(of), 'g', 3, 64) + "%"
}
