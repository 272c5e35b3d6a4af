package report

import (
	"fmt"
	"image/color"
	"math"
	"sort"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"

	"github.com/keystone/nexus/internal/analytics"
)

func errNoData(name string) error { return fmt.Errorf("chart %s: no data", name) }

func monthLabel(i int, pts []analytics.MonthPoint) string {
	return pts[i].Month.Format("Jan 2006")
}

// MonthlyChart draws revenue (bars) and orders (line) by month, in two
// aligned panels sharing the month axis.
func MonthlyChart(pts []analytics.MonthPoint) *Chart {
	var total float64
	var orders int64
	for _, p := range pts {
		total += p.Revenue
		orders += p.Orders
	}
	sub := "No sales in the data"
	if len(pts) > 0 {
		sub = fmt.Sprintf("%s – %s · %s revenue · %s orders", pts[0].Month.Format("Jan 2006"),
			pts[len(pts)-1].Month.Format("Jan 2006"), FormatBRL(total), FormatInt(orders))
	}
	ch := newChart("monthly_sales", "Revenue and orders by month", sub, func(dc draw.Canvas) error {
		if len(pts) == 0 {
			return errNoData("monthly_sales")
		}
		var maxRev, maxOrd float64
		rev := make(plotter.Values, len(pts))
		ord := make(plotter.XYs, len(pts))
		for i, p := range pts {
			rev[i] = p.Revenue
			ord[i] = plotter.XY{X: float64(i), Y: float64(p.Orders)}
			maxRev = math.Max(maxRev, p.Revenue)
			maxOrd = math.Max(maxOrd, float64(p.Orders))
		}
		// month ticks: every month marked, labels every quarter-ish
		every := 1
		for len(pts)/every > 12 {
			every++
		}
		if every > 1 && every < 3 {
			every = 3
		}
		var mticks []plot.Tick
		for i := range pts {
			lbl := ""
			if i%every == 0 {
				lbl = monthLabel(i, pts)
			}
			mticks = append(mticks, plot.Tick{Value: float64(i), Label: lbl})
		}
		barW := (dc.Max.X - dc.Min.X - px(120)) / vg.Length(len(pts)) * 0.7

		top := newPlot()
		setValueAxis(top, &top.Y, maxRev, 4, 1.05, FormatBRLShort)
		bars, err := plotter.NewBarChart(rev, barW)
		if err != nil {
			return err
		}
		bars.Color = colPrimary
		bars.LineStyle.Width = 0
		top.Add(bars)
		top.X.Min, top.X.Max = -0.6, float64(len(pts))-0.4
		top.X.Tick.Marker = plot.ConstantTicks(noLabels(mticks))

		bot := newPlot()
		setValueAxis(bot, &bot.Y, maxOrd, 3, 1.1, func(v float64) string { return FormatInt(int64(v)) })
		line, points, err := plotter.NewLinePoints(ord)
		if err != nil {
			return err
		}
		line.Color, line.Width = colAccent, px(3)
		points.Color, points.Radius = colAccent, px(3.5)
		points.Shape = draw.CircleGlyph{}
		bot.Add(line, points)
		bot.X.Min, bot.X.Max = -0.6, float64(len(pts))-0.4
		bot.X.Tick.Marker = plot.ConstantTicks(mticks)
		bot.X.Label.Text = "Month of purchase (Brazil local time)"

		t := draw.Tiles{Rows: 2, Cols: 1, PadY: px(10)}
		// revenue panel larger: split manually, then align the left edges
		cs := plot.Align([][]*plot.Plot{{top}, {bot}}, t, dc)
		split := dc.Min.Y + (dc.Max.Y-dc.Min.Y)*0.42
		cs[0][0].Min.Y = split + px(16)
		cs[0][0].Max.Y = dc.Max.Y
		cs[1][0].Min.Y = dc.Min.Y
		cs[1][0].Max.Y = split
		drawPanel(cs[0][0], top, "Revenue (R$)")
		drawPanel(cs[1][0], bot, "Orders")
		return nil
	})
	ch.Note = "Revenue = item prices of invoiced/shipped/delivered orders (gold.fact_sales, is_sale). Orders = distinct sales orders."
	return ch
}

