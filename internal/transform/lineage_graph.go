package transform

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
)

// Lineage is the model graph plus the column lineage of every model.
type Lineage struct {
	Graph   *Graph
	Columns map[string][]ColumnLineage // model → its columns
}

// BuildLineage analyses every model in build order; sources gives the
// columns of the source tables. Each model's output columns become known to
// the models after it, so * and unqualified names resolve through the graph.
func BuildLineage(ctx context.Context, db *sql.DB, g *Graph, sources Schemas) (*Lineage, error) {
	schemas := Schemas{}
	for k, v := range sources {
		schemas[k] = v
	}
	l := &Lineage{Graph: g, Columns: map[string][]ColumnLineage{}}
	for _, name := range g.Order {
		cols, err := ColumnLineageOf(ctx, db, g.Models[name], schemas)
		if err != nil {
			return nil, err
		}
		l.Columns[name] = cols
		names := make([]string, len(cols))
		for i, c := range cols {
			names[i] = c.Column
		}
		schemas[name] = names
	}
	return l, nil
}

// TraceNode is a column and the columns it is computed from, down to sources.
type TraceNode struct {
	Column string       `json:"column"` // layer.table.column
	Direct bool         `json:"direct"`
	From   []*TraceNode `json:"from,omitempty"`
}

// Trace follows layer.table.column back to the source columns.
func (l *Lineage) Trace(column string) (*TraceNode, error) {
	i := strings.LastIndex(column, ".")
	if i < 0 {
		return nil, fmt.Errorf("lineage: %q is not layer.table.column", column)
	}
	model, col := column[:i], column[i+1:]
	cols, ok := l.Columns[model]
	if !ok {
		return nil, fmt.Errorf("lineage: no model %s", model)
	}
	for _, c := range cols {
		if strings.EqualFold(c.Column, col) {
			return l.trace(model+"."+c.Column, c, 0), nil
		}
	}
	var names []string
	for _, c := range cols {
		names = append(names, c.Column)
	}
	return nil, fmt.Errorf("lineage: model %s has no column %q (columns: %s)", model, col, strings.Join(names, ", "))
}

func (l *Lineage) trace(full string, c ColumnLineage, depth int) *TraceNode {
	n := &TraceNode{Column: full, Direct: c.Direct}
	if depth > 32 {
		return n
	}
	for _, s := range c.Sources {
		i := strings.LastIndex(s, ".")
		table, col := s[:i], s[i+1:]
		child := &TraceNode{Column: s, Direct: true}
		for _, uc := range l.Columns[table] {
			if strings.EqualFold(uc.Column, col) {
				child = l.trace(s, uc, depth+1)
				break
			}
		}
		n.From = append(n.From, child)
	}
	return n
}

