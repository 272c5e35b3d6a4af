package report

import (
	"fmt"
	"image/color"
	"math"
	"sort"

	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"

	"github.com/keystone/nexus/internal/analytics"
)

// brazilTiles places each of the 27 federative units on a tile grid at its
// rough geographic position: column (west→east), row (north→south).
var brazilTiles = map[string][2]int{
	"RR": {1, 0}, "AP": {2, 0},
	"AM": {1, 1}, "PA": {2, 1}, "MA": {3, 1}, "CE": {4, 1}, "RN": {5, 1},
	"AC": {0, 2}, "RO": {1, 2}, "MT": {2, 2}, "TO": {3, 2}, "PI": {4, 2}, "PE": {5, 2}, "PB": {6, 2},
	"MS": {2, 3}, "GO": {3, 3}, "DF": {4, 3}, "BA": {5, 3}, "AL": {6, 3},
	"PR": {2, 4}, "SP": {3, 4}, "MG": {4, 4}, "ES": {5, 4}, "SE": {6, 4},
	"SC": {2, 5}, "RJ": {4, 5},
	"RS": {2, 6},
}

const tileCols, tileRows = 7, 7

// mapScale is the sequential color scale (light → dark blue).
var mapScale = []color.RGBA{
	{0xdb, 0xea, 0xfe, 0xff},
	{0x93, 0xc5, 0xfd, 0xff},
	{0x3b, 0x82, 0xf6, 0xff},
	{0x1d, 0x4e, 0xd8, 0xff},
	{0x1e, 0x3a, 0x8a, 0xff},
}