// drawPanel draws the plot's title left-aligned above it (instead of the
// library's centered title) and the plot below.
func drawPanel(c draw.Canvas, p *plot.Plot, title string) {
	if title != "" {
		sty := aligned(textStyle(14, true, colText), draw.XLeft, draw.YTop)
		c.FillText(sty, vg.Point{X: c.Min.X, Y: c.Max.Y}, title)
		c.Max.Y -= sty.Height(title) + px(8)
	}
	p.Draw(c)
}

func noLabels(ts []plot.Tick) []plot.Tick {
	out := make([]plot.Tick, len(ts))
	for i, t := range ts {
		out[i] = plot.Tick{Value: t.Value}
	}
	return out
}

// hbar draws horizontal bars: labels top to bottom, values, a value-label
// formatter, and one color (or one per bar).
func hbar(p *plot.Plot, labels []string, values []float64, colors []color.Color, barH vg.Length, valueLabel func(i int) string) error {
	n := len(values)
	var max float64
	for _, v := range values {
		max = math.Max(max, v)
	}
	// bar i (top) is at y = n-1-i
	rev := make([]string, n)
	for i, l := range labels {
		rev[n-1-i] = l
	}
	for i, v := range values {
		bc, err := plotter.NewBarChart(plotter.Values{v}, barH)
		if err != nil {
			return err
		}
		bc.Horizontal = true
		bc.XMin = float64(n - 1 - i)
		bc.Color = colors[i%len(colors)]
		bc.LineStyle.Width = 0
		p.Add(bc)
	}
	if valueLabel != nil {
		xys := make(plotter.XYs, n)
		lbls := make([]string, n)
		for i, v := range values {
			xys[i] = plotter.XY{X: v, Y: float64(n - 1 - i)}
			lbls[i] = valueLabel(i)
		}
		l, err := plotter.NewLabels(plotter.XYLabels{XYs: xys, Labels: lbls})
		if err != nil {
			return err
		}
		for i := range l.TextStyle {
			l.TextStyle[i] = aligned(textStyle(12, false, colText), draw.XLeft, draw.YCenter)
		}
		l.Offset = vg.Point{X: px(6)}
		p.Add(l)
	}
	p.NominalY(rev...)
	p.Y.Tick.Label.Font = sans(13, false)
	p.Y.Tick.Label.Color = colText
	p.Y.LineStyle.Width = 0
	p.Y.Min, p.Y.Max = -0.6, float64(n)-0.4
	return nil
}

// CategoryChart ranks the top categories by revenue (horizontal bars, largest
// on top) with their share of total revenue.
func CategoryChart(cs analytics.CategoryStats) *Chart {
	rows := cs.ByRevenue
	if len(rows) > 10 {
		rows = rows[:10]
	}
	sub := fmt.Sprintf("Top %d categories · the top 3 make %s of all revenue", len(rows), FormatPct(cs.Top3Share, 1))
	ch := newChart("top_categories", "Top categories by revenue", sub, func(dc draw.Canvas) error {
		if len(rows) == 0 {
			return errNoData("top_categories")
		}
		p := newPlot()
		labels := make([]string, len(rows))
		values := make([]float64, len(rows))
		colors := make([]color.Color, len(rows))
		var max float64
		for i, r := range rows {
			labels[i] = strings.ReplaceAll(r.Label, "_", " ")
			values[i] = r.Revenue
			max = math.Max(max, r.Revenue)
			colors[i] = colPrimary
			if i >= 3 {
				colors[i] = color.RGBA{0x93, 0xc5, 0xfd, 0xff}
			}
		}
		setValueAxis(p, &p.X, max, 5, 1.25, FormatBRLShort)
		barH := (dc.Max.Y - dc.Min.Y - px(60)) / vg.Length(len(rows)) * 0.72
		if err := hbar(p, labels, values, colors, barH, func(i int) string {
			return fmt.Sprintf("%s  (%s)", FormatBRL(rows[i].Revenue), FormatPct(rows[i].Share, 1))
		}); err != nil {
			return err
		}
		p.X.Label.Text = "Revenue (R$, item prices)"
		p.Draw(dc)
		return nil
	})
	ch.Note = "Share = category revenue / total revenue. Dark bars: the top 3."
	return ch
}

