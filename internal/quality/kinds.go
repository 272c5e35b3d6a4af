package quality

import (
	"context"
	"database/sql"
	"fmt"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strings"
)

// Kind names a check kind: the kind: of a check in a suite.
type Kind string

// Check kinds: one entry each in the registry (see registry below).
const (
	KindNotNull        Kind = "not_null"
	KindUnique         Kind = "unique"
	KindAcceptedValues Kind = "accepted_values"
	KindBetween        Kind = "between"
	KindRegex          Kind = "regex"
	KindRelationships  Kind = "relationships"
	KindExpression     Kind = "expression"
	KindRowCount       Kind = "row_count"
	KindSchema         Kind = "schema"
	KindFreshness      Kind = "freshness"
	KindReconcile      Kind = "reconcile"
)

// KindRowAccounting is the kind of the result a gated build adds for each
// model: rows built = rows published + rows quarantined. It is no suite kind
// (not in the registry): a suite cannot declare it.
const KindRowAccounting Kind = "row_accounting"

// BuildOnly reports whether only a build judges results of kind k: a later
// `nexus check` of the table does not replace them.
func (k Kind) BuildOnly() bool { return k == KindRowAccounting }

// KindDamaged is the kind of the result `nexus check` gives a table it
// cannot read (a damaged table, or a suite whose checks read one). It is no
// suite kind either.
const KindDamaged Kind = "damaged"

// Level says what a kind judges: each row, or the table as a whole.
type Level string

// Levels.
const (
	LevelRow   Level = "row"
	LevelTable Level = "table"
)

// FieldDoc documents one suite field of a check.
type FieldDoc struct {
	Name     string // the YAML key
	Type     string // its YAML type: string, integer, number, boolean, list of strings, ...
	Required bool
	Doc      string
}

// KindDoc describes one check kind: the read-only view of the registry that
// the check reference is rendered from (Reference).
type KindDoc struct {
	Kind   Kind
	Level  Level
	Doc    string
	Fields []FieldDoc // the fields the kind accepts beyond CommonFields, in reference order
	// Example is a check of the kind in a suite of Example.Table.
	Example KindExample
}

// KindExample is a check as written in the suite of Table: one YAML list item.
type KindExample struct {
	Table string
	YAML  string
}

// kindSpec is everything the package knows about one kind. Adding a kind is
// adding one kindSpec to newRegistry.
type kindSpec struct {
	kind Kind
	doc  string
	// fields are the kind's own fields; a row-level kind also accepts
	// rowFields, appended by newRegistry.
	fields []FieldDoc
	// example is a check of the kind, shown in the reference (and checked
	// against the real tables by internal/docgen's tests).
	example KindExample
	// check validates a parsed check beyond the presence of its required
	// fields, and fills defaults. Nil: nothing more to check.
	check func(c *Check, at checkAt) error
	// refs are the tables and columns the check names, for Validate; the
	// tables other than the suite's own are its Dependencies. Nil: none.
	refs func(c Check) []ref
	// compile (row-level kinds) returns the failure predicate of a row.
	compile func(s *Suite, c Check, src checkedRel, n int) rowSQL
	// eval (table-level kinds) judges the rows to publish as a whole.
	eval func(ctx context.Context, db *sql.DB, c Check, in tableInput, r *Result) error
	// agg (table-level kinds that aggregate) compiles the check to
	// aggregates, which Evaluate computes with those of the suite's other
	// checks in one query; newRegistry derives eval from it.
	agg func(c Check, in tableInput) aggPlan
	// query (table-level kinds without agg) is the SQL eval runs, for the
	// reference.
	query func(c Check, in tableInput) string
}

func (k *kindSpec) level() Level {
	if k.compile != nil {
		return LevelRow
	}
	return LevelTable
}

// rowSQL is a compiled row-level check (see AnnotateSQL).
type rowSQL struct {
	fail   string // the failure predicate, never NULL
	reason string // SQL expression of the reason
	join   string // a join clause the predicate needs, or ""
	// carry is an expression of the joined relation the reason reads,
	// selected in the inner query as __nexus_n<n> (unique: the group size).
	carry string
}

