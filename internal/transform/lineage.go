package transform

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
)

// ColumnLineage says where one output column of a model comes from.
type ColumnLineage struct {
	Column string `json:"column"`
	// Direct is true when the column is a plain reference to one input
	// column (renames included); false when it is computed.
	Direct  bool     `json:"direct"`
	Sources []string `json:"sources"` // layer.table.column of the model's inputs
}

// Schemas gives the known columns of tables (layer.table → columns), used to
// expand SELECT * and to resolve unqualified column names.
type Schemas map[string][]string

// ColumnLineageOf derives a model's column lineage from its SQL, parsed by
// DuckDB (json_serialize_sql), so the SQL dialect is exactly the one that
// runs. It handles CTEs, subqueries, joins, aliases, * and expressions;
// a column it cannot trace has no sources.
func ColumnLineageOf(ctx context.Context, db *sql.DB, m *Model, schemas Schemas) ([]ColumnLineage, error) {
	var out string
	// json_serialize_sql wants a constant, not a parameter.
	err := db.QueryRowContext(ctx, "SELECT json_serialize_sql('"+strings.ReplaceAll(m.Compiled(), "'", "''")+"')::VARCHAR").Scan(&out)
	if err != nil {
		return nil, fmt.Errorf("lineage %s: %w", m.Name, err)
	}
	var doc struct {
		Error      bool   `json:"error"`
		ErrMessage string `json:"error_message"`
		Statements []struct {
			Node map[string]any `json:"node"`
		} `json:"statements"`
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		return nil, fmt.Errorf("lineage %s: %w", m.Name, err)
	}
	if doc.Error || len(doc.Statements) != 1 {
		return nil, fmt.Errorf("lineage %s (%s): cannot parse the model's SQL: %s", m.Name, m.Path, doc.ErrMessage)
	}
	a := &analyzer{schemas: schemas}
	cols := a.query(doc.Statements[0].Node, nil)
	res := make([]ColumnLineage, 0, len(cols))
	for _, c := range cols {
		res = append(res, ColumnLineage{Column: c.name, Direct: c.direct, Sources: sortedKeys(c.sources)})
	}
	return res, nil
}

type outCol struct {
	name    string
	direct  bool
	sources map[string]bool
}

// relation is something in a FROM clause: its alias and columns.
type relation struct {
	alias string
	cols  []outCol // known columns in order; nil when unknown
	table string   // layer.table for a base table with unknown schema
}

type scope struct {
	ctes   map[string][]outCol
	rels   []relation
	parent *scope
}

type analyzer struct{ schemas Schemas }

func (a *analyzer) query(node map[string]any, parent *scope) []outCol {
	switch node["type"] {
	case "SET_OPERATION_NODE":
		left := a.query(asMap(node["left"]), parent)
		right := a.query(asMap(node["right"]), parent)
		for i := range left {
			if i < len(right) {
				for s := range right[i].sources {
					left[i].sources[s] = true
				}
				left[i].direct = left[i].direct && right[i].direct
			}
		}
		return left
	case "SELECT_NODE":
	default:
		return nil
	}
	sc := &scope{ctes: map[string][]outCol{}, parent: parent}
	if cm := asMap(node["cte_map"]); cm != nil {
		for _, e := range asSlice(cm["map"]) {
			em := asMap(e)
			name, _ := em["key"].(string)
			q := asMap(asMap(asMap(em["value"])["query"])["node"])
			sc.ctes[strings.ToLower(name)] = a.query(q, sc)
		}
	}
	a.from(asMap(node["from_table"]), sc)
	var out []outCol
	for _, e := range asSlice(node["select_list"]) {
		em := asMap(e)
		if em["class"] == "STAR" {
			out = append(out, a.star(em, sc)...)
			continue
		}
		c := a.expr(em, sc)
		c.name, _ = em["alias"].(string)
		if c.name == "" && em["class"] == "COLUMN_REF" {
			names := asSlice(em["column_names"])
			c.name, _ = names[len(names)-1].(string)
		}
		out = append(out, c)
	}
	return out
}