// WriteGraph writes the model graph (restricted to focus and its up- and
// downstream when focus is not empty) as mermaid, dot, json or text.
func (l *Lineage) WriteGraph(w io.Writer, format, focus string) error {
	g := l.Graph
	keep := map[string]bool{}
	if focus == "" {
		for n := range g.Models {
			keep[n] = true
		}
		for _, s := range g.Sources {
			keep[s] = true
		}
	} else {
		if _, ok := g.Models[focus]; !ok {
			return fmt.Errorf("lineage: no model %s", focus)
		}
		keep[focus] = true
		for _, n := range g.Upstream(focus) {
			keep[n] = true
		}
		for _, n := range g.Downstream(focus) {
			keep[n] = true
		}
	}
	var edges [][2]string
	for _, n := range g.Order {
		if !keep[n] {
			continue
		}
		for _, p := range g.Parents[n] {
			if keep[p] {
				edges = append(edges, [2]string{p, n})
			}
		}
	}
	nodes := make([]string, 0, len(keep))
	for n := range keep {
		nodes = append(nodes, n)
	}
	sort.Slice(nodes, func(i, j int) bool { return layerLess(nodes[i], nodes[j]) })
	id := func(s string) string { return strings.ReplaceAll(s, ".", "_") }
	switch format {
	case "mermaid":
		fmt.Fprintln(w, "flowchart LR")
		for _, layer := range []string{"bronze", "silver", "gold"} {
			fmt.Fprintf(w, "  subgraph %s\n", layer)
			for _, n := range nodes {
				if strings.HasPrefix(n, layer+".") {
					fmt.Fprintf(w, "    %s[\"%s\"]\n", id(n), n)
				}
			}
			fmt.Fprintln(w, "  end")
		}
		for _, e := range edges {
			fmt.Fprintf(w, "  %s --> %s\n", id(e[0]), id(e[1]))
		}
	case "dot":
		fmt.Fprintln(w, "digraph lineage {\n  rankdir=LR;\n  node [shape=box, fontname=\"Helvetica\"];")
		for _, n := range nodes {
			fmt.Fprintf(w, "  %q;\n", n)
		}
		for _, e := range edges {
			fmt.Fprintf(w, "  %q -> %q;\n", e[0], e[1])
		}
		fmt.Fprintln(w, "}")
	case "json":
		type jm struct {
			Name    string          `json:"name"`
			Inputs  []string        `json:"inputs"`
			Columns []ColumnLineage `json:"columns,omitempty"`
		}
		var out struct {
			Sources []string `json:"sources"`
			Models  []jm     `json:"models"`
		}
		for _, n := range nodes {
			if _, ok := g.Models[n]; ok {
				out.Models = append(out.Models, jm{Name: n, Inputs: g.Parents[n], Columns: l.Columns[n]})
			} else {
				out.Sources = append(out.Sources, n)
			}
		}
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	case "text", "":
		for _, n := range nodes {
			if _, ok := g.Models[n]; !ok {
				continue
			}
			fmt.Fprintf(w, "%s ← %s\n", n, strings.Join(g.Parents[n], ", "))
			if focus != "" && n == focus {
				for _, c := range l.Columns[n] {
					kind := "computed"
					if c.Direct {
						kind = "copied"
					}
					fmt.Fprintf(w, "  %-32s %-8s ← %s\n", c.Column, kind, strings.Join(c.Sources, ", "))
				}
			}
		}
	default:
		return fmt.Errorf("lineage: unknown format %q (want text, mermaid, dot or json)", format)
	}
	return nil
}

// WriteTrace writes a column's trace as mermaid, dot, json or an indented tree.
func WriteTrace(w io.Writer, format string, t *TraceNode) error {
	var edges [][2]string
	var walk func(n *TraceNode)
	seen := map[[2]string]bool{}
	walk = func(n *TraceNode) {
		for _, c := range n.From {
			e := [2]string{c.Column, n.Column}
			if !seen[e] {
				seen[e] = true
				edges = append(edges, e)
			}
			walk(c)
		}
	}
	walk(t)
	id := func(s string) string { return strings.NewReplacer(".", "_", "-", "_").Replace(s) }
	switch format {
	case "mermaid":
		fmt.Fprintln(w, "flowchart LR")
		for _, e := range edges {
			fmt.Fprintf(w, "  %s[\"%s\"] --> %s[\"%s\"]\n", id(e[0]), e[0], id(e[1]), e[1])
		}
	case "dot":
		fmt.Fprintln(w, "digraph lineage {\n  rankdir=LR;\n  node [shape=box, fontname=\"Helvetica\"];")
		for _, e := range edges {
			fmt.Fprintf(w, "  %q -> %q;\n", e[0], e[1])
		}
		fmt.Fprintln(w, "}")
	case "json":
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(t)
	case "text", "":
		var pr func(n *TraceNode, indent string)
		pr = func(n *TraceNode, indent string) {
			kind := ""
			if len(n.From) > 0 {
				kind = "  (computed)"
				if n.Direct {
					kind = "  (copied)"
				}
			}
			arrow := ""
			if indent != "" {
				arrow = "← "
			}
			fmt.Fprintf(w, "%s%s%s%s\n", indent, arrow, n.Column, kind)
			for _, c := range n.From {
				pr(c, indent+"  ")
			}
		}
		pr(t, "")
	default:
		return fmt.Errorf("lineage: unknown format %q (want text, mermaid, dot or json)", format)
	}
	return nil
}
