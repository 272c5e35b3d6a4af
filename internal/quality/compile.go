package quality

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// AnnotateSQL returns one query that selects every column of relation plus
// FailuresColumn, the list of the row-level checks each row fails (see the
// package doc). All checks are evaluated in one pass over relation:
// expressions on the row, relationships as IN (SELECT field FROM
// "layer"."table") (a mark join; the referenced view must hold the rows its
// own gate let through), unique as a LEFT JOIN to the GROUP BY of the
// duplicated keys (a hash aggregate over relation, measured faster than a
// window, which sorts). relation must therefore be a table or view name. The
// rows come out in no particular order.
//
// A check's where restricts the rows it judges. NULL handling: not_null fails
// on NULL; every other kind passes a NULL value (unique ignores rows whose key
// has a NULL, relationships a NULL foreign key, expression a predicate that
// evaluates to NULL), as SQL constraints do; combine with not_null to forbid
// NULLs.
func AnnotateSQL(s *Suite, relation string) (string, error) {
	return annotateSQL(s, checkedRel{relation: relation})
}

// checkedRel is the relation a suite's row-level checks annotate. few says it
// holds a few rows of a large table (an incremental build's rebuilt keys):
// a relationship check then looks up only the values the relation holds,
// where a whole build hashes the referenced table once (measured at scale
// 10, customer_exists: 700 orders, 138 ms hashing silver.customers, 74 ms
// looking up; all 1 M orders, 386 ms hashing, 674 ms looking up).
type checkedRel struct {
	relation string
	few      bool
}

func annotateSQL(s *Suite, src checkedRel) (string, error) {
	relation := src.relation
	var elems, joins, flags, names []string
	for _, c := range s.Checks {
		k, ok := lookupKind(c.Kind)
		if !ok || k.compile == nil {
			continue
		}
		n := len(joins) + 1 // numbers the check's join and carried column
		r := k.compile(s, c, src, n)
		if r.join != "" {
			joins = append(joins, r.join)
		}
		if r.carry != "" {
			names = append(names, fmt.Sprintf("__nexus_n%d", n))
			flags = append(flags, fmt.Sprintf("        %s AS __nexus_n%d", r.carry, n))
		}
		fail := r.failWhere(c)
		name := fmt.Sprintf("__nexus_f%d", len(elems)+1)
		names = append(names, name)
		flags = append(flags, fmt.Sprintf("        %s AS %s", fail, name))
		elems = append(elems, fmt.Sprintf("            CASE WHEN %s THEN {'check_id': %s, 'reason': %s, 'quarantine': %t} END",
			name, lit(c.ID), r.reason, c.Quarantine()))
	}
	const empty = "CAST([] AS STRUCT(check_id VARCHAR, reason VARCHAR, quarantine BOOLEAN)[])"
	var b strings.Builder
	b.WriteString("-- quality annotation of " + s.Table + "\n")
	if len(elems) == 0 {
		b.WriteString("SELECT t.*, " + empty + " AS " + Ident(FailuresColumn) + "\nFROM " + relation + " AS t\n")
		return b.String(), nil
	}
	// The inner query computes each check's failure flag once (joins
	// included); the outer one builds the list of failures only for rows that
	// fail something: most rows pass, and building a list per row is the
	// costly part.
	b.WriteString("SELECT\n    t.* EXCLUDE (" + strings.Join(names, ", ") + "),\n")
	var failFlags []string
	for _, n := range names {
		if strings.HasPrefix(n, "__nexus_f") {
			failFlags = append(failFlags, n)
		}
	}
	b.WriteString("    CASE WHEN " + strings.Join(failFlags, " OR ") + " THEN list_filter([\n")
	b.WriteString(strings.Join(elems, ",\n"))
	b.WriteString("\n        ], lambda f: f IS NOT NULL)\n    ELSE " + empty + " END AS " + Ident(FailuresColumn) + "\n")
	b.WriteString("FROM (\n    SELECT\n        t.*,\n" + strings.Join(flags, ",\n") + "\n    FROM " + relation + " AS t")
	for _, j := range joins {
		b.WriteString("\n    " + j)
	}
	b.WriteString("\n) AS t\n")
	return b.String(), nil
}

// The compilers of the row-level kinds (see kindSpec.compile). A row's
// columns are t.<column>; n numbers the check's join alias and carried
// column.

