package transform

import (
	"embed"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"

	"github.com/keystone/nexus/internal/engine"
	"github.com/keystone/nexus/internal/lake"
	"github.com/keystone/nexus/internal/quality"
)

//go:embed models
var embedded embed.FS

// Model is one SQL model: a SELECT with a header, materialized as a table.
type Model struct {
	Name        string // layer.table, e.g. "silver.orders"
	Layer       string
	Table       string
	Path        string // where it was read from, for errors (models/silver/orders.sql)
	Description string
	// Materialized is "table" (the only kind so far: Parquet files + manifest).
	Materialized string
	// PartitionBy is a DATE column; the table is written as hive partitions
	// at the given Granularity (year, month or day) derived from it.
	PartitionBy string
	Granularity string
	Key         []string
	// Incremental is the column an incremental build rebuilds by: every
	// output row with value k depends only on the input rows with the same
	// value (in the inputs that have the column) and on rows reached through
	// Lookups. Empty: the model is always rebuilt in full.
	Incremental string
	// Lookups map the changes of an input that lacks the Incremental column
	// to the rows to rebuild, through a column of the model's own rows.
	Lookups []Lookup
	// Maps translate the changed values of a column (order_id) into the
	// Incremental column's values through a query over other models, for
	// inputs that have neither the Incremental column nor a lookup.
	Maps []KeyMap
	// Exprs give, for an input, the Incremental value of each of its rows
	// as an expression over its columns: its changed rows give the keys,
	// and it is read for the keys only.
	Exprs []KeyExpr
	// Batches documents how the model resolves the batches of a landing
	// zone (the latest-state rule per key), for readers and the docs.
	Batches  string
	Columns  []ColumnDoc
	Refs     []Ref
	SQL      string // the body: the SELECT, with ref()/source() calls
	bodyLine int    // file line where SQL starts (1-based)
}

// Lookup says that a change of Input's column InputColumn affects the rows
// of the model whose Column has the same value:
// "-- incremental_lookup: silver.customers.customer_id -> customer_id".
type Lookup struct {
	Input       string // layer.table
	InputColumn string
	Column      string
	Line        int // of the header, for errors
}

// KeyExpr is "-- incremental_expr: gold.fact_sales: CAST(date_trunc('month',
// purchase_date) AS DATE)": the model's Incremental value of a row of Input
// is Expr, an SQL expression over Input's columns (a monthly aggregate over
// a daily fact, say).
type KeyExpr struct {
	Input string // layer.table
	Expr  string
	Line  int // of the header, for errors
}

// KeyMap is "-- incremental_map: order_id: SELECT order_id, customer_unique_id
// FROM ref('silver.orders') ...": a query returning Column and the model's
// Incremental column.
type KeyMap struct {
	Column string
	SQL    string
	Line   int // of the header, for errors
}

// Select returns the query of the map's rows whose Column is among the
// values of changed (a query of one column). The filter goes inside the
// map's own SELECT when it is a plain one (no WHERE, grouping, set
// operation or limit) whose first column is Column: DuckDB pushes it down to
// the table that has the column, before the joins, where it does not push a
// filter on the map taken as a subquery (measured at scale 10: the
// order_id map of gold.dim_customer joined all of silver.orders to all of
// silver.customers first, 0.34 s against 0.14 s). Otherwise the map is
// filtered from outside.
func (km KeyMap) Select(changed string) string {
	q := compileRefs(km.SQL)
	if expr, ok := plainSelectOf(q, km.Column); ok {
		return q + " WHERE " + expr + " IN (" + changed + ")"
	}
	return fmt.Sprintf("SELECT * FROM (%s) WHERE %s IN (%s)", q, engine.Ident(km.Column), changed)
}

// plainSelectOf returns the first expression of q, a SELECT, when it is the
// column col (qualified or not) and q has, outside parentheses and quotes,
// no clause that a WHERE appended at its end would break or change the
// meaning of (a window, a grouping, a set operation, a limit).
func plainSelectOf(q, col string) (string, bool) {
	words, first := topLevel(q)
	// Comments, dollar-quoted text and backslash escapes are beyond this
	// scan: such a map is filtered from outside.
	if len(words) < 2 || !strings.EqualFold(words[0], "SELECT") || strings.ContainsAny(q, "$\\;") || strings.Contains(q, "--") || strings.Contains(q, "/*") {
		return "", false
	}
	for _, w := range words[1:] {
		switch strings.ToUpper(w) {
		// A window (OVER) sees the rows before the WHERE: filtering
		// first would change its values.
		case "DISTINCT", "WHERE", "GROUP", "HAVING", "QUALIFY", "WINDOW", "OVER", "ORDER", "LIMIT", "OFFSET", "FETCH",
			"UNION", "INTERSECT", "EXCEPT", "SAMPLE", "TABLESAMPLE":
			return "", false
		}
	}
	expr := strings.TrimSpace(first)
	if !qualifiedIdent.MatchString(expr) {
		return "", false
	}
	parts := strings.Split(expr, ".")
	if !strings.EqualFold(parts[len(parts)-1], col) {
		return "", false
	}
	return expr, true
}

