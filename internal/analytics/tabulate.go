package analytics

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/keystone/nexus/internal/engine"
)

// Tabulate flattens a result of an analysis (the value Analysis.Run returns,
// or a pointer to it) into one table for the table and CSV formats.
//
// With human set, numbers are for reading: thousands separators, money with 2
// decimals, shares and growth as percentages ("12.34%", "+5.0%"). Without it,
// they are plain machine-readable numbers (shares as fractions), for CSV.
// Raw holds the typed values (float64, int64, string, nil).
//
// Lists become one row per element. Composite results (review-vs-sales, clv,
// delivery) become a long table: section, item, count, value.
func Tabulate(v any, human bool) (*engine.Result, error) {
	t := &tab{human: human}
	switch x := v.(type) {
	case *KPIs:
		return Tabulate(*x, human)
	case KPIs:
		t.cols("metric:VARCHAR", "value:DOUBLE", "definition:VARCHAR")
		values := map[string]cell{
			"revenue": t.money(x.Revenue), "orders": t.count(x.Orders), "aov": t.money(x.AOV),
			"customers": t.count(x.Customers), "repeat_rate": t.pct(x.RepeatRate), "avg_review": t.num(x.AvgReview, 2),
			"late_share": t.pct(x.LateShare),
		}
		for _, d := range KPIDefs {
			t.row(t.str(strings.ToLower(d.Label)), values[d.Key], t.str(d.Def))
		}
		t.row(t.str("first purchase date"), t.date(x.DataFrom), t.null())
		t.row(t.str("last purchase date"), t.date(x.DataTo), t.null())
	case []MonthPoint:
		t.cols("month:VARCHAR", "revenue:DOUBLE", "orders:BIGINT", "aov:DOUBLE", "mom:DOUBLE", "yoy:DOUBLE", "partial:BOOLEAN")
		for _, p := range x {
			t.row(t.str(p.Month.Format("2006-01")), t.money(p.Revenue), t.count(p.Orders), t.money(p.AOV),
				t.growth(p.MoM), t.growth(p.YoY), t.flag(p.Partial, "partial"))
		}
	case []Ranked:
		t.cols("rank:BIGINT", "key:VARCHAR", "label:VARCHAR", "revenue:DOUBLE", "orders:BIGINT", "units:BIGINT", "share:DOUBLE")
		for i, r := range x {
			t.row(t.count(int64(i+1)), t.str(r.Key), t.str(r.Label), t.money(r.Revenue), t.count(r.Orders),
				t.count(r.Units), t.pct(r.Share))
		}
	case *CategoryStats:
		return Tabulate(*x, human)
	case CategoryStats:
		t.cols("ranking:VARCHAR", "rank:BIGINT", "category:VARCHAR", "revenue:DOUBLE", "orders:BIGINT", "units:BIGINT", "share:DOUBLE")
		for _, l := range []struct {
			name string
			rs   []Ranked
		}{{"by revenue", x.ByRevenue}, {"by orders", x.ByOrders}} {
			for i, r := range l.rs {
				t.row(t.str(l.name), t.count(int64(i+1)), t.str(r.Key), t.money(r.Revenue), t.count(r.Orders),
					t.count(r.Units), t.pct(r.Share))
			}
		}
		t.row(t.str("top 3 share"), t.null(), t.null(), t.null(), t.null(), t.null(), t.pct(x.Top3Share))
	case *ReviewSales:
		return Tabulate(*x, human)
	case ReviewSales:
		t.long()
		t.row(t.str("correlation"), t.str("per product: avg review vs units"), t.count(x.Products), t.num(x.ProductCorrUnits, 4))
		t.row(t.str("correlation"), t.str("per product: avg review vs revenue"), t.count(x.Products), t.num(x.ProductCorrRevenue, 4))
		t.row(t.str("correlation"), t.str("per category: avg review vs units"), t.null(), t.num(x.CategoryCorrUnits, 4))
		t.row(t.str("correlation"), t.str("per category: avg review vs revenue"), t.null(), t.num(x.CategoryCorrRevenue, 4))
		for _, p := range x.ByPunctuality {
			t.row(t.str(p.Label), t.str("average review (1-5)"), t.count(p.Orders), t.num(p.AvgScore, 2))
			t.row(t.str(p.Label), t.str("share of 1-2 star reviews"), t.count(p.Orders), t.pct(p.ShareLowScores))
		}
	case *RFMResult:
		return Tabulate(*x, human)
	case RFMResult:
		t.cols("segment:VARCHAR", "customers:BIGINT", "revenue:DOUBLE", "share:DOUBLE", "avg_recency_days:DOUBLE",
			"avg_frequency:DOUBLE", "avg_monetary:DOUBLE", "reference_date:VARCHAR")
		for _, s := range x.Segments {
			t.row(t.str(s.Name), t.count(s.Customers), t.money(s.Revenue), t.pct(s.Share), t.num(s.AvgRecencyDays, 1),
				t.num(s.AvgFrequency, 3), t.money(s.AvgMonetary), t.date(x.ReferenceDate))
		}
	case *Geo:
		return Tabulate(*x, human)
	case Geo:
		t.cols("section:VARCHAR", "seller_state:VARCHAR", "customer_state:VARCHAR", "orders:BIGINT", "customers:BIGINT",
			"revenue:DOUBLE", "avg_delivery_days:DOUBLE", "late_share:DOUBLE")
		for _, s := range x.States {
			t.row(t.str("state"), t.str("all"), t.str(s.State), t.count(s.Orders), t.count(s.Customers), t.money(s.Revenue),
				t.num(s.AvgDeliveryDays, 2), t.pct(s.LateShare))
		}
		for _, f := range x.Flows {
			t.row(t.str("flow"), t.str(f.From), t.str(f.To), t.count(f.Orders), t.null(), t.money(f.Revenue), t.null(), t.null())
		}
	case *CLVResult:
		return Tabulate(*x, human)
	case CLVResult:
		t.long()
		t.row(t.str("persons"), t.str("with sales"), t.count(x.Persons), t.null())
		for _, k := range []string{"p50", "p75", "p90", "p99"} {
			if p, ok := x.Percentiles[k]; ok {
				t.row(t.str("percentile (R$)"), t.str(k), t.null(), t.money(p))
			}
		}
		for _, b := range x.Histogram {
			t.row(t.str("histogram (R$)"), t.str(t.rangeLabel(b, true)), t.count(b.Count), t.pct(ratio(float64(b.Count), float64(x.Persons))))
		}
		for _, c := range []Cohort{x.Top, x.Rest} {
			t.row(t.str(c.Name), t.str("customers"), t.count(c.Customers), t.null())
			t.row(t.str(c.Name), t.str("average CLV (R$)"), t.null(), t.money(c.AvgCLV))
			t.row(t.str(c.Name), t.str("share of total CLV"), t.null(), t.pct(c.RevenueShare))
			t.row(t.str(c.Name), t.str("orders per person"), t.null(), t.num(c.AvgOrders, 3))
			t.row(t.str(c.Name), t.str("items per person"), t.null(), t.num(c.AvgItems, 3))
			t.row(t.str(c.Name), t.str("average review (1-5)"), t.null(), t.num(c.AvgReview, 2))
			t.row(t.str(c.Name), t.str("late share"), t.null(), t.pct(c.LateShare))
			t.row(t.str(c.Name), t.str("top category: "+c.TopCategory), t.null(), t.null())
			t.row(t.str(c.Name), t.str("top state: "+c.TopState), t.null(), t.null())
		}
	case *DeliveryResult:
		return Tabulate(*x, human)
	case DeliveryResult:
		t.long()
		var delivered int64
		for _, b := range x.Histogram {
			delivered += b.Count
		}
		t.row(t.str("summary"), t.str("delivered orders"), t.count(delivered), t.null())
		t.row(t.str("summary"), t.str("average days"), t.null(), t.num(x.AvgDays, 2))
		t.row(t.str("summary"), t.str("p50 days"), t.null(), t.num(x.P50, 2))
		t.row(t.str("summary"), t.str("p90 days"), t.null(), t.num(x.P90, 2))
		t.row(t.str("summary"), t.str("p95 days"), t.null(), t.num(x.P95, 2))
		t.row(t.str("summary"), t.str("late share"), t.null(), t.pct(x.LateShare))
		for _, b := range x.Histogram {
			t.row(t.str("histogram (days)"), t.str(t.rangeLabel(b, false)), t.count(b.Count), t.pct(ratio(float64(b.Count), float64(delivered))))
		}
		for _, m := range x.LateByMonth {
			t.row(t.str("late share by month"), t.str(m.Month.Format("2006-01")), t.count(m.Orders), t.pct(m.Share))
		}
	default:
		return nil, fmt.Errorf("tabulate: unsupported result type %T", v)
	}
	// An empty cell is "not applicable" here (growth without a base, a
	// count that has no meaning for the row), not a missing value.
	t.res.BlankNull = true
	return &t.res, nil
}