func compileNotNull(_ *Suite, c Check, _ checkedRel, _ int) rowSQL {
	col := "t." + Ident(c.Column)
	return rowSQL{fail: col + " IS NULL", reason: lit(c.Column + " is NULL")}
}

// compileUnique joins the GROUP BY of the duplicated keys back: a hash
// aggregate, cheaper than a window (no sort). NULL keys never join, so they
// pass.
func compileUnique(_ *Suite, c Check, src checkedRel, n int) rowSQL {
	cols := c.Columns
	if len(cols) == 0 {
		cols = []string{c.Column}
	}
	alias := fmt.Sprintf("__nexus_u%d", n)
	var sel, group, on, vals []string
	for i, k := range cols {
		sel = append(sel, fmt.Sprintf("%s AS __nexus_k%d", Ident(k), i+1))
		group = append(group, Ident(k))
		on = append(on, fmt.Sprintf("%s.__nexus_k%d = t.%s", alias, i+1, Ident(k)))
		vals = append(vals, valueSQL("t."+Ident(k)))
	}
	join := fmt.Sprintf("LEFT JOIN (SELECT %s, count(*) AS __nexus_n FROM %s%s GROUP BY %s HAVING count(*) > 1) AS %s ON %s",
		strings.Join(sel, ", "), src.relation, whereClause(c.Where), strings.Join(group, ", "), alias, strings.Join(on, " AND "))
	v := vals[0]
	if len(vals) > 1 {
		v = "concat_ws(', ', " + strings.Join(vals, ", ") + ")"
	}
	var b concatSQL
	b.lit(strings.Join(cols, ", ") + " (")
	b.expr(v)
	b.lit(") is not unique: ")
	b.expr(fmt.Sprintf("CAST(t.__nexus_n%d AS VARCHAR)", n)) // the group's size, carried
	b.lit(" rows have it")
	return rowSQL{fail: alias + ".__nexus_n IS NOT NULL", reason: b.String(), join: join, carry: alias + ".__nexus_n"}
}

func compileAcceptedValues(_ *Suite, c Check, _ checkedRel, _ int) rowSQL {
	col := "t." + Ident(c.Column)
	vals := make([]string, len(c.Values))
	for i, v := range c.Values {
		vals[i] = lit(v)
	}
	what := "one of " + strconv.Itoa(len(c.Values)) + " accepted values"
	if len(c.Values) <= 10 {
		what = "one of " + strings.Join(c.Values, ", ")
	}
	return rowSQL{
		fail:   fmt.Sprintf("coalesce(%s NOT IN (%s), FALSE)", col, strings.Join(vals, ", ")),
		reason: fmt.Sprintf("concat(%s, %s, %s)", lit(c.Column+" ("), valueSQL(col), lit(") is not "+what)),
	}
}

func compileBetween(_ *Suite, c Check, _ checkedRel, _ int) rowSQL {
	col := "t." + Ident(c.Column)
	lo, hi := ">=", "<="
	if c.Exclusive {
		lo, hi = ">", "<"
	}
	var conds []string
	var desc string
	if c.Min != nil {
		conds = append(conds, fmt.Sprintf("%s %s %s", col, lo, boundSQL(*c.Min)))
	}
	if c.Max != nil {
		conds = append(conds, fmt.Sprintf("%s %s %s", col, hi, boundSQL(*c.Max)))
	}
	switch {
	case c.Min != nil && c.Max != nil && c.Exclusive:
		desc = fmt.Sprintf("is outside (%s, %s)", *c.Min, *c.Max)
	case c.Min != nil && c.Max != nil:
		desc = fmt.Sprintf("is outside [%s, %s]", *c.Min, *c.Max)
	case c.Min != nil:
		desc = fmt.Sprintf("is not %s %s", lo, *c.Min)
	default:
		desc = fmt.Sprintf("is not %s %s", hi, *c.Max)
	}
	return rowSQL{
		fail:   fmt.Sprintf("NOT coalesce(%s, TRUE)", strings.Join(conds, " AND ")),
		reason: fmt.Sprintf("concat(%s, %s, %s)", lit(c.Column+" ("), valueSQL(col), lit(") "+desc)),
	}
}

