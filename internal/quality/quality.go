// Package quality owns the data-quality gates of the lakehouse: suites of
// declarative checks (YAML), their compilation to DuckDB SQL and their
// verdicts.
//
// A suite lists the checks of one table (layer.table). Each check is of a
// kind; the kinds are registered in kinds.go, one entry each, and their
// reference (Reference, docs/quality_checks.md) is rendered from there.
// Kinds are of two levels:
//
//   - Row-level kinds (not_null, unique, ...) judge each row. AnnotateSQL
//     compiles all of a table's row-level checks into ONE query that adds the
//     column FailuresColumn to every row: the list of the checks the row
//     fails, each with a human-readable reason carrying the offending value
//     and whether the failure sends the row to quarantine (on_fail:
//     quarantine) or only flags it (on_fail: keep). A row failing several
//     checks is one row with several failures.
//   - Table-level kinds (row_count, schema, ...) judge the rows that would be
//     published as a whole.
//
// Severity and blocking. A failed check's verdict is "fail" when its severity
// is error and "warn" when it is warn. What a verdict does:
//
//   - table-level, severity error, failed: Result.Blocking is true; the table
//     (and everything downstream) must not be published.
//   - row-level: the failing rows are quarantined (on_fail: quarantine) or kept
//     and flagged (on_fail: keep); the table is still published with the rows
//     that remain, so a row-level "fail" does not block. Exception: a row-level
//     check with max_failed_ratio blocks (Result.Blocking) when the share of
//     failing rows exceeds it — a defect that hits many rows is a broken feed,
//     not a few bad records, and publishing the rest would be misleading.
//
// What leaves the flow (the principle every suite follows): only a row that
// cannot be trusted as a fact — no key, duplicate key, orphan, unparseable,
// impossible amount — is quarantined. A row with a wrong secondary attribute
// (a logistics timestamp out of order, a missing dimension value) stays: a
// keep rule lists its id in the row's FlagsColumn, and the check's nulls
// names the measures the defect corrupts, which PublishSQL sets to NULL on
// that row only (e.g. delivery before purchase nulls delivery_days and
// is_late, not the sale).
//
// Evaluate computes the Results of a suite from the annotated rows (row-level)
// and from the rows to publish (table-level).
package quality

import (
	"fmt"
	"time"
)

// FailuresColumn is the name of the column AnnotateSQL adds: a
// LIST(STRUCT(check_id VARCHAR, reason VARCHAR, quarantine BOOLEAN)) of the
// row-level checks the row fails, empty when the row passes them all.
const FailuresColumn = "_nexus_failures"

// FlagsColumn is the LIST(VARCHAR) column PublishSQL adds to the published
// rows of a table whose suite has keep rules: the ids of the keep rules the
// row fails, in suite order (empty when it passes them all). The gate owns
// it: a model must not output a column of that name.
const FlagsColumn = "quality_flags"

// FlagsColumnDoc documents FlagsColumn for readers of the tables.
const FlagsColumnDoc = "Ids of the keep rules of the quality suite the row fails (the row stays, flagged); [] for a clean row."

// Severity says what a failed check's verdict is.
type Severity string

// Severities.
const (
	SeverityError Severity = "error"
	SeverityWarn  Severity = "warn"
)

// OnFail says what becomes of the rows a row-level check fails.
type OnFail string

// On_fail actions.
const (
	OnFailQuarantine OnFail = "quarantine"
	OnFailKeep       OnFail = "keep"
)

// Verdict is the outcome of a check.
type Verdict string

// Verdicts.
const (
	VerdictPass Verdict = "pass"
	VerdictFail Verdict = "fail" // failed, severity error
	VerdictWarn Verdict = "warn" // failed, severity warn
)

// Tally counts results by verdict, and the blocking ones.
type Tally struct{ Checks, Pass, Warn, Fail, Blocking int }

// TallyOf counts results.
func TallyOf(results []Result) Tally {
	t := Tally{Checks: len(results)}
	for _, r := range results {
		switch r.Verdict {
		case VerdictPass:
			t.Pass++
		case VerdictWarn:
			t.Warn++
		case VerdictFail:
			t.Fail++
		}
		if r.Blocking {
			t.Blocking++
		}
	}
	return t
}

// failed is the verdict of a failed check of this severity.
func (s Severity) failed() Verdict {
	if s == SeverityWarn {
		return VerdictWarn
	}
	return VerdictFail
}

