package report

import (
	"fmt"
	"math"

	"github.com/keystone/nexus/internal/catalog"
)

// Public list prices (US East, on-demand, as published by AWS) and the
// stated assumptions of the cost slide. Everything else on the slide is
// computed from the lake's manifests.
const (
	athenaUSDPerTB        = catalog.AthenaUSDPerTB  // Athena SQL: US$ per TB scanned (one home: the query estimate's)
	athenaMinBytes        = catalog.AthenaMinBilled // Athena bills at least 10 MB per query
	s3USDPerGBMonth       = 0.023                   // S3 Standard, first 50 TB
	redshiftNodeUSDPerH   = 1.086                   // ra3.xlplus on-demand
	redshiftNodes         = 2
	hoursPerMonth         = 730
	redshiftRMSUSDPerGBMo = 0.024 // Redshift managed storage
	costQueriesPerDay     = 1000  // assumption: dashboard + analysts
	costScanFraction      = 0.10  // assumption: a query reads 10% of Gold (columns + partitions pruned)
	costDaysPerMonth      = 30
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
	Label           string
	Factor          float64
	LakeBytes       float64 // all layers, stored in S3
	GoldBytes       float64 // what queries read, and what Redshift holds
	ScanPerQuery    float64 // bytes billed per Athena query
	ScannedPerMonth float64
	AthenaScanUSD   float64
	S3USD           float64
	AthenaUSD       float64 // scans + S3
	RedshiftNodeUSD float64
	RedshiftRMSUSD  float64
	RedshiftUSD     float64 // nodes + managed storage + S3 for the lake
	Cheaper         string
	Ratio           float64 // expensive / cheap
	// BreakEvenQueriesPerDay is the Athena query volume at which Athena
	// would cost as much as the Redshift cluster.
	BreakEvenQueriesPerDay float64
}

// CostModel is the cost slide: the sizes, the assumptions and the scenarios.
type CostModel struct {
	Layers       []LayerSize
	LakeBytes    int64
	GoldBytes    int64
	QueriesDay   int
	ScanFraction float64
	Scenarios    []CostScenario
	Prices       []string // the list prices used, for the slide
}

// NewCostModel computes the Athena vs Redshift comparison at the current
// size and at 100× from the published layer sizes.
func NewCostModel(layers []LayerSize) CostModel {
	m := CostModel{Layers: layers, QueriesDay: costQueriesPerDay, ScanFraction: costScanFraction}
	for _, l := range layers {
		m.LakeBytes += l.Bytes
		if l.Layer == "gold" {
			m.GoldBytes += l.Bytes
		}
	}
	m.Prices = []string{
		fmt.Sprintf("Athena: US$ %.2f per TB scanned, minimum 10 MB per query", athenaUSDPerTB),
		fmt.Sprintf("S3 Standard: US$ %.3f per GB-month", s3USDPerGBMonth),
		fmt.Sprintf("Redshift ra3.xlplus on-demand: US$ %.3f per node-hour × %d nodes × %d h", redshiftNodeUSDPerH, redshiftNodes, hoursPerMonth),
		fmt.Sprintf("Redshift managed storage: US$ %.3f per GB-month", redshiftRMSUSDPerGBMo),
	}
	for _, f := range []struct {
		label  string
		factor float64
	}{{"today", 1}, {"100× data", 100}} {
		s := CostScenario{Label: f.label, Factor: f.factor}
		s.LakeBytes = float64(m.LakeBytes) * f.factor
		s.GoldBytes = float64(m.GoldBytes) * f.factor
		s.ScanPerQuery = math.Max(athenaMinBytes, s.GoldBytes*costScanFraction)
		s.ScannedPerMonth = s.ScanPerQuery * costQueriesPerDay * costDaysPerMonth
		s.AthenaScanUSD = s.ScannedPerMonth / 1e12 * athenaUSDPerTB
		s.S3USD = s.LakeBytes / 1e9 * s3USDPerGBMonth
		s.AthenaUSD = s.AthenaScanUSD + s.S3USD
		s.RedshiftNodeUSD = redshiftNodeUSDPerH * redshiftNodes * hoursPerMonth
		s.RedshiftRMSUSD = s.GoldBytes / 1e9 * redshiftRMSUSDPerGBMo
		s.RedshiftUSD = s.RedshiftNodeUSD + s.RedshiftRMSUSD + s.S3USD
		if s.AthenaUSD <= s.RedshiftUSD {
			s.Cheaper, s.Ratio = "Athena", s.RedshiftUSD/math.Max(s.AthenaUSD, 0.01)
		} else {
			s.Cheaper, s.Ratio = "Redshift", s.AthenaUSD/math.Max(s.RedshiftUSD, 0.01)
		}
		perQuery := s.ScanPerQuery / 1e12 * athenaUSDPerTB * costDaysPerMonth
		s.BreakEvenQueriesPerDay = (s.RedshiftNodeUSD + s.RedshiftRMSUSD) / perQuery
		m.Scenarios = append(m.Scenarios, s)
	}
	return m
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
