package analytics

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"fmt"
	"strings"
)

// The working set.
//
// Reading the Gold Parquet files for every request costs 40-180 ms per
// analysis at scale 1, most of it decoding and hashing 32-character ids
// (order, person, product, customer) and joining the dimensions. So the
// analyses run on a compact in-memory copy of the sales, built once per
// version of the lake in the same DuckDB database, in schema nexus_analytics:
//
//	sales_K    one row per sales item (gold.fact_sales with is_sale), ids as
//	           integers (o = order, person, product), the customer's state on
//	           the order (silver.customers), the seller's state (gold.dim_seller),
//	           the category (gold.dim_product.category_en, 'unknown' when none),
//	           and the order's review counts (gold.fact_reviews: rv_n reviews,
//	           rv_sum of scores, rv_low 1-2 star reviews), repeated on each item
//	           like delivery_days and is_late; sorted by purchase_date. Flags
//	           mark the first item of each order, and of each (order, product),
//	           (order, category) and (order, seller state), so that distinct
//	           order counts are plain filtered counts (see query.orderFlag).
//	persons_K  person number ↔ customer_unique_id, with gold.dim_customer's
//	           customer_lifetime_value and sales_order_count.
//	products_K product number ↔ product_id, with its category.
//
// K is a hash of the definitions of the source views. The lake's views read
// immutable, versioned files, so a view's definition changes exactly when a
// new version is published (engine.Refresh/Register): the next call sees a
// new K and rebuilds (about 0.3 s at scale 1), so the numbers always come from
// the lake as it is at that moment. When a source is a base table (tests, ad
// hoc sessions) nothing identifies its contents, so the working set is built
// for the call and dropped afterwards.

// sources are the relations the working set is built from.
var sources = [][2]string{
	{"gold", "fact_sales"}, {"gold", "dim_product"}, {"gold", "dim_seller"}, {"gold", "dim_customer"},
	{"gold", "fact_reviews"}, {"silver", "customers"},
}

const wsSchema = "nexus_analytics"

// workset names the tables of one working set.
type workset struct {
	sales, persons, products string
}

func newWorkset(suffix string) workset {
	return workset{
		sales:    wsSchema + ".sales_" + suffix,
		persons:  wsSchema + ".persons_" + suffix,
		products: wsSchema + ".products_" + suffix,
	}
}

func (w workset) drop(ctx context.Context, db *sql.DB) {
	for _, t := range []string{w.sales, w.persons, w.products} {
		_, _ = db.ExecContext(ctx, "DROP TABLE IF EXISTS "+t)
	}
}

// The cache's state lives in the database it caches, not in Go: a table
// nexus_analytics.generations lists the published working sets, so any
// number of sessions, handlers or goroutines sharing the database agree on
// it without package-level state.
const generations = wsSchema + ".generations"

// keepGenerations is how many working sets stay: the current one and the
// one before, for queries that started on it just before a rebuild.
const keepGenerations = 2

// Warm builds the working set for the lake as registered in db now, so that
// the first request after a (re)load does not pay for it. Optional.
func Warm(ctx context.Context, db *sql.DB) error {
	_, release, err := prepare(ctx, db)
	if err != nil {
		return err
	}
	release()
	return nil
}

// prepare returns the working set for db's current sources and a release
// function to call when the queries on it are done. A set is built under a
// private name and renamed into place in one transaction, so concurrent
// callers never see half a set; when two build the same one, the first
// rename wins and the other drops its copy.
func prepare(ctx context.Context, db *sql.DB) (workset, func(), error) {
	key, cacheable, err := fingerprint(ctx, db)
	if err != nil {
		return workset{}, nil, err
	}
	private := newWorkset(key + "_" + randomSuffix())
	if !cacheable {
		if err := build(ctx, db, private); err != nil {
			private.drop(context.WithoutCancel(ctx), db)
			return workset{}, nil, fmt.Errorf("analytics working set: %w", err)
		}
		return private, func() { private.drop(context.Background(), db) }, nil
	}
	ws := newWorkset(key)
	if published(ctx, db, key) {
		return ws, func() {}, nil
	}
	if err := build(ctx, db, private); err != nil {
		private.drop(context.WithoutCancel(ctx), db)
		return workset{}, nil, fmt.Errorf("analytics working set: %w", err)
	}
	if err := publish(ctx, db, private, ws, key); err != nil {
		private.drop(context.WithoutCancel(ctx), db)
		if published(ctx, db, key) {
			return ws, func() {}, nil // another caller published the same set first
		}
		return workset{}, nil, fmt.Errorf("analytics working set: %w", err)
	}
	prune(ctx, db)
	return ws, func() {}, nil
}

