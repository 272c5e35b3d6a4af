package analytics

import (
	"context"
	"database/sql"
	"fmt"
	"math"
)

// HistogramMaxDays is where the delivery-days histogram's last, open bin starts.
const HistogramMaxDays = 60

// Delivery is delivery performance over the filtered sales orders that were
// delivered (delivery_days not NULL), one row per order — fact_sales repeats
// an order's delivery values on each item. AvgDays and the percentiles
// (quantile_cont, i.e. interpolated) are in days from purchase to delivery.
// The histogram has one bin per whole day, [d, d+1) for d = 0..59, and a last
// bin [60, max+1) for the rest; negative values (source timestamps out of
// order) count in the first bin. LateByMonth is the late share of delivered
// orders per purchase month (local), months with deliveries only.
func Delivery(ctx context.Context, db *sql.DB, f Filter) (DeliveryResult, error) {
	ws, release, err := prepare(ctx, db)
	if err != nil {
		return DeliveryResult{}, err
	}
	defer release()
	var q query
	stmt := `WITH sales AS (` + q.sales(ws, f) + `),
o AS (
    SELECT delivery_days AS days, is_late, purchase_date AS d
    FROM sales WHERE ` + orderFlag(f) + ` AND delivery_days IS NOT NULL)
SELECT 0 AS kind, NULL::DATE AS month, NULL::BIGINT AS bin, n, a, q[1] AS p50, q[2] AS p90, q[3] AS p95, late, mx
FROM (SELECT count(*) AS n, avg(days) AS a, quantile_cont(days, [0.5, 0.9, 0.95]) AS q,
             avg(CASE WHEN is_late THEN 1 WHEN NOT is_late THEN 0 END) AS late, max(days) AS mx
      FROM o)
UNION ALL
SELECT 1, NULL, least(greatest(CAST(floor(days) AS BIGINT), 0), ` + fmt.Sprint(HistogramMaxDays) + `) AS bin, count(*), NULL, NULL, NULL, NULL, NULL, max(days)
FROM o GROUP BY bin
UNION ALL
SELECT 2, CAST(date_trunc('month', d) AS DATE) AS month, NULL, count(*), NULL, NULL, NULL, NULL,
       avg(CASE WHEN is_late THEN 1 WHEN NOT is_late THEN 0 END), NULL
FROM o GROUP BY month
ORDER BY 1, 2, 3`
	rows, err := queryRows(ctx, db, stmt, q.args...)
	if err != nil {
		return DeliveryResult{}, fmt.Errorf("delivery: %w", err)
	}
	defer rows.Close()
	res := DeliveryResult{Histogram: []Bin{}, LateByMonth: []MonthShare{}}
	counts := map[int64]int64{}
	var maxDays float64
	var delivered int64
	for rows.Next() {
		var kind int
		var month sql.NullTime
		var bin sql.NullInt64
		var n int64
		var a, p50, p90, p95, late, mx sql.NullFloat64
		if err := rows.Scan(&kind, &month, &bin, &n, &a, &p50, &p90, &p95, &late, &mx); err != nil {
			return DeliveryResult{}, fmt.Errorf("delivery: %w", err)
		}
		switch kind {
		case 0:
			delivered = n
			res.AvgDays, res.P50, res.P90, res.P95 = a.Float64, p50.Float64, p90.Float64, p95.Float64
			res.LateShare = late.Float64
			maxDays = mx.Float64
		case 1:
			counts[bin.Int64] = n
		case 2:
			res.LateByMonth = append(res.LateByMonth, MonthShare{Month: monthOf(month.Time), Orders: n, Share: late.Float64})
		}
	}
	if err := rows.Err(); err != nil {
		return DeliveryResult{}, fmt.Errorf("delivery: %w", err)
	}
	if delivered == 0 {
		return res, nil
	}
	last := int64(0)
	for b := range counts {
		last = max(last, b)
	}
	for d := int64(0); d <= last; d++ {
		bin := Bin{Lo: float64(d), Hi: float64(d + 1), Count: counts[d]}
		if d == HistogramMaxDays {
			bin.Hi = math.Floor(maxDays) + 1
		}
		res.Histogram = append(res.Histogram, bin)
	}
	return res, nil
}