func (a *analyzer) from(t map[string]any, sc *scope) {
	if t == nil {
		return
	}
	alias, _ := t["alias"].(string)
	switch t["type"] {
	case "BASE_TABLE":
		schema, _ := t["schema_name"].(string)
		table, _ := t["table_name"].(string)
		if alias == "" {
			alias = table
		}
		if schema == "" {
			if cols, ok := sc.lookupCTE(strings.ToLower(table)); ok {
				sc.rels = append(sc.rels, relation{alias: alias, cols: cols})
				return
			}
		}
		full := strings.ToLower(schema + "." + table)
		rel := relation{alias: alias, table: full}
		if cols, ok := a.schemas[full]; ok {
			for _, c := range cols {
				rel.cols = append(rel.cols, outCol{name: c, direct: true, sources: map[string]bool{full + "." + c: true}})
			}
		}
		sc.rels = append(sc.rels, rel)
	case "SUBQUERY":
		q := asMap(asMap(t["subquery"])["node"])
		sc.rels = append(sc.rels, relation{alias: alias, cols: a.query(q, sc)})
	case "JOIN":
		a.from(asMap(t["left"]), sc)
		a.from(asMap(t["right"]), sc)
	}
}

func (s *scope) lookupCTE(name string) ([]outCol, bool) {
	for sc := s; sc != nil; sc = sc.parent {
		if c, ok := sc.ctes[name]; ok {
			return c, true
		}
	}
	return nil, false
}

// resolve finds a column reference in the scope chain.
func (s *scope) resolve(names []string) (outCol, bool) {
	col := strings.ToLower(names[len(names)-1])
	qual := ""
	if len(names) >= 2 {
		qual = strings.ToLower(names[len(names)-2])
	}
	for sc := s; sc != nil; sc = sc.parent {
		for _, r := range sc.rels {
			if qual != "" && strings.ToLower(r.alias) != qual {
				continue
			}
			for _, c := range r.cols {
				if strings.ToLower(c.name) == col {
					return c, true
				}
			}
			// A base table whose schema is unknown: trust a qualified
			// reference, or an unqualified one when it is the only table.
			if r.cols == nil && r.table != "" && (qual != "" || len(sc.rels) == 1) {
				return outCol{name: col, direct: true, sources: map[string]bool{r.table + "." + col: true}}, true
			}
		}
	}
	return outCol{}, false
}

func (a *analyzer) star(e map[string]any, sc *scope) []outCol {
	rel, _ := e["relation_name"].(string)
	var exclude = map[string]bool{}
	for _, x := range asSlice(e["exclude_list"]) {
		if xm := asMap(x); xm != nil {
			for _, n := range asSlice(xm["column_names"]) {
				if s, ok := n.(string); ok {
					exclude[strings.ToLower(s)] = true
				}
			}
		} else if s, ok := x.(string); ok {
			exclude[strings.ToLower(s)] = true
		}
	}
	var out []outCol
	for _, r := range sc.rels {
		if rel != "" && !strings.EqualFold(r.alias, rel) {
			continue
		}
		for _, c := range r.cols {
			if !exclude[strings.ToLower(c.name)] {
				out = append(out, outCol{name: c.name, direct: c.direct, sources: copySet(c.sources)})
			}
		}
	}
	return out
}

// expr collects the input columns an expression reads.
func (a *analyzer) expr(e map[string]any, sc *scope) outCol {
	c := outCol{sources: map[string]bool{}}
	if e["class"] == "COLUMN_REF" {
		if r, ok := sc.resolve(stringsOf(e["column_names"])); ok {
			return outCol{direct: r.direct, sources: copySet(r.sources)}
		}
		return c
	}
	a.walk(e, sc, c.sources)
	return c
}

// walk visits every nested expression: function arguments, CASE branches,
// casts, windows, and subqueries (in their own scope).
func (a *analyzer) walk(v any, sc *scope, into map[string]bool) {
	switch x := v.(type) {
	case map[string]any:
		if x["class"] == "COLUMN_REF" {
			if r, ok := sc.resolve(stringsOf(x["column_names"])); ok {
				for s := range r.sources {
					into[s] = true
				}
			}
			return
		}
		if x["class"] == "SUBQUERY" {
			if sub := asMap(asMap(x["subquery"])["node"]); sub != nil {
				for _, c := range a.query(sub, sc) {
					for s := range c.sources {
						into[s] = true
					}
				}
			}
			return
		}
		for k, val := range x {
			if k == "query_location" {
				continue
			}
			a.walk(val, sc, into)
		}
	case []any:
		for _, val := range x {
			a.walk(val, sc, into)
		}
	}
}

func asMap(v any) map[string]any { m, _ := v.(map[string]any); return m }

func asSlice(v any) []any { s, _ := v.([]any); return s }

func stringsOf(v any) []string {
	var out []string
	for _, x := range asSlice(v) {
		if s, ok := x.(string); ok {
			out = append(out, s)
		}
	}
	if len(out) == 0 {
		out = []string{""}
	}
	return out
}

func copySet(m map[string]bool) map[string]bool {
	out := make(map[string]bool, len(m))
	for k := range m {
		out[k] = true
	}
	return out
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
