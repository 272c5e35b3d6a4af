package analytics

import (
	"testing"
)

func TestGeography(t *testing.T) {
	t.Parallel()
	db := shop().open(t)
	g, err := Geography(bg, db, Filter{}, 3)
	if err != nil {
		t.Fatal(err)
	}
	want := []StateRow{
		{State: "SP", Orders: 2, Customers: 1, Revenue: 250, AvgDeliveryDays: (3.5 + 12.25) / 2, LateShare: 0.5},
		{State: "RJ", Orders: 1, Customers: 1, Revenue: 60, AvgDeliveryDays: 7, LateShare: 0},
		{State: "MG", Orders: 1, Customers: 1, Revenue: 50},
	}
	if len(g.States) != len(want) {
		t.Fatalf("states %+v", g.States)
	}
	for i, w := range want {
		s := g.States[i]
		if s.State != w.State || s.Orders != w.Orders || s.Customers != w.Customers || !near(s.Revenue, w.Revenue) ||
			!near(s.AvgDeliveryDays, w.AvgDeliveryDays) || !near(s.LateShare, w.LateShare) {
			t.Errorf("state %d = %+v, want %+v", i, s, w)
		}
	}
	// Flows (seller → customer): SP→SP 200 (O1, O2), SP→RJ 60, MG→MG 50, MG→SP 50;
	// ties by seller state then customer state. O1 counts in SP→SP and MG→SP.
	wantF := []Flow{{"SP", "SP", 2, 200}, {"SP", "RJ", 1, 60}, {"MG", "MG", 1, 50}}
	if len(g.Flows) != 3 {
		t.Fatalf("flows %+v", g.Flows)
	}
	for i, w := range wantF {
		if g.Flows[i] != w {
			t.Errorf("flow %d = %+v, want %+v", i, g.Flows[i], w)
		}
	}
	// A category filter: only Y items (P2 from MG, P3 from SP).
	g, err = Geography(bg, db, Filter{Category: "Y"}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(g.States) != 3 || g.States[0].State != "RJ" || !near(g.States[0].Revenue, 60) || len(g.Flows) != 3 {
		t.Errorf("category Y: %+v", g)
	}
	for _, f := range g.Flows {
		if f.From == "MG" && f.To == "SP" && (f.Orders != 1 || !near(f.Revenue, 50)) {
			t.Errorf("MG→SP in Y: %+v", f)
		}
	}
}

func TestCLV(t *testing.T) {
	t.Parallel()
	db := shop().open(t)
	// No filter: gold.dim_customer.customer_lifetime_value of persons with a
	// sales order: A 110+55+120 = 285, B 70 + 30 (O6, no items) = 100, C 60
	// (O4 canceled).
	c, err := CLV(bg, db, Filter{})
	if err != nil {
		t.Fatal(err)
	}
	checkI(t, "persons", c.Persons, 3)
	// quantile_cont over 60, 100, 285
	checkF(t, "p50", c.Percentiles["p50"], 100)
	checkF(t, "p75", c.Percentiles["p75"], 100+0.5*185)
	checkF(t, "p90", c.Percentiles["p90"], 100+0.8*185)
	checkF(t, "p99", c.Percentiles["p99"], 100+0.98*185)
	// Bins 0-10, 10-15, 15-20, 20-30, 30-50, 50-70, 70-100, 100-150, 150-200, 200-300:
	// 60 in #5, 100 in #7, 285 in #9.
	if len(c.Histogram) != 10 {
		t.Fatalf("histogram %+v", c.Histogram)
	}
	for i, b := range c.Histogram {
		want := int64(0)
		if i == 5 || i == 7 || i == 9 {
			want = 1
		}
		if b.Count != want {
			t.Errorf("bin %d [%v,%v) = %d, want %d", i, b.Lo, b.Hi, b.Count, want)
		}
	}
	if c.Histogram[5].Lo != 50 || c.Histogram[5].Hi != 70 || c.Histogram[9].Hi != 300 {
		t.Errorf("bin edges %+v", c.Histogram)
	}
	// Top 10% of 3 persons = 1 person (A).
	top, rest := c.Top, c.Rest
	checkI(t, "top customers", top.Customers, 1)
	checkF(t, "top avg clv", top.AvgCLV, 285)
	checkF(t, "top share", top.RevenueShare, 285.0/445)
	checkF(t, "top orders", top.AvgOrders, 2)
	checkF(t, "top items", top.AvgItems, 3)
	checkF(t, "top review", top.AvgReview, 3)
	checkF(t, "top late", top.LateShare, 0.5)
	if top.TopCategory != "X" || top.TopState != "SP" {
		t.Errorf("top cohort %+v", top)
	}
	checkI(t, "rest customers", rest.Customers, 2)
	checkF(t, "rest avg clv", rest.AvgCLV, 80)
	checkF(t, "rest share", rest.RevenueShare, 160.0/445)
	checkF(t, "rest orders", rest.AvgOrders, 1)
	checkF(t, "rest items", rest.AvgItems, 1.5)
	checkF(t, "rest review", rest.AvgReview, 3)
	checkF(t, "rest late", rest.LateShare, 0)
	// RJ (O3) and MG (O5) tie at one order: alphabetical.
	if rest.TopCategory != "Y" || rest.TopState != "MG" {
		t.Errorf("rest cohort %+v", rest)
	}

	// Filtered: recomputed from fact_sales (B's O6 payments are not there).
	c, err = CLV(bg, db, Filter{From: day("2017-01-01")})
	if err != nil {
		t.Fatal(err)
	}
	checkF(t, "filtered p50", c.Percentiles["p50"], 70)
	checkF(t, "filtered rest avg", c.Rest.AvgCLV, 65)
	c, err = CLV(bg, db, Filter{State: "SP"})
	if err != nil {
		t.Fatal(err)
	}
	checkI(t, "SP persons", c.Persons, 1)
	checkF(t, "SP p99", c.Percentiles["p99"], 285)
	checkI(t, "SP rest", c.Rest.Customers, 0)
}

func TestDelivery(t *testing.T) {
	t.Parallel()
	fx := shop()
	// An order delivered in 75.5 days lands in the open last bin [60, 76).
	fx.orders = append(fx.orders, fxOrder{id: "O7", person: "D", state: "SP", date: "2017-03-02", status: "delivered",
		days: 75.5, late: true, items: []fxItem{{"P1", 100, 100}, {"P2", 50, 50}}})
	db := fx.open(t)
	d, err := Delivery(bg, db, Filter{})
	if err != nil {
		t.Fatal(err)
	}
	// One value per ORDER: 3.5, 7 (O3 has 2 items), 12.25, 75.5 (2 items).
	checkF(t, "avg", d.AvgDays, (3.5+7+12.25+75.5)/4)
	checkF(t, "p50", d.P50, (7+12.25)/2)
	checkF(t, "p90", d.P90, 12.25+0.7*(75.5-12.25))
	checkF(t, "p95", d.P95, 12.25+0.85*(75.5-12.25))
	checkF(t, "late share", d.LateShare, 0.5)
	if len(d.Histogram) != 61 {
		t.Fatalf("%d bins", len(d.Histogram))
	}
	for i, b := range d.Histogram {
		want := int64(0)
		switch i {
		case 3, 7, 12, 60:
			want = 1
		}
		if b.Count != want || b.Lo != float64(i) {
			t.Errorf("bin %d = %+v, want count %d", i, b, want)
		}
	}
	if d.Histogram[60].Hi != 76 || d.Histogram[59].Hi != 60 {
		t.Errorf("last bins %+v %+v", d.Histogram[59], d.Histogram[60])
	}
	want := []MonthShare{{day("2017-01-01"), 1, 0}, {day("2017-02-01"), 2, 0.5}, {day("2017-03-01"), 1, 1}}
	if len(d.LateByMonth) != len(want) {
		t.Fatalf("late by month %+v", d.LateByMonth)
	}
	for i, w := range want {
		if g := d.LateByMonth[i]; !g.Month.Equal(w.Month) || g.Orders != w.Orders || !near(g.Share, w.Share) {
			t.Errorf("month %d = %+v, want %+v", i, g, w)
		}
	}
	// Category Y: O1 (P2, 3.5 d) and O3 (7 d); O7's P2 item counts O7 too.
	d, err = Delivery(bg, db, Filter{Category: "Y"})
	if err != nil {
		t.Fatal(err)
	}
	checkF(t, "Y avg", d.AvgDays, (3.5+7+75.5)/3)
	checkF(t, "Y late", d.LateShare, 1.0/3)
	// Nothing delivered: zeros and empty lists.
	d, err = Delivery(bg, db, Filter{State: "MG"})
	if err != nil {
		t.Fatal(err)
	}
	if d.AvgDays != 0 || len(d.Histogram) != 0 || len(d.LateByMonth) != 0 {
		t.Errorf("MG: %+v", d)
	}
}

func TestFilterOptions(t *testing.T) {
	t.Parallel()
	db := shop().open(t)
	st, err := States(bg, db)
	if err != nil {
		t.Fatal(err)
	}
	// RJ occurs on a sale (O3); O4 is canceled but RJ is there anyway.
	if len(st) != 3 || st[0] != "MG" || st[1] != "RJ" || st[2] != "SP" {
		t.Errorf("states %v", st)
	}
	cs, err := Categories(bg, db)
	if err != nil {
		t.Fatal(err)
	}
	if len(cs) != 2 || cs[0] != "X" || cs[1] != "Y" {
		t.Errorf("categories %v", cs)
	}
}