// failWhere is the failure predicate restricted to the rows c's where
// selects.
func (r rowSQL) failWhere(c Check) string {
	if c.Where == "" {
		return r.fail
	}
	return fmt.Sprintf("coalesce((%s), FALSE) AND %s", c.Where, r.fail)
}

// tableInput is what a table-level check reads.
type tableInput struct {
	relation string // the rows that would be published
	built    string // every row the build produced, published and quarantined
	// parts, when set, says how relation and built are made of kept totals
	// and a few rows (an incremental build); totals, when set, receives the
	// new totals of their additive aggregates.
	parts  *Parts
	totals Totals
}

// ref is a table or column a check names.
type ref struct {
	field  string // the suite field that names it, for errors
	table  string // layer.table; "" = the suite's table
	column string // "" = the table itself
}

// checkAt builds the parse errors of one check, at the line of a field.
type checkAt struct {
	file    string
	line    int            // the check's first line
	keyLine map[string]int // line of each key present
	id      string
}

// err is "FILE:LINE: check ID: message", at field's line ("" or absent:
// the check's first line).
func (a checkAt) err(field, format string, args ...any) error {
	line := a.line
	if l, ok := a.keyLine[field]; ok {
		line = l
	}
	return errAt(a.file, line, "check %s: %s", a.id, fmt.Sprintf(format, args...))
}

// registry holds the check kinds. Built once at package initialization and
// never modified: the package's only tables are read-only.
var registry = newRegistry()

type kindRegistry struct {
	order  []*kindSpec // reference order: as listed in newRegistry, row-level kinds first
	byKind map[Kind]*kindSpec
	common map[string]bool // CommonFields by name
}

func lookupKind(k Kind) (*kindSpec, bool) {
	s, ok := registry.byKind[k]
	return s, ok
}

// Fields every check has.
var commonFieldDocs = []FieldDoc{
	{Name: "id", Required: true, Doc: "Identifier of the check, unique in its suite: letters, digits, `_`, `.`, `-`. A project suite's check with the id of an embedded check replaces it."},
	{Name: "kind", Required: true, Doc: "One of the kinds below."},
	{Name: "description", Doc: "What the check guards, shown in reports."},
	{Name: "severity", Doc: "`error` (default) or `warn`. A failed check's verdict is `fail` when its severity is error, `warn` when it is warn."},
	{Name: "disabled", Doc: "`true` removes the check: a project suite switches an embedded check off by its id (no other field needed)."},
}

// Fields every row-level kind accepts, after its own.
var rowFieldDocs = []FieldDoc{
	{Name: "where", Doc: "SQL predicate: only the rows where it is TRUE are checked."},
	{Name: "on_fail", Doc: "`quarantine` (default): a failing row leaves the flow, into the table's quarantine. `keep`: it is published, its check id listed in `quality_flags`."},
	{Name: "max_failed_ratio", Doc: "Share of the checked rows (0 to 1): with severity error, when more rows than that fail, the table is not published (blocking). Default: never blocks."},
	{Name: "nulls", Doc: "With `on_fail: keep` only: the columns (measures) the defect corrupts; they are published as NULL on the failing rows, the rest of the row as is."},
}

