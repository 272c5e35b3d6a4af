package report

import (
	"fmt"
	"html"
	"math"
	"sort"
	"strings"

	"github.com/keystone/nexus/internal/olist"
	"github.com/keystone/nexus/internal/quality"
	"github.com/keystone/nexus/internal/transform"
)

// ArchInput is what the architecture diagram is generated from: the
// pipeline's model graph, its quality suites and the row counts of the
// quarantine.
type ArchInput struct {
	Graph  *transform.Graph
	Suites map[string]*quality.Suite // by table
	// Checks per layer as the gates recorded them; nil: count the suites.
	Checks         map[string]int
	QuarantineRows int64
}

type archBox struct {
	name  string // node id: file name, or layer.table
	label string
	col   int
	y     float64
}

// ArchitectureSVG draws the lake's data flow as inline SVG: source files →
// Bronze → Silver → Gold (dimensions and facts) → marts, one box per table,
// an edge per ref()/source() of the models, the quality gates in front of
// Silver and Gold with their check counts, and the quarantine they feed.
func ArchitectureSVG(in ArchInput) string {
	const (
		W, H     = 1200.0, 500.0
		boxW     = 178.0
		boxH     = 26.0
		top      = 62.0
		bottomQ  = 84.0 // space for the gates' labels and the quarantine lane
		colCount = 5
	)
	cols := [colCount][]*archBox{}
	byName := map[string]*archBox{}
	add := func(col int, name, label string) *archBox {
		b := &archBox{name: name, label: label, col: col}
		cols[col] = append(cols[col], b)
		byName[name] = b
		return b
	}
	files := map[string]string{} // bronze table → file
	for _, t := range olist.Tables() {
		files["bronze."+t.Name] = t.File
	}
	var sources []string
	if in.Graph != nil {
		sources = append(sources, in.Graph.Sources...)
	}
	sort.Strings(sources)
	for _, s := range sources {
		f := files[s]
		if f == "" {
			f = strings.TrimPrefix(s, "bronze.") + ".csv"
		}
		add(0, "file:"+s, strings.TrimSuffix(strings.TrimSuffix(strings.TrimPrefix(f, "olist_"), ".csv"), "_dataset")+".csv")
		add(1, s, strings.TrimPrefix(s, "bronze."))
	}
	var models []string
	if in.Graph != nil {
		for name := range in.Graph.Models {
			models = append(models, name)
		}
	}
	sort.Strings(models)
	for _, name := range models {
		m := in.Graph.Models[name]
		col := 3
		switch {
		case m.Layer == "silver":
			col = 2
		case strings.HasPrefix(m.Table, "mart_"):
			col = 4
		case m.Layer != "gold":
			continue
		}
		add(col, name, m.Table)
	}
	parents := func(b *archBox) []*archBox {
		var out []*archBox
		if b.col == 1 {
			if p := byName["file:"+b.name]; p != nil {
				out = append(out, p)
			}
			return out
		}
		if in.Graph == nil {
			return nil
		}
		for _, p := range in.Graph.Parents[b.name] {
			if pb := byName[p]; pb != nil && pb.col < b.col {
				out = append(out, pb)
			}
		}
		return out
	}
	// vertical placement: evenly spaced, each column ordered by the mean
	// position of its parents (fewer crossings)
	usable := H - top - bottomQ - 14
	place := func(c int) {
		n := len(cols[c])
		step := usable / float64(max(n, 1))
		if step > 46 {
			step = 46
		}
		start := top + (usable-step*float64(n))/2
		for i, b := range cols[c] {
			b.y = start + step*float64(i) + (step-boxH)/2
		}
	}
	place(0)
	for c := 1; c < colCount; c++ {
		bary := map[*archBox]float64{}
		for _, b := range cols[c] {
			ps := parents(b)
			if len(ps) == 0 {
				bary[b] = 1e9
				continue
			}
			var s float64
			for _, p := range ps {
				s += p.y
			}
			bary[b] = s / float64(len(ps))
		}
		sort.SliceStable(cols[c], func(i, j int) bool { return bary[cols[c][i]] < bary[cols[c][j]] })
		place(c)
	}
	gap := (W - 40 - boxW*colCount) / (colCount - 1)
	colX := func(c int) float64 { return 20 + float64(c)*(boxW+gap) }

	checks := in.Checks
	if checks == nil {
		checks = map[string]int{}
		for table, s := range in.Suites {
			layer, _, _ := strings.Cut(table, ".")
			checks[layer] += len(s.Checks)
		}
	}

	var sb strings.Builder
	fmt.Fprintf(&sb, `<svg class="arch" viewBox="0 0 %g %g" width="100%%" height="100%%" xmlns="http://www.w3.org/2000/svg" role="img" aria-label="Architecture: data flow of the lake">`, W, H)
	sb.WriteString(`<defs><marker id="arr" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0,0L10,5L0,10z" fill="#94a3b8"/></marker></defs>`)
	heads := []struct{ title, sub, fill string }{
		{"Source files", fmt.Sprintf("%d CSV exports", len(cols[0])), "#f1f5f9"},
		{"Bronze", fmt.Sprintf("%d tables · typed + lineage", len(cols[1])), "#fde7d3"},
		{"Silver", fmt.Sprintf("%d tables · cleaned, UTC", len(cols[2])), "#e2e8f0"},
		{"Gold: star schema", starSub(cols[3]), "#fef3c7"},
		{"Gold: marts", fmt.Sprintf("%d marts → deck, dashboard", len(cols[4])), "#dcfce7"},
	}
	for c, h := range heads {
		x := colX(c)
		fmt.Fprintf(&sb, `<rect x="%g" y="4" width="%g" height="%g" rx="10" fill="%s"/>`, x-8, boxW+16, H-bottomQ-2, h.fill)
		fmt.Fprintf(&sb, `<text x="%g" y="26" text-anchor="middle" font-size="17" font-weight="700" fill="#0f172a">%s</text>`, x+boxW/2, esc(h.title))
		fmt.Fprintf(&sb, `<text x="%g" y="45" text-anchor="middle" font-size="12.5" fill="#475569">%s</text>`, x+boxW/2, esc(h.sub))
	}
	// lane returns the y of the free horizontal lane of column c nearest to
	// y: between two boxes, or above the first or below the last one.
	lane := func(c int, y float64) float64 {
		var lanes []float64
		for i, b := range cols[c] {
			if i == 0 {
				lanes = append(lanes, b.y-10)
			} else {
				lanes = append(lanes, (cols[c][i-1].y+boxH+b.y)/2)
			}
		}
		if n := len(cols[c]); n > 0 {
			lanes = append(lanes, cols[c][n-1].y+boxH+10)
		}
		best := y
		for i, l := range lanes {
			if i == 0 || math.Abs(l-y) < math.Abs(best-y) {
				best = l
			}
		}
		return best
	}
	// edges under the boxes; an edge that skips a column (silver.customers
	// → a mart) runs through a lane of that column instead of across its
	// boxes
	for c := 1; c < colCount; c++ {
		for _, b := range cols[c] {
			for _, p := range parents(b) {
				x1, y1 := colX(p.col)+boxW, p.y+boxH/2
				x2, y2 := colX(b.col)-2, b.y+boxH/2
				d := fmt.Sprintf("M%.1f,%.1f", x1, y1)
				for mid := p.col + 1; mid < b.col; mid++ {
					ly := lane(mid, (y1+y2)/2)
					in, out := colX(mid)-6, colX(mid)+boxW+6
					mx := (x1 + in) / 2
					d += fmt.Sprintf(" C%.1f,%.1f %.1f,%.1f %.1f,%.1f L%.1f,%.1f", mx, y1, mx, ly, in, ly, out, ly)
					x1, y1 = out, ly
				}
				mx := (x1 + x2) / 2
				d += fmt.Sprintf(" C%.1f,%.1f %.1f,%.1f %.1f,%.1f", mx, y1, mx, y2, x2, y2)
				fmt.Fprintf(&sb, `<path d="%s" fill="none" stroke="#94a3b8" stroke-width="1.2" opacity="0.8" marker-end="url(#arr)"/>`, d)
			}
		}
	}
	// gates in front of silver and gold
	for _, g := range []struct {
		col   int
		layer string
	}{{2, "silver"}, {3, "gold"}} {
		x := colX(g.col) - gap/2
		fmt.Fprintf(&sb, `<line x1="%g" y1="58" x2="%g" y2="%g" stroke="#dc2626" stroke-width="2.5" stroke-dasharray="7 5"/>`, x, x, H-bottomQ+6)
		lbl := fmt.Sprintf("gate: %d checks", checks[g.layer])
		fmt.Fprintf(&sb, `<rect x="%g" y="%g" width="116" height="22" rx="11" fill="#dc2626"/>`, x-58, H-bottomQ+6)
		fmt.Fprintf(&sb, `<text x="%g" y="%g" text-anchor="middle" font-size="12.5" font-weight="700" fill="#fff">%s</text>`, x, H-bottomQ+21.5, esc(lbl))
		fmt.Fprintf(&sb, `<path d="M%g,%g L%g,%g" stroke="#dc2626" stroke-width="1.5" marker-end="url(#arr)"/>`, x, H-bottomQ+28, x, H-bottomQ+44)
	}
	// boxes
	for c := 0; c < colCount; c++ {
		for _, b := range cols[c] {
			x := colX(c)
			stroke := "#64748b"
			if c == 4 {
				stroke = "#16a34a"
			}
			fmt.Fprintf(&sb, `<rect x="%g" y="%.1f" width="%g" height="%g" rx="5" fill="#fff" stroke="%s" stroke-width="1.2"/>`, x, b.y, boxW, boxH, stroke)
			size := math.Min(13, (boxW-12)/(0.55*float64(len(b.label))))
			fmt.Fprintf(&sb, `<text x="%g" y="%.1f" text-anchor="middle" font-size="%.1f" fill="#0f172a">%s</text>`, x+boxW/2, b.y+boxH/2+4.5, size, esc(b.label))
		}
	}
	// quarantine lane
	qy := H - bottomQ + 46
	fmt.Fprintf(&sb, `<rect x="%g" y="%g" width="%g" height="34" rx="8" fill="#fee2e2" stroke="#dc2626"/>`, colX(1)-8, qy, colX(3)+boxW-colX(1)+16)
	fmt.Fprintf(&sb, `<text x="%g" y="%g" text-anchor="middle" font-size="14" fill="#7f1d1d"><tspan font-weight="700">Quarantine</tspan>: rows that fail a check leave the flow with their reasons and can be replayed · %s rows now</text>`,
		(colX(1)+colX(3)+boxW)/2, qy+22, FormatInt(in.QuarantineRows))
	sb.WriteString(`</svg>`)
	return sb.String()
}

func esc(s string) string { return html.EscapeString(s) }

// starSub counts the star schema's column: its dimensions and facts, and
// the aggregates (agg_) built from them for the marts, which sit beside
// them so that their edges into the marts are drawn.
func starSub(col []*archBox) string {
	agg := 0
	for _, b := range col {
		if strings.HasPrefix(b.label, "agg_") {
			agg++
		}
	}
	if agg == 0 {
		return fmt.Sprintf("%d dimensions + facts", len(col))
	}
	return fmt.Sprintf("%d dimensions + facts · %d aggregates", len(col)-agg, agg)
}
