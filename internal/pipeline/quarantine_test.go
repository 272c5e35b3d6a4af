package pipeline

import "testing"

// An empty quarantine is told in words, by the name it was asked by.
func TestNoQuarantinedRows(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		table string
		want  string
	}{
		{"bronze.orders", "quarantine.bronze_orders has no quarantined rows in snapshot 4: Bronze parsed every source record of bronze.orders"},
		{"bronze_order_reviews", "quarantine.bronze_order_reviews has no quarantined rows in snapshot 4: Bronze parsed every source record of bronze.order_reviews"},
		{"silver_order_items", "quarantine.silver_order_items has no quarantined rows in snapshot 4: no row of silver.order_items is held back by a quarantine rule"},
		{"quarantine.gold_fact_sales", "quarantine.gold_fact_sales has no quarantined rows in snapshot 4: no row of gold.fact_sales is held back by a quarantine rule"},
	} {
		if got := NoQuarantinedRows(tc.table, 4); got != tc.want {
			t.Errorf("%s:\n got  %s\n want %s", tc.table, got, tc.want)
		}
	}
}
