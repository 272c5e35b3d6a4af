package analytics

import (
	"fmt"
	"strings"
	"testing"
)

// rfmFixture: ten persons; the last sale is on 2018-01-31, so the reference
// date is 2018-02-01. With 10 persons the rank-based quintile is
// 1 + floor((rank−1)/2): ranks 1-2 → 1, 3-4 → 2, ..., 9-10 → 5.
//
//	person recency orders monetary | R F M | segment
//	p01        1      3      900   | 5 3 5 | champions
//	p02        2      2      100   | 5 2 2 | loyal
//	p03        5      1      800   | 4 1 5 | potential
//	p04       10      1       50   | 4 1 1 | new       (+ a canceled order 2 days before the reference date)
//	p05       30      2      400   | 3 2 3 | loyal
//	p06       60      1      300   | 3 1 3 | need attention
//	p07      100      4      700   | 2 4 4 | at risk
//	p08      200      1      650   | 2 1 4 | hibernating
//	p09      300      1      200   | 1 1 2 | lost
//	p10      400      1       60   | 1 1 1 | lost
//
// Six persons buy once (more than a fifth): frequency is scored by buckets.
func rfmFixture() fixture {
	ref := day("2018-02-01")
	var orders []fxOrder
	n := 0
	add := func(person string, daysBefore int, status string, prices ...float64) {
		n++
		var items []fxItem
		for _, p := range prices {
			items = append(items, fxItem{"P1", p, p})
		}
		orders = append(orders, fxOrder{id: fmt.Sprintf("o%02d", n), person: person, state: "SP",
			date: ref.AddDate(0, 0, -daysBefore).Format("2006-01-02"), status: status, days: 2, items: items})
	}
	add("p01", 1, "delivered", 150, 150) // two items, one order
	add("p01", 40, "delivered", 300)
	add("p01", 90, "delivered", 300)
	add("p02", 2, "delivered", 50)
	add("p02", 20, "delivered", 50)
	add("p03", 5, "delivered", 800)
	add("p04", 10, "delivered", 50)
	add("p04", 2, "canceled", 5000)
	add("p05", 30, "delivered", 200)
	add("p05", 300, "delivered", 200)
	add("p06", 60, "delivered", 300)
	add("p07", 100, "delivered", 175)
	add("p07", 150, "delivered", 175)
	add("p07", 250, "delivered", 175)
	add("p07", 350, "delivered", 175)
	add("p08", 200, "delivered", 650)
	add("p09", 300, "delivered", 200)
	add("p10", 400, "delivered", 60)
	return fixture{orders: orders, products: map[string]string{"P1": "X"}}
}

func TestRFM(t *testing.T) {
	t.Parallel()
	db := rfmFixture().open(t)
	res, err := RFM(bg, db, Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if res.ReferenceDate != day("2018-02-01") {
		t.Errorf("reference date %v", res.ReferenceDate)
	}
	if res.FrequencyScoring != FreqBuckets {
		t.Errorf("frequency scoring %q, want buckets", res.FrequencyScoring)
	}
	checkI(t, "persons", res.Persons, 10)
	type seg struct {
		n                 int64
		rev, rec, fr, mon float64
	}
	want := []struct {
		name string
		seg
	}{
		{"champions", seg{1, 900, 1, 3, 900}},
		{"potential", seg{1, 800, 5, 1, 800}},
		{"at risk", seg{1, 700, 100, 4, 700}},
		{"hibernating", seg{1, 650, 200, 1, 650}},
		{"loyal", seg{2, 500, 16, 2, 250}},
		{"need attention", seg{1, 300, 60, 1, 300}},
		{"lost", seg{2, 260, 350, 1, 130}},
		{"new", seg{1, 50, 10, 1, 50}},
	}
	var got []string
	for _, s := range res.Segments {
		got = append(got, s.Name)
	}
	var names []string
	for _, w := range want {
		names = append(names, w.name)
	}
	if strings.Join(got, ",") != strings.Join(names, ",") {
		t.Fatalf("segments by revenue: %v, want %v", got, names)
	}
	for i, w := range want {
		s := res.Segments[i]
		checkI(t, w.name+" customers", s.Customers, w.n)
		checkF(t, w.name+" revenue", s.Revenue, w.rev)
		checkF(t, w.name+" share", s.Share, w.rev/4160)
		checkF(t, w.name+" recency", s.AvgRecencyDays, w.rec)
		checkF(t, w.name+" frequency", s.AvgFrequency, w.fr)
		checkF(t, w.name+" monetary", s.AvgMonetary, w.mon)
	}

	// A date window: sales up to 2017-12-31 only. The reference date is the
	// day after the last sale in the window.
	res, err = RFM(bg, db, Filter{To: day("2017-12-31")})
	if err != nil {
		t.Fatal(err)
	}
	// The latest sale in the window is p01's, 40 days before 2018-02-01 = 2017-12-23.
	if res.ReferenceDate != day("2017-12-24") {
		t.Errorf("windowed reference date %v, want 2017-12-24", res.ReferenceDate)
	}
	var persons int64
	for _, s := range res.Segments {
		persons += s.Customers
	}
	// p02, p03 and p04 bought only in 2018: 7 persons left.
	checkI(t, "windowed persons", persons, 7)
}

func TestRFMFrequencyQuintiles(t *testing.T) {
	t.Parallel()
	// Five persons with 1..5 orders: no order count holds more than a fifth,
	// so frequency is scored by quintile (= rank here).
	var orders []fxOrder
	for p := 1; p <= 5; p++ {
		for i := 0; i < p; i++ {
			orders = append(orders, fxOrder{id: fmt.Sprintf("o%d_%d", p, i), person: fmt.Sprintf("p%d", p), state: "SP",
				date: fmt.Sprintf("2017-0%d-1%d", p, i), status: "delivered", days: 1, items: []fxItem{{"P1", 10, 10}}})
		}
	}
	db := fixture{orders: orders, products: map[string]string{"P1": "X"}}.open(t)
	res, err := RFM(bg, db, Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if res.FrequencyScoring != FreqQuintiles || res.Persons != 5 {
		t.Fatalf("%+v", res)
	}
	// p5: most recent (R5), 5 orders (F5), most money (M5) → champions;
	// p4: R4 F4 M4 → champions; p3: R3 F3 → loyal; p2: R2 F2 → at risk;
	// p1: R1 F1 M1 → lost.
	got := map[string]int64{}
	for _, s := range res.Segments {
		got[s.Name] = s.Customers
	}
	if got["champions"] != 2 || got["loyal"] != 1 || got["at risk"] != 1 || got["lost"] != 1 {
		t.Errorf("segments %v", got)
	}
}
