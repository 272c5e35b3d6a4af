package quality

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
)

// aggPart is aggregates of one relation, computed in one scan.
type aggPart struct {
	rel, where string // where "" = every row
	exprs      []string
	// additive: the kind takes the values as totals over the rows (a sum
	// over no rows may come as 0), so they may come from kept Totals (see
	// totals.go) when the relation is the table's own, or another table
	// whose changed rows the build gives (Parts.Tables).
	additive bool
	// table is the other table rel reads whole ("" = this table's rows);
	// distinct: rel is its distinct records (distinctRecords).
	table    string
	distinct bool
}

// aggPlan is a table-level check compiled to aggregates: the values of
// parts' exprs, in order, are scanned into dest, then judge sets the result.
// Checks of one suite that aggregate the same rows share one scan (see
// evalFused): most table-level checks of a table read it whole, and an
// incremental build's table is a union of published and rebuilt rows that
// each check would otherwise read again.
type aggPlan struct {
	parts []aggPart
	dest  []any
	judge func(r *Result)
}

// aggEval runs one check's plan alone: the kind's eval, and how a fused
// query's error is pinned to a check.
func aggEval(agg func(c Check, in tableInput) aggPlan) func(ctx context.Context, db *sql.DB, c Check, in tableInput, r *Result) error {
	return func(ctx context.Context, db *sql.DB, c Check, in tableInput, r *Result) error {
		p := agg(c, in)
		ok, err := runFused(ctx, db, []aggPlan{p}, tableInput{relation: in.relation, built: in.built})
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("an aggregate returned more than one row (is expr an aggregate?)")
		}
		p.judge(r)
		return nil
	}
}

// runFused computes the aggregates of plans in one query (fusedQuery). It
// reports false when that is not one row (an expression that is not an
// aggregate): the caller then judges each check alone. With in.totals it
// also sets the new totals of the table's additive aggregates.
func runFused(ctx context.Context, db *sql.DB, plans []aggPlan, in tableInput) (bool, error) {
	q, dest, done := fusedQuery(plans, in)
	rows, err := db.QueryContext(ctx, q)
	if err != nil {
		return false, err
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		if n++; n > 1 {
			break
		}
		if err := rows.Scan(dest...); err != nil {
			return false, err
		}
	}
	if err := rows.Err(); err != nil {
		return false, err
	}
	if n == 1 {
		done(in.totals)
	}
	return n == 1, nil
}

// fusedQuery is the one query of plans: one scan per distinct (relation,
// where), each a one-row subquery, cross-joined; dest receives its columns.
// A group of additive aggregates over the table's own rows is taken from
// in.parts' totals when it has them (no scan of the table), and, when
// in.totals is asked for, its exact values are read too: the returned func,
// called once the row is scanned, stores them (into a nil map: not) and
// notes the other tables judged from totals (Parts.FromTotals).
func fusedQuery(plans []aggPlan, in tableInput) (string, []any, func(Totals)) {
	// A group is the parts of one (relation, where), their expressions
	// gathered; additive only when every part is.
	type group struct {
		aggPart
		cols  []string
		alias string
	}
	var groups []*group
	byKey := map[[2]string]*group{}
	var cols []string
	var dest []any
	for _, p := range plans {
		n := 0
		for _, part := range p.parts {
			g, ok := byKey[[2]string{part.rel, part.where}]
			if !ok {
				g = &group{aggPart: aggPart{rel: part.rel, where: part.where, additive: true, table: part.table, distinct: part.distinct},
					alias: fmt.Sprintf("__nexus_g%d", len(groups))}
				groups = append(groups, g)
				byKey[[2]string{part.rel, part.where}] = g
			}
			g.additive = g.additive && part.additive
			for _, e := range part.exprs {
				col := fmt.Sprintf("__nexus_a%d", len(cols))
				g.exprs = append(g.exprs, e)
				g.cols = append(g.cols, col)
				cols = append(cols, g.alias+"."+col)
				dest = append(dest, p.dest[n])
				n++
			}
		}
	}
	type kept struct {
		key        string
		text, kind sql.NullString
	}
	var keep []*kept
	var from, others []string
	for _, g := range groups {
		var sel []string
		body := g.rel + whereClause(g.where)
		inner := map[string]string{} // inner aggregate → its SQL here
		tg := additiveGroup(in, g.aggPart)
		if tg != nil {
			for _, a := range tg.inners {
				inner[a] = a
			}
			if in.parts != nil {
				if f, vals, ok := tg.decomposed(in.parts); ok {
					body, inner = f, vals
					if tg.table != "" {
						others = append(others, tg.table)
					}
				}
			}
		}
		for i, e := range g.exprs {
			if tg != nil {
				a := tg.aggs[i]
				e = fmt.Sprintf(a.wrap, inner[a.inner])
			}
			sel = append(sel, e+" AS "+g.cols[i])
		}
		if tg != nil && in.totals != nil {
			for _, a := range tg.inners {
				k := &kept{key: tg.side + a}
				c := fmt.Sprintf("__nexus_t%d", len(keep))
				sel = append(sel, fmt.Sprintf("CAST(%[1]s AS VARCHAR) AS %[2]s_v, typeof(%[1]s) AS %[2]s_t", inner[a], c))
				cols = append(cols, g.alias+"."+c+"_v", g.alias+"."+c+"_t")
				dest = append(dest, &k.text, &k.kind)
				keep = append(keep, k)
			}
		}
		from = append(from, fmt.Sprintf("(SELECT %s FROM %s) AS %s", strings.Join(sel, ", "), body, g.alias))
	}
	store := func(t Totals) {
		if len(others) > 0 {
			if in.parts.fromTotals == nil {
				in.parts.fromTotals = map[string]bool{}
			}
			for _, o := range others {
				in.parts.fromTotals[o] = true
			}
		}
		if t == nil {
			return
		}
		for _, k := range keep {
			if !k.kind.Valid || !exactType.MatchString(k.kind.String) {
				continue
			}
			v := k.kind.String
			if k.text.Valid {
				v += "=" + k.text.String
			}
			t[k.key] = v
		}
	}
	return fmt.Sprintf("SELECT %s FROM %s", strings.Join(cols, ", "), strings.Join(from, " CROSS JOIN ")), dest, store
}

// evalFused judges the checks of s at idx (kinds with an agg) in one
// query. On an error or a result that is not one row it judges each alone,
// as their kinds' eval would, so that an error names its check.
func (s *Suite) evalFused(ctx context.Context, db *sql.DB, idx []int, in tableInput, results []Result) error {
	plans := make([]aggPlan, len(idx))
	for n, i := range idx {
		k, _ := lookupKind(s.Checks[i].Kind)
		plans[n] = k.agg(s.Checks[i], in)
	}
	ok, err := runFused(ctx, db, plans, in)
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if err == nil && ok {
		for n, i := range idx {
			plans[n].judge(&results[i])
		}
		return nil
	}
	for _, i := range idx {
		c := s.Checks[i]
		k, _ := lookupKind(c.Kind)
		if err := k.eval(ctx, db, c, in, &results[i]); err != nil {
			return fmt.Errorf("%s: check %s (%s of %s): %w", c.Pos(), c.ID, c.Kind, s.Table, err)
		}
	}
	return nil
}
