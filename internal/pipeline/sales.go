package pipeline

import (
	"context"
	"fmt"
	"strings"

	"github.com/keystone/nexus/internal/engine"
	"github.com/keystone/nexus/internal/lake"
	"github.com/keystone/nexus/internal/transform"
)

// SalesQuarantine is the part of the sales the quarantine holds, the one
// figure a finance user asks after a run: the orders that lost a row (the
// order, an item or a payment) to a Silver quarantine, and the money of the
// quarantined payments, i.e. the payments Bronze has and Silver has not
// (Bronze = Silver + quarantine is checked by the payments_bronze_reconcile
// check). On clean data both are 0.
type SalesQuarantine struct {
	Orders       int64 `json:"orders"`
	PaymentCents int64 `json:"payment_cents"`
}

// salesTables are the Silver tables whose quarantined rows are sales.
var salesTables = []string{"orders", "order_items", "order_payments"}

// QuarantinedSales reads the published Silver quarantines of the sales
// tables; a quarantine not published yet holds nothing.
func QuarantinedSales(ctx context.Context, eng *engine.Engine) (SalesQuarantine, error) {
	published := map[string]bool{}
	for _, m := range eng.Tables() {
		published[m.Name()] = true
	}
	ref := func(table string) (string, bool) {
		q := transform.QuarantineTable(lake.Silver, table)
		return engine.Ident(lake.Quarantine) + "." + engine.Ident(q), published[lake.Quarantine+"."+q]
	}
	var ids []string
	for _, t := range salesTables {
		if r, ok := ref(t); ok {
			ids = append(ids, "SELECT order_id FROM "+r)
		}
	}
	var out SalesQuarantine
	if len(ids) == 0 {
		return out, nil
	}
	money := "0"
	if r, ok := ref("order_payments"); ok {
		money = "(SELECT coalesce(CAST(sum(payment_value) * 100 AS BIGINT), 0) FROM " + r + ")"
	}
	q := fmt.Sprintf("SELECT (SELECT count(DISTINCT order_id) FROM (%s)), %s", strings.Join(ids, " UNION ALL "), money)
	if err := eng.DB().QueryRowContext(ctx, q).Scan(&out.Orders, &out.PaymentCents); err != nil {
		return out, fmt.Errorf("sales quarantined: %w", err)
	}
	return out, nil
}
