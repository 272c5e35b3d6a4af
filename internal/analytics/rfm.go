package analytics

import (
	"context"
	"database/sql"
	"fmt"
	"sort"
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
// score = 1 + floor(5 × (rank − 1) / persons), where rank − 1 is the number
// of persons with a worse value (recency: more days; frequency, monetary:
// less), i.e. SQL rank() in that order; 5 is best. This is ntile(5) except
// that ties are never split across two scores. (The ranks are computed per
// distinct value, which is much cheaper than sorting all persons.)
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
rr AS (SELECT recency, CAST(sum(count(*)) OVER (ORDER BY recency DESC) - count(*) AS BIGINT) AS below FROM p GROUP BY recency),
fr AS (SELECT frequency, CAST(sum(count(*)) OVER (ORDER BY frequency) - count(*) AS BIGINT) AS below FROM p GROUP BY frequency),
mr AS (SELECT monetary, CAST(sum(count(*)) OVER (ORDER BY monetary) - count(*) AS BIGINT) AS below FROM p GROUP BY monetary),
scored AS (
    SELECT p.*,
        1 + (5 * rr.below) // cnt.n AS r,
        CASE WHEN degenerate.yes THEN least(p.frequency, 5) ELSE 1 + (5 * fr.below) // cnt.n END AS f,
        1 + (5 * mr.below) // cnt.n AS m
    FROM p JOIN rr USING (recency) JOIN fr USING (frequency) JOIN mr USING (monetary), cnt, degenerate),
seg AS (
    SELECT *, CASE
        WHEN r >= 4 AND f >= 2 AND m >= 4 THEN 0
        WHEN r >= 3 AND f >= 2 THEN 1
        WHEN r <= 2 AND (f >= 2 OR m = 5) THEN 2
        WHEN r >= 4 AND m >= 4 THEN 3
        WHEN r >= 4 THEN 4
        WHEN r = 3 THEN 5
        WHEN r = 2 THEN 6
        ELSE 7 END AS segment
    FROM scored)
SELECT segment, count(*), CAST(sum(monetary) AS DOUBLE),
       CAST(sum(monetary) AS DOUBLE) / nullif(CAST(sum(sum(monetary)) OVER () AS DOUBLE), 0),
       avg(recency), avg(frequency), CAST(avg(monetary) AS DOUBLE),
       (SELECT d FROM ref), (SELECT yes FROM degenerate)
FROM seg GROUP BY segment`
	rows, err := queryRows(ctx, db, stmt, q.args...)
	if err != nil {
		return RFMResult{}, fmt.Errorf("rfm: %w", err)
	}
	defer rows.Close()
	res := RFMResult{Segments: []Segment{}, FrequencyScoring: FreqQuintiles}
	for rows.Next() {
		var s Segment
		var code int
		var share sql.NullFloat64
		var ref sql.NullTime
		var buckets bool
		if err := rows.Scan(&code, &s.Customers, &s.Revenue, &share, &s.AvgRecencyDays, &s.AvgFrequency,
			&s.AvgMonetary, &ref, &buckets); err != nil {
			return RFMResult{}, fmt.Errorf("rfm: %w", err)
		}
		s.Name, s.Share = segmentNames[code], share.Float64
		if ref.Valid {
			res.ReferenceDate = dateUTC(ref.Time)
		}
		if buckets {
			res.FrequencyScoring = FreqBuckets
		}
		res.Persons += s.Customers
		res.Segments = append(res.Segments, s)
	}
	if err := rows.Err(); err != nil {
		return RFMResult{}, fmt.Errorf("rfm: %w", err)
	}
	sort.Slice(res.Segments, func(i, j int) bool {
		a, b := res.Segments[i], res.Segments[j]
		if a.Revenue != b.Revenue {
			return a.Revenue > b.Revenue
		}
		return a.Name < b.Name
	})
	return res, nil
}

// segmentNames are indexed by the codes of the rules in RFM's query.
var segmentNames = []string{SegChampions, SegLoyal, SegAtRisk, SegPotential, SegNew, SegNeedAttention, SegHibernating, SegLost}
