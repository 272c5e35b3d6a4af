package main

import (
	"strings"
	"testing"
)

// TestKnownCheck: a --check that matched no quarantined row is told apart:
// an id the model's suite lacks (an error naming its quarantine rules), a
// keep rule's or a table-level check's (a note: it quarantines none), a
// quarantine rule's (no note: the caller lists what the rows failed).
func TestKnownCheck(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		table, check string
		note, err    string
	}{
		{"silver_order_items", "order_exists", "", ""},
		{"silver.order_items", " order_exists ", "", ""},
		{"silver_order_items", "freight_positive", "freight_positive of silver.order_items quarantines no row: a row that fails it stays in silver.order_items, its id in quality_flags", ""},
		{"gold_fact_sales", "payments_reconcile", "payments_reconcile of gold.fact_sales judges the table, not its rows: it quarantines none", ""},
		{"silver_order_items", "order_exist", "", `the suite of silver.order_items has no check "order_exist" (its quarantine rules: order_id_not_null, item_key_unique, order_exists,`},
		{"gold_agg_sales_month", "nope", "", `the suite of gold.agg_sales_month has no check "nope" (its quarantine rules: month_not_null, month_unique; a project's checks: pass --project DIR)`},
		{"bronze_orders", "NOT A KIND", "", ""}, // error types are no suite's
	} {
		got, err := knownCheck(tc.table, tc.check, "")
		if tc.err == "" && err != nil || tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)) {
			t.Errorf("%s --check %q: error %v, want %q", tc.table, tc.check, err, tc.err)
		}
		if got != tc.note {
			t.Errorf("%s --check %q: note %q, want %q", tc.table, tc.check, got, tc.note)
		}
	}
}
