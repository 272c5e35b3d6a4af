package catalog

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/keystone/nexus/internal/engine"
	"github.com/keystone/nexus/internal/lake"
)

// Athena's price: US$5 per TB scanned (decimal units), each query billed
// at least 10 MB, rounded up to the megabyte.
// The cost slide of the deck prices its scenarios with the same figures.
const (
	AthenaUSDPerTB  = 5.0
	AthenaMinBilled = 10_000_000
	athenaRounding  = 1_000_000
)

// TableScan is what one table scan of a query reads.
type TableScan struct {
	Table      string // layer.table
	Columns    []string
	Files      int // files left after partition pruning
	FilesTotal int
	Bytes      int64 // compressed bytes of the columns' chunks in those files
	// UpperBound: the engine prunes some files and the estimate counts the
	// largest of them (it cannot tell which).
	UpperBound bool
}

// ScanEstimate is what Athena would scan, and bill, for a query.
type ScanEstimate struct {
	Scans  []TableScan
	Bytes  int64
	Billed int64
	USD    float64
}

// Estimate says, without running it, how many bytes Athena would scan for
// a query on the lake: the columns each table scan reads (DuckDB's plan of
// the same query), in the files left after partition pruning, summed from
// the Parquet footers (the column chunks' compressed sizes, which is what
// a columnar engine fetches from S3). db is a session with the lake's views.
func Estimate(ctx context.Context, db *sql.DB, lk *lake.Lake, tables []*lake.Manifest, query string) (*ScanEstimate, error) {
	return estimate(ctx, db, lk, tables, query, footers{})
}

// footers are the column bytes of the tables' files (columnBytes), by
// table: read once for the statements estimated together.
type footers map[string]map[string]map[string]int64

func estimate(ctx context.Context, db *sql.DB, lk *lake.Lake, tables []*lake.Manifest, query string, colBytes footers) (*ScanEstimate, error) {
	named, err := referencedTables(ctx, db, query)
	if err != nil {
		return nil, err
	}
	var read []*lake.Manifest // the lake's tables the query names; a scan's label is its index
	for _, m := range tables {
		if named[m.Layer+"."+m.Table] {
			read = append(read, m)
		}
	}
	nodes, err := planAsAthena(ctx, db, lk, read, query)
	if err != nil {
		return nil, err
	}
	var scans []planNode
	var walk func(n planNode)
	walk = func(n planNode) {
		if n.Name == "READ_PARQUET" || n.Info.string("Function") == "READ_PARQUET" {
			scans = append(scans, n)
		}
		for _, c := range n.Children {
			walk(c)
		}
	}
	for _, n := range nodes {
		walk(n)
	}
	est := &ScanEstimate{}
	for _, n := range scans {
		var m *lake.Manifest
		var filters []string
		for _, f := range splitList(n.Info.string("Filters")) {
			if i, ok := scanLabel(f); ok && i < len(read) {
				m = read[i]
				continue
			}
			filters = append(filters, f)
		}
		var used []string
		for _, c := range append(splitList(n.Info.string("Projections")), filterColumns(strings.Join(filters, "\n"))...) {
			if !contains(used, c) {
				used = append(used, c)
			}
		}
		scanned, total := -1, -1
		if k, t, ok := strings.Cut(n.Info.string("Scanning Files"), "/"); ok {
			scanned, _ = strconv.Atoi(strings.TrimSpace(k))
			total, _ = strconv.Atoi(strings.TrimSpace(t))
		}
		if m == nil || total >= 0 && total != len(m.Files) {
			return nil, fmt.Errorf("estimate: a scan of %d file(s) reading %s is of no table of the lake the query names", total, strings.Join(used, ", "))
		}
		name := m.Layer + "." + m.Table
		if colBytes[name] == nil {
			cb, err := columnBytes(ctx, db, lk, m)
			if err != nil {
				return nil, err
			}
			colBytes[name] = cb
		}
		ts := scanOf(name, used, colBytes[name], len(m.Files), scanned)
		if ts.UpperBound {
			// The files the partition filters keep, when they can be
			// evaluated here: then the estimate is exact.
			if kept, err := prunedFiles(ctx, db, lk, m, n.Info.string("File Filters")); err == nil && len(kept) == scanned {
				ts = TableScan{Table: name, Columns: used, FilesTotal: len(m.Files), Files: len(kept)}
				for _, f := range kept {
					for _, c := range used {
						ts.Bytes += colBytes[name][f][c]
					}
				}
			}
		}
		est.Scans = append(est.Scans, ts)
		est.Bytes += ts.Bytes
	}
	est.Billed = AthenaBilled(float64(est.Bytes))
	est.USD = float64(est.Billed) / 1e12 * AthenaUSDPerTB
	return est, nil
}