func randomSuffix() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return "tmp" + hex.EncodeToString(b[:])
}

// published reports whether the working set of key is in place.
func published(ctx context.Context, db *sql.DB, key string) bool {
	var n int
	err := db.QueryRowContext(ctx, "SELECT count(*) FROM "+generations+" WHERE key = ?", key).Scan(&n)
	return err == nil && n > 0
}

// publish renames a privately built set to its key's names and records it.
func publish(ctx context.Context, db *sql.DB, from, to workset, key string) error {
	if _, err := db.ExecContext(ctx, "CREATE TABLE IF NOT EXISTS "+generations+" (key VARCHAR PRIMARY KEY, built_at TIMESTAMP)"); err != nil {
		return err
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	for _, t := range [][2]string{{from.sales, to.sales}, {from.persons, to.persons}, {from.products, to.products}} {
		_, name, _ := strings.Cut(t[1], ".")
		if _, err := tx.ExecContext(ctx, "ALTER TABLE "+t[0]+" RENAME TO "+name); err != nil {
			return err
		}
	}
	if _, err := tx.ExecContext(ctx, "INSERT INTO "+generations+" VALUES (?, now())", key); err != nil {
		return err
	}
	return tx.Commit()
}

// prune drops the working sets older than the last keepGenerations.
func prune(ctx context.Context, db *sql.DB) {
	rows, err := db.QueryContext(ctx, fmt.Sprintf("SELECT key FROM %s ORDER BY built_at DESC OFFSET %d", generations, keepGenerations))
	if err != nil {
		return
	}
	var old []string
	for rows.Next() {
		var k string
		if rows.Scan(&k) == nil {
			old = append(old, k)
		}
	}
	rows.Close()
	for _, k := range old {
		if _, err := db.ExecContext(ctx, "DELETE FROM "+generations+" WHERE key = ?", k); err == nil {
			newWorkset(k).drop(ctx, db)
		}
	}
}

// fingerprint hashes the definitions of the source views; cacheable is false
// when a source is not a view.
func fingerprint(ctx context.Context, db *sql.DB) (string, bool, error) {
	var conds []string
	for _, s := range sources {
		conds = append(conds, fmt.Sprintf("(schema_name = '%s' AND %%[1]s = '%s')", s[0], s[1]))
	}
	where := strings.Join(conds, " OR ")
	h := sha256.New()
	seen := map[string]bool{}
	scan := func(kind, stmt string) error {
		rows, err := db.QueryContext(ctx, stmt)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var schema, name string
			var def sql.NullString
			if err := rows.Scan(&schema, &name, &def); err != nil {
				return err
			}
			seen[schema+"."+name] = true
			fmt.Fprintf(h, "%s.%s %s %s\x00", schema, name, kind, def.String)
		}
		return rows.Err()
	}
	// duckdb_views() is cheap; duckdb_tables() (which estimates sizes) is
	// consulted only when a source is not a view.
	if err := scan("view", `SELECT schema_name, view_name, sql FROM duckdb_views()
WHERE NOT internal AND (`+fmt.Sprintf(where, "view_name")+`) ORDER BY 1, 2`); err != nil {
		return "", false, err
	}
	cacheable := len(seen) == len(sources)
	if !cacheable {
		if err := scan("table", `SELECT schema_name, table_name, sql FROM duckdb_tables()
WHERE NOT internal AND (`+fmt.Sprintf(where, "table_name")+`) ORDER BY 1, 2`); err != nil {
			return "", false, err
		}
	}
	for _, s := range sources {
		if !seen[s[0]+"."+s[1]] {
			return "", false, fmt.Errorf("table %s.%s not found: has the lake been built (nexus run)?", s[0], s[1])
		}
	}
	return hex.EncodeToString(h.Sum(nil))[:16], cacheable, nil
}