func newRegistry() kindRegistry {
	column := func(doc string) FieldDoc { return FieldDoc{Name: "column", Required: true, Doc: doc} }
	thisColumn := func(c Check) []ref { return []ref{{field: "column", column: c.Column}} }
	specs := []*kindSpec{
		{
			kind: KindNotNull,
			example: KindExample{Table: "silver.orders", YAML: `- id: purchase_not_null
  kind: not_null
  column: order_purchase_timestamp
  description: Every order has a purchase instant.
  max_failed_ratio: 0.01`},
			doc:     "Fails a row whose `column` is NULL.",
			fields:  []FieldDoc{column("The column that must not be NULL.")},
			refs:    thisColumn,
			compile: compileNotNull,
		},
		{
			kind: KindUnique,
			example: KindExample{Table: "silver.order_reviews", YAML: `- id: review_key_unique
  kind: unique
  columns: [review_id, order_id]
  description: (review_id, order_id) identifies one review.
  max_failed_ratio: 0.01`},
			doc: "Fails every row whose key (`column`, or the compound key `columns`) appears more than once among the checked rows. " +
				"A row whose key has a NULL passes. Set exactly one of `column` and `columns`.",
			fields: []FieldDoc{
				{Name: "column", Doc: "The key column."},
				{Name: "columns", Doc: "The columns of a compound key."},
			},
			check: func(c *Check, at checkAt) error {
				if (c.Column == "") == (len(c.Columns) == 0) {
					return at.err("", "unique needs column or columns (one of them)")
				}
				return nil
			},
			refs: func(c Check) []ref {
				out := []ref{{field: "column", column: c.Column}}
				for _, col := range c.Columns {
					out = append(out, ref{field: "columns", column: col})
				}
				return out
			},
			compile: compileUnique,
		},
		{
			kind: KindAcceptedValues,
			example: KindExample{Table: "silver.orders", YAML: `- id: status_known
  kind: accepted_values
  column: order_status
  values: [delivered, shipped, canceled, unavailable, invoiced, processing, created, approved]
  max_failed_ratio: 0.01`},
			doc: "Fails a row whose `column` is not one of `values`. NULL passes.",
			fields: []FieldDoc{
				column("The column."),
				{Name: "values", Required: true, Doc: "The accepted values (not empty), literals DuckDB casts to the column's type."},
			},
			check: func(c *Check, at checkAt) error {
				if len(c.Values) == 0 {
					return at.err("values", "values is empty")
				}
				return nil
			},
			refs:    thisColumn,
			compile: compileAcceptedValues,
		},
		{
			kind: KindBetween,
			example: KindExample{Table: "gold.dim_customer", YAML: `- id: lat_in_brazil
  kind: between
  column: geolocation_lat
  min: "-33.75"
  max: "5.3"
  description: Latitude inside Brazil's bounding box.`},
			doc: "Fails a row whose `column` is outside the bounds. NULL passes. Needs `min`, `max` or both.",
			fields: []FieldDoc{
				column("The column."),
				{Name: "min", Type: "number or string", Doc: "Lower bound: a number, or a literal DuckDB casts to the column's type (`'2016-01-01'`)."},
				{Name: "max", Type: "number or string", Doc: "Upper bound, like `min`."},
				{Name: "exclusive", Doc: "`true`: a value equal to a bound fails (default: the bounds are inclusive)."},
			},
			check: func(c *Check, at checkAt) error {
				if c.Min == nil && c.Max == nil {
					return at.err("", "between needs min, max or both")
				}
				return nil
			},
			refs:    thisColumn,
			compile: compileBetween,
		},
		{
			kind: KindRegex,
			example: KindExample{Table: "silver.customers", YAML: `- id: zip_5_digits
  kind: regex
  column: customer_zip_code_prefix
  pattern: "[0-9]{5}"
  severity: warn
  on_fail: keep`},
			doc: "Fails a row whose `column`, as text, does not match `pattern` as a whole. NULL passes.",
			fields: []FieldDoc{
				column("The column."),
				{Name: "pattern", Required: true, Doc: "RE2 regular expression the whole value must match."},
			},
			check: func(c *Check, at checkAt) error {
				if _, err := regexp.Compile(c.Pattern); err != nil {
					return at.err("pattern", "pattern: %v", err)
				}
				return nil
			},
			refs:    thisColumn,
			compile: compileRegex,
		},
		{
			kind: KindRelationships,
			example: KindExample{Table: "gold.fact_reviews", YAML: `- id: customer_exists
  kind: relationships
  column: customer_unique_id
  to: gold.dim_customer
  max_failed_ratio: 0`},
			doc: "Fails a row whose `column` is not NULL and is not found in `field` of the table `to` (a foreign key). " +
				"The referenced table is read as its own gate published it, so its suite runs first.",
			fields: []FieldDoc{
				column("The referencing column."),
				{Name: "to", Required: true, Doc: "The referenced table, `layer.table`."},
				{Name: "field", Doc: "The referenced column (default: `column`)."},
			},
			check: func(c *Check, at checkAt) error {
				if !tableName.MatchString(c.To) {
					return at.err("to", "to %q is not layer.table", c.To)
				}
				if c.Field == "" {
					c.Field = c.Column
				}
				return nil
			},
			refs: func(c Check) []ref {
				return []ref{{field: "column", column: c.Column}, {field: "to", table: c.To}, {field: "field", table: c.To, column: c.Field}}
			},
			compile: compileRelationships,
		},
		{
			kind: KindExpression,
			example: KindExample{Table: "silver.orders", YAML: `- id: delivered_after_purchase
  kind: expression
  expr: order_delivered_customer_date >= order_purchase_timestamp
  message: "{order_delivered_customer_date} is before {order_purchase_timestamp}"
  severity: warn
  on_fail: keep
  nulls: [delivery_days, is_late]`},
			doc: "Fails a row for which the SQL predicate `expr` is FALSE. NULL passes, as in a SQL CHECK constraint.",
			fields: []FieldDoc{
				{Name: "expr", Required: true, Doc: "SQL predicate over the table's columns that must be TRUE."},
				{Name: "message", Doc: "The failure reason, where `{column}` becomes `column (value)`. Default: `expression failed: <expr>` with the values of the columns it references."},
			},
			refs: func(c Check) []ref {
				var out []ref
				for _, ph := range placeholders(c.Message) {
					out = append(out, ref{field: "message", column: ph})
				}
				return out
			},
			compile: compileExpression,
		},
		{
			kind: KindRowCount,
			example: KindExample{Table: "gold.fact_sales", YAML: `- id: items_kept
  kind: row_count
  min_rows: 1
  relative_to: silver.order_items
  min_ratio: 0.99
  max_ratio: 1`},
			doc: "Fails when the number of rows to publish is outside `min_rows`..`max_rows`, or when its ratio to the row count of " +
				"`relative_to` is outside `min_ratio`..`max_ratio`. Needs `min_rows`, `max_rows` or `relative_to`.",
			fields: []FieldDoc{
				{Name: "min_rows", Doc: "Fewest rows."},
				{Name: "max_rows", Doc: "Most rows."},
				{Name: "relative_to", Doc: "Another table, `layer.table`, whose row count the count is compared with; needs `min_ratio`, `max_ratio` or both."},
				{Name: "min_ratio", Doc: "Lowest rows / rows of `relative_to`."},
				{Name: "max_ratio", Doc: "Highest rows / rows of `relative_to`."},
				{Name: "where", Doc: "SQL predicate: count only these rows (of this table)."},
			},
			check: func(c *Check, at checkAt) error {
				if c.MinRows == nil && c.MaxRows == nil && c.RelativeTo == "" {
					return at.err("", "row_count needs min_rows, max_rows or relative_to")
				}
				if c.RelativeTo != "" {
					if !tableName.MatchString(c.RelativeTo) {
						return at.err("relative_to", "relative_to %q is not layer.table", c.RelativeTo)
					}
					if c.MinRatio == nil && c.MaxRatio == nil {
						return at.err("relative_to", "relative_to needs min_ratio, max_ratio or both")
					}
				} else if c.MinRatio != nil || c.MaxRatio != nil {
					return at.err("min_ratio", "min_ratio/max_ratio need relative_to")
				}
				return nil
			},
			refs: func(c Check) []ref {
				if c.RelativeTo == "" {
					return nil
				}
				return []ref{{field: "relative_to", table: c.RelativeTo}}
			},
			agg: rowCountAgg,
		},
		{
			kind: KindSchema,
			example: KindExample{Table: "gold.mart_monthly_sales", YAML: `- id: schema
  kind: schema
  expect:
    month: DATE
    revenue: DECIMAL(18,2)
    orders: BIGINT
  ignore: [year]`},
			doc: "Fails when the published columns differ from `expect`: a missing column, another type (aliases such as " +
				"TIMESTAMPTZ and TIMESTAMP WITH TIME ZONE are equal) or an extra column. The gate's own columns " +
				"(`" + FailuresColumn + "`, `" + FlagsColumn + "`) are ignored. The expected columns are not validated " +
				"against the model: drift is what the check reports.",
			fields: []FieldDoc{
				{Name: "expect", Type: "mapping of strings to strings", Required: true, Doc: "Column name to DuckDB type (`order_id: VARCHAR`), not empty."},
				{Name: "ignore", Doc: "Columns neither expected nor reported as extra (e.g. hive partition columns a reader adds)."},
			},
			check: func(c *Check, at checkAt) error {
				if len(c.Expect) == 0 {
					return at.err("expect", "expect is empty")
				}
				return nil
			},
			eval:  evalSchema,
			query: func(_ Check, in tableInput) string { return schemaQuery(in.relation) },
		},
		{
			kind: KindFreshness,
			example: KindExample{Table: "silver.orders", YAML: `- id: purchases_fresh
  kind: freshness
  column: order_purchase_timestamp
  max_age: 30 days
  reference: (SELECT max(_ingested_at) FROM bronze.orders)
  severity: warn`},
			doc: "Fails when the newest value of `column` is older than `max_age` at the reference time, or when there is no value at all.",
			fields: []FieldDoc{
				column("A timestamp or date column."),
				{Name: "max_age", Required: true, Doc: "DuckDB interval, e.g. `'2 days'`."},
				{Name: "reference", Doc: "SQL expression of the time to compare with; may be a scalar subquery (default: `now()`)."},
				{Name: "where", Doc: "SQL predicate: consider only these rows."},
			},
			refs: thisColumn,
			agg:  freshnessAgg,
		},
		{
			kind: KindReconcile,
			example: KindExample{Table: "silver.order_payments", YAML: `- id: payments_bronze_reconcile
  kind: reconcile
  expr: sum(payment_value)
  include_quarantined: true
  to: bronze.order_payments
  to_distinct: true
  tolerance: 0.005`},
			doc: "Fails when the aggregate `expr` over this table and `to_expr` over the table `to` differ by more than `tolerance`. " +
				"An aggregate over no rows counts as 0. Needs `to` or `to_expr`.",
			fields: []FieldDoc{
				{Name: "expr", Required: true, Doc: "Aggregate over this table, e.g. `sum(payment_value)`."},
				{Name: "to", Doc: "The other table, `layer.table` (default: this table, and then `to_expr` is required)."},
				{Name: "to_expr", Doc: "Aggregate over the other table (default: `expr`)."},
				{Name: "where", Doc: "SQL predicate on this table."},
				{Name: "to_where", Doc: "SQL predicate on the other table."},
				{Name: "tolerance", Doc: "Largest accepted absolute difference, >= 0 (default 0)."},
				{Name: "include_quarantined", Doc: "`true`: this table's side also counts the rows its gate quarantined (published + quarantined = every row built)."},
				{Name: "to_distinct", Doc: "`true`: the other side counts each exact duplicate record once (DISTINCT over its columns not starting with `_`), as Silver models drop exact duplicates."},
			},
			check: func(c *Check, at checkAt) error {
				if c.To == "" {
					// Both sides on this table: to_expr is required.
					if c.ToExpr == "" {
						return at.err("", "reconcile needs to (another table) or to_expr (on this table)")
					}
				} else if !tableName.MatchString(c.To) {
					return at.err("to", "to %q is not layer.table", c.To)
				}
				if c.ToExpr == "" {
					c.ToExpr = c.Expr
				}
				if c.Tolerance < 0 {
					return at.err("tolerance", "tolerance must be >= 0")
				}
				return nil
			},
			refs: func(c Check) []ref {
				if c.To == "" {
					return nil
				}
				return []ref{{field: "to", table: c.To}}
			},
			agg: reconcileAgg,
		},
	}

	types := yamlTypes()
	typed := func(fs []FieldDoc) []FieldDoc {
		out := slices.Clone(fs)
		for i := range out {
			t, ok := types[out[i].Name]
			if !ok {
				panic("quality: registry field " + out[i].Name + " is not a yaml field of Check")
			}
			if out[i].Type == "" { // else the entry says it better
				out[i].Type = t
			}
		}
		return out
	}
	r := kindRegistry{byKind: map[Kind]*kindSpec{}, common: map[string]bool{}}
	for _, f := range commonFieldDocs {
		r.common[f.Name] = true
	}
	for _, s := range specs {
		if s.agg != nil {
			if s.eval != nil {
				panic("quality: kind " + string(s.kind) + " has both agg and eval")
			}
			s.eval = aggEval(s.agg)
		}
		if s.compile == nil && s.agg == nil && s.query == nil {
			panic("quality: kind " + string(s.kind) + " has no SQL for the reference (agg or query)")
		}
		if s.example.Table == "" {
			panic("quality: kind " + string(s.kind) + " has no example")
		}
		if (s.compile == nil) == (s.eval == nil) {
			panic("quality: kind " + string(s.kind) + " needs exactly one of compile and eval")
		}
		if _, dup := r.byKind[s.kind]; dup {
			panic("quality: kind " + string(s.kind) + " registered twice")
		}
		fields := s.fields
		if s.level() == LevelRow {
			fields = append(slices.Clone(fields), rowFieldDocs...)
		}
		s.fields = typed(fields)
		r.order = append(r.order, s)
		r.byKind[s.kind] = s
	}
	return r
}