// scanLabel is the index in a filter of a scan that planAsAthena labelled
// ("(file_row_number NOT IN (3))"), and whether it is one.
func scanLabel(filter string) (int, bool) {
	m := labelFilter.FindStringSubmatch(filter)
	if m == nil {
		return 0, false
	}
	i, err := strconv.Atoi(m[1])
	return i, err == nil
}

var labelFilter = regexp.MustCompile(`^\(?` + engine.PosColumn + ` NOT IN \((\d+)\)\)?$`)

// planAsAthena is DuckDB's plan of query on views that read each lake
// table it names (read) as Athena reads it: one scan of all the files its
// manifest lists. The session's own views read each file with deleted rows
// (File.Deleted, after an incremental build) on its own, to skip them,
// which splits a table into several scans that each look like the whole
// table (a table was listed once per such file, and a partition filter
// matched no table); Athena knows no deleted rows and reads the files
// whole. Each view's scan carries a label, a filter on the row position
// that names its table by its index in read (the plan is never run): a
// scan's columns alone do not tell two tables that share them (a fact and
// its dimension, joined on product_id). The views are in an in-memory
// database attached for the plan and used by one connection only, so the
// session's own views are untouched; the connection goes back to them, or
// is dropped.
func planAsAthena(ctx context.Context, db *sql.DB, lk *lake.Lake, read []*lake.Manifest, query string) (nodes []planNode, err error) {
	conn, err := db.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("estimate: a connection: %w", err)
	}
	defer func() { err = errors.Join(err, conn.Close()) }()
	var home string
	if err := conn.QueryRowContext(ctx, "SELECT current_database()").Scan(&home); err != nil {
		return nil, fmt.Errorf("estimate: the session's database: %w", err)
	}
	// A name of its own: two estimates on one session may overlap.
	name := fmt.Sprintf("nexus_estimate_%016x", rand.Uint64())
	if _, err := conn.ExecContext(ctx, "ATTACH ':memory:' AS "+engine.Ident(name)); err != nil {
		return nil, fmt.Errorf("estimate: a database for the plan: %w", err)
	}
	defer func() {
		// Even when ctx is cancelled: the connection goes back to the pool.
		bg := context.WithoutCancel(ctx)
		_, rerr := conn.ExecContext(bg, "RESET SESSION late_materialization_max_rows")
		_, uerr := conn.ExecContext(bg, "USE "+engine.Ident(home))
		if uerr == nil {
			if _, derr := conn.ExecContext(bg, "DETACH "+engine.Ident(name)); derr != nil {
				err = errors.Join(err, fmt.Errorf("estimate: detach the plan's database: %w", derr))
			}
		}
		if uerr != nil || rerr != nil {
			// A connection left on the plan's views, or with the plan's
			// setting, must not serve again.
			_ = conn.Raw(func(any) error { return driver.ErrBadConn }) // it always "fails": the point
			err = errors.Join(err, fmt.Errorf("estimate: back to the session's views: %w", errors.Join(uerr, rerr)))
		}
	}()
	// Athena reads a scan's columns once; DuckDB's late materialization
	// (ORDER BY … LIMIT n, SAMPLE n ROWS) plans a second scan of the table,
	// by row id and without the view's label.
	stmts := []string{"USE " + engine.Ident(name), "SET SESSION late_materialization_max_rows = 0"}
	schemas := map[string]bool{}
	for i, m := range read {
		if !schemas[m.Layer] {
			schemas[m.Layer] = true
			stmts = append(stmts, "CREATE SCHEMA "+engine.Ident(m.Layer))
		}
		whole := *m
		whole.Files = make([]lake.File, len(m.Files))
		for j, f := range m.Files {
			f.Deleted = nil
			whole.Files[j] = f
		}
		stmts = append(stmts, fmt.Sprintf("CREATE VIEW %s.%s AS SELECT * EXCLUDE (%s) FROM %s WHERE %s NOT IN (%d)",
			engine.Ident(m.Layer), engine.Ident(m.Table), engine.PosColumn, engine.ReadFilesSQL(lk, &whole, whole.Files, "", true), engine.PosColumn, i))
	}
	for _, st := range stmts {
		if _, err := conn.ExecContext(ctx, st); err != nil {
			return nil, fmt.Errorf("estimate: the views of the plan: %w", err)
		}
	}
	var key, plan string
	if err := conn.QueryRowContext(ctx, "EXPLAIN (FORMAT JSON) "+query).Scan(&key, &plan); err != nil {
		// The plan's database holds the tables the query names and nothing
		// else: the session says what is wrong in the user's terms (a name
		// DuckDB suggests a fix for, a damaged table and what is wrong
		// with it).
		if _, uerr := conn.ExecContext(ctx, "USE "+engine.Ident(home)); uerr == nil {
			if _, serr := conn.ExecContext(ctx, "EXPLAIN "+query); serr != nil {
				return nil, fmt.Errorf("estimate: %w", serr)
			}
		}
		return nil, fmt.Errorf("estimate: plan the query: %w", err)
	}
	if err := json.Unmarshal([]byte(plan), &nodes); err != nil {
		return nil, fmt.Errorf("estimate: read the plan: %w", err)
	}
	return nodes, nil
}

