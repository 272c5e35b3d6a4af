package quality

import (
	"fmt"
	"regexp"
	"sort"
	"strings"
)

// Totals of the additive aggregates (count(*), sum(x)) that table-level
// checks take over a whole table: kept with each table version, they let
// the next incremental build judge those checks from the totals, the rows
// it replaces and the rows it adds, instead of reading the table again.
// Exact: a total keeps DuckDB's type and text (a DECIMAL sum stays
// decimal), so the value is the one a read of the whole table gives.
//
// Keys are a side ("table:" the rows published, "built:" those and the
// rows quarantined) and the aggregate's SQL; a value is "TYPE=text", or
// "TYPE" for NULL. Opaque outside this file.
type Totals map[string]string

// Parts says how an incremental build's relations (EvalOptions.Relation
// and Built) are made: the previous version's Totals, less the rows it
// replaces (Minus, BuiltMinus), plus the rows it adds (Plus, BuiltPlus).
// Each is a query or a table name.
//
// Tables does the same for other tables that checks aggregate whole (a
// reconcile's to), by name: the rows of the table among those that may
// have changed since the previous version's totals were taken, as they
// were (Minus) and as they are (Plus); the caller vouches that no other
// row changed. A distinct side (to_distinct) takes the distinct records of
// each: exact when the rows given are all the copies of every record they
// hold (a filter on the records' own columns, as a key, gives that).
type Parts struct {
	Totals                Totals
	Minus, Plus           string
	BuiltMinus, BuiltPlus string
	Tables                map[string]TableParts
	// fromTotals: the Tables judged from the totals (FromTotals).
	fromTotals map[string]bool
}

// FromTotals lists, sorted, the tables of Tables that the last evaluation
// with p judged from the kept totals and their changed rows (a table whose
// total was not kept, or a check with a where, is read whole).
func (p *Parts) FromTotals() []string {
	if p == nil {
		return nil
	}
	out := make([]string, 0, len(p.fromTotals))
	for t := range p.fromTotals {
		out = append(out, t)
	}
	sort.Strings(out)
	return out
}

// TableParts are another table's changed rows (see Parts.Tables).
type TableParts struct{ Minus, Plus string }

const (
	sideTable = "table:"
	sideBuilt = "built:"
	// sideOther + table (+ " distinct") + ":" is another table's side.
	sideOther = "to:"
)

// distinctRecords is the distinct records of rel (a relation usable after
// FROM): the columns that do not start with '_' (lineage), as Silver
// models drop exact duplicates.
func distinctRecords(rel string) string {
	return fmt.Sprintf("(SELECT DISTINCT COLUMNS(c -> NOT starts_with(c, '_')) FROM %s)", rel)
}

// additiveAgg is an aggregate that is a total over rows: count(*) or
// sum(arg), maybe wrapped as CAST((agg) AS DOUBLE), as the kinds write it.
type additiveAgg struct {
	inner string // count(*) or sum(arg)
	// nonNull counts the rows that give a sum a value (count(arg)); ""
	// for count(*).
	nonNull string
	wrap    string // fmt pattern around inner
}

func parseAdditive(e string) (additiveAgg, bool) {
	e = strings.TrimSpace(e)
	wrap := "%s"
	const pre, post = "CAST((", ") AS DOUBLE)"
	if strings.HasPrefix(e, pre) && strings.HasSuffix(e, post) && matching(e, len(pre)-1) == len(e)-len(post) {
		e, wrap = strings.TrimSpace(e[len(pre):len(e)-len(post)]), pre+"%s"+post
	}
	if strings.EqualFold(e, "count(*)") {
		return additiveAgg{inner: "count(*)", wrap: wrap}, true
	}
	if len(e) < 6 || !strings.EqualFold(e[:4], "sum(") || matching(e, 3) != len(e)-1 {
		return additiveAgg{}, false
	}
	arg := strings.TrimSpace(e[4 : len(e)-1])
	// A subquery may read another table, which the totals know nothing of.
	if up := strings.ToUpper(arg); arg == "" || strings.HasPrefix(up, "DISTINCT") || strings.HasPrefix(up, "ALL ") || strings.Contains(up, "SELECT") {
		return additiveAgg{}, false
	}
	return additiveAgg{inner: e, nonNull: "count(" + arg + ")", wrap: wrap}, true
}

// matching returns the index of the parenthesis that closes the one at
// open, -1 when there is none; quoted text is skipped.
func matching(s string, open int) int {
	if open >= len(s) || s[open] != '(' {
		return -1
	}
	depth := 0
	var quote byte
	for i := open; i < len(s); i++ {
		switch c := s[i]; {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '\'' || c == '"':
			quote = c
		case c == '(':
			depth++
		case c == ')':
			if depth--; depth == 0 {
				return i
			}
		}
	}
	return -1
}