// yamlTypes maps each yaml key of Check to its YAML type, for the reference.
func yamlTypes() map[string]string {
	out := map[string]string{}
	t := reflect.TypeFor[Check]()
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "" || name == "-" {
			continue
		}
		out[name] = yamlType(f.Type)
	}
	return out
}

// yamlType names a Go type the way a suite author sees it.
func yamlType(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.String:
		return "string"
	case reflect.Bool:
		return "boolean"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return "integer"
	case reflect.Float32, reflect.Float64:
		return "number"
	case reflect.Slice:
		return "list of " + yamlType(t.Elem()) + "s"
	case reflect.Map:
		return "mapping of " + yamlType(t.Elem()) + "s"
	}
	return t.String()
}

// Kinds returns the check kinds, row-level first, as the registry describes
// them. The result is a copy: changing it changes nothing.
func Kinds() []KindDoc {
	out := make([]KindDoc, 0, len(registry.order))
	for _, s := range registry.order {
		out = append(out, KindDoc{Kind: s.kind, Level: s.level(), Doc: s.doc, Fields: slices.Clone(s.fields), Example: s.example})
	}
	return out
}

// CommonFields returns the fields every check has, whatever its kind.
func CommonFields() []FieldDoc {
	types := yamlTypes()
	out := slices.Clone(commonFieldDocs)
	for i := range out {
		out[i].Type = types[out[i].Name]
	}
	return out
}

