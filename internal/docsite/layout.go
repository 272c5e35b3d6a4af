package docsite

import (
	"fmt"
	"html/template"
	"math"
	"slices"
	"sort"
	"strings"
)

// The lineage graph is drawn here as inline SVG with a layered (Sugiyama
// style) layout, so that the site needs no JavaScript library: layers are
// bands of columns (Bronze, then Silver, then Gold, a model reading a table
// of its own layer one column further right), an edge that spans several
// columns goes through a virtual node in each, and the nodes of each column
// are ordered by barycenter sweeps that keep the order with the fewest edge
// crossings.

// Node is a table of the graph.
type Node struct {
	Name  string // layer.table
	Layer string
	Href  string // its page; empty when the table has none (not built)
}

// Edge says that To reads From.
type Edge struct{ From, To string }

// Layout is a laid out graph, ready to draw.
type Layout struct {
	Width, Height int
	Nodes         []PlacedNode
	Edges         []PlacedEdge
	Bands         []Band
	Crossings     int // edge crossings of the chosen order
	Focus         string
}

// PlacedNode is a node with its box.
type PlacedNode struct {
	Node
	Col  int
	X, Y int // top left
	W, H int
}

// PlacedEdge is an edge with the points it goes through (the parent's right
// side, the virtual nodes, the child's left side).
type PlacedEdge struct {
	Edge
	Points [][2]float64
}

// Band is the horizontal extent of a layer.
type Band struct {
	Layer string
	X, W  int
}

// Drawing constants, in SVG user units (px).
const (
	nodeW    = 196
	nodeH    = 26
	colGap   = 70
	rowGap   = 12
	dummyH   = 6
	margin   = 16
	bandHead = 28
)

// layerRank orders the layers' bands; a layer the lake does not know goes last.
func layerRank(l string) int {
	switch l {
	case "bronze":
		return 0
	case "silver":
		return 1
	case "gold":
		return 2
	case "quarantine":
		return 3
	}
	return 4
}

// vertex is a node or a virtual node of a long edge during layout.
type vertex struct {
	id      string
	real    bool
	col     int
	pos     float64 // order key within its column
	y       float64 // centre
	in, out []int   // neighbours in the previous and next column
}

// LayoutGraph lays out nodes and edges. Edges whose ends are not both among
// nodes are ignored.
func LayoutGraph(nodes []Node, edges []Edge, focus string) *Layout {
	return layoutGraph(nodes, edges, focus, true)
}

