package analytics

import (
	"context"
	"database/sql"
	"strconv"
	"strings"
	"time"

	"github.com/keystone/nexus/internal/engine"
)

// query collects positional parameters ($1, $2, ...) while SQL is assembled
// from fixed fragments; user-supplied values only ever become parameters.
type query struct {
	args []any
}

func (q *query) arg(v any) string {
	q.args = append(q.args, v)
	return "$" + strconv.Itoa(len(q.args))
}

// dateConds are the purchase_date bounds of f.
func (q *query) dateConds(f Filter) []string {
	var conds []string
	if !f.From.IsZero() {
		conds = append(conds, "purchase_date >= CAST("+q.arg(f.From.Format(time.DateOnly))+" AS DATE)")
	}
	if !f.To.IsZero() {
		conds = append(conds, "purchase_date <= CAST("+q.arg(f.To.Format(time.DateOnly))+" AS DATE)")
	}
	return conds
}

// sales is the query of the working set's sales rows (items of sales
// orders) that match f. Columns: o (order), item, person, product,
// purchase_date, price, payment_value, delivery_days, is_late,
// customer_state, seller_state, category_en, rv_n, rv_sum, rv_low and the
// first_* flags (see workset.go).
func (q *query) sales(ws workset, f Filter) string {
	conds := q.dateConds(f)
	if f.State != "" {
		conds = append(conds, "customer_state = "+q.arg(f.State))
	}
	if f.Category != "" {
		conds = append(conds, "category_en = "+q.arg(f.Category))
	}
	if len(conds) == 0 {
		conds = []string{"true"}
	}
	return "SELECT * FROM " + ws.sales + " WHERE " + strings.Join(conds, " AND ")
}

// orderFlag is the column that keeps one row per order among the filtered
// sales rows: the first item of the order, or with a category filter (which
// may drop an order's first item) the first item of the order's category.
// Order-level columns (date, state, person, delivery, reviews) are the same
// on every item, so they can be read from that row.
func orderFlag(f Filter) string {
	if f.Category != "" {
		return "first_of_category"
	}
	return "first_in_order"
}

func filtered(f Filter) bool {
	return !f.From.IsZero() || !f.To.IsZero() || f.State != "" || f.Category != ""
}

// States lists the customer states (UF) that occur on sales orders, sorted:
// the values the State filter accepts.
func States(ctx context.Context, db *sql.DB) ([]string, error) {
	ws, release, err := prepare(ctx, db)
	if err != nil {
		return nil, err
	}
	defer release()
	return engine.Strings(ctx, db, `SELECT DISTINCT customer_state FROM `+ws.sales+` WHERE customer_state <> 'unknown' ORDER BY 1`)
}

// Categories lists the product categories (category_en, 'unknown' for
// products without one) that occur on sales, sorted: the values the Category
// filter accepts.
func Categories(ctx context.Context, db *sql.DB) ([]string, error) {
	ws, release, err := prepare(ctx, db)
	if err != nil {
		return nil, err
	}
	defer release()
	return engine.Strings(ctx, db, `SELECT DISTINCT category_en FROM `+ws.sales+` ORDER BY 1`)
}

// ratio is a/b, 0 when b is 0.
func ratio(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}

// growth is cur/base - 1, nil when the base is missing or zero.
func growth(cur, base float64, ok bool) *float64 {
	if !ok || base == 0 {
		return nil
	}
	g := cur/base - 1
	return &g
}

func monthOf(t time.Time) time.Time {
	return time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, time.UTC)
}

// dateUTC normalizes a DATE scanned by the driver to midnight UTC.
func dateUTC(t time.Time) time.Time {
	return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
}
