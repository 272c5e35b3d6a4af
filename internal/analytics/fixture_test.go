package analytics

import (
	"context"
	"database/sql"
	"fmt"
	"math"
	"sort"
	"strings"
	"testing"
	"time"

	_ "github.com/duckdb/duckdb-go/v2"
)

// A hand-made Gold data set: orders with their items, reviews and delivery,
// from which the test writes gold.fact_sales, silver.customers,
// gold.dim_customer, gold.dim_product, gold.dim_seller and gold.fact_reviews
// with the models' column names and types.

type fxItem struct {
	product string
	price   float64
	pay     float64 // allocated payment
}

type fxOrder struct {
	id, person, state, date, status string
	days                            float64 // delivery days; 0 = not delivered
	late                            bool
	items                           []fxItem
	reviews                         []int
	extraPay                        float64 // payments not in fact_sales (order without items)
}

// products: id → category, seller: product → seller state.
type fixture struct {
	orders   []fxOrder
	products map[string]string // product → category_en
	sellers  map[string]string // product → seller state (one seller per product, seller id = "s_"+product)
}

func sq(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

func isSale(status string) bool { return status != "canceled" && status != "unavailable" }

// open creates the tables in a fresh in-memory DuckDB.
func (fx fixture) open(t *testing.T) *sql.DB {
	t.Helper()
	db, err := sql.Open("duckdb", "")
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	t.Cleanup(func() { db.Close() })
	var facts, custs, reviews []string
	type person struct {
		state, last string
		sales       int
		clv         float64
	}
	persons := map[string]*person{}
	for _, o := range fx.orders {
		d, err := time.Parse(time.DateOnly, o.date)
		if err != nil {
			t.Fatal(err)
		}
		cust := "c_" + o.id
		custs = append(custs, fmt.Sprintf("(%s, %s, %s)", sq(cust), sq(o.person), sq(o.state)))
		p := persons[o.person]
		if p == nil {
			p = &person{}
			persons[o.person] = p
		}
		if o.date >= p.last {
			p.last, p.state = o.date, o.state
		}
		if isSale(o.status) {
			p.sales++
			p.clv += o.extraPay
		}
		days, late := "NULL", "NULL"
		if o.days != 0 {
			days, late = fmt.Sprintf("%.2f", o.days), fmt.Sprint(o.late)
		}
		for i, it := range o.items {
			if isSale(o.status) {
				p.clv += it.pay
			}
			facts = append(facts, fmt.Sprintf("(%s, %d, %s, %s, %s, %s, %s, DATE %s, TIMESTAMPTZ %s, %s, %v, %.2f, 10.00, %.2f, %s, %s)",
				sq(o.id), i+1, sq(o.person), sq(cust), sq(it.product), sq("s_"+it.product), d.Format("20060102"),
				sq(o.date), sq(o.date+" 15:00:00+00"), sq(o.status), isSale(o.status), it.price, it.pay, days, late))
		}
		for i, s := range o.reviews {
			reviews = append(reviews, fmt.Sprintf("(%s, %s, %s, %d)", sq(fmt.Sprintf("r_%s_%d", o.id, i)), sq(o.id), sq(o.person), s))
		}
	}
	var dimC []string
	for id, p := range persons {
		dimC = append(dimC, fmt.Sprintf("(%s, %s, %d, %.2f)", sq(id), sq(p.state), p.sales, p.clv))
	}
	var dimP, dimS []string
	for id, c := range fx.products {
		dimP = append(dimP, fmt.Sprintf("(%s, %s)", sq(id), sq(c)))
		st := fx.sellers[id]
		if st == "" {
			st = "SP"
		}
		dimS = append(dimS, fmt.Sprintf("(%s, %s)", sq("s_"+id), sq(st)))
	}
	sort.Strings(dimC)
	if len(reviews) == 0 {
		reviews = append(reviews, "('none', 'none', NULL, 5)")
	}
	stmts := []string{
		"CREATE SCHEMA gold", "CREATE SCHEMA silver",
		`CREATE TABLE gold.fact_sales AS SELECT order_id, CAST(order_item_id AS INTEGER) AS order_item_id, customer_unique_id,
    customer_id, product_id, seller_id, CAST(date_id AS INTEGER) AS date_id, purchase_date, order_purchase_timestamp,
    order_status, is_sale, CAST(price AS DECIMAL(12,2)) AS price, CAST(freight_value AS DECIMAL(12,2)) AS freight_value,
    CAST(payment_value AS DECIMAL(12,2)) AS payment_value, CAST(delivery_days AS DECIMAL(9,2)) AS delivery_days,
    CAST(is_late AS BOOLEAN) AS is_late
FROM (VALUES ` + strings.Join(facts, ",\n") + `) AS t(order_id, order_item_id, customer_unique_id, customer_id, product_id,
    seller_id, date_id, purchase_date, order_purchase_timestamp, order_status, is_sale, price, freight_value,
    payment_value, delivery_days, is_late)`,
		`CREATE TABLE silver.customers AS SELECT * FROM (VALUES ` + strings.Join(custs, ", ") +
			`) AS t(customer_id, customer_unique_id, customer_state)`,
		`CREATE TABLE gold.dim_customer AS SELECT customer_unique_id, customer_state,
    CAST(sales_order_count AS BIGINT) AS sales_order_count,
    CAST(customer_lifetime_value AS DECIMAL(18,2)) AS customer_lifetime_value
FROM (VALUES ` + strings.Join(dimC, ", ") + `) AS t(customer_unique_id, customer_state, sales_order_count, customer_lifetime_value)`,
		`CREATE TABLE gold.dim_product AS SELECT * FROM (VALUES ` + strings.Join(dimP, ", ") + `) AS t(product_id, category_en)`,
		`CREATE TABLE gold.dim_seller AS SELECT * FROM (VALUES ` + strings.Join(dimS, ", ") + `) AS t(seller_id, seller_state)`,
		`CREATE TABLE gold.fact_reviews AS SELECT review_id, order_id, customer_unique_id, CAST(review_score AS INTEGER) AS review_score
FROM (VALUES ` + strings.Join(reviews, ", ") + `) AS t(review_id, order_id, customer_unique_id, review_score)`,
	}
	for _, s := range stmts {
		if _, err := db.Exec(s); err != nil {
			t.Fatalf("%v\n%s", err, s)
		}
	}
	return db
}

// shop is the main fixture (see TestKpis for the numbers by hand):
//
//	O1 A SP 2017-01-10 delivered on time 3.5 d  P1(X) 100/110, P2(Y) 50/55  reviews 5
//	O2 A SP 2017-02-05 delivered LATE   12.25 d P1(X) 100/120               reviews 1
//	O3 B RJ 2017-02-20 delivered on time 7 d    P3(Y) 30/35 ×2 units        reviews 4, 2
//	O4 C RJ 2017-03-20 canceled                 P1(X) 100/100               (not a sale)
//	O5 C MG 2017-03-15 shipped (not delivered)  P2(Y) 50/60
//	O6 B    2017-03-01 invoiced, payments but no items (30, only in dim_customer's CLV)
//
// Sellers: P1 from SP, P2 from MG, P3 from SP.
func shop() fixture {
	return fixture{
		orders: []fxOrder{
			{id: "O1", person: "A", state: "SP", date: "2017-01-10", status: "delivered", days: 3.5,
				items: []fxItem{{"P1", 100, 110}, {"P2", 50, 55}}, reviews: []int{5}},
			{id: "O2", person: "A", state: "SP", date: "2017-02-05", status: "delivered", days: 12.25, late: true,
				items: []fxItem{{"P1", 100, 120}}, reviews: []int{1}},
			{id: "O3", person: "B", state: "RJ", date: "2017-02-20", status: "delivered", days: 7,
				items: []fxItem{{"P3", 30, 35}, {"P3", 30, 35}}, reviews: []int{4, 2}},
			{id: "O4", person: "C", state: "RJ", date: "2017-03-20", status: "canceled",
				items: []fxItem{{"P1", 100, 100}}, reviews: []int{1}},
			{id: "O5", person: "C", state: "MG", date: "2017-03-15", status: "shipped",
				items: []fxItem{{"P2", 50, 60}}},
			{id: "O6", person: "B", state: "RJ", date: "2017-03-01", status: "invoiced", extraPay: 30},
		},
		products: map[string]string{"P1": "X", "P2": "Y", "P3": "Y"},
		sellers:  map[string]string{"P1": "SP", "P2": "MG", "P3": "SP"},
	}
}

func day(s string) time.Time {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		panic(err)
	}
	return t
}

func near(a, b float64) bool { return math.Abs(a-b) < 1e-6*math.Max(1, math.Abs(b)) }

func checkF(t *testing.T, what string, got, want float64) {
	t.Helper()
	if !near(got, want) {
		t.Errorf("%s = %v, want %v", what, got, want)
	}
}

func checkI(t *testing.T, what string, got, want int64) {
	t.Helper()
	if got != want {
		t.Errorf("%s = %d, want %d", what, got, want)
	}
}

var bg = context.Background()