// AthenaBilled is what Athena bills for a query that scans b bytes: at
// least AthenaMinBilled, rounded up to the megabyte.
func AthenaBilled(b float64) int64 {
	return max(AthenaMinBilled, int64(math.Ceil(b/athenaRounding))*athenaRounding)
}

// referencedTables are the lake tables (layer.table) a query names, from
// DuckDB's parse of it.
func referencedTables(ctx context.Context, db *sql.DB, query string) (map[string]bool, error) {
	var v any // the driver gives JSON as decoded values
	if err := db.QueryRowContext(ctx, "SELECT json_serialize_sql(?::VARCHAR)", query).Scan(&v); err != nil {
		return nil, fmt.Errorf("estimate: parse the query: %w", err)
	}
	if s, ok := v.(string); ok {
		if err := json.Unmarshal([]byte(s), &v); err != nil {
			return nil, fmt.Errorf("estimate: parse the query: %w", err)
		}
	}
	if m, ok := v.(map[string]any); ok && m["error"] == true {
		return nil, fmt.Errorf("estimate: the query does not parse: %v", m["error_message"])
	}
	out := map[string]bool{}
	var walk func(x any)
	walk = func(x any) {
		switch t := x.(type) {
		case map[string]any:
			if t["type"] == "BASE_TABLE" {
				// As written; DuckDB matches names case-insensitively, and the
				// lake's are lower case.
				out[strings.ToLower(fmt.Sprint(t["schema_name"])+"."+fmt.Sprint(t["table_name"]))] = true
			}
			for _, c := range t {
				walk(c)
			}
		case []any:
			for _, c := range t {
				walk(c)
			}
		}
	}
	walk(v)
	return out, nil
}

// scanOf is a table scan reading cols in scanned of its files (the
// largest for those columns when the engine pruned some).
func scanOf(table string, cols []string, byFile map[string]map[string]int64, total, scanned int) TableScan {
	ts := TableScan{Table: table, Columns: cols, FilesTotal: total, Files: total}
	per := make([]int64, 0, len(byFile))
	for _, c := range byFile {
		var b int64
		for _, col := range cols {
			b += c[col]
		}
		per = append(per, b)
	}
	sort.Slice(per, func(i, j int) bool { return per[i] > per[j] })
	if scanned >= 0 && scanned < total {
		ts.Files, ts.UpperBound = scanned, true
		per = per[:min(scanned, len(per))]
	}
	for _, b := range per {
		ts.Bytes += b
	}
	return ts
}