// tab builds an engine.Result cell by cell.
type tab struct {
	res   engine.Result
	human bool
}

type cell struct {
	text *string
	raw  any
}

func (t *tab) cols(specs ...string) {
	for _, s := range specs {
		name, typ, _ := strings.Cut(s, ":")
		t.res.Columns = append(t.res.Columns, name)
		t.res.Types = append(t.res.Types, typ)
	}
}

// long is the layout of composite results.
func (t *tab) long() { t.cols("section:VARCHAR", "item:VARCHAR", "count:BIGINT", "value:DOUBLE") }

func (t *tab) row(cs ...cell) {
	text := make([]*string, len(cs))
	raw := make([]any, len(cs))
	for i, c := range cs {
		text[i], raw[i] = c.text, c.raw
	}
	t.res.Rows = append(t.res.Rows, text)
	t.res.Raw = append(t.res.Raw, raw)
}

func mk(s string, raw any) cell { return cell{&s, raw} }

func (t *tab) null() cell { return cell{} }

// flag is a boolean: the word or nothing for reading, true/false for CSV.
func (t *tab) flag(b bool, word string) cell {
	if t.human {
		if b {
			return mk(word, b)
		}
		return mk("", b)
	}
	return mk(strconv.FormatBool(b), b)
}
func (t *tab) str(s string) cell  { return mk(s, s) }
func (t *tab) count(n int64) cell { return mk(t.intText(n), n) }