func kindNames() []string {
	out := make([]string, 0, len(registry.order))
	for _, s := range registry.order {
		out = append(out, string(s.kind))
	}
	sort.Strings(out)
	return out
}

// Reference renders the reference of the quality checks (Markdown) from the
// registry: the fields every check has, then each kind with its fields, an
// example and the SQL the example compiles to, then how severity, on_fail
// and max_failed_ratio decide what happens to the rows and the table.
func Reference() (string, error) {
	var b strings.Builder
	b.WriteString("# Quality checks\n\n")
	b.WriteString("<!-- Generated from the check kind registry (internal/quality/kinds.go) by quality.Reference; do not edit. -->\n\n")
	b.WriteString("A suite (`internal/quality/suites/<layer>.<table>.yaml`, or `DIR/suites/*.yaml` of a `--project DIR`) lists the checks of one table: `table: layer.table` and `checks:`, a list of checks.\n")
	b.WriteString("Row-level kinds judge each row: a failing row is quarantined (`on_fail: quarantine`) or kept and flagged (`on_fail: keep`).\n")
	b.WriteString("Table-level kinds judge the rows to publish as a whole: a failed one with severity error blocks the publish.\n")
	b.WriteString("What each combination does is in [Severity, on_fail and max_failed_ratio](#severity-on_fail-and-max_failed_ratio).\n\n")
	b.WriteString("Each kind below shows an example and the SQL (DuckDB) it compiles to. In that SQL the table's name stands for the rows\n")
	b.WriteString("judged: in a build, a row-level check reads the model's rows before the gate and a table-level one the rows to publish.\n")
	b.WriteString("A suite's row-level checks are compiled into one query (see [One pass per table](#one-pass-per-table)), and its\n")
	b.WriteString("table-level aggregates into another.\n\n")
	b.WriteString("## Fields of every check\n\n")
	writeFields(&b, CommonFields())
	for _, level := range []Level{LevelRow, LevelTable} {
		title := "Row-level kinds"
		if level == LevelTable {
			title = "Table-level kinds"
		}
		b.WriteString("\n## " + title + "\n")
		for _, k := range Kinds() {
			if k.Level != level {
				continue
			}
			b.WriteString("\n### " + string(k.Kind) + "\n\n" + k.Doc + "\n\n")
			writeFields(&b, k.Fields)
			if err := writeExample(&b, k); err != nil {
				return "", err
			}
		}
	}
	if err := writeOnePass(&b); err != nil {
		return "", err
	}
	b.WriteString(interaction)
	return b.String(), nil
}