// RFMChart shows each RFM segment's customers and revenue side by side.
func RFMChart(r analytics.RFMResult) *Chart {
	var customers int64
	for _, s := range r.Segments {
		customers += s.Customers
	}
	sub := fmt.Sprintf("%s customers (persons) scored on recency, frequency and monetary quintiles · reference date %s",
		FormatInt(customers), r.ReferenceDate.Format("2006-01-02"))
	segs := orderSegments(r.Segments)
	ch := newChart("rfm_segments", "Customer segments (RFM): size and revenue", sub, func(dc draw.Canvas) error {
		if len(segs) == 0 {
			return errNoData("rfm_segments")
		}
		labels := make([]string, len(segs))
		cust := make([]float64, len(segs))
		rev := make([]float64, len(segs))
		var maxC, maxR float64
		for i, s := range segs {
			labels[i] = s.Name
			cust[i] = float64(s.Customers)
			rev[i] = s.Revenue
			maxC = math.Max(maxC, cust[i])
			maxR = math.Max(maxR, rev[i])
		}
		barH := (dc.Max.Y - dc.Min.Y - px(90)) / vg.Length(len(segs)) * 0.7
		left := newPlot()
		setValueAxis(left, &left.X, maxC, 4, 1.3, func(v float64) string { return FormatInt(int64(v)) })
		if err := hbar(left, labels, cust, []color.Color{colPrimary}, barH, func(i int) string {
			return fmt.Sprintf("%s (%s)", FormatInt(segs[i].Customers), FormatPct(float64(segs[i].Customers)/math.Max(1, float64(customers)), 0))
		}); err != nil {
			return err
		}
		right := newPlot()
		setValueAxis(right, &right.X, maxR, 4, 1.35, FormatBRLShort)
		if err := hbar(right, labels, rev, []color.Color{colAccent}, barH, func(i int) string {
			return fmt.Sprintf("%s (%s)", FormatBRLShort(segs[i].Revenue), FormatPct(segs[i].Share, 0))
		}); err != nil {
			return err
		}
		blank := make([]plot.Tick, len(segs))
		for i := range blank {
			blank[i] = plot.Tick{Value: float64(i)}
		}
		right.Y.Tick.Marker = plot.ConstantTicks(blank)
		// The panels' end ticks ("3,000" and "R$ 0") are centred on the
		// panels' edges: the gap must hold half of each and some air.
		cs := plot.Align([][]*plot.Plot{{left, right}}, draw.Tiles{Rows: 1, Cols: 2, PadX: px(64)}, dc)
		drawPanel(cs[0][0], left, "Customers")
		drawPanel(cs[0][1], right, "Revenue (R$)")
		return nil
	})
	ch.Note = "Revenue = item prices of the segment's sales orders. Percentages: share of customers / of revenue."
	return ch
}

// segmentOrder is the presentation order of RFM segments, best first.
var segmentOrder = []string{"champions", "loyal", "potential", "new", "promising", "need attention",
	"about to sleep", "at risk", "cannot lose", "hibernating", "lost"}

func orderSegments(in []analytics.Segment) []analytics.Segment {
	rank := func(name string) int {
		for i, n := range segmentOrder {
			if strings.EqualFold(n, name) {
				return i
			}
		}
		return len(segmentOrder)
	}
	out := append([]analytics.Segment(nil), in...)
	sort.SliceStable(out, func(i, j int) bool { return rank(out[i].Name) < rank(out[j].Name) })
	return out
}

