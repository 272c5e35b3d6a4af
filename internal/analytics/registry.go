package analytics

import (
	"context"
	"database/sql"
	"sort"
)

// Default list sizes of the registered analyses (the functions take n).
const (
	DefaultTopProducts   = 20
	DefaultTopCategories = 15
	DefaultFlows         = 20
)

// Analysis is a named analysis as `nexus analyze NAME` and the server list
// them. Run returns the typed result (KPIs, []MonthPoint, ...).
type Analysis struct {
	Name        string
	Description string
	Run         func(ctx context.Context, db *sql.DB, f Filter) (any, error)
}

// Analyses are all analyses, in the order they are presented.
var Analyses = []Analysis{
	{"kpis", "headline numbers: revenue, orders, AOV, customers, repeat rate, average review, late share",
		func(ctx context.Context, db *sql.DB, f Filter) (any, error) { return Kpis(ctx, db, f) }},
	{"monthly-sales", "revenue, orders and average order value per month, with month-over-month and year-over-year growth",
		func(ctx context.Context, db *sql.DB, f Filter) (any, error) { return MonthlySales(ctx, db, f) }},
	{"top-products", "the 20 products with the most revenue",
		func(ctx context.Context, db *sql.DB, f Filter) (any, error) {
			return TopProducts(ctx, db, f, DefaultTopProducts)
		}},
	{"top-categories", "top categories by revenue and by orders, and the revenue share of the top 3",
		func(ctx context.Context, db *sql.DB, f Filter) (any, error) {
			return TopCategories(ctx, db, f, DefaultTopCategories)
		}},
	{"review-vs-sales", "correlation of average review with units and revenue (per product, per category); reviews of on-time vs late deliveries",
		func(ctx context.Context, db *sql.DB, f Filter) (any, error) { return ReviewVsSales(ctx, db, f) }},
	{"rfm", "RFM segmentation of persons: size and revenue of each segment",
		func(ctx context.Context, db *sql.DB, f Filter) (any, error) { return RFM(ctx, db, f) }},
	{"geography", "orders, revenue, customers, delivery days and late share by customer state; top seller-to-customer state flows",
		func(ctx context.Context, db *sql.DB, f Filter) (any, error) {
			return Geography(ctx, db, f, DefaultFlows)
		}},
	{"clv", "customer lifetime value: percentiles, histogram, top 10% vs the rest",
		func(ctx context.Context, db *sql.DB, f Filter) (any, error) { return CLV(ctx, db, f) }},
	{"delivery", "delivery days (average, percentiles, histogram) and late share by month",
		func(ctx context.Context, db *sql.DB, f Filter) (any, error) { return Delivery(ctx, db, f) }},
}

// Lookup finds an analysis by name.
func Lookup(name string) (Analysis, bool) {
	for _, a := range Analyses {
		if a.Name == name {
			return a, true
		}
	}
	return Analysis{}, false
}

// Names lists the analyses' names, sorted.
func Names() []string {
	out := make([]string, len(Analyses))
	for i, a := range Analyses {
		out[i] = a.Name
	}
	sort.Strings(out)
	return out
}
