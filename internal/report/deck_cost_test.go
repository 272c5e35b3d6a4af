package report

import (
	"math"
	"testing"

	"github.com/keystone/nexus/internal/catalog"
)

// TestCostModel: the slide's Athena column is the lake's bill (today and at
// 100×), Redshift's is its list prices, and at the break-even volume both
// cost the same.
func TestCostModel(t *testing.T) {
	fp := &catalog.Footprint{Snapshot: 3, Tables: 20, Files: 60, Bytes: 100e6, KeptSnapshots: 0, RunChanged: 5, RunFiles: 5,
		Queries: []catalog.QueryScan{{Analysis: "kpis", Bytes: 12e6, Tables: 2, Files: 10, Symlinks: 10}, {Analysis: "rfm", Bytes: 30e6, Tables: 2, Files: 10, Symlinks: 10}}}
	u := catalog.DefaultUsage()
	m := NewCostModel([]LayerSize{{Layer: "bronze", Bytes: 40e6}, {Layer: "silver", Bytes: 35e6}, {Layer: "gold", Bytes: 25e6}}, fp, u)
	if len(m.Scenarios) != 2 || m.Statements != 2 || m.QueriesDay != 2*u.DashboardViewsPerDay+u.AnalystQueriesPerDay {
		t.Fatalf("model: %+v", m)
	}
	for i, factor := range []float64{1, 100} {
		s := m.Scenarios[i]
		b := fp.Bill(u, factor)
		if s.Factor != factor || s.AthenaUSD != b.USD || s.AthenaScanUSD != b.Line("Athena", catalog.ItemScans).USD || s.ViewBilled != float64(b.ViewBilled) {
			t.Errorf("%s: Athena %v (scans %v), the bill says %v (%v)", s.Label, s.AthenaUSD, s.AthenaScanUSD, b.USD, b.Line("Athena", catalog.ItemScans).USD)
		}
		if math.Abs(s.RedshiftNodeUSD-1585.56) > 1e-6 || math.Abs(s.RedshiftRMSUSD-25e6*factor/1e9*0.024) > 1e-9 {
			t.Errorf("%s: Redshift nodes %v, managed storage %v", s.Label, s.RedshiftNodeUSD, s.RedshiftRMSUSD)
		}
		at := u
		at.DashboardViewsPerDay = s.BreakEvenViewsPerDay
		if got := fp.Bill(at, factor).USD; math.Abs(got-s.RedshiftUSD) > 0.01 {
			t.Errorf("%s: at %v views a day Athena costs %v, Redshift %v", s.Label, s.BreakEvenViewsPerDay, got, s.RedshiftUSD)
		}
	}
	// 2 statements of 12 and 30 MB: 42 MB billed a view today, 4.2 GB at 100×.
	if m.Scenarios[0].ViewBilled != 42e6 || m.Scenarios[1].ViewBilled != 4.2e9 || m.Scenarios[0].Cheaper != "Athena" {
		t.Errorf("today %+v\n100× %+v", m.Scenarios[0], m.Scenarios[1])
	}
}