// PunctualityChart compares review scores of on-time and late deliveries.
func PunctualityChart(rs analytics.ReviewSales) *Chart {
	rows := rs.ByPunctuality
	sub := "Reviews of delivered orders, by whether the order arrived after the estimated date"
	if on, late, ok := punctuality(rows); ok {
		sub = fmt.Sprintf("Late orders score %.2f vs %.2f on time; %s of late orders get 1–2 stars vs %s on time",
			late.AvgScore, on.AvgScore, FormatPct(late.ShareLowScores, 0), FormatPct(on.ShareLowScores, 0))
	}
	ch := newChart("review_punctuality", "Late delivery and review scores", sub, func(dc draw.Canvas) error {
		if len(rows) == 0 {
			return errNoData("review_punctuality")
		}
		names := make([]string, len(rows))
		for i, r := range rows {
			names[i] = fmt.Sprintf("%s\n%s orders", capitalize(r.Label), FormatInt(r.Orders))
		}
		colorOf := func(r analytics.PunctualityRow) color.Color {
			if strings.Contains(strings.ToLower(r.Label), "late") {
				return colBad
			}
			return colGood
		}
		mk := func(val func(analytics.PunctualityRow) float64, max float64, format func(float64) string, label func(float64) string) (*plot.Plot, error) {
			p := newPlot()
			ticks, top := valueTicks(max, 5, format)
			p.Y.Min, p.Y.Max = 0, top
			p.Y.Tick.Marker = plot.ConstantTicks(ticks)
			p.Add(gridLines{ticks: ticks, horizontal: true})
			w := (dc.Max.X - dc.Min.X) / 2 / vg.Length(len(rows)+1) * 0.8
			xys := make(plotter.XYs, len(rows))
			lbls := make([]string, len(rows))
			for i, r := range rows {
				bc, err := plotter.NewBarChart(plotter.Values{val(r)}, w)
				if err != nil {
					return nil, err
				}
				bc.XMin = float64(i)
				bc.Color = colorOf(r)
				bc.LineStyle.Width = 0
				p.Add(bc)
				xys[i] = plotter.XY{X: float64(i), Y: val(r)}
				lbls[i] = label(val(r))
			}
			l, err := plotter.NewLabels(plotter.XYLabels{XYs: xys, Labels: lbls})
			if err != nil {
				return nil, err
			}
			for i := range l.TextStyle {
				l.TextStyle[i] = aligned(textStyle(16, true, colText), draw.XCenter, draw.YBottom)
			}
			l.Offset = vg.Point{Y: px(6)}
			p.Add(l)
			p.X.Tick.Label.Font = sans(13, false)
			p.X.Tick.Label.Color = colText
			p.NominalX(names...)
			p.X.Min, p.X.Max = -0.7, float64(len(rows))-0.3
			return p, nil
		}
		var maxLow float64
		for _, r := range rows {
			maxLow = math.Max(maxLow, r.ShareLowScores)
		}
		left, err := mk(func(r analytics.PunctualityRow) float64 { return r.AvgScore }, 5,
			func(v float64) string { return FormatNumber(v, 0) }, func(v float64) string { return FormatNumber(v, 2) })
		if err != nil {
			return err
		}
		right, err := mk(func(r analytics.PunctualityRow) float64 { return r.ShareLowScores }, maxLow*1.2,
			func(v float64) string { return FormatPct(v, 0) }, func(v float64) string { return FormatPct(v, 1) })
		if err != nil {
			return err
		}
		cs := plot.Align([][]*plot.Plot{{left, right}}, draw.Tiles{Rows: 1, Cols: 2, PadX: px(50)}, dc)
		drawPanel(cs[0][0], left, "Average review score (1–5 stars)")
		drawPanel(cs[0][1], right, "Share of 1–2 star reviews")
		return nil
	})
	ch.Note = "Late = delivered to the customer after the estimated delivery date shown at purchase."
	return ch
}