func build(ctx context.Context, db *sql.DB, ws workset) error {
	d := ws.definitions()
	stmts := []string{
		"CREATE SCHEMA IF NOT EXISTS " + wsSchema,
		"CREATE OR REPLACE TABLE " + ws.persons + " AS\n" + d.persons,
		"CREATE OR REPLACE TABLE " + ws.products + " AS\n" + d.products,
		"CREATE OR REPLACE TABLE " + ws.sales + " AS\n" + d.sales,
	}
	for _, s := range stmts {
		if _, err := db.ExecContext(ctx, s); err != nil {
			return err
		}
	}
	return nil
}

// worksetSQL are the queries that define a working set's tables, over the
// lake's tables (sales reads persons and products by their names in ws).
type worksetSQL struct {
	persons, products, sales string
}

func (ws workset) definitions() worksetSQL {
	return worksetSQL{
		persons: `SELECT CAST(row_number() OVER (ORDER BY customer_unique_id) AS INTEGER) AS person, customer_unique_id,
       max(clv) AS clv, coalesce(max(sales_orders), 0) AS sales_orders
FROM (SELECT customer_unique_id, CAST(customer_lifetime_value AS DOUBLE) AS clv, sales_order_count AS sales_orders
      FROM gold.dim_customer
      UNION ALL
      SELECT DISTINCT customer_unique_id, NULL, NULL FROM gold.fact_sales WHERE is_sale)
WHERE customer_unique_id IS NOT NULL
GROUP BY customer_unique_id`,
		products: `SELECT CAST(row_number() OVER (ORDER BY product_id) AS INTEGER) AS product, product_id,
       coalesce(any_value(p.category_en), 'unknown') AS category_en
FROM (SELECT DISTINCT product_id FROM gold.fact_sales WHERE is_sale) AS s
LEFT JOIN gold.dim_product AS p USING (product_id)
GROUP BY product_id`,
		sales: `WITH f AS (SELECT * FROM gold.fact_sales WHERE is_sale),
ord AS (SELECT order_id, CAST(row_number() OVER (ORDER BY order_id) AS INTEGER) AS o FROM (SELECT DISTINCT order_id FROM f)),
rv AS (
    SELECT order_id, count(*) AS n, sum(review_score) AS sm, count(*) FILTER (WHERE review_score <= 2) AS low
    FROM gold.fact_reviews GROUP BY order_id),
j AS (
    -- The payments known: a sale flagged payment_recorded (no payment in
    -- Silver) has payment_value NULL and adds nothing to a sum, as in the
    -- Gold aggregates; a group of such sales only would otherwise sum to NULL.
    SELECT ord.o, f.order_item_id AS item, pe.person, pr.product, f.purchase_date, f.price,
           coalesce(f.payment_value, 0) AS payment_value,
           CAST(f.delivery_days AS DOUBLE) AS delivery_days, f.is_late,
           coalesce(c.customer_state, 'unknown') AS customer_state, coalesce(se.seller_state, 'unknown') AS seller_state,
           coalesce(pr.category_en, 'unknown') AS category_en,
           CAST(coalesce(rv.n, 0) AS INTEGER) AS rv_n, CAST(coalesce(rv.sm, 0) AS INTEGER) AS rv_sum,
           CAST(coalesce(rv.low, 0) AS INTEGER) AS rv_low
    FROM f
    JOIN ord USING (order_id)
    -- The order's state as gold.fact_sales.customer_state gives it, through
    -- silver.customers: a lake published before that column still answers.
    LEFT JOIN silver.customers AS c ON c.customer_id = f.customer_id
    LEFT JOIN gold.dim_seller AS se ON se.seller_id = f.seller_id
    LEFT JOIN ` + ws.persons + ` AS pe ON pe.customer_unique_id = f.customer_unique_id
    LEFT JOIN ` + ws.products + ` AS pr ON pr.product_id = f.product_id
    LEFT JOIN rv ON rv.order_id = f.order_id)
SELECT *,
       row_number() OVER (PARTITION BY o ORDER BY item) = 1 AS first_in_order,
       row_number() OVER (PARTITION BY o, product ORDER BY item) = 1 AS first_of_product,
       row_number() OVER (PARTITION BY o, category_en ORDER BY item) = 1 AS first_of_category,
       row_number() OVER (PARTITION BY o, seller_state ORDER BY item) = 1 AS first_of_seller_state
FROM j
ORDER BY purchase_date, o, item`,
	}
}