// Check is one expectation, as written in a suite file.
type Check struct {
	ID          string   `yaml:"id"`
	Kind        Kind     `yaml:"kind"`
	Description string   `yaml:"description"`
	Severity    Severity `yaml:"severity"` // error (default) | warn
	OnFail      OnFail   `yaml:"on_fail"`  // row-level only: quarantine (default) | keep
	// Disabled removes the check; a project suite uses it to switch off an
	// embedded check by id.
	Disabled bool `yaml:"disabled"`

	Column  string   `yaml:"column"`
	Columns []string `yaml:"columns"` // unique: several columns (compound key)
	Values  []string `yaml:"values"`  // accepted_values

	// between: bounds, inclusive unless Exclusive. A bound that parses as a
	// number is used as a number; anything else is a string literal that
	// DuckDB casts to the column's type ('2016-01-01', '2016-01-01 00:00:00+00').
	Min       *string `yaml:"min"`
	Max       *string `yaml:"max"`
	Exclusive bool    `yaml:"exclusive"`

	Pattern string `yaml:"pattern"` // regex: RE2 syntax, must match the whole value (regexp_full_match)

	// Expr: expression: a row-level SQL predicate over the table's columns that
	// must be TRUE; NULL counts as a pass (like a SQL CHECK constraint).
	// reconcile: an aggregate over this table, e.g. sum(payment_value).
	Expr string `yaml:"expr"`
	// Message: expression: the failure reason, where {column} is replaced by
	// "column (value)"; default "expression failed: <expr>" with the values of
	// the columns the expression references.
	Message string `yaml:"message"`

	To      string `yaml:"to"`       // relationships: referenced table (layer.table); reconcile: the other table (default: this table)
	Field   string `yaml:"field"`    // relationships: referenced column (default: Column)
	ToExpr  string `yaml:"to_expr"`  // reconcile: aggregate on the other table (default: Expr)
	ToWhere string `yaml:"to_where"` // reconcile: filter on the other table
	Where   string `yaml:"where"`    // row-level: only rows where this SQL predicate is TRUE are checked; reconcile/freshness/row_count: filter on this table

	Tolerance float64 `yaml:"tolerance"` // reconcile: |a - b| <= tolerance passes

	MinRows    *int64   `yaml:"min_rows"`    // row_count
	MaxRows    *int64   `yaml:"max_rows"`    // row_count
	RelativeTo string   `yaml:"relative_to"` // row_count: another table (layer.table)
	MinRatio   *float64 `yaml:"min_ratio"`   // row_count: rows / rows(RelativeTo) >= MinRatio
	MaxRatio   *float64 `yaml:"max_ratio"`   // row_count: rows / rows(RelativeTo) <= MaxRatio

	Expect map[string]string `yaml:"expect"` // schema: column → DuckDB type
	// Ignore: schema: columns that are neither expected nor reported as extra
	// (e.g. hive partition columns a reader adds).
	Ignore []string `yaml:"ignore"`

	MaxAge string `yaml:"max_age"` // freshness: DuckDB interval, e.g. '2 days'
	// Reference: freshness: SQL expression of the "now" to compare with
	// (default now()); may be a scalar subquery.
	Reference string `yaml:"reference"`

	// MaxFailedRatio: row-level: when more than this share of the checked rows
	// fail, the result is Blocking (see the package doc). Nil: never blocks.
	MaxFailedRatio *float64 `yaml:"max_failed_ratio"`

	// Nulls: row-level with on_fail: keep: the columns (measures) the defect
	// corrupts; PublishSQL sets them to NULL on the failing rows, the rest of
	// the row is published as is.
	Nulls []string `yaml:"nulls"`

	// IncludeQuarantined: reconcile: this table's side counts the rows its
	// gate quarantined too (published + quarantined = every row built), so
	// that "Bronze = Silver + quarantine" can be checked.
	IncludeQuarantined bool `yaml:"include_quarantined"`
	// ToDistinct: reconcile: the other side counts each exact duplicate record
	// once (DISTINCT over its columns not starting with _, i.e. without the
	// lineage columns), as Silver models drop exact duplicates.
	ToDistinct bool `yaml:"to_distinct"`

	File string `yaml:"-"` // where the check was defined (set by the loader)
	Line int    `yaml:"-"`
}

