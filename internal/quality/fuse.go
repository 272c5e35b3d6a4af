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
		ok, err := runFused(ctx, db, []aggPlan{p})
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
// aggregate): the caller then judges each check alone.
func runFused(ctx context.Context, db *sql.DB, plans []aggPlan) (bool, error) {
	q, dest := fusedQuery(plans)
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
	return n == 1, nil
}

// fusedQuery is the one query of plans: one scan per distinct (relation,
// where), each a one-row subquery, cross-joined; dest receives its columns.
func fusedQuery(plans []aggPlan) (string, []any) {
	type group struct {
		part  aggPart
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
				g = &group{part: aggPart{rel: part.rel, where: part.where}, alias: fmt.Sprintf("__nexus_g%d", len(groups))}
				groups = append(groups, g)
				byKey[[2]string{part.rel, part.where}] = g
			}
			for _, e := range part.exprs {
				col := fmt.Sprintf("__nexus_a%d", len(cols))
				g.part.exprs = append(g.part.exprs, e+" AS "+col)
				cols = append(cols, g.alias+"."+col)
				dest = append(dest, p.dest[n])
				n++
			}
		}
	}
	var from []string
	for _, g := range groups {
		from = append(from, fmt.Sprintf("(SELECT %s FROM %s%s) AS %s", strings.Join(g.part.exprs, ", "), g.part.rel, whereClause(g.part.where), g.alias))
	}
	return fmt.Sprintf("SELECT %s FROM %s", strings.Join(cols, ", "), strings.Join(from, " CROSS JOIN ")), dest
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
	ok, err := runFused(ctx, db, plans)
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