var totalType = regexp.MustCompile(`^[A-Z][A-Z0-9_ ]*(\(\d+(,\s*\d+)?\))?$`)

// exactType: totals are kept only of types whose sums are exact (integers,
// decimals); a DOUBLE total taken as total − replaced + added would drift
// from a read of the whole table, version after version.
var exactType = regexp.MustCompile(`^(U?(TINYINT|SMALLINT|INTEGER|BIGINT|HUGEINT)|DECIMAL\(\d+,\s*\d+\))$`)

// sql is a stored total as an SQL value; false when it is missing or not
// one this file wrote.
func (t Totals) sql(key string) (string, bool) {
	v, ok := t[key]
	if !ok {
		return "", false
	}
	typ, text, hasValue := strings.Cut(v, "=")
	if !totalType.MatchString(typ) {
		return "", false
	}
	if !hasValue {
		return "CAST(NULL AS " + typ + ")", true
	}
	return "CAST(" + lit(text) + " AS " + typ + ")", true
}

// totalsGroup is the additive side of a fused group: the distinct inner
// aggregates its expressions need, and how each expression is made of them.
type totalsGroup struct {
	side   string
	aggs   []additiveAgg // one per expression of the group
	inners []string      // distinct inner aggregates (with the nonNull counts)
	// table, distinct: another table's side (aggPart).
	table    string
	distinct bool
}

// additiveGroup returns the totals side of part's expressions over its
// relation (additive, no where), or nil.
func additiveGroup(in tableInput, part aggPart) *totalsGroup {
	if !part.additive || part.where != "" {
		return nil
	}
	side := ""
	switch {
	case part.rel == in.relation:
		side = sideTable
	case part.rel == in.built:
		side = sideBuilt
	case part.table != "":
		side = sideOther + part.table
		if part.distinct {
			side += " distinct"
		}
		side += ":"
	default:
		return nil
	}
	g := &totalsGroup{side: side, table: part.table, distinct: part.distinct}
	seen := map[string]bool{}
	add := func(s string) {
		if s != "" && !seen[s] {
			seen[s] = true
			g.inners = append(g.inners, s)
		}
	}
	for _, e := range part.exprs {
		a, ok := parseAdditive(e)
		if !ok {
			return nil
		}
		g.aggs = append(g.aggs, a)
		add(a.inner)
		add(a.nonNull)
	}
	return g
}

// decomposed returns the group's FROM clause and, for each inner
// aggregate, its SQL over it as total − minus + plus; false when a total
// is missing.
func (g *totalsGroup) decomposed(parts *Parts) (string, map[string]string, bool) {
	minus, plus := parts.Minus, parts.Plus
	switch {
	case g.side == sideBuilt:
		minus, plus = parts.BuiltMinus, parts.BuiltPlus
	case g.table != "":
		tp := parts.Tables[g.table]
		minus, plus = tp.Minus, tp.Plus
		if g.distinct && minus != "" && plus != "" {
			minus, plus = distinctRecords(relSQL(minus)), distinctRecords(relSQL(plus))
		}
	}
	if minus == "" || plus == "" {
		return "", nil, false
	}
	total := map[string]string{}
	var cols []string
	for i, in := range g.inners {
		t, ok := parts.Totals.sql(g.side + in)
		if !ok {
			return "", nil, false
		}
		total[in] = t
		cols = append(cols, fmt.Sprintf("%s AS __nexus_v%d", in, i))
	}
	from := fmt.Sprintf("(SELECT %[1]s FROM %[2]s) AS __nexus_m, (SELECT %[1]s FROM %[3]s) AS __nexus_p",
		strings.Join(cols, ", "), relSQL(minus), relSQL(plus))
	idx := map[string]int{}
	for i, in := range g.inners {
		idx[in] = i
	}
	val := func(in string) string {
		i := idx[in]
		return fmt.Sprintf("(coalesce(%s, 0) - coalesce(__nexus_m.__nexus_v%d, 0) + coalesce(__nexus_p.__nexus_v%d, 0))", total[in], i, i)
	}
	out := map[string]string{}
	for _, a := range g.aggs {
		v := val(a.inner)
		if a.nonNull != "" {
			// A sum over rows without a value is NULL, as a read gives.
			v = fmt.Sprintf("CASE WHEN %s = 0 THEN NULL ELSE %s END", val(a.nonNull), v)
			out[a.nonNull] = val(a.nonNull)
		}
		out[a.inner] = v
	}
	return from, out, true
}

// relSQL is a relation usable after FROM.
func relSQL(rel string) string {
	if isRelationName(rel) {
		return rel
	}
	return "(" + rel + ")"
}
