package analytics

import (
	"context"
	"database/sql"
	"fmt"
	"math"
)

// ReviewVsSales relates review scores to sales within f.
//
// Per product: the average score of the reviews (gold.fact_reviews) of the
// filtered sales orders containing the product — a review counts once per
// distinct product of its order, as in gold.dim_product — against the
// product's units (items) and revenue; Pearson correlation (DuckDB corr())
// over the products with at least one review. Per category the same with a
// review counted once per distinct category of its order. A correlation that
// is undefined (fewer than two points, or no variance) is reported as 0.
//
// ByPunctuality compares delivered orders on time vs late (is_late, one value
// per order): Orders is the number of reviewed delivered orders, AvgScore and
// ShareLowScores (1-2 stars) are taken over their reviews. Rows: "on time",
// then "late".
func ReviewVsSales(ctx context.Context, db *sql.DB, f Filter) (ReviewSales, error) {
	ws, release, err := prepare(ctx, db)
	if err != nil {
		return ReviewSales{}, err
	}
	defer release()
	var q query
	stmt := `WITH sales AS (` + q.sales(ws, f) + `),
prod AS (
    SELECT count(*) AS units, CAST(sum(price) AS DOUBLE) AS revenue,
           CAST(sum(rv_sum) FILTER (WHERE first_of_product) AS DOUBLE)
             / nullif(sum(rv_n) FILTER (WHERE first_of_product), 0) AS score
    FROM sales GROUP BY product),
cat AS (
    SELECT count(*) AS units, CAST(sum(price) AS DOUBLE) AS revenue,
           CAST(sum(rv_sum) FILTER (WHERE first_of_category) AS DOUBLE)
             / nullif(sum(rv_n) FILTER (WHERE first_of_category), 0) AS score
    FROM sales GROUP BY category_en),
punct AS (
    SELECT is_late, count(*) AS orders, CAST(sum(rv_sum) AS DOUBLE) / sum(rv_n) AS score,
           CAST(sum(rv_low) AS DOUBLE) / sum(rv_n) AS low
    FROM sales WHERE ` + orderFlag(f) + ` AND is_late IS NOT NULL AND rv_n > 0
    GROUP BY is_late)
SELECT 0 AS kind, NULL::BOOLEAN, corr(score, units), corr(score, revenue), count(score), NULL::DOUBLE FROM prod
UNION ALL SELECT 1, NULL, corr(score, units), corr(score, revenue), count(score), NULL FROM cat
UNION ALL SELECT 2, is_late, NULL, score, orders, low FROM punct
ORDER BY 1, 2`
	rows, err := queryRows(ctx, db, stmt, q.args...)
	if err != nil {
		return ReviewSales{}, fmt.Errorf("review vs sales: %w", err)
	}
	defer rows.Close()
	rs := ReviewSales{ByPunctuality: []PunctualityRow{{Label: "on time"}, {Label: "late"}}}
	for rows.Next() {
		var kind int
		var late sql.NullBool
		var a, b, low sql.NullFloat64
		var n int64
		if err := rows.Scan(&kind, &late, &a, &b, &n, &low); err != nil {
			return ReviewSales{}, fmt.Errorf("review vs sales: %w", err)
		}
		switch kind {
		case 0:
			rs.ProductCorrUnits, rs.ProductCorrRevenue, rs.Products = finite(a), finite(b), n
		case 1:
			rs.CategoryCorrUnits, rs.CategoryCorrRevenue = finite(a), finite(b)
		case 2:
			i := 0
			if late.Bool {
				i = 1
			}
			rs.ByPunctuality[i].Orders, rs.ByPunctuality[i].AvgScore, rs.ByPunctuality[i].ShareLowScores = n, b.Float64, low.Float64
		}
	}
	return rs, rows.Err()
}

// finite is a nullable DOUBLE as a float64, 0 for NULL, NaN and infinities
// (corr() of a constant series is NaN).
func finite(x sql.NullFloat64) float64 {
	if !x.Valid || math.IsNaN(x.Float64) || math.IsInf(x.Float64, 0) {
		return 0
	}
	return x.Float64
}