func compileRegex(_ *Suite, c Check, _ checkedRel, _ int) rowSQL {
	col := "t." + Ident(c.Column)
	return rowSQL{
		fail:   fmt.Sprintf("NOT coalesce(regexp_full_match(CAST(%s AS VARCHAR), %s), TRUE)", col, lit(c.Pattern)),
		reason: fmt.Sprintf("concat(%s, %s, %s)", lit(c.Column+" ("), valueSQL(col), lit(") does not match "+c.Pattern)),
	}
}

// compileRelationships uses IN (subquery), which plans as a mark join on the
// referenced keys; for a few rows (checkedRel.few), on the referenced keys among
// the relation's values, which DuckDB finds by a semi join built on those.
func compileRelationships(_ *Suite, c Check, src checkedRel, _ int) rowSQL {
	col := "t." + Ident(c.Column)
	field := c.Field
	if field == "" {
		field = c.Column
	}
	keys := fmt.Sprintf("SELECT %s FROM %s", Ident(field), TableRef(c.To))
	if src.few {
		keys += fmt.Sprintf(" WHERE %s IN (SELECT %s FROM %s)", Ident(field), Ident(c.Column), src.relation)
	}
	return rowSQL{
		fail:   fmt.Sprintf("(%s IS NOT NULL AND NOT coalesce(%s IN (%s), FALSE))", col, col, keys),
		reason: fmt.Sprintf("concat(%s, %s, %s)", lit(c.Column+" ("), valueSQL(col), lit(") not found in "+c.To+"."+field)),
	}
}

func compileExpression(s *Suite, c Check, _ checkedRel, _ int) rowSQL {
	fail := fmt.Sprintf("NOT coalesce((%s), TRUE)", c.Expr)
	if c.Message != "" {
		return rowSQL{fail: fail, reason: s.messageSQL(c.Message)}
	}
	var b concatSQL
	b.lit("expression failed: " + c.Expr)
	refs := s.exprColumns(c.Expr)
	for i, ref := range refs {
		if i == 0 {
			b.lit(" [")
		} else {
			b.lit(", ")
		}
		b.lit(ref + "=")
		b.expr(valueSQL("t." + Ident(ref)))
	}
	if len(refs) > 0 {
		b.lit("]")
	}
	return rowSQL{fail: fail, reason: b.String()}
}

// messageSQL renders a message template: {column} becomes "column (value)".
func (s *Suite) messageSQL(msg string) string {
	var b concatSQL
	last := 0
	for _, m := range placeholderRe.FindAllStringSubmatchIndex(msg, -1) {
		name := msg[m[2]:m[3]]
		b.lit(msg[last:m[0]] + name + " (")
		b.expr(valueSQL("t." + Ident(name)))
		b.lit(")")
		last = m[1]
	}
	b.lit(msg[last:])
	return b.String()
}

// concatSQL builds concat(...) of literals and expressions, merging adjacent
// literals.
type concatSQL struct {
	parts   []string
	pending strings.Builder
	hasLit  bool
}

func (c *concatSQL) lit(s string) {
	c.pending.WriteString(s)
	c.hasLit = true
}

func (c *concatSQL) expr(e string) {
	c.flush()
	c.parts = append(c.parts, e)
}

func (c *concatSQL) flush() {
	if c.hasLit && c.pending.Len() > 0 {
		c.parts = append(c.parts, lit(c.pending.String()))
	}
	c.pending.Reset()
	c.hasLit = false
}

func (c *concatSQL) String() string {
	c.flush()
	switch len(c.parts) {
	case 0:
		return "''"
	case 1:
		if strings.HasPrefix(c.parts[0], "'") {
			return c.parts[0]
		}
	}
	return "concat(" + strings.Join(c.parts, ", ") + ")"
}

var placeholderRe = regexp.MustCompile(`\{([A-Za-z_][A-Za-z0-9_]*)\}`)

func placeholders(msg string) []string {
	var out []string
	for _, m := range placeholderRe.FindAllStringSubmatch(msg, -1) {
		out = append(out, m[1])
	}
	return out
}

