package analytics

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
)

func TestKpis(t *testing.T) {
	t.Parallel()
	db := shop().open(t)
	for _, tc := range []struct {
		name                         string
		f                            Filter
		revenue, aov, repeat, review float64
		late                         float64
		orders, customers            int64
		from, to                     string
	}{
		// Sales exclude O4 (canceled); O6 has no items. The late share is per
		// ORDER: O3 has two items but counts once (1 late of 3 delivered, not 1/4).
		{"all", Filter{}, 360, 415.0 / 4, 1.0 / 3, 12.0 / 4, 1.0 / 3, 4, 3, "2017-01-10", "2017-03-15"},
		{"state SP", Filter{State: "SP"}, 250, 285.0 / 2, 1, 3, 0.5, 2, 1, "2017-01-10", "2017-02-05"},
		// C's latest order (O4, RJ) is canceled; the state on O5 is MG.
		{"state MG", Filter{State: "MG"}, 50, 60, 0, 0, 0, 1, 1, "2017-03-15", "2017-03-15"},
		{"state RJ", Filter{State: "RJ"}, 60, 70, 0, 3, 0, 1, 1, "2017-02-20", "2017-02-20"},
		// Only the category's items: P2 in O1 and O5, P3 ×2 in O3.
		{"category Y", Filter{Category: "Y"}, 160, 185.0 / 3, 0, 11.0 / 3, 0, 3, 3, "2017-01-10", "2017-03-15"},
		// A bought twice overall but once in February: no repeat in the window.
		{"february", Filter{From: day("2017-02-01"), To: day("2017-02-28")}, 160, 95, 0, 7.0 / 3, 0.5, 2, 2, "2017-02-05", "2017-02-20"},
		{"to bound inclusive", Filter{To: day("2017-02-05")}, 250, 142.5, 1, 3, 0.5, 2, 1, "2017-01-10", "2017-02-05"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k, err := Kpis(bg, db, tc.f)
			if err != nil {
				t.Fatal(err)
			}
			checkF(t, "revenue", k.Revenue, tc.revenue)
			checkI(t, "orders", k.Orders, tc.orders)
			checkF(t, "aov", k.AOV, tc.aov)
			checkI(t, "customers", k.Customers, tc.customers)
			checkF(t, "repeat rate", k.RepeatRate, tc.repeat)
			checkF(t, "avg review", k.AvgReview, tc.review)
			checkF(t, "late share", k.LateShare, tc.late)
			if k.DataFrom != day(tc.from) || k.DataTo != day(tc.to) {
				t.Errorf("data range = %v..%v, want %s..%s", k.DataFrom, k.DataTo, tc.from, tc.to)
			}
		})
	}
	k, err := Kpis(bg, db, Filter{State: "AC"})
	if err != nil {
		t.Fatal(err)
	}
	if k.Revenue != 0 || k.Orders != 0 || k.Customers != 0 || !k.DataFrom.IsZero() {
		t.Errorf("empty filter: %+v", k)
	}
}