// ExampleRelations are the relations the reference compiles the example of
// a kind of table against: the table itself, and for what a build produced
// (reconcile's include_quarantined) the table plus its quarantine.
func ExampleRelations(table string) (relation, built string) {
	return TableRef(table), TableRef(table) + " /* + the rows its gate quarantined */"
}

func writeExample(b *strings.Builder, k KindDoc) error {
	s, err := ExampleSuite(k.Example)
	if err != nil {
		return fmt.Errorf("example of %s: %w", k.Kind, err)
	}
	c := s.Checks[0]
	rel, built := ExampleRelations(s.Table)
	comp, err := Compile(s, c, rel, built)
	if err != nil {
		return fmt.Errorf("example of %s: %w", k.Kind, err)
	}
	fmt.Fprintf(b, "\nExample, in the suite of `%s`:\n\n```yaml\n%s\n```\n\n", s.Table, k.Example.YAML)
	if comp.Level == LevelRow {
		b.WriteString("A row fails when:\n\n```sql\n" + comp.Fail + "\n```\n\nwith the reason:\n\n```sql\n" + comp.Reason + "\n```\n")
		if comp.Join != "" {
			b.WriteString("\nwhich needs the join:\n\n```sql\n" + comp.Join + "\n```\n")
		}
		return nil
	}
	b.WriteString("It judges the values of:\n\n```sql\n" + comp.Query + "\n```\n")
	return nil
}