// exprColumns returns the columns an SQL expression references, in order of
// first appearance. With the suite's columns known (Validate), identifiers
// are matched against them; otherwise identifiers that are not keywords,
// function names, qualifiers or type names are taken.
func (s *Suite) exprColumns(expr string) []string {
	seen := map[string]bool{}
	var out []string
	toks := sqlTokens(expr)
	for i, tk := range toks {
		if tk.kind != tkIdent {
			continue
		}
		name := tk.text
		next := func(t string) bool { return i+1 < len(toks) && toks[i+1].text == t }
		prev := func(t string) bool { return i > 0 && strings.EqualFold(toks[i-1].text, t) }
		if next("(") || next(".") || prev(".") || prev("::") || prev("AS") {
			continue
		}
		if s.columns != nil {
			if !s.columns[name] {
				continue
			}
		} else if !tk.quoted && sqlKeywords[strings.ToUpper(name)] {
			continue
		}
		if !seen[name] {
			seen[name] = true
			out = append(out, name)
		}
	}
	return out
}

type tokKind int

const (
	tkIdent tokKind = iota
	tkString
	tkOther
)

type sqlToken struct {
	kind   tokKind
	text   string
	quoted bool
}

// sqlTokens is a small SQL lexer: identifiers (bare or "quoted"), string
// literals, and punctuation ("::" as one token); numbers and whitespace are
// dropped.
func sqlTokens(s string) []sqlToken {
	var out []sqlToken
	for i := 0; i < len(s); {
		ch := s[i]
		switch {
		case ch == '\'':
			j := i + 1
			for j < len(s) {
				if s[j] == '\'' {
					if j+1 < len(s) && s[j+1] == '\'' {
						j += 2
						continue
					}
					break
				}
				j++
			}
			out = append(out, sqlToken{kind: tkString, text: s[i:min(j+1, len(s))]})
			i = j + 1
		case ch == '"':
			j := i + 1
			var b strings.Builder
			for j < len(s) {
				if s[j] == '"' {
					if j+1 < len(s) && s[j+1] == '"' {
						b.WriteByte('"')
						j += 2
						continue
					}
					break
				}
				b.WriteByte(s[j])
				j++
			}
			out = append(out, sqlToken{kind: tkIdent, text: b.String(), quoted: true})
			i = j + 1
		case ch == '_' || ch >= 'a' && ch <= 'z' || ch >= 'A' && ch <= 'Z':
			j := i
			for j < len(s) && (s[j] == '_' || s[j] >= 'a' && s[j] <= 'z' || s[j] >= 'A' && s[j] <= 'Z' || s[j] >= '0' && s[j] <= '9') {
				j++
			}
			out = append(out, sqlToken{kind: tkIdent, text: s[i:j]})
			i = j
		case ch >= '0' && ch <= '9':
			j := i
			for j < len(s) && (s[j] >= '0' && s[j] <= '9' || s[j] == '.' || s[j] == 'e' || s[j] == 'E') {
				j++
			}
			i = j
		case ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r':
			i++
		case ch == ':' && i+1 < len(s) && s[i+1] == ':':
			out = append(out, sqlToken{kind: tkOther, text: "::"})
			i += 2
		default:
			out = append(out, sqlToken{kind: tkOther, text: string(ch)})
			i++
		}
	}
	return out
}

var sqlKeywords = func() map[string]bool {
	m := map[string]bool{}
	for _, k := range strings.Fields(`AND OR NOT IS NULL TRUE FALSE IN BETWEEN LIKE ILIKE GLOB SIMILAR TO ESCAPE
		CASE WHEN THEN ELSE END AS CAST TRY_CAST INTERVAL DATE TIME TIMESTAMP TIMESTAMPTZ WITH ZONE
		DISTINCT FROM SELECT WHERE EXISTS ANY ALL SOME COLLATE ASC DESC NULLS FIRST LAST ORDER BY GROUP
		VARCHAR TEXT INTEGER INT BIGINT SMALLINT TINYINT HUGEINT DOUBLE FLOAT REAL DECIMAL NUMERIC BOOLEAN
		YEAR YEARS MONTH MONTHS DAY DAYS HOUR HOURS MINUTE MINUTES SECOND SECONDS WEEK WEEKS
		CURRENT_DATE CURRENT_TIMESTAMP LAMBDA`) {
		m[k] = true
	}
	return m
}()

// Ident quotes an SQL identifier.
func Ident(name string) string { return `"` + strings.ReplaceAll(name, `"`, `""`) + `"` }

