package docsite

import (
	"fmt"
	"strings"
	"testing"

	"github.com/keystone/nexus/internal/pipeline"
)

// checkLayout holds a layout to what makes it readable: boxes never
// overlap, the layers' bands go Bronze → Silver → Gold left to right, each
// node is inside its layer's band, and every edge runs left to right.
func checkLayout(t *testing.T, l *Layout) {
	t.Helper()
	band := map[string]Band{}
	for i, b := range l.Bands {
		band[b.Layer] = b
		if i > 0 && b.X < l.Bands[i-1].X+l.Bands[i-1].W-12 {
			t.Errorf("band %s starts at %d, inside band %s (%d..%d)", b.Layer, b.X, l.Bands[i-1].Layer, l.Bands[i-1].X, l.Bands[i-1].X+l.Bands[i-1].W)
		}
	}
	var order []string
	for _, b := range l.Bands {
		order = append(order, b.Layer)
	}
	if got := strings.Join(order, ","); !strings.HasPrefix("bronze,silver,gold", got) {
		t.Errorf("bands in the order %s", got)
	}
	for i, a := range l.Nodes {
		b := band[a.Layer]
		if a.X < b.X || a.X+a.W > b.X+b.W {
			t.Errorf("%s (x %d..%d) is outside the %s band (%d..%d)", a.Name, a.X, a.X+a.W, a.Layer, b.X, b.X+b.W)
		}
		if a.X < 0 || a.Y < 0 || a.X+a.W > l.Width || a.Y+a.H > l.Height {
			t.Errorf("%s is outside the drawing", a.Name)
		}
		for _, c := range l.Nodes[i+1:] {
			if a.X < c.X+c.W && c.X < a.X+a.W && a.Y < c.Y+c.H && c.Y < a.Y+a.H {
				t.Errorf("%s and %s overlap", a.Name, c.Name)
			}
		}
	}
	for _, e := range l.Edges {
		for i := 1; i < len(e.Points); i++ {
			if e.Points[i][0] <= e.Points[i-1][0] {
				t.Errorf("edge %s → %s goes right to left at point %d: %v", e.From, e.To, i, e.Points)
			}
		}
	}
}

// TestLayoutModelGraph lays out the project's model graph.
func TestLayoutModelGraph(t *testing.T) {
	g, err := pipeline.LoadGraph("")
	if err != nil {
		t.Fatal(err)
	}
	var nodes []Node
	var edges []Edge
	for _, s := range g.Sources {
		nodes = append(nodes, Node{Name: s, Layer: "bronze"})
	}
	for _, n := range g.Order {
		layer, _, _ := strings.Cut(n, ".")
		nodes = append(nodes, Node{Name: n, Layer: layer, Href: n + ".html"})
		for _, p := range g.Parents[n] {
			edges = append(edges, Edge{From: p, To: n})
		}
	}
	l := LayoutGraph(nodes, edges, "")
	checkLayout(t, l)
	if len(l.Nodes) != len(nodes) || len(l.Edges) != len(edges) {
		t.Errorf("%d nodes and %d edges drawn, want %d and %d", len(l.Nodes), len(l.Edges), len(nodes), len(edges))
	}
	// Ordering pays: fewer crossings than the columns sorted by name.
	if naive := namedOrderCrossings(nodes, edges); l.Crossings >= naive {
		t.Errorf("%d crossings after ordering, %d with names in order", l.Crossings, naive)
	}
	t.Logf("%d nodes, %d edges, %d crossings (%d in name order), %d×%d px", len(l.Nodes), len(l.Edges), l.Crossings, namedOrderCrossings(nodes, edges), l.Width, l.Height)
}

// TestLayoutLargeGraph: 64 tables over three layers, chains within Silver and
// Gold and edges that skip layers, stays readable and untangles a graph that
// can be drawn without crossings.
func TestLayoutLargeGraph(t *testing.T) {
	var nodes []Node
	var edges []Edge
	// Sixteen independent pipelines bronze.sN → silver.sN → silver.cN →
	// gold.gN, named so that name order interleaves them badly.
	for i := range 16 {
		b, s, c, g := fmt.Sprintf("bronze.t%02d", i), fmt.Sprintf("silver.t%02d", (i*7)%16), fmt.Sprintf("silver.z%02d", (i*5)%16), fmt.Sprintf("gold.t%02d", (i*3)%16)
		nodes = append(nodes, Node{Name: b, Layer: "bronze"}, Node{Name: s, Layer: "silver"}, Node{Name: c, Layer: "silver"}, Node{Name: g, Layer: "gold"})
		edges = append(edges, Edge{b, s}, Edge{s, c}, Edge{c, g})
		if i%4 == 0 {
			edges = append(edges, Edge{b, g}) // skips Silver
		}
	}
	l := LayoutGraph(nodes, edges, "")
	checkLayout(t, l)
	if len(l.Nodes) != 64 {
		t.Fatalf("%d nodes", len(l.Nodes))
	}
	if l.Crossings != 0 {
		t.Errorf("%d crossings in a graph of independent chains (%d in name order)", l.Crossings, namedOrderCrossings(nodes, edges))
	}
	cols := map[int]bool{}
	for _, n := range l.Nodes {
		cols[n.Col] = true
	}
	if len(cols) != 4 {
		t.Errorf("%d columns, want 4 (Bronze, two of Silver, Gold)", len(cols))
	}
}

// namedOrderCrossings counts crossings with the nodes of each column in
// name order: the layout before any ordering.
func namedOrderCrossings(nodes []Node, edges []Edge) int {
	return layoutGraph(nodes, edges, "", false).Crossings
}
