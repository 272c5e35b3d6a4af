package analytics

import "time"

// Filter restricts an analysis. Dates are Brazilian local business dates
// (gold.fact_sales.purchase_date), both inclusive; zero means open. State is
// the customer's state (UF) at the time of the order; Category is
// gold.dim_product.category_en. Empty strings mean all.
type Filter struct {
	From     time.Time `json:"from,omitempty"`
	To       time.Time `json:"to,omitempty"`
	State    string    `json:"state,omitempty"`
	Category string    `json:"category,omitempty"`
}

// KPIs are the headline numbers of the dashboard.
type KPIs struct {
	Revenue    float64   `json:"revenue"`     // R$, sum of item prices of sales (is_sale)
	Orders     int64     `json:"orders"`      // distinct sales orders
	AOV        float64   `json:"aov"`         // R$, average order value: payments / orders
	Customers  int64     `json:"customers"`   // distinct persons (customer_unique_id)
	RepeatRate float64   `json:"repeat_rate"` // 0..1: persons with 2+ sales orders / persons
	AvgReview  float64   `json:"avg_review"`  // 1..5, reviews of the filtered orders
	LateShare  float64   `json:"late_share"`  // 0..1: late / delivered orders
	DataFrom   time.Time `json:"data_from"`   // first and last purchase date in the filter
	DataTo     time.Time `json:"data_to"`
}

// MonthPoint is one month of sales; growth is nil unless both months are
// Comparable and the base had revenue.
type MonthPoint struct {
	Month   time.Time `json:"month"` // first day of the local month
	Revenue float64   `json:"revenue"`
	Orders  int64     `json:"orders"`
	AOV     float64   `json:"aov"`
	MoM     *float64  `json:"mom,omitempty"` // revenue growth vs previous month, 0.1 = +10%
	YoY     *float64  `json:"yoy,omitempty"` // revenue growth vs same month a year before
	// Partial: the data set covers only part of the month (it starts after
	// the 1st or ends before the last day).
	Partial bool `json:"partial,omitempty"`
}

// Ranked is one entry of a top-N list.
type Ranked struct {
	Key     string  `json:"key"`   // product_id or category_en
	Label   string  `json:"label"` // what to show: category name, or "category · id prefix" for products
	Revenue float64 `json:"revenue"`
	Orders  int64   `json:"orders"`
	Units   int64   `json:"units"`
	Share   float64 `json:"share"` // of total revenue in the filter, 0..1
}

// CategoryStats ranks categories by revenue and by order volume.
type CategoryStats struct {
	ByRevenue []Ranked `json:"by_revenue"`
	ByOrders  []Ranked `json:"by_orders"`
	Top3Share float64  `json:"top3_share"` // revenue share of the top 3 categories
}

// PunctualityRow is the review score of on-time vs late deliveries.
type PunctualityRow struct {
	Label          string  `json:"label"` // "on time" or "late"
	Orders         int64   `json:"orders"`
	AvgScore       float64 `json:"avg_score"`
	ShareLowScores float64 `json:"share_low_scores"` // share of 1–2 star reviews
}

// ReviewSales relates review scores to sales (Pearson correlations).
type ReviewSales struct {
	ProductCorrUnits    float64          `json:"product_corr_units"`
	ProductCorrRevenue  float64          `json:"product_corr_revenue"`
	CategoryCorrUnits   float64          `json:"category_corr_units"`
	CategoryCorrRevenue float64          `json:"category_corr_revenue"`
	Products            int64            `json:"products"` // products with at least one review
	ByPunctuality       []PunctualityRow `json:"by_punctuality"`
}

// Segment is one RFM segment.
type Segment struct {
	Name           string  `json:"name"` // champions, loyal, potential, new, at risk, hibernating, lost
	Customers      int64   `json:"customers"`
	Revenue        float64 `json:"revenue"`
	Share          float64 `json:"share"` // of revenue
	AvgRecencyDays float64 `json:"avg_recency_days"`
	AvgFrequency   float64 `json:"avg_frequency"`
	AvgMonetary    float64 `json:"avg_monetary"`
}