func TestMonthlySales(t *testing.T) {
	t.Parallel()
	o := func(id, date string, price float64) fxOrder {
		return fxOrder{id: id, person: "p" + id, state: "SP", date: date, status: "delivered", days: 3,
			items: []fxItem{{"P1", price, price + 10}}}
	}
	fx := fixture{products: map[string]string{"P1": "X"}, orders: []fxOrder{
		o("1", "2017-01-05", 60), o("2", "2017-01-31", 40), // Jan 2017: 100, 2 orders, AOV (70+50)/2 = 60
		o("3", "2017-02-14", 150), // Feb: 150 → MoM +50%
		// March 2017: no sales → 0, MoM −100%; April: MoM undefined (base 0)
		o("4", "2017-04-01", 50),
		o("5", "2018-01-10", 200), // Jan 2018: YoY vs 100 → +100%
		o("6", "2018-02-10", 75),  // Feb 2018: YoY vs 150 → −50%, MoM vs 200 → −62.5%
		{id: "7", person: "x", state: "SP", date: "2017-03-10", status: "canceled", items: []fxItem{{"P1", 999, 999}}},
		// Orders that are not sales set the data's span: the first and
		// last months are complete.
		{id: "8", person: "x", state: "SP", date: "2017-01-01", status: "canceled", items: []fxItem{{"P1", 1, 1}}},
		{id: "9", person: "x", state: "SP", date: "2018-02-28", status: "unavailable", items: []fxItem{{"P1", 1, 1}}},
	}}
	db := fx.open(t)
	ms, err := MonthlySales(bg, db, Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) != 14 { // 2017-01 .. 2018-02
		t.Fatalf("%d months, want 14: %+v", len(ms), ms)
	}
	pct := func(p *float64) string {
		if p == nil {
			return "nil"
		}
		return strconv.FormatFloat(*p, 'f', -1, 64)
	}
	want := map[string]struct {
		rev      float64
		orders   int64
		aov      float64
		mom, yoy string
	}{
		"2017-01": {100, 2, 60, "nil", "nil"},
		"2017-02": {150, 1, 160, "0.5", "nil"},
		"2017-03": {0, 0, 0, "-1", "nil"},
		"2017-04": {50, 1, 60, "nil", "nil"},
		"2017-05": {0, 0, 0, "-1", "nil"},
		"2017-06": {0, 0, 0, "nil", "nil"},
		"2018-01": {200, 1, 210, "nil", "1"},
		"2018-02": {75, 1, 85, "-0.625", "-0.5"},
	}
	for i, m := range ms {
		if i > 0 && m.Month != ms[i-1].Month.AddDate(0, 1, 0) {
			t.Errorf("month %d = %v, not consecutive", i, m.Month)
		}
		w, ok := want[m.Month.Format("2006-01")]
		if !ok {
			continue
		}
		if !near(m.Revenue, w.rev) || m.Orders != w.orders || !near(m.AOV, w.aov) || pct(m.MoM) != w.mom || pct(m.YoY) != w.yoy {
			t.Errorf("%s: got rev %v orders %d aov %v mom %s yoy %s, want %+v", m.Month.Format("2006-01"),
				m.Revenue, m.Orders, m.AOV, pct(m.MoM), pct(m.YoY), w)
		}
	}
	// A date filter restricts the series to the months with sales in it.
	ms, err = MonthlySales(bg, db, Filter{From: day("2017-02-01"), To: day("2017-12-31")})
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) != 3 || ms[0].Month != day("2017-02-01") || ms[2].Month != day("2017-04-01") || ms[0].MoM != nil {
		t.Errorf("filtered months: %+v", ms)
	}
}

