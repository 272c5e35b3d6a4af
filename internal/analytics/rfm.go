package analytics

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
)

// Segment names, in the order the rules are tried.
const (
	SegChampions     = "champions"
	SegLoyal         = "loyal"
	SegAtRisk        = "at risk"
	SegPotential     = "potential"
	SegNew           = "new"
	SegNeedAttention = "need attention"
	SegHibernating   = "hibernating"
	SegLost          = "lost"
)

// Frequency scoring methods reported in RFMResult.FrequencyScoring.
const (
	FreqQuintiles = "quintiles"
	FreqBuckets   = "buckets"
)

// RFM segments the persons (customer_unique_id) who bought in f by recency,
// frequency and monetary value.
//
// Per person, over the filtered sales:
//   - Recency is the number of days from the person's last purchase date to
//     the reference date, which is the day after the last purchase date of
//     any sale within the filter's date range (state and category are not
//     applied to it, so a state's customers are measured against the same
//     "today" as everyone else). A purchase on the last day has recency 1.
//   - Frequency is the number of distinct sales orders.
//   - Monetary is the person's revenue: the sum of item prices, freight
//     excluded, as in KPIs.Revenue — so segment revenues add up to revenue.
//
// Scores are 1..5 by quintile of the persons in the filter, computed from
// ranks so that equal values always get the same score:
// score = 1 + floor(5 × (rank − 1) / persons), with rank() ascending in
// "goodness" (recency descending, monetary ascending); 5 is best. This is
// ntile(5) except that ties are never split across two scores.
//
// Frequency: most persons buy once, which makes quintiles degenerate. When
// one order count holds more than a fifth of the persons (a quintile
// boundary would fall inside that tie), frequency is scored by order count
// buckets instead: 1, 2, 3, 4, 5+ orders → 1..5 (FrequencyScoring says which
// was used). On Olist data the buckets apply.
//
// Segments, first matching rule wins (R, F, M are the scores):
//
//	champions       R ≥ 4 and F ≥ 2 and M ≥ 4   recent repeat buyers who spend much
//	loyal           R ≥ 3 and F ≥ 2             repeat buyers, not long ago
//	at risk         R ≤ 2 and (F ≥ 2 or M = 5)  good customers (repeat or top spend) gone quiet
//	potential       R ≥ 4 and M ≥ 4             recent one-time buyers with a large basket
//	new             R ≥ 4                       recent one-time buyers
//	need attention  R = 3                       one-time buyers, middle recency
//	hibernating     R = 2                       one-time buyers, long ago
//	lost            R = 1                       one-time buyers, longest ago
//
// Segments are sorted by revenue, descending (ties by name); only non-empty
// segments are listed.
func RFM(ctx context.Context, db *sql.DB, f Filter) (RFMResult, error) {
	ws, release, err := prepare(ctx, db)
	if err != nil {
		return RFMResult{}, err
	}
	defer release()
	var q query
	refConds := append([]string{"true"}, q.dateConds(f)...)
	stmt := `WITH ref AS (SELECT max(purchase_date) + 1 AS d FROM ` + ws.sales + ` WHERE ` + strings.Join(refConds, " AND ") + `),
sales AS (` + q.sales(ws, f) + `),
p AS MATERIALIZED (
    SELECT person, (SELECT d FROM ref) - max(purchase_date) AS recency,
           count(*) FILTER (WHERE ` + orderFlag(f) + `) AS frequency, sum(price) AS monetary
    FROM sales WHERE person IS NOT NULL GROUP BY 1),
cnt AS (SELECT count(*) AS n FROM p),
degenerate AS (
    SELECT coalesce(max(k) * 5 > (SELECT n FROM cnt), false) AS yes
    FROM (SELECT count(*) AS k FROM p GROUP BY frequency)),
scored AS (
    SELECT p.*,
        1 + (5 * (rank() OVER (ORDER BY recency DESC) - 1)) // cnt.n AS r,
        CASE WHEN degenerate.yes THEN least(frequency, 5)
             ELSE 1 + (5 * (rank() OVER (ORDER BY frequency) - 1)) // cnt.n END AS f,
        1 + (5 * (rank() OVER (ORDER BY monetary) - 1)) // cnt.n AS m
    FROM p, cnt, degenerate),
seg AS (
    SELECT *, CASE
        WHEN r >= 4 AND f >= 2 AND m >= 4 THEN 'champions'
        WHEN r >= 3 AND f >= 2 THEN 'loyal'
        WHEN r <= 2 AND (f >= 2 OR m = 5) THEN 'at risk'
        WHEN r >= 4 AND m >= 4 THEN 'potential'
        WHEN r >= 4 THEN 'new'
        WHEN r = 3 THEN 'need attention'
        WHEN r = 2 THEN 'hibernating'
        ELSE 'lost' END AS segment
    FROM scored)
SELECT segment, count(*), CAST(sum(monetary) AS DOUBLE),
       CAST(sum(monetary) AS DOUBLE) / nullif(CAST(sum(sum(monetary)) OVER () AS DOUBLE), 0),
       avg(recency), avg(frequency), CAST(avg(monetary) AS DOUBLE),
       (SELECT d FROM ref), (SELECT yes FROM degenerate)
FROM seg GROUP BY segment ORDER BY 3 DESC, 1`
	rows, err := db.QueryContext(ctx, stmt, q.args...)
	if err != nil {
		return RFMResult{}, fmt.Errorf("rfm: %w", err)
	}
	defer rows.Close()
	res := RFMResult{Segments: []Segment{}, FrequencyScoring: FreqQuintiles}
	for rows.Next() {
		var s Segment
		var share sql.NullFloat64
		var ref sql.NullTime
		var buckets bool
		if err := rows.Scan(&s.Name, &s.Customers, &s.Revenue, &share, &s.AvgRecencyDays, &s.AvgFrequency,
			&s.AvgMonetary, &ref, &buckets); err != nil {
			return RFMResult{}, fmt.Errorf("rfm: %w", err)
		}
		s.Share = share.Float64
		if ref.Valid {
			res.ReferenceDate = dateUTC(ref.Time)
		}
		if buckets {
			res.FrequencyScoring = FreqBuckets
		}
		res.Persons += s.Customers
		res.Segments = append(res.Segments, s)
	}
	return res, rows.Err()
}