// RFMResult segments persons by recency, frequency and monetary quintiles.
type RFMResult struct {
	ReferenceDate time.Time `json:"reference_date"` // the day after the last purchase in the data
	Segments      []Segment `json:"segments"`
	// Added after the first version:
	Persons          int64  `json:"persons"`           // persons scored (sum of the segments' customers)
	FrequencyScoring string `json:"frequency_scoring"` // "quintiles", or "buckets" (1,2,3,4,5+ orders) when quintiles are degenerate
}

// StateRow is one customer state.
type StateRow struct {
	State           string  `json:"state"`
	Orders          int64   `json:"orders"`
	Customers       int64   `json:"customers"`
	Revenue         float64 `json:"revenue"`
	AvgDeliveryDays float64 `json:"avg_delivery_days"`
	LateShare       float64 `json:"late_share"`
}

// Flow is sales from sellers of one state to customers of another.
type Flow struct {
	From    string  `json:"from"` // seller state
	To      string  `json:"to"`   // customer state
	Orders  int64   `json:"orders"`
	Revenue float64 `json:"revenue"`
}

// Geo is the geography analysis.
type Geo struct {
	States []StateRow `json:"states"`
	Flows  []Flow     `json:"flows"` // top flows by revenue
}

// Bin is one histogram bin [Lo, Hi).
type Bin struct {
	Lo    float64 `json:"lo"`
	Hi    float64 `json:"hi"`
	Count int64   `json:"count"`
}

// Cohort describes a group of persons.
type Cohort struct {
	Name         string  `json:"name"`
	Customers    int64   `json:"customers"`
	AvgCLV       float64 `json:"avg_clv"`
	RevenueShare float64 `json:"revenue_share"`
	AvgOrders    float64 `json:"avg_orders"`
	AvgItems     float64 `json:"avg_items"`
	AvgReview    float64 `json:"avg_review"`
	LateShare    float64 `json:"late_share"`
	TopCategory  string  `json:"top_category"`
	TopState     string  `json:"top_state"`
}

// CLVResult is the customer lifetime value distribution and its cohorts.
type CLVResult struct {
	Persons     int64              `json:"persons"`
	Percentiles map[string]float64 `json:"percentiles"` // "p50", "p75", "p90", "p99"
	Histogram   []Bin              `json:"histogram"`
	Top         Cohort             `json:"top"`  // top 10% of persons by CLV
	Rest        Cohort             `json:"rest"` // the other 90%
}

// MonthShare is a monthly share (late deliveries).
type MonthShare struct {
	Month  time.Time `json:"month"`
	Orders int64     `json:"orders"`
	Share  float64   `json:"share"`
}

// DeliveryResult is delivery performance.
type DeliveryResult struct {
	AvgDays     float64      `json:"avg_days"`
	P50         float64      `json:"p50"`
	P90         float64      `json:"p90"`
	P95         float64      `json:"p95"`
	LateShare   float64      `json:"late_share"`
	Histogram   []Bin        `json:"histogram"` // delivery days
	LateByMonth []MonthShare `json:"late_by_month"`
}

// KPIDef names and defines a headline number: one wording for the CLI
// (`analyze kpis`), the dashboard's cards and the deck.
type KPIDef struct {
	Key   string `json:"key"` // the KPIs JSON field
	Label string `json:"label"`
	Def   string `json:"def"`
}

// KPIDefs are the headline numbers in the order they are shown. Revenue and
// AOV differ on purpose: revenue is what the items sold for, AOV what a
// customer paid per order, freight included; revenue / orders is lower.
var KPIDefs = []KPIDef{
	{"revenue", "Revenue", "item prices, freight excluded"},
	{"orders", "Orders", "distinct sales orders"},
	{"aov", "Avg order value", "paid per order, freight included"},
	{"customers", "Customers", "distinct persons"},
	{"repeat_rate", "Repeat rate", "persons with 2+ orders"},
	{"avg_review", "Average review", "score out of 5"},
	{"late_share", "Late deliveries", "of delivered orders"},
}

// KPIDefOf returns the definition of a KPIs field (zero when unknown).
func KPIDefOf(key string) KPIDef {
	for _, d := range KPIDefs {
		if d.Key == key {
			return d
		}
	}
	return KPIDef{}
}