// TableRef quotes a layer.table name as "layer"."table".
func TableRef(name string) string {
	layer, table, ok := strings.Cut(name, ".")
	if !ok {
		return Ident(name)
	}
	return Ident(layer) + "." + Ident(table)
}

// Names says whether the check's own SQL (expr, where) names the table
// (layer.table), quoted or not, in any case, as DuckDB resolves it (TableRef
// writes "silver"."orders"): such a check reads it row by row, which its
// refs (Suite.Dependencies) do not say.
func (c Check) Names(table string) bool {
	layer, name, _ := strings.Cut(table, ".")
	re := regexp.MustCompile(`(?i)(^|[^a-z0-9_])"?` + regexp.QuoteMeta(layer) + `"?\s*\.\s*"?` + regexp.QuoteMeta(name) + `"?($|[^a-z0-9_])`)
	return re.MatchString(c.Expr) || re.MatchString(c.Where)
}

// lit quotes an SQL string literal.
func lit(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// valueSQL renders a value for a reason: its text, or NULL.
func valueSQL(expr string) string { return fmt.Sprintf("coalesce(CAST(%s AS VARCHAR), 'NULL')", expr) }

// boundSQL renders a between bound: a number as is, anything else as a string
// literal that DuckDB casts to the column's type.
func boundSQL(v string) string {
	v = strings.TrimSpace(v)
	if _, err := strconv.ParseFloat(v, 64); err == nil && !strings.ContainsAny(v, "xXnN") {
		return v
	}
	return lit(v)
}

// Quarantined is the SQL condition, on an annotated row, "the row fails a
// quarantine check": the one definition of which rows leave the flow.
const Quarantined = `len(list_filter("` + FailuresColumn + `", lambda f: f.quarantine)) > 0`

// PublishSQL selects the rows of an annotated table that go on: those failing
// no quarantine check (rows failing only keep checks included), with the
// relation's columns, where the columns a failed keep check names in nulls
// are NULL, plus FlagsColumn when the suite has keep rules (see the package
// doc). Columns keep their order; FlagsColumn comes last.
func PublishSQL(s *Suite, annotated string) string {
	ids := fmt.Sprintf("list_transform(%s, lambda f: f.check_id)", Ident(FailuresColumn))
	// The checks that null each column, columns in order of first mention.
	var cols []string
	by := map[string][]string{}
	for _, c := range s.Checks {
		if !c.RowLevel() || c.Quarantine() {
			continue
		}
		for _, col := range c.Nulls {
			if _, ok := by[col]; !ok {
				cols = append(cols, col)
			}
			by[col] = append(by[col], lit(c.ID))
		}
	}
	sel := "* EXCLUDE (" + Ident(FailuresColumn) + ")"
	if len(cols) > 0 {
		var repl []string
		for _, col := range cols {
			repl = append(repl, fmt.Sprintf("CASE WHEN list_has_any(%s, [%s]) THEN NULL ELSE %s END AS %s",
				ids, strings.Join(by[col], ", "), Ident(col), Ident(col)))
		}
		sel += " REPLACE (" + strings.Join(repl, ", ") + ")"
	}
	if s.HasFlags() {
		// A published row fails no quarantine check: its failures are its flags.
		sel += ", " + ids + " AS " + Ident(FlagsColumn)
	}
	return fmt.Sprintf("SELECT %s FROM %s WHERE NOT (%s)", sel, annotated, Quarantined)
}

// QuarantineSQL selects the rows of an annotated table that leave the flow,
// once each: the relation's columns plus check_id (the ids of the quarantine
// checks it fails, comma-separated, in suite order), reason (their reasons,
// '; '-separated) and FailuresColumn (every failure, keep ones included).
func QuarantineSQL(annotated string) string {
	q := fmt.Sprintf("list_filter(%s, lambda f: f.quarantine)", Ident(FailuresColumn))
	return fmt.Sprintf(`SELECT * EXCLUDE (%[1]s),
    array_to_string(list_transform(%[2]s, lambda f: f.check_id), ', ') AS check_id,
    array_to_string(list_transform(%[2]s, lambda f: f.reason), '; ') AS reason,
    %[1]s
FROM %[3]s WHERE %[4]s`, Ident(FailuresColumn), q, annotated, Quarantined)
}