func (t *tab) date(d time.Time) cell {
	if d.IsZero() {
		return cell{}
	}
	s := d.Format(time.DateOnly)
	return mk(s, s)
}

// money is R$ with 2 decimals.
func (t *tab) money(x float64) cell {
	return mk(t.fixed(x, 2), x)
}

// num is a plain number with dec decimals.
func (t *tab) num(x float64, dec int) cell {
	if t.human {
		return mk(t.fixed(x, dec), x)
	}
	return mk(strconv.FormatFloat(x, 'f', dec, 64), x)
}

// pct is a share 0..1.
func (t *tab) pct(x float64) cell {
	if t.human {
		return mk(strconv.FormatFloat(100*x, 'f', 2, 64)+"%", x)
	}
	return mk(strconv.FormatFloat(x, 'f', 6, 64), x)
}

// growth is a signed rate, NULL when undefined.
func (t *tab) growth(g *float64) cell {
	if g == nil {
		return cell{}
	}
	if t.human {
		s := strconv.FormatFloat(100**g, 'f', 1, 64) + "%"
		if *g > 0 {
			s = "+" + s
		}
		return mk(s, *g)
	}
	return mk(strconv.FormatFloat(*g, 'f', 6, 64), *g)
}

func (t *tab) rangeLabel(b Bin, money bool) string {
	f := func(x float64) string {
		if money {
			return t.fixed(x, 0)
		}
		return strconv.FormatFloat(x, 'f', -1, 64)
	}
	return f(b.Lo) + "–" + f(b.Hi)
}

func (t *tab) intText(n int64) string {
	if !t.human {
		return strconv.FormatInt(n, 10)
	}
	return groupThousands(strconv.FormatInt(n, 10))
}

// fixed formats x with dec decimals, with thousands separators when human.
func (t *tab) fixed(x float64, dec int) string {
	s := strconv.FormatFloat(x, 'f', dec, 64)
	if !t.human {
		return s
	}
	intPart, frac, hasFrac := strings.Cut(s, ".")
	intPart = groupThousands(intPart)
	if hasFrac {
		return intPart + "." + frac
	}
	return intPart
}

// groupThousands inserts commas into a string of digits with an optional sign.
func groupThousands(s string) string {
	sign := ""
	if strings.HasPrefix(s, "-") || strings.HasPrefix(s, "+") {
		sign, s = s[:1], s[1:]
	}
	if len(s) <= 3 {
		return sign + s
	}
	var b strings.Builder
	pre := len(s) % 3
	if pre > 0 {
		b.WriteString(s[:pre])
	}
	for i := pre; i < len(s); i += 3 {
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		b.WriteString(s[i : i+3])
	}
	return sign + b.String()
}