// layoutGraph is LayoutGraph; without reorder the columns stay in name
// order (what the ordering is measured against).
func layoutGraph(nodes []Node, edges []Edge, focus string, reorder bool) *Layout {
	idx := map[string]int{}
	ns := slices.Clone(nodes)
	sort.SliceStable(ns, func(i, j int) bool {
		if a, b := layerRank(ns[i].Layer), layerRank(ns[j].Layer); a != b {
			return a < b
		}
		return ns[i].Name < ns[j].Name
	})
	for i, n := range ns {
		idx[n.Name] = i
	}
	var es []Edge
	seen := map[Edge]bool{}
	for _, e := range edges {
		_, a := idx[e.From]
		_, b := idx[e.To]
		if a && b && e.From != e.To && !seen[e] {
			seen[e] = true
			es = append(es, e)
		}
	}
	parents := map[string][]string{}
	for _, e := range es {
		parents[e.To] = append(parents[e.To], e.From)
	}

	// Columns: a layer's band starts right of the previous band; within it,
	// a node is right of every parent of its own layer.
	depth := map[string]int{}
	var depthOf func(n string, stack map[string]bool) int
	depthOf = func(n string, stack map[string]bool) int {
		if d, ok := depth[n]; ok {
			return d
		}
		if stack[n] {
			return 0 // a cycle: the model graph has none, but never loop
		}
		stack[n] = true
		d := 0
		for _, p := range parents[n] {
			if ns[idx[p]].Layer == ns[idx[n]].Layer {
				d = max(d, depthOf(p, stack)+1)
			}
		}
		delete(stack, n)
		depth[n] = d
		return d
	}
	col := map[string]int{}
	start := 0
	var bandCols [][2]int // first and last column of each layer present
	var layers []string
	for i := 0; i < len(ns); {
		j := i
		for j < len(ns) && ns[j].Layer == ns[i].Layer {
			j++
		}
		last := start
		for _, n := range ns[i:j] {
			col[n.Name] = start + depthOf(n.Name, map[string]bool{})
			last = max(last, col[n.Name])
		}
		bandCols = append(bandCols, [2]int{start, last})
		layers = append(layers, ns[i].Layer)
		start = last + 1
		i = j
	}
	ncols := start

	// Vertices: the nodes, and a virtual one per column an edge crosses.
	var vs []*vertex
	vid := map[string]int{}
	for _, n := range ns {
		vid[n.Name] = len(vs)
		vs = append(vs, &vertex{id: n.Name, real: true, col: col[n.Name]})
	}
	chains := make([][]int, len(es))
	for k, e := range es {
		a, b := vid[e.From], vid[e.To]
		chain := []int{a}
		if vs[b].col > vs[a].col {
			for c := vs[a].col + 1; c < vs[b].col; c++ {
				vs = append(vs, &vertex{id: fmt.Sprintf("%s>%s@%d", e.From, e.To, c), col: c})
				chain = append(chain, len(vs)-1)
			}
		}
		chain = append(chain, b)
		for i := 0; i+1 < len(chain); i++ {
			u, w := vs[chain[i]], vs[chain[i+1]]
			if w.col == u.col+1 {
				u.out = append(u.out, chain[i+1])
				w.in = append(w.in, chain[i])
			}
		}
		chains[k] = chain
	}
	cols := make([][]int, ncols)
	for i, v := range vs {
		cols[v.col] = append(cols[v.col], i)
	}
	for _, c := range cols {
		for i, v := range c {
			vs[v].pos = float64(i)
		}
	}

	// Order: barycenter sweeps, keeping the order with the fewest crossings.
	best := snapshotOrder(cols)
	bestX := crossings(vs, cols)
	for iter := 0; reorder && iter < 24 && bestX > 0; iter++ {
		if iter%2 == 0 {
			for c := 1; c < ncols; c++ {
				sortByBarycenter(vs, cols[c], func(v *vertex) []int { return v.in })
			}
		} else {
			for c := ncols - 2; c >= 0; c-- {
				sortByBarycenter(vs, cols[c], func(v *vertex) []int { return v.out })
			}
		}
		if x := crossings(vs, cols); x < bestX {
			bestX, best = x, snapshotOrder(cols)
		}
	}
	cols = best
	// Then swap neighbours while that removes crossings (the "transpose"
	// refinement): barycenters alone leave local knots.
	for improved := reorder; improved && bestX > 0; {
		improved = false
		for _, c := range cols {
			for i := 0; i+1 < len(c); i++ {
				c[i], c[i+1] = c[i+1], c[i]
				if x := crossings(vs, cols); x < bestX {
					bestX, improved = x, true
				} else {
					c[i], c[i+1] = c[i+1], c[i]
				}
			}
		}
	}
	for _, c := range cols {
		for i, v := range c {
			vs[v].pos = float64(i)
		}
	}

	// Heights: pack each column, then pull every vertex towards the mean of
	// its neighbours, keeping order and spacing.
	height := func(v *vertex) float64 {
		if v.real {
			return nodeH
		}
		return dummyH
	}
	for _, c := range cols {
		y := 0.0
		for _, v := range c {
			vs[v].y = y + height(vs[v])/2
			y += height(vs[v]) + rowGap
		}
	}
	for iter := 0; iter < 8; iter++ {
		for ci := range cols {
			c := cols[ci]
			if iter%2 == 1 {
				c = cols[len(cols)-1-ci]
			}
			want := make([]float64, len(c))
			for i, v := range c {
				nb := append(slices.Clone(vs[v].in), vs[v].out...)
				if len(nb) == 0 {
					want[i] = vs[v].y
					continue
				}
				s := 0.0
				for _, u := range nb {
					s += vs[u].y
				}
				want[i] = s / float64(len(nb))
			}
			// Keep order and spacing: forward, then backward, then centre the
			// shift so that the column does not drift.
			placed := slices.Clone(want)
			for i := 1; i < len(c); i++ {
				gap := (height(vs[c[i-1]])+height(vs[c[i]]))/2 + rowGap
				placed[i] = max(placed[i], placed[i-1]+gap)
			}
			for i, v := range c {
				vs[v].y = placed[i]
			}
		}
	}
	minY := math.Inf(1)
	maxY := math.Inf(-1)
	for _, v := range vs {
		minY = min(minY, v.y-height(v)/2)
		maxY = max(maxY, v.y+height(v)/2)
	}
	if len(vs) == 0 {
		minY, maxY = 0, 0
	}
	top := float64(margin + bandHead)
	colX := func(c int) int { return margin + c*(nodeW+colGap) }

	l := &Layout{Focus: focus, Crossings: bestX,
		Width:  margin*2 + max(ncols*(nodeW+colGap)-colGap, 0),
		Height: int(math.Ceil(top+maxY-minY)) + margin}
	for i, b := range bandCols {
		x := colX(b[0]) - colGap/2 + 4
		w := colX(b[1]) + nodeW + colGap/2 - 4 - x
		l.Bands = append(l.Bands, Band{Layer: layers[i], X: max(x, 2), W: w})
	}
	for _, n := range ns {
		v := vs[vid[n.Name]]
		l.Nodes = append(l.Nodes, PlacedNode{Node: n, Col: v.col, X: colX(v.col), Y: int(math.Round(top + v.y - minY - nodeH/2)), W: nodeW, H: nodeH})
	}
	for k, e := range es {
		pe := PlacedEdge{Edge: e}
		for i, vi := range chains[k] {
			v := vs[vi]
			x := float64(colX(v.col))
			switch {
			case i == 0:
				x += nodeW
			case i == len(chains[k])-1:
			default:
				x += nodeW / 2
			}
			pe.Points = append(pe.Points, [2]float64{x, top + v.y - minY})
		}
		l.Edges = append(l.Edges, pe)
	}
	return l
}