// prunedFiles evaluates a scan's partition filters ("(year = 2017)(month =
// 3)") on the partition values of a table's files: the files kept.
func prunedFiles(ctx context.Context, db *sql.DB, lk *lake.Lake, m *lake.Manifest, filters string) ([]string, error) {
	if filters == "" || len(m.PartitionBy) == 0 {
		return nil, fmt.Errorf("no partition filter")
	}
	expr := strings.ReplaceAll(strings.TrimSpace(filters), ")(", ") AND (")
	var rows []string
	abs := lk.AbsFiles(m)
	for i, f := range m.Files {
		vals := []string{quote(abs[i])}
		for _, p := range m.PartitionBy {
			v := "NULL"
			if x, ok := f.Partition(p); ok {
				if _, err := strconv.Atoi(x); err != nil {
					return nil, fmt.Errorf("partition %s=%q", p, x)
				}
				v = x
			}
			vals = append(vals, v)
		}
		rows = append(rows, "("+strings.Join(vals, ", ")+")")
	}
	cols := append([]string{"nexus_file"}, m.PartitionBy...)
	q := fmt.Sprintf("SELECT nexus_file FROM (VALUES %s) t(%s) WHERE %s", strings.Join(rows, ", "), strings.Join(cols, ", "), expr)
	r, err := db.QueryContext(ctx, q)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	var out []string
	for r.Next() {
		var f string
		if err := r.Scan(&f); err != nil {
			return nil, err
		}
		out = append(out, f)
	}
	return out, r.Err()
}

// columnBytes reads the footers of a table's files: per file, per top-level
// column, the compressed bytes of its chunks.
func columnBytes(ctx context.Context, db *sql.DB, lk *lake.Lake, m *lake.Manifest) (map[string]map[string]int64, error) {
	out := map[string]map[string]int64{}
	files := lk.AbsFiles(m)
	if len(files) == 0 {
		return out, nil
	}
	quoted := make([]string, len(files))
	for i, f := range files {
		quoted[i] = quote(f)
		out[f] = map[string]int64{}
	}
	rows, err := db.QueryContext(ctx, `SELECT file_name, split_part(path_in_schema, ', ', 1), sum(total_compressed_size)::BIGINT
		FROM parquet_metadata([`+strings.Join(quoted, ", ")+`]) GROUP BY ALL`)
	if err != nil {
		return nil, fmt.Errorf("estimate: footers of %s.%s: %w", m.Layer, m.Table, err)
	}
	defer rows.Close()
	for rows.Next() {
		var file, col string
		var n int64
		if err := rows.Scan(&file, &col, &n); err != nil {
			return nil, err
		}
		if out[file] == nil {
			out[file] = map[string]int64{}
		}
		out[file][col] += n
	}
	return out, rows.Err()
}

// planNode is a node of DuckDB's JSON plan.
type planNode struct {
	Name     string     `json:"name"`
	Children []planNode `json:"children"`
	Info     planInfo   `json:"extra_info"`
}

// planInfo is a node's extra_info: strings, or lists of strings.
type planInfo map[string]any

func (p planInfo) string(k string) string {
	switch v := p[k].(type) {
	case string:
		return v
	case []any:
		var parts []string
		for _, x := range v {
			parts = append(parts, fmt.Sprint(x))
		}
		return strings.Join(parts, "\n")
	}
	return ""
}

// splitList splits a plan's list of names (one per line).
func splitList(s string) []string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, strings.Trim(l, `"`))
		}
	}
	return out
}

// filterColumns are the column names a plan's pushed-down filters name
// (the first word of each filter: "price>=10.00 AND price IS NOT NULL").
func filterColumns(s string) []string {
	var out []string
	for _, l := range splitList(s) {
		if strings.HasPrefix(l, "optional:") {
			// A Top-N's dynamic filter ("optional: Dynamic Filter (price)"):
			// its column is among the scan's projections.
			continue
		}
		f := strings.FieldsFunc(l, func(r rune) bool {
			return !(r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9')
		})
		if len(f) > 0 && !contains(out, f[0]) {
			out = append(out, f[0])
		}
	}
	return out
}

// ParseBytes reads a size: 1GB, 500MB, 10kB, 1TB, or a number of bytes
// (decimal units, as Athena bills).
func ParseBytes(s string) (int64, error) {
	t := strings.ToUpper(strings.TrimSpace(s))
	mult := int64(1)
	for _, u := range []struct {
		suffix string
		m      int64
	}{{"TB", 1e12}, {"GB", 1e9}, {"MB", 1e6}, {"KB", 1e3}, {"B", 1}} {
		if strings.HasSuffix(t, u.suffix) {
			t, mult = strings.TrimSpace(strings.TrimSuffix(t, u.suffix)), u.m
			break
		}
	}
	f, err := strconv.ParseFloat(t, 64)
	if err != nil || f < 0 {
		return 0, fmt.Errorf("%q is not a size (e.g. 500MB, 1GB)", s)
	}
	return int64(f * float64(mult)), nil
}