func TestTopProductsAndCategories(t *testing.T) {
	t.Parallel()
	// Categories A 500, B 300, C 150, D 50 of revenue (total 1000); D has the
	// most orders (5 small ones).
	var orders []fxOrder
	add := func(id, product string, prices ...float64) {
		var items []fxItem
		for _, p := range prices {
			items = append(items, fxItem{product, p, p})
		}
		orders = append(orders, fxOrder{id: id, person: "p" + id, state: "SP", date: "2017-05-01", status: "delivered", days: 2, items: items})
	}
	add("1", "a1", 200, 200) // A: a1 400 in one order (2 units)
	add("2", "a2", 100)      // A: a2 100
	add("3", "b1", 150)
	add("4", "b1", 150) // B: b1 300 in two orders
	add("5", "c1", 50, 50, 50)
	for i := 0; i < 5; i++ {
		add(string(rune('6'+i)), "d1", 10) // D: 5 orders of 10
	}
	db := fixture{orders: orders, products: map[string]string{"a1": "A", "a2": "A", "b1": "B", "c1": "C", "d1": "D"}}.open(t)

	tp, err := TopProducts(bg, db, Filter{}, 2)
	if err != nil {
		t.Fatal(err)
	}
	if len(tp) != 2 || tp[0].Key != "a1" || tp[1].Key != "b1" {
		t.Fatalf("top products: %+v", tp)
	}
	checkF(t, "a1 revenue", tp[0].Revenue, 400)
	checkI(t, "a1 units", tp[0].Units, 2)
	checkI(t, "a1 orders", tp[0].Orders, 1)
	checkF(t, "a1 share", tp[0].Share, 0.4)
	checkI(t, "b1 orders", tp[1].Orders, 2)
	if tp[0].Label != "A · a1" {
		t.Errorf("label %q", tp[0].Label)
	}

	cs, err := TopCategories(bg, db, Filter{}, 3)
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, r := range cs.ByRevenue {
		keys = append(keys, r.Key)
	}
	if strings.Join(keys, ",") != "A,B,C" {
		t.Errorf("by revenue: %v", keys)
	}
	keys = nil
	for _, r := range cs.ByOrders {
		keys = append(keys, r.Key)
	}
	// D 5 orders, A 2, B 2 (tie by name), C 1
	if strings.Join(keys, ",") != "D,A,B" {
		t.Errorf("by orders: %v", keys)
	}
	checkF(t, "top3 share", cs.Top3Share, 0.95)
	checkF(t, "A share", cs.ByRevenue[0].Share, 0.5)
	checkI(t, "C units", cs.ByRevenue[2].Units, 3)

	// Top-3 share does not depend on n.
	cs1, err := TopCategories(bg, db, Filter{}, 1)
	if err != nil {
		t.Fatal(err)
	}
	checkF(t, "top3 share (n=1)", cs1.Top3Share, 0.95)
	if len(cs1.ByRevenue) != 1 || len(cs1.ByOrders) != 1 {
		t.Errorf("n=1: %+v", cs1)
	}
	// A category filter leaves one category with the whole share.
	cf, err := TopCategories(bg, db, Filter{Category: "B"}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(cf.ByRevenue) != 1 || !near(cf.Top3Share, 1) || !near(cf.ByRevenue[0].Revenue, 300) {
		t.Errorf("category filter: %+v", cf)
	}
}

func TestReviewVsSales(t *testing.T) {
	t.Parallel()
	// Product Pk (category Ck), k = 1..4: k orders of one unit, each reviewed
	// with k stars, so the average review is k and units are k: correlation
	// +1. Revenue 120 − 20k (1×100, 2×40, 3×20, 4×10): correlation −1.
	// P1 and P2 orders are late, P3 and P4 on time.
	prices := map[int]float64{1: 100, 2: 40, 3: 20, 4: 10}
	var orders []fxOrder
	products := map[string]string{}
	n := 0
	for k := 1; k <= 4; k++ {
		p := "P" + string(rune('0'+k))
		products[p] = "C" + string(rune('0'+k))
		for i := 0; i < k; i++ {
			n++
			orders = append(orders, fxOrder{id: "o" + strconv.Itoa(n), person: "u" + strconv.Itoa(n), state: "SP", date: "2017-06-01",
				status: "delivered", days: 5, late: k <= 2, items: []fxItem{{p, prices[k], prices[k]}}, reviews: []int{k}})
		}
	}
	// A fifth product, not delivered and never reviewed, stays out of the
	// correlations and the punctuality rows.
	orders = append(orders, fxOrder{id: "o99", person: "u99", state: "SP", date: "2017-06-02", status: "shipped",
		items: []fxItem{{"P5", 500, 500}}})
	products["P5"] = "C5"
	db := fixture{orders: orders, products: products}.open(t)
	rs, err := ReviewVsSales(bg, db, Filter{})
	if err != nil {
		t.Fatal(err)
	}
	checkF(t, "product corr units", rs.ProductCorrUnits, 1)
	checkF(t, "product corr revenue", rs.ProductCorrRevenue, -1)
	checkF(t, "category corr units", rs.CategoryCorrUnits, 1)
	checkF(t, "category corr revenue", rs.CategoryCorrRevenue, -1)
	checkI(t, "products with reviews", rs.Products, 4)
	if len(rs.ByPunctuality) != 2 || rs.ByPunctuality[0].Label != "on time" || rs.ByPunctuality[1].Label != "late" {
		t.Fatalf("punctuality rows: %+v", rs.ByPunctuality)
	}
	on, late := rs.ByPunctuality[0], rs.ByPunctuality[1]
	checkI(t, "on-time orders", on.Orders, 7)
	checkF(t, "on-time score", on.AvgScore, 25.0/7)
	checkF(t, "on-time low share", on.ShareLowScores, 0)
	checkI(t, "late orders", late.Orders, 3)
	checkF(t, "late score", late.AvgScore, 5.0/3)
	checkF(t, "late low share", late.ShareLowScores, 1)

	// One product: no correlation (undefined → 0), not NaN.
	one, err := ReviewVsSales(bg, db, Filter{Category: "C3"})
	if err != nil {
		t.Fatal(err)
	}
	if one.ProductCorrUnits != 0 || one.Products != 1 || one.ByPunctuality[0].Orders != 3 || one.ByPunctuality[1].Orders != 0 {
		t.Errorf("category filter: %+v", one)
	}
}

func TestReviewCountsOncePerProductOfOrder(t *testing.T) {
	t.Parallel()
	// One order with 3 units of P1 and 1 of P2, one 2-star review; a second
	// order of P1 with a 5-star review. P1's average is (2+5)/2 = 3.5, not
	// (2+2+2+5)/4; the order-level KPI average is also 3.5.
	fx := fixture{products: map[string]string{"P1": "X", "P2": "X"}, orders: []fxOrder{
		{id: "a", person: "A", state: "SP", date: "2017-01-01", status: "delivered", days: 1,
			items: []fxItem{{"P1", 10, 10}, {"P1", 10, 10}, {"P1", 10, 10}, {"P2", 5, 5}}, reviews: []int{2}},
		{id: "b", person: "B", state: "SP", date: "2017-01-02", status: "delivered", days: 1,
			items: []fxItem{{"P1", 10, 10}}, reviews: []int{5}},
	}}
	db := fx.open(t)
	k, err := Kpis(bg, db, Filter{})
	if err != nil {
		t.Fatal(err)
	}
	checkF(t, "kpi avg review", k.AvgReview, 3.5)
	// per category X: reviews of a and b, each once → 3.5; P1 3.5, P2 2.
	// units P1 4, P2 1 → corr(score, units) over (3.5, 4), (2, 1) = 1.
	rs, err := ReviewVsSales(bg, db, Filter{})
	if err != nil {
		t.Fatal(err)
	}
	checkF(t, "corr", rs.ProductCorrUnits, 1)
	checkI(t, "products", rs.Products, 2)
	checkF(t, "on-time score", rs.ByPunctuality[0].AvgScore, 3.5)
	checkI(t, "on-time orders", rs.ByPunctuality[0].Orders, 2)
}

// TestMonthlyPartialAndThin: the data set's first and last months are
// marked partial and get no growth; a base month of a handful of orders
// gives no growth either (+19,000% against a one-order month says nothing).
func TestMonthlyPartialAndThin(t *testing.T) {
	t.Parallel()
	var orders []fxOrder
	add := func(month string, n int, day string) {
		for i := 0; i < n; i++ {
			id := fmt.Sprintf("%s-%d", month, i)
			orders = append(orders, fxOrder{id: id, person: "p" + id, state: "SP", date: month + "-" + day, status: "delivered", days: 3,
				items: []fxItem{{"P1", 100, 110}}})
		}
	}
	add("2017-01", 1, "15")  // the data starts mid-January: partial
	add("2017-02", 40, "10") // base partial: no MoM
	add("2017-03", 1, "10")  // thin, but its own MoM is real: -97.5%
	add("2017-04", 40, "10") // base thin: no MoM
	add("2017-05", 20, "10") // the data ends on the 10th: partial
	db := fixture{products: map[string]string{"P1": "X"}, orders: orders}.open(t)
	ms, err := MonthlySales(bg, db, Filter{})
	if err != nil {
		t.Fatal(err)
	}
	type want struct {
		partial bool
		mom     string
	}
	wants := []want{{true, "nil"}, {false, "nil"}, {false, "-0.975"}, {false, "nil"}, {true, "nil"}}
	if len(ms) != len(wants) {
		t.Fatalf("%d months: %+v", len(ms), ms)
	}
	for i, m := range ms {
		mom := "nil"
		if m.MoM != nil {
			mom = strconv.FormatFloat(*m.MoM, 'f', 3, 64)
		}
		if m.Partial != wants[i].partial || mom != wants[i].mom {
			t.Errorf("%s: partial %v mom %s, want %+v", m.Month.Format("2006-01"), m.Partial, mom, wants[i])
		}
	}
	for _, tc := range []struct {
		format string
		human  bool
		want   []string
	}{
		{"table", true, []string{"2017-01", "partial", "-97.5%"}},
		{"csv", false, []string{"2017-01,100.00,1,110.00,,,true", "2017-03,100.00,1,110.00,-0.975000,,false"}},
	} {
		tab, err := Tabulate(ms, tc.human)
		if err != nil {
			t.Fatal(err)
		}
		var sb strings.Builder
		if err := tab.Write(&sb, tc.format); err != nil {
			t.Fatal(err)
		}
		if strings.Contains(sb.String(), "NULL") {
			t.Errorf("%s prints NULL for an empty cell:\n%s", tc.format, sb.String())
		}
		for _, w := range tc.want {
			if !strings.Contains(sb.String(), w) {
				t.Errorf("%s lacks %q:\n%s", tc.format, w, sb.String())
			}
		}
	}
}