func punctuality(rows []analytics.PunctualityRow) (on, late analytics.PunctualityRow, ok bool) {
	var haveOn, haveLate bool
	for _, r := range rows {
		if strings.Contains(strings.ToLower(r.Label), "late") {
			late, haveLate = r, true
		} else {
			on, haveOn = r, true
		}
	}
	return on, late, haveOn && haveLate
}

func capitalize(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// DeliveryChart is the histogram of delivery days with the median and 90th
// percentile marked. The long tail beyond the 99.5th percentile of orders is
// cut and counted in the note.
func DeliveryChart(d analytics.DeliveryResult) *Chart {
	var total int64
	for _, b := range d.Histogram {
		total += b.Count
	}
	sub := fmt.Sprintf("%s delivered orders · average %s days · median %s · 90%% arrive within %s days · %s late",
		FormatInt(total), FormatNumber(d.AvgDays, 1), FormatNumber(d.P50, 1), FormatNumber(d.P90, 1), FormatPct(d.LateShare, 1))
	bins := d.Histogram
	var cut int64
	if total > 0 {
		var cum int64
		for i, b := range bins {
			cum += b.Count
			if float64(cum) >= 0.995*float64(total) {
				for _, r := range bins[i+1:] {
					cut += r.Count
				}
				bins = bins[:i+1]
				break
			}
		}
	}
	ch := newChart("delivery_days", "How long deliveries take", sub, func(dc draw.Canvas) error {
		if len(bins) == 0 {
			return errNoData("delivery_days")
		}
		p := newPlot()
		var max float64
		hb := make([]plotter.HistogramBin, len(bins))
		for i, b := range bins {
			hb[i] = plotter.HistogramBin{Min: b.Lo, Max: b.Hi, Weight: float64(b.Count)}
			max = math.Max(max, float64(b.Count))
		}
		setValueAxis(p, &p.Y, max, 5, 1.12, func(v float64) string { return FormatInt(int64(v)) })
		h := &plotter.Histogram{Bins: hb, Width: bins[0].Hi - bins[0].Lo, FillColor: colPrimary,
			LineStyle: draw.LineStyle{Color: color.White, Width: px(1)}}
		p.Add(h)
		p.X.Min, p.X.Max = bins[0].Lo, bins[len(bins)-1].Hi
		xt, _ := valueTicks(p.X.Max, 8, func(v float64) string { return FormatNumber(v, 0) })
		p.X.Tick.Marker = plot.ConstantTicks(xt)
		p.X.Label.Text = "Days from purchase to delivery"
		p.Y.Label.Text = "Delivered orders"
		for _, m := range []struct {
			v     float64
			label string
			c     color.Color
		}{{d.P50, "median " + FormatNumber(d.P50, 1) + " days", colText}, {d.P90, "90% within " + FormatNumber(d.P90, 1) + " days", colBad}} {
			p.Add(vline{x: m.v, label: m.label, c: m.c})
		}
		p.Draw(dc)
		return nil
	})
	ch.Note = "Delivery days = customer delivery date − purchase time."
	if cut > 0 {
		ch.Note += fmt.Sprintf(" Not shown: %s orders (0.5%%) that took longer than %s days.", FormatInt(cut), FormatNumber(bins[len(bins)-1].Hi, 0))
	}
	return ch
}

// vline is a labelled dashed vertical marker.
type vline struct {
	x     float64
	label string
	c     color.Color
}

func (v vline) Plot(c draw.Canvas, p *plot.Plot) {
	trX, _ := p.Transforms(&c)
	x := trX(v.x)
	sty := draw.LineStyle{Color: v.c, Width: px(2), Dashes: []vg.Length{px(6), px(4)}}
	c.StrokeLine2(sty, x, c.Min.Y, x, c.Max.Y)
	c.FillText(aligned(textStyle(12.5, true, v.c), draw.XLeft, draw.YTop), vg.Point{X: x + px(5), Y: c.Max.Y - px(2)}, v.label)
}
