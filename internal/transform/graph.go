package transform

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/keystone/nexus/internal/lake"
)

// Graph is the models' dependency graph, derived from their ref() and
// source() calls.
type Graph struct {
	Models  map[string]*Model
	Sources []string            // Bronze tables read by some model
	Parents map[string][]string // model → the models and sources it reads
	Order   []string            // models in a valid build order
}

// NewGraph checks the references and orders the models. sources are the
// tables a source() call may name. An unknown reference or a cycle is an
// error naming the model, its file and the line. extra adds inputs that are
// not in the SQL: the tables a model's quality gate reads (a foreign key's
// target must be built before the rows pointing at it are checked).
func NewGraph(models []*Model, sources []string, extra ...map[string][]string) (*Graph, error) {
	g := &Graph{Models: map[string]*Model{}, Parents: map[string][]string{}}
	known := map[string]bool{}
	for _, s := range sources {
		known[s] = true
	}
	for _, m := range models {
		g.Models[m.Name] = m
	}
	usedSources := map[string]bool{}
	for _, m := range models {
		for _, r := range m.Refs {
			switch r.Kind {
			case "source":
				if !known[r.Name] {
					return nil, fmt.Errorf("%s:%d: model %s: source('%s') is not a known source table (known: %s)",
						m.Path, r.Line, m.Name, r.Name, strings.Join(sources, ", "))
				}
				usedSources[r.Name] = true
			case "ref":
				if r.Name == m.Name {
					return nil, fmt.Errorf("%s:%d: model %s refers to itself", m.Path, r.Line, m.Name)
				}
				if _, ok := g.Models[r.Name]; !ok {
					hint := ""
					if known[r.Name] {
						hint = fmt.Sprintf("; use source('%s') for a source table", r.Name)
					}
					return nil, fmt.Errorf("%s:%d: model %s: ref('%s') names no model%s", m.Path, r.Line, m.Name, r.Name, hint)
				}
			}
		}
		g.Parents[m.Name] = m.Inputs()
	}
	for _, ex := range extra {
		for name, deps := range ex {
			m, ok := g.Models[name]
			if !ok {
				continue // a gate on a table no model builds (Bronze) adds no order
			}
			for _, d := range deps {
				if d == name || indexOf(g.Parents[name], d) >= 0 {
					continue
				}
				if _, isModel := g.Models[d]; !isModel && !known[d] {
					return nil, fmt.Errorf("%s: the quality suite of %s reads %s, which is neither a model nor a source", m.Path, name, d)
				}
				g.Parents[name] = append(g.Parents[name], d)
			}
			sort.Strings(g.Parents[name])
		}
	}
	for s := range usedSources {
		g.Sources = append(g.Sources, s)
	}
	sort.Strings(g.Sources)

	// Depth-first topological sort; a back edge is a cycle.
	const (
		unvisited = iota
		visiting
		done
	)
	state := map[string]int{}
	var stack []string
	var visit func(name string) error
	visit = func(name string) error {
		switch state[name] {
		case done:
			return nil
		case visiting:
			i := indexOf(stack, name)
			cycle := append(append([]string{}, stack[i:]...), name)
			m := g.Models[stack[len(stack)-1]]
			line := 0
			via := " (through a quality suite's foreign key or reconcile)"
			for _, r := range m.Refs {
				if r.Name == name {
					line, via = r.Line, ""
					break
				}
			}
			return fmt.Errorf("%s:%d: model %s: dependency cycle %s%s", m.Path, line, m.Name, strings.Join(cycle, " → "), via)
		}
		state[name] = visiting
		stack = append(stack, name)
		for _, p := range g.Parents[name] {
			if _, isModel := g.Models[p]; isModel {
				if err := visit(p); err != nil {
					return err
				}
			}
		}
		stack = stack[:len(stack)-1]
		state[name] = done
		g.Order = append(g.Order, name)
		return nil
	}
	names := make([]string, 0, len(g.Models))
	for n := range g.Models {
		names = append(names, n)
	}
	sort.Slice(names, func(i, j int) bool { return layerLess(names[i], names[j]) })
	for _, n := range names {
		if err := visit(n); err != nil {
			return nil, err
		}
	}
	return g, nil
}

func layerLess(a, b string) bool {
	la, _, _ := strings.Cut(a, ".")
	lb, _, _ := strings.Cut(b, ".")
	if ra, rb := layerOrder(la), layerOrder(lb); ra != rb {
		return ra < rb
	}
	return a < b
}

// layerOrder orders layers as the lake does (quarantine and unknown ones
// after gold).
func layerOrder(l string) int {
	if i := slices.Index(lake.Layers(), l); i >= 0 {
		return i
	}
	return len(lake.Layers())
}

func indexOf(s []string, v string) int {
	for i, x := range s {
		if x == v {
			return i
		}
	}
	return -1
}

// Children returns the models that read name directly.
func (g *Graph) Children(name string) []string {
	var out []string
	for _, n := range g.Order {
		for _, p := range g.Parents[n] {
			if p == name {
				out = append(out, n)
				break
			}
		}
	}
	return out
}

// Downstream returns name's transitive children, in build order.
func (g *Graph) Downstream(name string) []string {
	seen := map[string]bool{name: true}
	var out []string
	for _, n := range g.Order {
		for _, p := range g.Parents[n] {
			if seen[p] && !seen[n] {
				seen[n] = true
				out = append(out, n)
				break
			}
		}
	}
	return out
}

// Upstream returns everything name reads, transitively (models and sources).
func (g *Graph) Upstream(name string) []string {
	seen := map[string]bool{}
	var walk func(string)
	walk = func(n string) {
		for _, p := range g.Parents[n] {
			if !seen[p] {
				seen[p] = true
				walk(p)
			}
		}
	}
	walk(name)
	out := make([]string, 0, len(seen))
	for n := range seen {
		out = append(out, n)
	}
	sort.Slice(out, func(i, j int) bool { return layerLess(out[i], out[j]) })
	return out
}