// StateMapChart is a tile-grid map of Brazil's 27 states shaded by revenue
// in five classes (quantile breaks of the states' revenue), with a legend and
// the top states listed.
func StateMapChart(states []analytics.StateRow) *Chart {
	byUF := map[string]analytics.StateRow{}
	var total float64
	for _, s := range states {
		byUF[s.State] = s
		total += s.Revenue
	}
	sorted := append([]analytics.StateRow(nil), states...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].Revenue > sorted[j].Revenue })
	sub := "Customer state of each order"
	if len(sorted) > 0 && total > 0 {
		sub = fmt.Sprintf("%s alone is %s of revenue; %d states with sales", sorted[0].State,
			FormatPct(sorted[0].Revenue/total, 0), len(sorted))
	}
	breaks := classBreaks(sorted)
	class := func(v float64) int {
		for i, b := range breaks {
			if v < b {
				return i
			}
		}
		return len(breaks)
	}
	ch := newChart("state_revenue_map", "Revenue by state", sub, func(dc draw.Canvas) error {
		if len(states) == 0 {
			return errNoData("state_revenue_map")
		}
		h := dc.Max.Y - dc.Min.Y
		gap := px(4)
		tile := (h - gap*(tileRows-1)) / tileRows
		blockW := tileCols*(tile+gap) + px(40) + px(420)
		x0 := dc.Min.X + (dc.Max.X-dc.Min.X-blockW)/2
		if x0 < dc.Min.X {
			x0 = dc.Min.X
		}
		y0 := dc.Max.Y
		code := textStyle(15, true, colText)
		val := textStyle(10.5, false, colText)
		for uf, pos := range brazilTiles {
			x := x0 + vg.Length(pos[0])*(tile+gap)
			y := y0 - vg.Length(pos[1])*(tile+gap)
			fill := colEmpty
			s, ok := byUF[uf]
			fg := colText
			if ok && s.Revenue > 0 {
				k := class(s.Revenue)
				fill = mapScale[k]
				if k >= 2 {
					fg = color.RGBA{0xff, 0xff, 0xff, 0xff}
				}
			}
			dc.FillPolygon(fill, []vg.Point{{X: x, Y: y}, {X: x + tile, Y: y}, {X: x + tile, Y: y - tile}, {X: x, Y: y - tile}})
			code.Color, val.Color = fg, fg
			cx := x + tile/2
			dc.FillText(aligned(code, draw.XCenter, draw.YCenter), vg.Point{X: cx, Y: y - tile*0.38}, uf)
			lbl := "no sales"
			if ok {
				lbl = FormatBRLShort(s.Revenue)
			}
			dc.FillText(aligned(val, draw.XCenter, draw.YCenter), vg.Point{X: cx, Y: y - tile*0.7}, lbl)
		}

		// legend and top list to the right of the grid
		lx := x0 + tileCols*(tile+gap) + px(40)
		ly := dc.Max.Y - px(4)
		head := aligned(textStyle(14, true, colText), draw.XLeft, draw.YTop)
		dc.FillText(head, vg.Point{X: lx, Y: ly}, "Revenue (R$, item prices)")
		ly -= px(44)
		body := aligned(textStyle(12.5, false, colText), draw.XLeft, draw.YCenter)
		sw := px(22)
		for k := len(mapScale) - 1; k >= 0; k-- {
			lo, hi := 0.0, math.Inf(1)
			if k > 0 {
				lo = breaks[k-1]
			}
			if k < len(breaks) {
				hi = breaks[k]
			}
			var lbl string
			switch {
			case math.IsInf(hi, 1):
				lbl = FormatBRL(lo) + " and more"
			case k == 0:
				lbl = "under " + FormatBRL(hi)
			default:
				lbl = FormatBRL(lo) + " – " + FormatBRL(hi)
			}
			dc.FillPolygon(mapScale[k], []vg.Point{{X: lx, Y: ly + sw/2}, {X: lx + sw, Y: ly + sw/2}, {X: lx + sw, Y: ly - sw/2}, {X: lx, Y: ly - sw/2}})
			dc.FillText(body, vg.Point{X: lx + sw + px(10), Y: ly}, lbl)
			ly -= sw + px(8)
		}
		ly -= px(24)
		dc.FillText(head, vg.Point{X: lx, Y: ly}, "Top states")
		ly -= px(32)
		colW := []vg.Length{0, px(44), px(190), px(300)}
		hdr := aligned(textStyle(11.5, true, colMuted), draw.XLeft, draw.YCenter)
		for i, t := range []string{"UF", "Revenue", "Share", "Late"} {
			dc.FillText(hdr, vg.Point{X: lx + colW[i], Y: ly}, t)
		}
		ly -= px(26)
		for i, s := range sorted {
			if i == 6 {
				break
			}
			share := 0.0
			if total > 0 {
				share = s.Revenue / total
			}
			cells := []string{s.State, FormatBRL(s.Revenue), FormatPct(share, 1), FormatPct(s.LateShare, 0)}
			for j, t := range cells {
				st := body
				if j == 0 {
					st = aligned(textStyle(12.5, true, colText), draw.XLeft, draw.YCenter)
				}
				dc.FillText(st, vg.Point{X: lx + colW[j], Y: ly}, t)
			}
			ly -= px(26)
		}
		return nil
	})
	ch.Note = "Tile grid: each state is one square at its approximate position. Classes: quintiles of state revenue. Late = share of delivered orders that arrived late."
	return ch
}

// classBreaks returns 4 ascending upper bounds splitting the states into five
// revenue classes of about equal count (quantiles), rounded to 2 significant
// digits so that the legend reads well.
func classBreaks(sortedDesc []analytics.StateRow) []float64 {
	var vals []float64
	for _, s := range sortedDesc {
		if s.Revenue > 0 {
			vals = append(vals, s.Revenue)
		}
	}
	sort.Float64s(vals)
	if len(vals) == 0 {
		return []float64{1, 2, 3, 4}
	}
	out := make([]float64, 0, 4)
	for k := 1; k <= 4; k++ {
		q := vals[int(math.Min(float64(len(vals)-1), math.Floor(float64(k)*float64(len(vals))/5)))]
		b := roundSig(q, 2)
		if len(out) > 0 && b <= out[len(out)-1] {
			b = out[len(out)-1] * 1.01
		}
		out = append(out, b)
	}
	return out
}

func roundSig(v float64, digits int) float64 {
	if v <= 0 {
		return v
	}
	p := math.Pow(10, math.Floor(math.Log10(v))-float64(digits-1))
	return math.Round(v/p) * p
}
