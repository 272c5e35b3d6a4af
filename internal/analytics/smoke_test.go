package analytics

import (
	"testing"
	"time"

	"github.com/keystone/nexus/internal/engine"
	"github.com/keystone/nexus/internal/lake"
	"github.com/keystone/nexus/internal/olist"
	"github.com/keystone/nexus/internal/pipeline"
)

// TestGeneratedLake runs every analysis on a small generated lake built by
// the real pipeline and checks that the numbers reconcile.
func TestGeneratedLake(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("builds a lake")
	}
	src := t.TempDir()
	if _, err := olist.Generate(bg, src, olist.GenOptions{Scale: 0.02, Seed: 1}); err != nil {
		t.Fatal(err)
	}
	lk, err := lake.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	eopts := engine.Options{Threads: 2, MemoryLimit: "1GB"}
	sum, err := pipeline.Run(bg, lk, pipeline.Options{SourceDir: src, Engine: eopts})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Err() != nil {
		t.Logf("pipeline steps failed (analyses still run on what was published): %v", sum.Err())
	}
	eng, err := engine.Open(bg, lk, eopts)
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	db := eng.DB()

	for _, a := range Registry() {
		t0 := time.Now()
		res, err := a.Run(bg, db, Filter{}, nil)
		if err != nil {
			t.Fatalf("%s: %v", a.Name, err)
		}
		if _, err := Tabulate(res, true); err != nil {
			t.Fatalf("%s: %v", a.Name, err)
		}
		t.Logf("%-16s %v", a.Name, time.Since(t0).Round(time.Microsecond))
	}

	k, err := Kpis(bg, db, Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if k.Revenue <= 0 || k.Orders <= 0 || k.Customers <= 0 || k.AvgReview < 1 || k.AvgReview > 5 ||
		k.LateShare <= 0 || k.LateShare >= 1 || k.RepeatRate <= 0 || k.RepeatRate >= 0.5 {
		t.Errorf("implausible KPIs %+v", k)
	}
	// The Gold mart agrees with the analysis.
	var martRevenue float64
	var martOrders int64
	if err := db.QueryRow(`SELECT CAST(sum(revenue) AS DOUBLE), sum(orders) FROM gold.mart_monthly_sales`).Scan(&martRevenue, &martOrders); err != nil {
		t.Fatal(err)
	}
	checkF(t, "mart revenue", martRevenue, k.Revenue)
	checkI(t, "mart orders", martOrders, k.Orders)

	ms, err := MonthlySales(bg, db, Filter{})
	if err != nil {
		t.Fatal(err)
	}
	var rev float64
	var orders int64
	for _, m := range ms {
		rev += m.Revenue
		orders += m.Orders
	}
	checkF(t, "sum of monthly revenue", rev, k.Revenue)
	checkI(t, "sum of monthly orders", orders, k.Orders)
	if ms[0].Month.Year() != 2016 || ms[len(ms)-1].Month.Year() != 2018 {
		t.Errorf("months %v .. %v", ms[0].Month, ms[len(ms)-1].Month)
	}

	g, err := Geography(bg, db, Filter{}, 10)
	if err != nil {
		t.Fatal(err)
	}
	rev, orders = 0, 0
	for _, s := range g.States {
		rev += s.Revenue
		orders += s.Orders
	}
	checkF(t, "sum of state revenue", rev, k.Revenue)
	checkI(t, "sum of state orders", orders, k.Orders)
	if len(g.States) < 20 || len(g.Flows) != 10 {
		t.Errorf("%d states, %d flows", len(g.States), len(g.Flows))
	}

	r, err := RFM(bg, db, Filter{})
	if err != nil {
		t.Fatal(err)
	}
	var persons int64
	rev = 0
	for _, s := range r.Segments {
		persons += s.Customers
		rev += s.Revenue
	}
	checkI(t, "persons in segments", persons, k.Customers)
	checkF(t, "revenue of segments", rev, k.Revenue)
	if r.FrequencyScoring != FreqBuckets || r.ReferenceDate != k.DataTo.AddDate(0, 0, 1) {
		t.Errorf("rfm %s, reference %v (last sale %v)", r.FrequencyScoring, r.ReferenceDate, k.DataTo)
	}

	cs, err := TopCategories(bg, db, Filter{}, 0)
	if err != nil {
		t.Fatal(err)
	}
	rev = 0
	for _, c := range cs.ByRevenue {
		rev += c.Revenue
	}
	checkF(t, "sum of category revenue", rev, k.Revenue)

	c, err := CLV(bg, db, Filter{})
	if err != nil {
		t.Fatal(err)
	}
	var binned int64
	for _, b := range c.Histogram {
		binned += b.Count
	}
	checkI(t, "CLV histogram total", binned, c.Persons)
	checkI(t, "CLV cohorts", c.Top.Customers+c.Rest.Customers, c.Persons)
	if c.Top.AvgCLV <= c.Rest.AvgCLV || c.Percentiles["p50"] > c.Percentiles["p90"] {
		t.Errorf("clv %+v", c)
	}

	d, err := Delivery(bg, db, Filter{})
	if err != nil {
		t.Fatal(err)
	}
	checkF(t, "late share", d.LateShare, k.LateShare)
	if d.P50 > d.P90 || d.P90 > d.P95 || d.AvgDays <= 0 {
		t.Errorf("delivery %+v", d)
	}

	// A state filter: its numbers are the state's row of the geography.
	states, err := States(bg, db)
	if err != nil || len(states) == 0 {
		t.Fatal(states, err)
	}
	ks, err := Kpis(bg, db, Filter{State: "SP"})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range g.States {
		if s.State == "SP" {
			checkF(t, "SP revenue", ks.Revenue, s.Revenue)
			checkI(t, "SP orders", ks.Orders, s.Orders)
			checkI(t, "SP customers", ks.Customers, s.Customers)
		}
	}
	if ks.Revenue >= k.Revenue {
		t.Errorf("SP revenue %v not below total %v", ks.Revenue, k.Revenue)
	}
	var martSP float64
	if err := db.QueryRow(`SELECT CAST(revenue AS DOUBLE) FROM gold.mart_state_sales WHERE customer_state = 'SP'`).Scan(&martSP); err != nil {
		t.Fatal(err)
	}
	checkF(t, "SP revenue vs mart", ks.Revenue, martSP)
}