// Suite is the checks of one table.
type Suite struct {
	Table  string // layer.table
	File   string // file that defined the suite (the first one when merged)
	Line   int    // line of its table: key
	Checks []Check

	// columns of the table, recorded by Validate; used to tell columns from
	// keywords in expression reasons.
	columns map[string]bool
}

// RowLevel reports whether the check judges individual rows.
func (c Check) RowLevel() bool {
	k, ok := lookupKind(c.Kind)
	return ok && k.level() == LevelRow
}

// Quarantine reports whether rows failing the check leave the flow.
func (c Check) Quarantine() bool { return c.RowLevel() && c.OnFail != OnFailKeep }

// refs are the tables and columns the check names (see kindSpec.refs): its
// kind's, plus the nulls of a row-level check.
func (c Check) refs() []ref {
	k, ok := lookupKind(c.Kind)
	if !ok {
		return nil
	}
	var out []ref
	if k.refs != nil {
		out = k.refs(c)
	}
	if k.level() == LevelRow {
		for _, col := range c.Nulls {
			out = append(out, ref{field: "nulls", column: col})
		}
	}
	return out
}

// Pos is "FILE:LINE" of the check's definition.
func (c Check) Pos() string { return pos(c.File, c.Line) }

func pos(file string, line int) string {
	if line <= 0 {
		return file
	}
	return fmt.Sprintf("%s:%d", file, line)
}

// RowLevelChecks returns the suite's row-level checks in suite order.
func (s *Suite) RowLevelChecks() []Check {
	var out []Check
	for _, c := range s.Checks {
		if c.RowLevel() {
			out = append(out, c)
		}
	}
	return out
}

// HasRowLevel reports whether the suite has a row-level check, i.e. whether
// the table needs an annotation pass at all.
func (s *Suite) HasRowLevel() bool { return len(s.RowLevelChecks()) > 0 }

// HasFlags reports whether the published table carries FlagsColumn: the
// suite has at least one keep rule.
func (s *Suite) HasFlags() bool {
	for _, c := range s.Checks {
		if c.RowLevel() && !c.Quarantine() {
			return true
		}
	}
	return false
}

// Check returns the check with the given id.
func (s *Suite) Check(id string) (Check, bool) {
	for _, c := range s.Checks {
		if c.ID == id {
			return c, true
		}
	}
	return Check{}, false
}

// Dependencies returns the other tables (layer.table) the suite's checks name
// (relationships' and reconcile's to, row_count's relative_to). They must be
// published (with their own gates applied) before this suite runs, or the
// checks see stale data. Tables referenced inside free SQL (expr, where,
// reference) are not detected.
func (s *Suite) Dependencies() []string {
	seen := map[string]bool{}
	var out []string
	add := func(t string) {
		if t != "" && t != s.Table && !seen[t] {
			seen[t] = true
			out = append(out, t)
		}
	}
	for _, c := range s.Checks {
		for _, r := range c.refs() {
			add(r.table)
		}
	}
	return out
}

// Result is the outcome of one check. Its JSON names are snake_case, like
// every JSON the CLI writes (run records, `check --format json`).
type Result struct {
	Table       string   `json:"table"`
	CheckID     string   `json:"check_id"`
	Kind        Kind     `json:"kind"`
	Description string   `json:"description"`
	Severity    Severity `json:"severity"`
	OnFail      OnFail   `json:"on_fail,omitempty"`
	File        string   `json:"file,omitempty"`
	Line        int      `json:"line,omitempty"`
	RowsChecked int64    `json:"rows_checked"`
	RowsFailed  int64    `json:"rows_failed"`
	Verdict     Verdict  `json:"verdict"`
	// Blocking: the table must not be published (a failed table-level error
	// check, or a row-level check over its max_failed_ratio).
	Blocking bool          `json:"blocking"`
	Observed string        `json:"observed,omitempty"` // what was measured (table-level), or the failing share (row-level)
	Examples []Example     `json:"examples,omitempty"` // up to MaxExamples failing rows (row-level)
	Duration time.Duration `json:"duration_ns"`
}

// Example is one failing row: its key columns and the reason.
type Example struct {
	Key    map[string]string `json:"key"`
	Reason string            `json:"reason"`
}

// MaxExamples is the number of failing rows Evaluate keeps per check.
const MaxExamples = 5