var qualifiedIdent = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$`)

// topLevel splits q into the words outside parentheses and quoted text, and
// returns the text of its first select item (after SELECT, up to the first
// comma outside parentheses).
func topLevel(q string) (words []string, first string) {
	depth, start, firstStart, firstEnd := 0, -1, -1, -1
	flush := func(i int) {
		if start >= 0 {
			words = append(words, q[start:i])
			if len(words) == 1 {
				firstStart = i
			}
			start = -1
		}
	}
	for i := 0; i < len(q); i++ {
		c := q[i]
		switch {
		case c == '\'' || c == '"':
			flush(i)
			if j := strings.IndexByte(q[i+1:], c); j >= 0 {
				i += j + 1
			} else {
				i = len(q)
			}
		case c == '(':
			flush(i)
			depth++
		case c == ')':
			flush(i)
			depth--
		case depth > 0:
		case c == ',':
			flush(i)
			if firstEnd < 0 {
				firstEnd = i
			}
		case c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.':
			if start < 0 {
				start = i
			}
		default:
			flush(i)
		}
	}
	flush(len(q))
	if firstStart >= 0 && firstEnd > firstStart {
		first = q[firstStart:firstEnd]
	}
	return words, first
}

// ColumnDoc documents one output column.
type ColumnDoc struct {
	Name        string `json:"name"`
	Description string `json:"description"`
}

// Ref is an input of a model: another model (ref) or a Bronze table (source).
type Ref struct {
	Kind string // "ref" or "source"
	Name string // layer.table
	Line int    // file line of the reference
}

// DefaultGranularity is the partition granularity of a dated table whose
// header does not say; chosen by measurement (see docs/schema_design.md).
const DefaultGranularity = "month"

var (
	refPattern   = regexp.MustCompile(`\b(ref|source)\(\s*'([^']*)'\s*(?:,\s*'([^']*)'\s*)?\)`)
	headerLine   = regexp.MustCompile(`^--\s*([a-z_]+)(?:\s+([A-Za-z_][A-Za-z0-9_]*))?\s*:\s*(.*)$`)
	validName    = regexp.MustCompile(`^[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*$`)
	validIdent   = regexp.MustCompile(`^[a-z_][a-z0-9_]*$`)
	granularites = map[string]bool{"year": true, "month": true, "day": true}
)

// ParseModel parses a model file. name is layer.table.
func ParseModel(name, file string, src []byte) (*Model, error) {
	layer, table, ok := strings.Cut(name, ".")
	if !ok || !validName.MatchString(name) {
		return nil, fmt.Errorf("%s: model name %q must be layer.table in lower case", file, name)
	}
	m := &Model{Name: name, Layer: layer, Table: table, Path: file, Materialized: "table"}
	lines := strings.Split(strings.ReplaceAll(string(src), "\r\n", "\n"), "\n")
	// Lines of headers whose error comes after the header: granularity, and
	// the first incremental_lookup, _map or _expr.
	body, granLine, incLine := 0, 0, 0
	for i, l := range lines {
		t := strings.TrimSpace(l)
		if t == "" {
			continue
		}
		if !strings.HasPrefix(t, "--") {
			body = i
			break
		}
		body = i + 1
		mm := headerLine.FindStringSubmatch(t)
		if mm == nil {
			continue // a plain comment
		}
		key, arg, val := mm[1], mm[2], strings.TrimSpace(mm[3])
		if strings.HasPrefix(key, "incremental_") && incLine == 0 {
			incLine = i + 1
		}
		bad := func(format string, a ...any) error {
			return fmt.Errorf("%s:%d: %s", file, i+1, fmt.Sprintf(format, a...))
		}
		switch key {
		case "description":
			m.Description = strings.TrimSpace(m.Description + " " + val)
		case "materialized":
			if val != "table" {
				return nil, bad("materialized %q is not supported (use table)", val)
			}
		case "partition_by":
			m.PartitionBy = val
		case "granularity":
			if !granularites[val] {
				return nil, bad("granularity %q must be year, month or day", val)
			}
			m.Granularity = val
			granLine = i + 1
		case "key":
			for _, k := range strings.Split(val, ",") {
				if k = strings.TrimSpace(k); k != "" {
					m.Key = append(m.Key, k)
				}
			}
		case "incremental":
			if !validIdent.MatchString(val) {
				return nil, bad("incremental %q must be one column name", val)
			}
			m.Incremental = val
		case "incremental_map":
			col, q, ok := strings.Cut(val, ":")
			col, q = strings.TrimSpace(col), strings.TrimSpace(q)
			if !ok || !validIdent.MatchString(col) || !strings.HasPrefix(strings.ToUpper(q), "SELECT ") {
				return nil, bad("incremental_map %q must read column: SELECT column, <incremental column> FROM ref(...)", val)
			}
			m.Maps = append(m.Maps, KeyMap{Column: col, SQL: q, Line: i + 1})
		case "incremental_expr":
			in, expr, ok := strings.Cut(val, ":")
			in, expr = strings.TrimSpace(in), strings.TrimSpace(expr)
			if !ok || !validName.MatchString(in) || expr == "" {
				return nil, bad("incremental_expr %q must read layer.table: <expression over its columns>", val)
			}
			if _, dup := m.keyExpr(in); dup {
				return nil, bad("incremental_expr for %s given twice", in)
			}
			m.Exprs = append(m.Exprs, KeyExpr{Input: in, Expr: expr, Line: i + 1})
		case "incremental_lookup":
			lk, err := parseLookup(val)
			if err != nil {
				return nil, bad("%v", err)
			}
			lk.Line = i + 1
			m.Lookups = append(m.Lookups, lk)
		case "batches":
			m.Batches = strings.TrimSpace(m.Batches + " " + val)
		case "column":
			if arg == "" {
				return nil, bad("column documentation needs a name: -- column NAME: description")
			}
			m.Columns = append(m.Columns, ColumnDoc{Name: arg, Description: val})
		default:
			return nil, bad("unknown header key %q (known: description, materialized, partition_by, granularity, key, incremental, incremental_lookup, incremental_map, incremental_expr, batches, column)", key)
		}
	}
	if incLine > 0 && m.Incremental == "" {
		return nil, fmt.Errorf("%s:%d: incremental_lookup, incremental_map or incremental_expr without incremental", file, incLine)
	}
	if m.PartitionBy != "" && m.Granularity == "" {
		m.Granularity = DefaultGranularity
	}
	if m.Granularity != "" && m.PartitionBy == "" {
		return nil, fmt.Errorf("%s:%d: granularity without partition_by", file, granLine)
	}
	m.bodyLine = body + 1
	m.SQL = strings.TrimRight(strings.TrimSpace(strings.Join(lines[body:], "\n")), ";")
	if m.SQL == "" {
		return nil, fmt.Errorf("%s: no SQL after the header", file)
	}
	for _, loc := range refPattern.FindAllStringSubmatchIndex(m.SQL, -1) {
		kind := m.SQL[loc[2]:loc[3]]
		target := m.SQL[loc[4]:loc[5]]
		if loc[6] >= 0 { // source('bronze', 'orders')
			target += "." + m.SQL[loc[6]:loc[7]]
		}
		line := m.bodyLine + strings.Count(m.SQL[:loc[0]], "\n")
		if !validName.MatchString(target) {
			return nil, fmt.Errorf("%s:%d: %s('%s') must name layer.table", file, line, kind, target)
		}
		m.Refs = append(m.Refs, Ref{Kind: kind, Name: target, Line: line})
	}
	// A map or lookup reads tables: they must be inputs of the model, so
	// that they are built before it.
	inputs := m.Inputs()
	for _, km := range m.Maps {
		for _, mm := range refPattern.FindAllStringSubmatch(km.SQL, -1) {
			target := mm[2]
			if mm[3] != "" {
				target += "." + mm[3]
			}
			if !slices.Contains(inputs, target) {
				return nil, fmt.Errorf("%s:%d: incremental_map reads %s, which the model's SQL does not", file, km.Line, target)
			}
		}
	}
	for _, l := range m.Lookups {
		if !slices.Contains(inputs, l.Input) {
			return nil, fmt.Errorf("%s:%d: incremental_lookup names %s, which the model's SQL does not read", file, l.Line, l.Input)
		}
	}
	for _, e := range m.Exprs {
		if !slices.Contains(inputs, e.Input) {
			return nil, fmt.Errorf("%s:%d: incremental_expr names %s, which the model's SQL does not read", file, e.Line, e.Input)
		}
		if l, ok := m.lookup(e.Input); ok {
			return nil, fmt.Errorf("%s:%d: %s has an incremental_expr (line %d) and an incremental_lookup: give one", file, l.Line, e.Input, e.Line)
		}
	}
	return m, nil
}

// Compiled returns the model's SELECT with ref()/source() replaced by the
// views of the tables they name. Line breaks are kept, so a DuckDB error's
// line maps back to the file.
func (m *Model) Compiled() string { return compileRefs(m.SQL) }

// compileRefs replaces ref() and source() calls by the tables' names.
func compileRefs(sql string) string {
	return refPattern.ReplaceAllStringFunc(sql, func(s string) string {
		mm := refPattern.FindStringSubmatch(s)
		target := mm[2]
		if mm[3] != "" {
			target += "." + mm[3]
		}
		return quality.TableRef(target)
	})
}

// codeFingerprint identifies what builds the model apart from its inputs.
func (m *Model) codeFingerprint(suite string) string {
	parts := []string{modelFormat, m.SQL, m.PartitionBy, m.Granularity, suite, m.Incremental}
	for _, l := range m.Lookups {
		parts = append(parts, l.Input+"."+l.InputColumn+"->"+l.Column)
	}
	for _, km := range m.Maps {
		parts = append(parts, km.Column+":"+km.SQL)
	}
	for _, e := range m.Exprs {
		parts = append(parts, e.Input+"="+e.Expr)
	}
	return lake.HashStrings(parts...)
}

// parseLookup reads "layer.table.column -> column".
func parseLookup(val string) (Lookup, error) {
	from, to, ok := strings.Cut(val, "->")
	from, to = strings.TrimSpace(from), strings.TrimSpace(to)
	i := strings.LastIndex(from, ".")
	if !ok || i < 0 || !validName.MatchString(from[:i]) || !validIdent.MatchString(from[i+1:]) || !validIdent.MatchString(to) {
		return Lookup{}, fmt.Errorf("incremental_lookup %q must read layer.table.column -> column", val)
	}
	return Lookup{Input: from[:i], InputColumn: from[i+1:], Column: to}, nil
}

// Inputs returns the distinct tables the model reads, sorted.
func (m *Model) Inputs() []string {
	seen := map[string]bool{}
	var out []string
	for _, r := range m.Refs {
		if !seen[r.Name] {
			seen[r.Name] = true
			out = append(out, r.Name)
		}
	}
	sort.Strings(out)
	return out
}

// LoadModels reads the embedded models and, when projectDir is not empty,
// the models under projectDir/models/<layer>/*.sql, which add to or replace
// embedded ones of the same name.
func LoadModels(projectDir string) ([]*Model, error) {
	byName := map[string]*Model{}
	if err := loadFS(embedded, "models", "models", byName); err != nil {
		return nil, err
	}
	if projectDir != "" {
		if _, err := os.Stat(projectDir); err != nil {
			return nil, fmt.Errorf("project: %w", err)
		}
		// A project may have only suites: no models/ directory is fine.
		dir := filepath.Join(projectDir, "models")
		if _, err := os.Stat(dir); err == nil {
			if err := loadFS(os.DirFS(dir), ".", dir, byName); err != nil {
				return nil, err
			}
		}
	}
	out := make([]*Model, 0, len(byName))
	for _, m := range byName {
		out = append(out, m)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

func loadFS(fsys fs.FS, root, display string, into map[string]*Model) error {
	return fs.WalkDir(fsys, root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() || !strings.HasSuffix(p, ".sql") {
			return nil
		}
		rel := strings.TrimPrefix(strings.TrimPrefix(p, root), "/")
		layer := path.Dir(rel)
		if strings.Contains(layer, "/") || layer == "." {
			return fmt.Errorf("%s: a model must be at models/<layer>/<name>.sql", path.Join(display, rel))
		}
		src, err := fs.ReadFile(fsys, p)
		if err != nil {
			return err
		}
		m, err := ParseModel(layer+"."+strings.TrimSuffix(path.Base(rel), ".sql"), path.Join(display, rel), src)
		if err != nil {
			return err
		}
		into[m.Name] = m
		return nil
	})
}