// writeOnePass shows a whole suite compiled: the annotation of every row,
// and the split into the rows to publish and the rows to quarantine.
func writeOnePass(b *strings.Builder) error {
	src := "table: silver.orders\nchecks:\n"
	var ids []string
	for _, k := range Kinds() {
		if k.Level == LevelRow && k.Example.Table == "silver.orders" {
			for _, l := range strings.Split(k.Example.YAML, "\n") {
				src += "  " + l + "\n"
			}
			s, err := ExampleSuite(k.Example)
			if err != nil {
				return err
			}
			ids = append(ids, "`"+s.Checks[0].ID+"`")
		}
	}
	s, err := ParseSuite("example of silver.orders", []byte(src))
	if err != nil {
		return err
	}
	annotate, err := AnnotateSQL(s, TableRef(s.Table))
	if err != nil {
		return err
	}
	const checked = `"silver"."orders__checked"`
	b.WriteString("\n## One pass per table\n\n")
	fmt.Fprintf(b, "The gate materializes the model's rows once, with the row-level checks of its suite in one pass: every row gets `%s`, the list of the checks it fails. For the suite of `silver.orders` made of the examples above (%s):\n\n", FailuresColumn, strings.Join(ids, ", "))
	b.WriteString("```sql\n" + strings.TrimSpace(annotate) + "\n```\n\n")
	fmt.Fprintf(b, "Materialized as `%s`, it is split into the rows to publish (their `%s` listing the keep rules they fail, and the measures named in `nulls` set to NULL)\n\n", checked, FlagsColumn)
	b.WriteString("```sql\n" + PublishSQL(s, checked) + "\n```\n\n")
	fmt.Fprintf(b, "and the rows that leave the flow, into `quarantine.silver_orders`:\n\n```sql\n%s\n```\n", QuarantineSQL(checked))
	return nil
}

