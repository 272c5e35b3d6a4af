package quality

import "testing"

// A table named in a check's SQL: quoted or not, in any case, with spaces
// around the dot; not a longer name; in its where too.
func TestCheckNames(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		sql  string
		want bool
	}{
		{"order_id IN (SELECT order_id FROM silver.orders)", true},
		{`order_id IN (SELECT order_id FROM "silver"."orders")`, true},
		{"x IN (SELECT y FROM SILVER.ORDERS)", true},
		{"x IN (SELECT y FROM silver . orders)", true},
		{"silver.orders", true},
		{"x IN (SELECT y FROM silver.orders_archive)", false},
		{"x IN (SELECT y FROM my_silver.orders)", false},
		{"order_status = 'delivered'", false},
		{"", false},
	} {
		if got := (Check{Expr: tc.sql}).Names("silver.orders"); got != tc.want {
			t.Errorf("%q: %v, want %v", tc.sql, got, tc.want)
		}
	}
	if !(Check{Where: `customer_id IN (SELECT customer_id FROM "silver"."orders")`}).Names("silver.orders") {
		t.Error("a where naming the table: not told")
	}
}
