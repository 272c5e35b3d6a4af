package pipeline

import (
	"context"
	"fmt"
	"slices"
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
	// Unreadable counts the records of the sales files that never reached
	// Bronze (Bronze's quarantine holds them as raw text, with the column
	// that failed to parse): their orders and amounts are in neither figure
	// above, and a payment among them is money Silver does not have.
	Unreadable int64 `json:"unreadable_records"`
	// NotBuilt lists the Silver sales tables that failed or were skipped in
	// the run: their quarantine is not this run's, so the figure is unknown.
	NotBuilt []string `json:"not_built,omitempty"`
}

// salesOfRun is QuarantinedSales after a transform run, with the sales
// tables the run could not build.
func salesOfRun(ctx context.Context, eng *engine.Engine, res transform.Result) (*SalesQuarantine, error) {
	s, err := QuarantinedSales(ctx, eng)
	for _, m := range res.Models {
		layer, table, _ := strings.Cut(m.Model, ".")
		if layer == lake.Silver && slices.Contains(salesTables(), table) &&
			(m.Status == transform.StatusFailed || m.Status == transform.StatusSkipped) {
			s.NotBuilt = append(s.NotBuilt, m.Model)
		}
	}
	return &s, err
}

// salesTables are the Silver tables whose quarantined rows are sales.
func salesTables() []string { return []string{"orders", "order_items", "order_payments"} }

// QuarantinedSales reads the published Silver quarantines of the sales
// tables; a quarantine not published yet holds nothing.
func QuarantinedSales(ctx context.Context, eng *engine.Engine) (SalesQuarantine, error) {
	published := map[string]bool{}
	for _, m := range eng.Tables() {
		published[m.Name()] = true
	}
	ref := func(layer, table string) (string, bool) {
		q := transform.QuarantineTable(layer, table)
		return engine.Ident(lake.Quarantine) + "." + engine.Ident(q), published[lake.Quarantine+"."+q]
	}
	var ids, raw []string
	for _, t := range salesTables() {
		if r, ok := ref(lake.Silver, t); ok {
			ids = append(ids, "SELECT order_id FROM "+r)
		}
		if r, ok := ref(lake.Bronze, t); ok {
			raw = append(raw, "SELECT count(*) AS n FROM "+r)
		}
	}
	var out SalesQuarantine
	if len(ids) == 0 && len(raw) == 0 {
		return out, nil
	}
	orders, money, unreadable := "0", "0", "0"
	if len(ids) > 0 {
		orders = fmt.Sprintf("(SELECT count(DISTINCT order_id) FROM (%s))", strings.Join(ids, " UNION ALL "))
	}
	if r, ok := ref(lake.Silver, "order_payments"); ok {
		money = "(SELECT coalesce(CAST(sum(payment_value) * 100 AS BIGINT), 0) FROM " + r + ")"
	}
	if len(raw) > 0 {
		unreadable = fmt.Sprintf("(SELECT sum(n) FROM (%s))", strings.Join(raw, " UNION ALL "))
	}
	q := fmt.Sprintf("SELECT %s, %s, CAST(%s AS BIGINT)", orders, money, unreadable)
	if err := eng.DB().QueryRowContext(ctx, q).Scan(&out.Orders, &out.PaymentCents, &out.Unreadable); err != nil {
		return out, fmt.Errorf("sales quarantined: %w", err)
	}
	return out, nil
}
