package report

import (
	"fmt"
	"math"

	"github.com/keystone/nexus/internal/catalog"
)

// Redshift's list prices, the alternative the slide compares with
// (https://aws.amazon.com/redshift/pricing/, us-east-1, on-demand). The
// lake's own prices, and its bill, are the catalog's (`nexus catalog cost`).
const (
	redshiftNodeUSDPerH   = 1.086 // ra3.xlplus
	redshiftNodes         = 2
	hoursPerMonth         = 730
	redshiftRMSUSDPerGBMo = 0.024 // Redshift managed storage
)

// LayerSize is the published size of a layer, from the manifests.
type LayerSize struct {
	Layer  string
	Tables int
	Rows   int64
	Bytes  int64
}

// CostScenario is the monthly cost of one data size on both services.
type CostScenario struct {
	Label     string
	Factor    float64
	LakeBytes float64 // all layers, stored in S3
	GoldBytes float64 // what Redshift holds
	// ScanPerQuery: bytes billed for the average statement of the
	// dashboard; ViewBilled: for one view (all its statements). Measured:
	// the Athena estimate of each statement.
	ScanPerQuery    float64
	ViewBilled      float64
	ScannedPerMonth float64
	AthenaScanUSD   float64
	S3USD           float64 // S3 storage
	RequestsUSD     float64 // S3 requests and Glue
	AthenaUSD       float64 // the whole bill of the lake on Athena (catalog.Bill)
	RedshiftNodeUSD float64
	RedshiftRMSUSD  float64
	RedshiftUSD     float64 // nodes + managed storage + S3 for the lake
	Cheaper         string
	Ratio           float64 // expensive / cheap
	// BreakEvenViewsPerDay is the dashboard views a day at which Athena
	// would cost as much as the Redshift cluster.
	BreakEvenViewsPerDay float64
	Bill                 catalog.Bill
}

// CostModel is the cost slide: the sizes, the assumptions and the scenarios.
type CostModel struct {
	Layers     []LayerSize
	LakeBytes  int64
	GoldBytes  int64
	Usage      catalog.Usage
	Statements int     // Athena statements per dashboard view
	QueriesDay float64 // Athena queries a day: dashboard statements and analysts'
	Scenarios  []CostScenario
	Prices     []string // the list prices used, for the slide
}

// NewCostModel compares Athena with Redshift at the lake's size and at
// 100×: the Athena side is the lake's bill for usage u (catalog.Bill, what
// `nexus catalog cost` prints), from fp, the lake measured.
func NewCostModel(layers []LayerSize, fp *catalog.Footprint, u catalog.Usage) CostModel {
	m := CostModel{Layers: layers, Usage: u, Statements: len(fp.Queries)}
	for _, l := range layers {
		m.LakeBytes += l.Bytes
		if l.Layer == "gold" {
			m.GoldBytes += l.Bytes
		}
	}
	m.Prices = []string{
		fmt.Sprintf("Athena: US$ %.2f per TB scanned, minimum 10 MB per query", catalog.AthenaUSDPerTB),
		fmt.Sprintf("S3 Standard: US$ %.3f per GB-month, US$ %.3f per 1,000 PUT/LIST, US$ %.4f per 1,000 GET", catalog.S3USDPerGBMonth, catalog.S3USDPer1000Writes, catalog.S3USDPer1000Reads),
		fmt.Sprintf("Glue Data Catalog: %s requests and %s objects a month free, then US$ %.2f per million requests, US$ %.2f per 100,000 objects",
			FormatInt(catalog.GlueFreeRequests), FormatInt(catalog.GlueFreeObjects), catalog.GlueUSDPerMillionRequests, catalog.GlueUSDPer100kObjects),
		fmt.Sprintf("Redshift ra3.xlplus on-demand: US$ %.3f per node-hour × %d nodes × %d h", redshiftNodeUSDPerH, redshiftNodes, hoursPerMonth),
		fmt.Sprintf("Redshift managed storage: US$ %.3f per GB-month", redshiftRMSUSDPerGBMo),
	}
	for _, f := range []struct {
		label  string
		factor float64
	}{{"today", 1}, {"100× data", 100}} {
		b := fp.Bill(u, f.factor)
		m.QueriesDay = b.QueriesPerDay
		s := CostScenario{Label: f.label, Factor: f.factor, Bill: b}
		s.LakeBytes = float64(m.LakeBytes) * f.factor
		s.GoldBytes = float64(m.GoldBytes) * f.factor
		s.ScanPerQuery, s.ViewBilled = float64(b.QueryBilled), float64(b.ViewBilled)
		scans := b.Line("Athena", catalog.ItemScans)
		s.ScannedPerMonth = scans.Quantity * 1e12
		s.AthenaScanUSD = scans.USD
		s.S3USD = b.Line("S3", catalog.ItemStorage).USD
		s.AthenaUSD = b.USD
		s.RequestsUSD = s.AthenaUSD - s.AthenaScanUSD - s.S3USD
		s.RedshiftNodeUSD = redshiftNodeUSDPerH * redshiftNodes * hoursPerMonth
		s.RedshiftRMSUSD = s.GoldBytes / 1e9 * redshiftRMSUSDPerGBMo
		s.RedshiftUSD = s.RedshiftNodeUSD + s.RedshiftRMSUSD + s.S3USD
		if s.AthenaUSD <= s.RedshiftUSD {
			s.Cheaper, s.Ratio = "Athena", s.RedshiftUSD/math.Max(s.AthenaUSD, 0.01)
		} else {
			s.Cheaper, s.Ratio = "Redshift", s.AthenaUSD/math.Max(s.RedshiftUSD, 0.01)
		}
		s.BreakEvenViewsPerDay = breakEven(fp, u, f.factor, s.RedshiftUSD)
		m.Scenarios = append(m.Scenarios, s)
	}
	return m
}

// breakEven is the dashboard views a day at which the lake's bill reaches
// usd: the bill grows with the views, not in proportion (free tiers), so
// it is found by bisection.
func breakEven(fp *catalog.Footprint, u catalog.Usage, factor, usd float64) float64 {
	bill := func(views float64) float64 {
		u.DashboardViewsPerDay = views
		return fp.Bill(u, factor).USD
	}
	if len(fp.Queries) == 0 || bill(0) >= usd {
		return 0
	}
	lo, hi := 0.0, 1.0
	for bill(hi) < usd && hi < 1e12 {
		lo, hi = hi, hi*2
	}
	for range 60 {
		mid := (lo + hi) / 2
		if bill(mid) < usd {
			lo = mid
		} else {
			hi = mid
		}
	}
	return hi
}

// FormatDecimalBytes writes a size in decimal units as billed: "12.3 MB".
func FormatDecimalBytes(b float64) string {
	units := []string{"B", "kB", "MB", "GB", "TB", "PB"}
	i := 0
	for b >= 1000 && i < len(units)-1 {
		b /= 1000
		i++
	}
	if i == 0 {
		return FormatNumber(b, 0) + " B"
	}
	dec := 1
	if b >= 100 {
		dec = 0
	}
	return FormatNumber(b, dec) + " " + units[i]
}