func snapshotOrder(cols [][]int) [][]int {
	out := make([][]int, len(cols))
	for i, c := range cols {
		out[i] = slices.Clone(c)
	}
	return out
}

// sortByBarycenter orders a column by the mean position of each vertex's
// neighbours on one side; a vertex without any keeps its place.
func sortByBarycenter(vs []*vertex, c []int, nb func(*vertex) []int) {
	key := map[int]float64{}
	for _, v := range c {
		ns := nb(vs[v])
		if len(ns) == 0 {
			key[v] = vs[v].pos
			continue
		}
		s := 0.0
		for _, u := range ns {
			s += vs[u].pos
		}
		key[v] = s / float64(len(ns))
	}
	sort.SliceStable(c, func(i, j int) bool { return key[c[i]] < key[c[j]] })
	for i, v := range c {
		vs[v].pos = float64(i)
	}
}

// crossings counts the pairs of edges between adjacent columns that cross.
func crossings(vs []*vertex, cols [][]int) int {
	pos := map[int]int{}
	for _, c := range cols {
		for i, v := range c {
			pos[v] = i
		}
	}
	n := 0
	for _, c := range cols {
		var seg [][2]int
		for _, v := range c {
			for _, w := range vs[v].out {
				seg = append(seg, [2]int{pos[v], pos[w]})
			}
		}
		for i := range seg {
			for j := i + 1; j < len(seg); j++ {
				a, b := seg[i], seg[j]
				if (a[0] < b[0] && a[1] > b[1]) || (a[0] > b[0] && a[1] < b[1]) {
					n++
				}
			}
		}
	}
	return n
}

// SVG draws the layout: boxes linked to their pages, edges as curves with
// arrows, the layers' bands behind.
func (l *Layout) SVG() template.HTML {
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="lineage" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %d %d" width="%d" height="%d" role="img" aria-label="table lineage">`,
		l.Width, l.Height, l.Width, l.Height)
	b.WriteString(`<defs><marker id="arrow" viewBox="0 0 8 8" refX="8" refY="4" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L8,4 L0,8 z" class="arrowhead"/></marker></defs>`)
	for _, bd := range l.Bands {
		fmt.Fprintf(&b, `<g class="band band-%s"><rect x="%d" y="%d" width="%d" height="%d" rx="6"/><text x="%d" y="%d">%s</text></g>`,
			esc(bd.Layer), bd.X, margin/2, bd.W, l.Height-margin, bd.X+bd.W/2, margin/2+18, esc(strings.ToUpper(bd.Layer[:1])+bd.Layer[1:]))
	}
	for _, e := range l.Edges {
		cls := "edge"
		if l.Focus != "" && (e.From == l.Focus || e.To == l.Focus) {
			cls += " near"
		}
		fmt.Fprintf(&b, `<path class="%s" data-from="%s" data-to="%s" d="%s" marker-end="url(#arrow)"/>`, cls, esc(e.From), esc(e.To), pathD(e.Points))
	}
	for _, n := range l.Nodes {
		cls := "node node-" + n.Layer
		if n.Name == l.Focus {
			cls += " focus"
		}
		if n.Href == "" {
			cls += " absent"
		}
		label := n.Name
		if len(label) > 28 {
			label = label[:27] + "…"
		}
		inner := fmt.Sprintf(`<rect x="%d" y="%d" width="%d" height="%d" rx="4"/><text x="%d" y="%d">%s</text><title>%s</title>`,
			n.X, n.Y, n.W, n.H, n.X+8, n.Y+n.H/2+4, esc(label), esc(n.Name))
		if n.Href != "" {
			fmt.Fprintf(&b, `<a href="%s" class="%s" data-node="%s">%s</a>`, esc(n.Href), cls, esc(n.Name), inner)
		} else {
			fmt.Fprintf(&b, `<g class="%s" data-node="%s">%s</g>`, cls, esc(n.Name), inner)
		}
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String()) // every value above is escaped by esc
}

// pathD is a smooth curve through points, horizontal at each of them.
func pathD(pts [][2]float64) string {
	if len(pts) == 0 {
		return ""
	}
	var b strings.Builder
	fmt.Fprintf(&b, "M%.1f,%.1f", pts[0][0], pts[0][1])
	for i := 1; i < len(pts); i++ {
		p, q := pts[i-1], pts[i]
		dx := (q[0] - p[0]) / 2
		fmt.Fprintf(&b, " C%.1f,%.1f %.1f,%.1f %.1f,%.1f", p[0]+dx, p[1], q[0]-dx, q[1], q[0], q[1])
	}
	return b.String()
}

func esc(s string) string { return template.HTMLEscapeString(s) }
