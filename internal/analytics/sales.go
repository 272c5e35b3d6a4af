package analytics

import (
	"context"
	"database/sql"
	"fmt"
	"sort"
	"strconv"
	"time"
)

// Kpis computes the dashboard's headline numbers for f: revenue (item
// prices), distinct sales orders, AOV (allocated payments / orders), persons
// with a sale, repeat rate (persons with 2+ distinct sales orders in the
// filter / persons), the average score over the reviews (gold.fact_reviews
// rows) of the filtered orders, each review once however many items its order
// has, and the late share: late / delivered (is_late not NULL) orders,
// counted once per order. DataFrom/DataTo are the first and last purchase
// dates of the filtered sales (zero when there are none).
func Kpis(ctx context.Context, db *sql.DB, f Filter) (KPIs, error) {
	ws, release, err := prepare(ctx, db)
	if err != nil {
		return KPIs{}, err
	}
	defer release()
	var q query
	of := orderFlag(f)
	stmt := `WITH sales AS (` + q.sales(ws, f) + `),
t AS (
    SELECT CAST(coalesce(sum(price), 0) AS DOUBLE) AS revenue, count(*) FILTER (WHERE ` + of + `) AS orders,
           CAST(coalesce(sum(payment_value), 0) AS DOUBLE) AS paid,
           count(*) FILTER (WHERE ` + of + ` AND is_late) AS late,
           count(*) FILTER (WHERE ` + of + ` AND is_late IS NOT NULL) AS delivered,
           min(purchase_date) AS d0, max(purchase_date) AS d1,
           CAST(sum(rv_sum) FILTER (WHERE ` + of + `) AS DOUBLE) / nullif(sum(rv_n) FILTER (WHERE ` + of + `), 0) AS score
    FROM sales),
p AS (
    SELECT count(*) AS persons, count(*) FILTER (WHERE n >= 2) AS repeaters
    FROM (SELECT person, count(*) AS n FROM sales WHERE ` + of + ` AND person IS NOT NULL GROUP BY person))
SELECT t.revenue, t.orders, t.paid, t.late, t.delivered, t.d0, t.d1, p.persons, p.repeaters, t.score FROM t, p`
	var k KPIs
	var late, delivered, repeaters int64
	var d0, d1 sql.NullTime
	var score sql.NullFloat64
	var paid float64
	err = queryRow(ctx, db, stmt, q.args...).Scan(&k.Revenue, &k.Orders, &paid, &late, &delivered, &d0, &d1,
		&k.Customers, &repeaters, &score)
	if err != nil {
		return KPIs{}, fmt.Errorf("kpis: %w", err)
	}
	k.AOV = ratio(paid, float64(k.Orders))
	k.RepeatRate = ratio(float64(repeaters), float64(k.Customers))
	k.AvgReview = score.Float64
	k.LateShare = ratio(float64(late), float64(delivered))
	if d0.Valid {
		k.DataFrom, k.DataTo = dateUTC(d0.Time), dateUTC(d1.Time)
	}
	return k, nil
}

// MonthlySales is revenue, orders and AOV per local business month, every
// month from the first to the last month with sales in the filter (months
// without sales as zeros). A month the data set covers only in part (its
// first and last month) is Partial. MoM compares a month's revenue with the
// month before, YoY with the same month a year before; both are nil when the
// month is partial or its base is not Comparable (a partial month against a
// full one, or a base of a handful of orders, gives rates that mean nothing).
func MonthlySales(ctx context.Context, db *sql.DB, f Filter) ([]MonthPoint, error) {
	ws, release, err := prepare(ctx, db)
	if err != nil {
		return nil, err
	}
	defer release()
	var q query
	stmt := `WITH sales AS (` + q.sales(ws, f) + `)
SELECT CAST(date_trunc('month', purchase_date) AS DATE) AS month, CAST(sum(price) AS DOUBLE),
       count(*) FILTER (WHERE ` + orderFlag(f) + `), CAST(sum(payment_value) AS DOUBLE)
FROM sales GROUP BY 1 ORDER BY 1`
	rows, err := queryRows(ctx, db, stmt, q.args...)
	if err != nil {
		return nil, fmt.Errorf("monthly sales: %w", err)
	}
	defer rows.Close()
	type agg struct {
		rev, paid float64
		orders    int64
	}
	byMonth := map[time.Time]agg{}
	var first, last time.Time
	for rows.Next() {
		var m time.Time
		var a agg
		if err := rows.Scan(&m, &a.rev, &a.orders, &a.paid); err != nil {
			return nil, fmt.Errorf("monthly sales: %w", err)
		}
		m = monthOf(m)
		byMonth[m] = a
		if first.IsZero() {
			first = m
		}
		last = m
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("monthly sales: %w", err)
	}
	out := []MonthPoint{}
	if first.IsZero() {
		return out, nil
	}
	// The data set's span, whatever the filter and including orders that
	// are not sales: a state with no sale on the first days of a month
	// still had those days covered.
	var d0, d1 time.Time
	if err := queryRow(ctx, db, `SELECT min(purchase_date), max(purchase_date) FROM gold.fact_sales`).Scan(&d0, &d1); err != nil {
		return nil, fmt.Errorf("monthly sales: data span: %w", err)
	}
	d0, d1 = dateUTC(d0), dateUTC(d1)
	var maxOrders int64
	for m := first; !m.After(last); m = m.AddDate(0, 1, 0) {
		a := byMonth[m]
		partial := d0.After(m) || d1.Before(m.AddDate(0, 1, -1))
		out = append(out, MonthPoint{Month: m, Revenue: a.rev, Orders: a.orders, AOV: ratio(a.paid, float64(a.orders)), Partial: partial})
		maxOrders = max(maxOrders, a.orders)
	}
	idx := map[time.Time]int{}
	for i, p := range out {
		idx[p.Month] = i
	}
	for i := range out {
		p := &out[i]
		for _, c := range []struct {
			base time.Time
			dst  **float64
		}{{p.Month.AddDate(0, -1, 0), &p.MoM}, {p.Month.AddDate(-1, 0, 0), &p.YoY}} {
			// A thin current month keeps its growth (-100% for a month
			// without sales is true); a thin base does not.
			if j, ok := idx[c.base]; ok && !p.Partial && Comparable(out[j], maxOrders) {
				*c.dst = growth(p.Revenue, out[j].Revenue, true)
			}
		}
	}
	return out, nil
}