// interaction is how severity, on_fail and max_failed_ratio combine (the
// package doc says the same to programmers; docs/quality_checks.md appends
// the outcomes measured on the real gate).
const interaction = `
## Severity, on_fail and max_failed_ratio

Three fields decide what a failure does, each about something else:

- ` + "`severity`" + ` (error, the default, or warn) names the verdict of a failed check: ` + "`fail`" + ` or ` + "`warn`" + `.
  Verdicts are recorded in the run record, shown by ` + "`nexus check`" + ` and the quality report, and counted by
  the scheduler's ` + "`olist_data_quality`" + ` job, which fails on a ` + "`fail`" + ` verdict (and alerts).
- ` + "`on_fail`" + ` (row-level kinds only) says where a failing row goes: ` + "`quarantine`" + ` (the default) takes it
  out of the flow into ` + "`quarantine.<layer>_<table>`" + ` with its reasons; ` + "`keep`" + ` publishes it, with the
  check's id in its ` + "`quality_flags`" + ` and the columns of ` + "`nulls`" + ` set to NULL on it. The severity
  does not change where the row goes: a ` + "`warn`" + ` rule with the default ` + "`on_fail`" + ` still quarantines.
- Blocking (the table is not published: its previous version stays, and every model downstream is skipped):
  - a table-level check blocks when it fails with severity error; with warn it never blocks;
  - a row-level check blocks only with ` + "`max_failed_ratio`" + ` and severity error, when the share of failing rows
    among the rows it checked (its ` + "`where`" + `) exceeds the ratio (so ` + "`max_failed_ratio: 0`" + ` blocks on
    one failing row). Without ` + "`max_failed_ratio`" + `, or with severity warn, a row-level check never blocks:
    the rows that remain are published. In an incremental build the check is counted and judged on the whole
    table as it will be, not on the rebuilt rows alone: its rows checked and failed, its verdict and its ratio
    are those a full build would give (its example rows come from the rows rebuilt).
- In an incremental build, table-level checks judge the whole table as it will be too. Their additive
  aggregates (` + "`count(*)`" + `, ` + "`sum(x)`" + `, without ` + "`where`" + `) come from the totals kept with the last version, less the
  rows replaced, plus the rows rebuilt, not from a read of the table; so does a ` + "`reconcile`" + `'s ` + "`to`" + ` side
  (with ` + "`to_distinct`" + ` too) when it is a Bronze input of the model that only gained rows since: its rows of
  the rebuilt keys before and after. Anything else is read whole.

A row failing several checks is one row: quarantined when any of them quarantines (its ` + "`check_id`" + ` and
` + "`reason`" + ` list every quarantining check), else published with every keep rule it fails in its flags.
`

func writeFields(b *strings.Builder, fields []FieldDoc) {
	b.WriteString("| field | type | required | meaning |\n|---|---|---|---|\n")
	for _, f := range fields {
		req := ""
		if f.Required {
			req = "yes"
		}
		fmt.Fprintf(b, "| `%s` | %s | %s | %s |\n", f.Name, f.Type, req, strings.ReplaceAll(f.Doc, "|", `\|`))
	}
}
