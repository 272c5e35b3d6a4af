// Package analytics answers the business questions of the dashboard, the
// deck and `nexus analyze` with SQL over the Gold star schema, returning
// typed results (types.go).
//
// Common definitions, used by every analysis:
//
//   - A sale is a gold.fact_sales row with is_sale (order status neither
//     canceled nor unavailable). Every analysis looks at sales only.
//   - Revenue is sum(price) of those rows (freight excluded); orders are
//     distinct order_id; payments (AOV, CLV) are the payment_value allocated
//     to the items, freight included; customers are persons
//     (customer_unique_id). AOV = payments / orders, as in
//     gold.mart_monthly_sales, so it is above revenue / orders. KPIDefs
//     words these definitions once for the CLI, the dashboard and the deck.
//   - Order-level attributes (delivery_days, is_late) are repeated on every
//     item of an order in fact_sales: they are deduplicated per order_id
//     before any average or share, so a 3-item order counts once.
//   - The Filter: From/To bound gold.fact_sales.purchase_date (the Brazilian
//     business date, inclusive). State is the customer's state on the order
//     (silver.customers.customer_state through the order's customer_id), not
//     the person's latest state in gold.dim_customer: a sale belongs to where
//     it was shipped, as in gold.mart_state_sales. Category is
//     gold.dim_product.category_en ('unknown' for products without one); with
//     a category filter an analysis sees only the items of that category
//     (revenue, payments and units of those items; orders that contain one).
//   - Filter values are passed as query parameters, never spliced into SQL.
//   - Money is summed as DECIMAL in DuckDB and converted to float64 at the end.
//   - The queries run on an in-memory working set derived from those tables
//     once per version of the lake (workset.go); call Warm after opening or
//     refreshing an engine to build it ahead of the first request.
//
// Every analysis is registered once in the registry (registry.go: name,
// parameters, which products show it); `nexus analyze NAME`, the API's
// /api/NAME, the dashboard, the charts and the deck derive from it.
// Tabulate flattens any result into an engine.Result.
package analytics
