package analytics

import (
	"context"
	"database/sql"
	"fmt"
)

// Geography is sales by customer state — the state given on each order
// (silver.customers via customer_id), like gold.mart_state_sales — with the
// average delivery days and late share over the state's delivered orders
// (one value per order), sorted by revenue descending; every state that
// occurs in the filter is listed (orders whose customer is unknown appear as
// "unknown"). Flows are the top `flows` seller-state → customer-state pairs by
// revenue (seller state from gold.dim_seller); an order with items from
// sellers of two states counts in both flows. flows <= 0 means all.
func Geography(ctx context.Context, db *sql.DB, f Filter, flows int) (Geo, error) {
	ws, release, err := prepare(ctx, db)
	if err != nil {
		return Geo{}, err
	}
	defer release()
	var q query
	limit := ""
	if flows > 0 {
		limit = fmt.Sprintf(" LIMIT %d", flows)
	}
	of := orderFlag(f)
	flowOrders := "count(*) FILTER (WHERE first_of_seller_state)"
	if f.Category != "" {
		flowOrders = "count(DISTINCT o)"
	}
	stmt := `WITH sales AS (` + q.sales(ws, f) + `),
states AS (
    SELECT customer_state AS state, count(*) FILTER (WHERE ` + of + `) AS orders, count(DISTINCT person) AS persons,
           CAST(sum(price) AS DOUBLE) AS revenue, avg(delivery_days) FILTER (WHERE ` + of + `) AS days,
           avg(CASE WHEN is_late THEN 1 WHEN NOT is_late THEN 0 END) FILTER (WHERE ` + of + `) AS late
    FROM sales GROUP BY 1),
flows AS (
    SELECT seller_state, customer_state, ` + flowOrders + ` AS orders, CAST(sum(price) AS DOUBLE) AS revenue
    FROM sales GROUP BY 1, 2
    ORDER BY revenue DESC, 1, 2` + limit + `)
SELECT * FROM (
    SELECT 0 AS kind, NULL AS seller_state, state, orders, persons, revenue, days, late FROM states
    UNION ALL
    SELECT 1, seller_state, customer_state, orders, NULL, revenue, NULL, NULL FROM flows)
ORDER BY kind, revenue DESC, seller_state, state`
	rows, err := queryRows(ctx, db, stmt, q.args...)
	if err != nil {
		return Geo{}, fmt.Errorf("geography: %w", err)
	}
	defer rows.Close()
	g := Geo{States: []StateRow{}, Flows: []Flow{}}
	for rows.Next() {
		var kind int
		var seller, state string
		var sellerN sql.NullString
		var orders int64
		var persons sql.NullInt64
		var revenue float64
		var days, late sql.NullFloat64
		if err := rows.Scan(&kind, &sellerN, &state, &orders, &persons, &revenue, &days, &late); err != nil {
			return Geo{}, fmt.Errorf("geography: %w", err)
		}
		seller = sellerN.String
		if kind == 0 {
			g.States = append(g.States, StateRow{State: state, Orders: orders, Customers: persons.Int64,
				Revenue: revenue, AvgDeliveryDays: days.Float64, LateShare: late.Float64})
		} else {
			g.Flows = append(g.Flows, Flow{From: seller, To: state, Orders: orders, Revenue: revenue})
		}
	}
	return g, rows.Err()
}
