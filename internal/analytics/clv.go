package analytics

import (
	"context"
	"database/sql"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// clvEdges are the histogram's bin edges in R$: 0, then 1-1.5-2-3-5-7 steps
// per decade (10, 15, 20, 30, 50, 70, 100, ...), which reads well on a log-ish
// axis. Bins run from 0 to the first edge above the largest CLV.
var clvEdges = func() []float64 {
	e := []float64{0}
	for dec := 10.0; dec <= 1e8; dec *= 10 {
		for _, m := range []float64{1, 1.5, 2, 3, 5, 7} {
			e = append(e, m*dec)
		}
	}
	return e
}()

// CLV is the distribution of customer lifetime value over persons, and the
// top 10% of persons by CLV compared with the other 90%.
//
// CLV is what a person paid for their sales orders. Without a filter it is
// gold.dim_customer.customer_lifetime_value over the persons with at least
// one sales order (this includes the payments of sales orders without items,
// which fact_sales cannot carry). With a filter it is recomputed as the sum of
// the allocated payment_value of the person's filtered gold.fact_sales rows,
// over the persons with a sale in the filter.
//
// Percentiles ("p50", "p75", "p90", "p99") are quantile_cont. The top cohort
// is the first decile by CLV (ntile(10) over CLV descending, ties by id, i.e.
// ceil(persons/10) persons). For each cohort: average CLV, share of the total
// CLV, and what distinguishes them, measured on their (filtered) sales: sales
// orders and items per person, average review of their orders, late share of
// their delivered orders, the category with the most revenue and the customer
// state (on the order) with the most orders (ties: alphabetical).
func CLV(ctx context.Context, db *sql.DB, f Filter) (CLVResult, error) {
	ws, release, err := prepare(ctx, db)
	if err != nil {
		return CLVResult{}, err
	}
	defer release()
	var q query
	per := `SELECT person, CAST(sum(payment_value) AS DOUBLE) AS clv FROM sales WHERE person IS NOT NULL GROUP BY 1`
	if !filtered(f) {
		per = `SELECT person, clv FROM ` + ws.persons + ` WHERE sales_orders > 0`
	}
	var bin strings.Builder
	bin.WriteString("CASE")
	for i := 1; i < len(clvEdges); i++ {
		fmt.Fprintf(&bin, " WHEN clv < %s THEN %d", strconv.FormatFloat(clvEdges[i], 'f', -1, 64), i-1)
	}
	fmt.Fprintf(&bin, " ELSE %d END", len(clvEdges)-1)
	of := orderFlag(f)
	stmt := `WITH sales AS (` + q.sales(ws, f) + `),
per AS MATERIALIZED (` + per + `),
ranked AS MATERIALIZED (
    SELECT person, clv, ntile(10) OVER (ORDER BY clv DESC, person) = 1 AS top FROM per),
items AS MATERIALIZED (
    SELECT s.*, r.top FROM sales AS s JOIN ranked AS r USING (person)),
cohort AS (
    SELECT top, count(*) AS persons, avg(clv) AS avg_clv, sum(clv) / nullif(sum(sum(clv)) OVER (), 0) AS share
    FROM ranked GROUP BY top),
activity AS (
    SELECT top, count(*) FILTER (WHERE ` + of + `) AS orders, count(*) AS items,
           avg(CASE WHEN is_late THEN 1 WHEN NOT is_late THEN 0 END) FILTER (WHERE ` + of + `) AS late,
           CAST(sum(rv_sum) FILTER (WHERE ` + of + `) AS DOUBLE) / nullif(sum(rv_n) FILTER (WHERE ` + of + `), 0) AS score
    FROM items GROUP BY top),
topcat AS (
    SELECT top, first(category_en ORDER BY revenue DESC, category_en) AS category
    FROM (SELECT top, category_en, sum(price) AS revenue FROM items GROUP BY 1, 2) GROUP BY top),
topstate AS (
    SELECT top, first(customer_state ORDER BY n DESC, customer_state) AS state
    FROM (SELECT top, customer_state, count(*) FILTER (WHERE ` + of + `) AS n FROM items GROUP BY 1, 2) GROUP BY top)
SELECT 0 AS kind, NULL::BOOLEAN AS top, n, q[1] AS a, q[2] AS b, q[3] AS c, q[4] AS d, mx AS e,
       NULL::BIGINT AS g, NULL::BIGINT AS h, NULL AS i, NULL AS j
FROM (SELECT count(*) AS n, quantile_cont(clv, [0.5, 0.75, 0.9, 0.99]) AS q, max(clv) AS mx FROM per)
UNION ALL
SELECT 1, NULL, count(*), NULL, NULL, NULL, NULL, NULL, ` + bin.String() + ` AS bin, NULL, NULL, NULL
FROM per GROUP BY bin
UNION ALL
SELECT 2, c.top, c.persons, c.avg_clv, c.share, CAST(coalesce(a.late, 0) AS DOUBLE), a.score, NULL,
       coalesce(a.orders, 0), coalesce(a.items, 0), tc.category, ts.state
FROM cohort AS c
LEFT JOIN activity AS a USING (top) LEFT JOIN topcat AS tc USING (top) LEFT JOIN topstate AS ts USING (top)
ORDER BY 1, 9, 2`
	rows, err := queryRows(ctx, db, stmt, q.args...)
	if err != nil {
		return CLVResult{}, fmt.Errorf("clv: %w", err)
	}
	defer rows.Close()
	res := CLVResult{Percentiles: map[string]float64{}, Histogram: []Bin{},
		Top: Cohort{Name: "top 10%"}, Rest: Cohort{Name: "other 90%"}}
	counts := map[int64]int64{}
	var maxCLV float64
	for rows.Next() {
		var kind int
		var top sql.NullBool
		var n int64
		var a, b, c, d, e sql.NullFloat64
		var g, h sql.NullInt64
		var cat, state sql.NullString
		if err := rows.Scan(&kind, &top, &n, &a, &b, &c, &d, &e, &g, &h, &cat, &state); err != nil {
			return CLVResult{}, fmt.Errorf("clv: %w", err)
		}
		switch kind {
		case 0:
			res.Persons, maxCLV = n, e.Float64
			if n > 0 {
				res.Percentiles = map[string]float64{"p50": a.Float64, "p75": b.Float64, "p90": c.Float64, "p99": d.Float64}
			}
		case 1:
			counts[g.Int64] = n
		case 2:
			co := &res.Rest
			if top.Bool {
				co = &res.Top
			}
			co.Customers, co.AvgCLV, co.RevenueShare, co.LateShare, co.AvgReview = n, a.Float64, b.Float64, c.Float64, d.Float64
			co.AvgOrders = ratio(float64(g.Int64), float64(n))
			co.AvgItems = ratio(float64(h.Int64), float64(n))
			co.TopCategory, co.TopState = cat.String, state.String
		}
	}
	if err := rows.Err(); err != nil {
		return CLVResult{}, fmt.Errorf("clv: %w", err)
	}
	if res.Persons == 0 {
		return res, nil
	}
	last := int64(0)
	for b := range counts {
		last = max(last, b)
	}
	for i := int64(0); i <= last; i++ {
		hi := math.Floor(maxCLV) + 1 // beyond the last edge (never at real values)
		if int(i)+1 < len(clvEdges) {
			hi = clvEdges[i+1]
		}
		res.Histogram = append(res.Histogram, Bin{Lo: clvEdges[i], Hi: hi, Count: counts[i]})
	}
	return res, nil
}
