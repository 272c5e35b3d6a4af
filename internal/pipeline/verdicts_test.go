package pipeline

import (
	"strings"
	"testing"

	"github.com/keystone/nexus/internal/quality"
)

func TestLatestVerdicts(t *testing.T) {
	t.Parallel()
	res := func(table, check string, verdict quality.Verdict) quality.Result {
		return quality.Result{Table: table, CheckID: check, Verdict: verdict}
	}
	// The result only a build gives (a check cannot judge it).
	acct := func(table string, verdict quality.Verdict) quality.Result {
		return quality.Result{Table: table, CheckID: "row_accounting", Kind: quality.KindRowAccounting, Verdict: verdict}
	}
	rebuilt := RunRecord{RunID: "r5", Kind: "run", Results: []quality.Result{
		res("gold.fact_sales", "payments_reconcile", quality.VerdictPass), acct("gold.fact_sales", quality.VerdictFail),
	}}
	// A build whose gate blocked: checks, no row accounting.
	blocked := RunRecord{RunID: "r6", Kind: "run", Results: []quality.Result{
		res("gold.fact_sales", "payments_reconcile", quality.VerdictFail),
	}}
	full := RunRecord{RunID: "r1", Kind: "run", Results: []quality.Result{
		res("silver.orders", "carrier_after_purchase", quality.VerdictFail), res("silver.orders", "order_id_unique", quality.VerdictPass),
		res("gold.fact_sales", "payments_reconcile", quality.VerdictPass), acct("gold.fact_sales", quality.VerdictPass),
	}}
	goldOnly := RunRecord{RunID: "r2", Kind: "check", Results: []quality.Result{
		res("gold.fact_sales", "payments_reconcile", quality.VerdictWarn),
	}}
	silverAgain := RunRecord{RunID: "r3", Kind: "check", Results: []quality.Result{
		res("silver.orders", "order_id_unique", quality.VerdictPass), // a check removed since r1 no longer shows
	}}
	for _, tc := range []struct {
		name string
		hist []RunRecord // newest first
		want string      // table/check=verdict@run, in order
	}{
		{"empty", nil, ""},
		{"one run", []RunRecord{full}, "silver.orders/carrier_after_purchase=fail@r1 silver.orders/order_id_unique=pass@r1 gold.fact_sales/payments_reconcile=pass@r1 gold.fact_sales/row_accounting=pass@r1"},
		{"a narrow check keeps the other tables, and the build's row accounting", []RunRecord{goldOnly, full}, "silver.orders/carrier_after_purchase=fail@r1 silver.orders/order_id_unique=pass@r1 gold.fact_sales/payments_reconcile=warn@r2 gold.fact_sales/row_accounting=pass@r2"},
		{"a table's newest run decides its checks", []RunRecord{silverAgain, goldOnly, full}, "gold.fact_sales/payments_reconcile=warn@r2 gold.fact_sales/row_accounting=pass@r2 silver.orders/order_id_unique=pass@r3"},
		{"a build after the check decides all", []RunRecord{rebuilt, goldOnly, full}, "silver.orders/carrier_after_purchase=fail@r1 silver.orders/order_id_unique=pass@r1 gold.fact_sales/payments_reconcile=pass@r5 gold.fact_sales/row_accounting=fail@r5"},
		{"a check after two builds keeps the newest build's row accounting", []RunRecord{goldOnly, rebuilt, full}, "silver.orders/carrier_after_purchase=fail@r1 silver.orders/order_id_unique=pass@r1 gold.fact_sales/payments_reconcile=warn@r2 gold.fact_sales/row_accounting=fail@r2"},
		{"a check after a blocked build shows none, as the blocked build did", []RunRecord{goldOnly, blocked, full}, "silver.orders/carrier_after_purchase=fail@r1 silver.orders/order_id_unique=pass@r1 gold.fact_sales/payments_reconcile=warn@r2"},
		{"a blocked build decides its table alone", []RunRecord{blocked, full}, "silver.orders/carrier_after_purchase=fail@r1 silver.orders/order_id_unique=pass@r1 gold.fact_sales/payments_reconcile=fail@r6"},
		{"a run without results changes nothing", []RunRecord{{RunID: "r4", Kind: "run"}, full}, "silver.orders/carrier_after_purchase=fail@r1 silver.orders/order_id_unique=pass@r1 gold.fact_sales/payments_reconcile=pass@r1 gold.fact_sales/row_accounting=pass@r1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := LatestVerdicts(tc.hist)
			from := map[string]string{}
			for _, ts := range v.Tables {
				from[ts.Table] = ts.RunID
			}
			var got []string
			for _, r := range v.Results {
				got = append(got, r.Table+"/"+r.CheckID+"="+string(r.Verdict)+"@"+from[r.Table])
			}
			if g := strings.Join(got, " "); g != tc.want {
				t.Errorf("got  %s\nwant %s", g, tc.want)
			}
			if v.Found() != (tc.want != "") {
				t.Errorf("Found = %v", v.Found())
			}
		})
	}
}