// ThinShare: a month with fewer orders than this share of the busiest month
// of its series is too thin to compare (the data set's first months have a
// handful of orders: +19,000% growth against one of them says nothing).
const ThinShare = 0.05

// Comparable reports whether growth rates to or from p mean something: the
// month is complete and not thin (see ThinShare). maxOrders is the busiest
// month's orders in the series.
func Comparable(p MonthPoint, maxOrders int64) bool {
	return !p.Partial && float64(p.Orders) >= ThinShare*float64(maxOrders)
}

// TopProducts ranks products by revenue (ties by product_id); n <= 0 means
// all. Share is of the filter's total revenue; Units are items sold.
func TopProducts(ctx context.Context, db *sql.DB, f Filter, n int) ([]Ranked, error) {
	ws, release, err := prepare(ctx, db)
	if err != nil {
		return nil, err
	}
	defer release()
	limit := ""
	if n > 0 {
		limit = " LIMIT " + strconv.Itoa(n)
	}
	var q query
	stmt := `WITH sales AS (` + q.sales(ws, f) + `),
per AS (
    SELECT product, sum(price) AS revenue, count(*) FILTER (WHERE first_of_product) AS orders, count(*) AS units,
           CAST(sum(price) AS DOUBLE) / nullif(CAST(sum(sum(price)) OVER () AS DOUBLE), 0) AS share
    FROM sales GROUP BY product),
top AS (SELECT p.*, pr.product_id, pr.category_en FROM per AS p JOIN ` + ws.products + ` AS pr USING (product)
        ORDER BY revenue DESC, product_id` + limit + `)
SELECT product_id, category_en, CAST(revenue AS DOUBLE), orders, units, coalesce(share, 0)
FROM top ORDER BY revenue DESC, product_id`
	rows, err := queryRows(ctx, db, stmt, q.args...)
	if err != nil {
		return nil, fmt.Errorf("top products: %w", err)
	}
	defer rows.Close()
	out := []Ranked{}
	for rows.Next() {
		var r Ranked
		var cat string
		if err := rows.Scan(&r.Key, &cat, &r.Revenue, &r.Orders, &r.Units, &r.Share); err != nil {
			return nil, fmt.Errorf("top products: %w", err)
		}
		id := r.Key
		if len(id) > 8 {
			id = id[:8]
		}
		r.Label = cat + " · " + id
		out = append(out, r)
	}
	return out, rows.Err()
}

// TopCategories ranks categories (category_en; 'unknown' for products
// without one) by revenue and by distinct orders, the n first of each
// (n <= 0: all), ties by name. Top3Share is the revenue share of the three
// categories with the most revenue.
func TopCategories(ctx context.Context, db *sql.DB, f Filter, n int) (CategoryStats, error) {
	ws, release, err := prepare(ctx, db)
	if err != nil {
		return CategoryStats{}, err
	}
	defer release()
	var q query
	stmt := `WITH sales AS (` + q.sales(ws, f) + `)
SELECT category_en, CAST(sum(price) AS DOUBLE), count(*) FILTER (WHERE first_of_category), count(*)
FROM sales GROUP BY category_en`
	rows, err := queryRows(ctx, db, stmt, q.args...)
	if err != nil {
		return CategoryStats{}, fmt.Errorf("top categories: %w", err)
	}
	defer rows.Close()
	var all []Ranked
	var total float64
	for rows.Next() {
		var r Ranked
		if err := rows.Scan(&r.Key, &r.Revenue, &r.Orders, &r.Units); err != nil {
			return CategoryStats{}, fmt.Errorf("top categories: %w", err)
		}
		r.Label = r.Key
		total += r.Revenue
		all = append(all, r)
	}
	if err := rows.Err(); err != nil {
		return CategoryStats{}, fmt.Errorf("top categories: %w", err)
	}
	for i := range all {
		all[i].Share = ratio(all[i].Revenue, total)
	}
	sorted := func(less func(a, b Ranked) bool) []Ranked {
		s := append([]Ranked{}, all...)
		sort.SliceStable(s, func(i, j int) bool {
			if less(s[i], s[j]) {
				return true
			}
			if less(s[j], s[i]) {
				return false
			}
			return s[i].Key < s[j].Key
		})
		return s
	}
	byRev := sorted(func(a, b Ranked) bool { return a.Revenue > b.Revenue })
	byOrd := sorted(func(a, b Ranked) bool { return a.Orders > b.Orders })
	var cs CategoryStats
	for i := 0; i < 3 && i < len(byRev); i++ {
		cs.Top3Share += byRev[i].Share
	}
	if n > 0 && len(byRev) > n {
		byRev, byOrd = byRev[:n], byOrd[:n]
	}
	cs.ByRevenue, cs.ByOrders = byRev, byOrd
	return cs, nil
}
