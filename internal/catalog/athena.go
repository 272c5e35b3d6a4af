package catalog

import (
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/keystone/nexus/internal/engine"
	"github.com/keystone/nexus/internal/lake"
)

// AthenaType maps a DuckDB type, as a manifest records it, to the Hive DDL
// type Athena reads the Parquet column as (docs/athena.md says why each).
// A type Athena cannot read is an error naming it.
func AthenaType(duck string) (string, error) {
	t := strings.TrimSpace(duck)
	if inner, ok := strings.CutSuffix(t, "[]"); ok {
		e, err := AthenaType(inner)
		if err != nil {
			return "", err
		}
		return "array<" + e + ">", nil
	}
	if m := decimalRE.FindStringSubmatch(t); m != nil {
		p, _ := strconv.Atoi(m[1]) // the pattern's digits
		if p > 38 {
			return "", fmt.Errorf("type %s: Athena's DECIMAL has at most 38 digits", duck)
		}
		return fmt.Sprintf("decimal(%s,%s)", m[1], m[2]), nil
	}
	if inner, ok := strings.CutPrefix(t, "STRUCT("); ok && strings.HasSuffix(inner, ")") {
		fields, err := splitFields(strings.TrimSuffix(inner, ")"))
		if err != nil {
			return "", fmt.Errorf("type %s: %w", duck, err)
		}
		var parts []string
		for _, f := range fields {
			name, ft, ok := strings.Cut(strings.TrimSpace(f), " ")
			if !ok {
				return "", fmt.Errorf("type %s: field %q has no type", duck, f)
			}
			at, err := AthenaType(ft)
			if err != nil {
				return "", err
			}
			parts = append(parts, strings.Trim(name, `"`)+":"+at)
		}
		return "struct<" + strings.Join(parts, ",") + ">", nil
	}
	switch t {
	case "VARCHAR":
		return "string", nil
	case "BOOLEAN":
		return "boolean", nil
	case "TINYINT":
		return "tinyint", nil
	case "SMALLINT":
		return "smallint", nil
	case "INTEGER":
		return "int", nil
	case "BIGINT":
		return "bigint", nil
	case "FLOAT":
		return "float", nil
	case "DOUBLE":
		return "double", nil
	case "DATE":
		return "date", nil
	case "TIMESTAMP", "TIMESTAMP WITH TIME ZONE":
		// Both are Parquet INT64 microseconds; WITH TIME ZONE is stored as
		// UTC (isAdjustedToUTC). Hive DDL has no zoned timestamp: Athena
		// reads the UTC instant.
		return "timestamp", nil
	}
	return "", fmt.Errorf("type %s: no Athena type reads it (use one of the types docs/athena.md lists)", duck)
}

var decimalRE = regexp.MustCompile(`^DECIMAL\((\d+),\s*(\d+)\)$`)

// splitFields splits a STRUCT's field list at its top-level commas.
func splitFields(s string) ([]string, error) {
	var out []string
	depth, start := 0, 0
	for i, c := range s {
		switch c {
		case '(':
			depth++
		case ')':
			depth--
			if depth < 0 {
				return nil, fmt.Errorf("unbalanced parentheses")
			}
		case ',':
			if depth == 0 {
				out = append(out, s[start:i])
				start = i + 1
			}
		}
	}
	if depth != 0 {
		return nil, fmt.Errorf("unbalanced parentheses")
	}
	return append(out, s[start:]), nil
}

// TableDDL is what the DDL of one table is made of.
type TableDDL struct {
	Database string
	Manifest *lake.Manifest
	// Location is the lake's s3:// root (s3://bucket/prefix).
	Location string
	// Doc is the table's description; ColumnDocs its columns' (by name).
	Doc        string
	ColumnDocs map[string]string
	// Partitions: the partition columns' values in the table (from its
	// files' paths), for the projection ranges.
	Partitions map[string][]int
}

// AthenaName is the Athena table of a lake table: layer_table.
func AthenaName(m *lake.Manifest) string { return m.Layer + "_" + m.Table }

// quote makes a SQL string literal (the same quoting as DuckDB's).
func quote(s string) string { return engine.Literal(s) }

// AthenaDDL writes the CREATE EXTERNAL TABLE statement of a table. Its
// files may sit in several version directories (an append carries the
// files of earlier versions), so the table reads them through symlink
// manifests (SymlinkTextInputFormat, as Delta Lake's for Presto and
// Athena): the version's manifest directory lists exactly its files, and a
// commit moves the table to its new directory. Partitions are projected
// (no MSCK REPAIR, no partition in Glue).
func AthenaDDL(t TableDDL) (string, error) {
	props, cols, parts, loc, err := athenaParts(t)
	if err != nil {
		return "", err
	}
	lines := func(cs []column) string {
		var out []string
		for _, c := range cs {
			l := fmt.Sprintf("  `%s` %s", c.name, c.typ)
			if c.doc != "" {
				l += " COMMENT " + quote(c.doc)
			}
			out = append(out, l)
		}
		return strings.Join(out, ",\n")
	}
	m := t.Manifest
	var b strings.Builder
	fmt.Fprintf(&b, "CREATE EXTERNAL TABLE IF NOT EXISTS `%s`.`%s` (\n%s\n)\n", t.Database, AthenaName(m), lines(cols))
	if t.Doc != "" {
		fmt.Fprintf(&b, "COMMENT %s\n", quote(t.Doc))
	}
	if len(parts) > 0 {
		fmt.Fprintf(&b, "PARTITIONED BY (\n%s\n)\n", lines(parts))
	}
	fmt.Fprintf(&b, "ROW FORMAT SERDE %s\n", quote(parquetSerDe))
	fmt.Fprintf(&b, "STORED AS INPUTFORMAT %s\n", quote(symlinkInput))
	fmt.Fprintf(&b, "OUTPUTFORMAT %s\n", quote(ignoreKeyOutput))
	fmt.Fprintf(&b, "LOCATION %s\n", quote(loc))
	var kv []string
	for _, p := range props {
		kv = append(kv, "  "+quote(p[0])+"="+quote(p[1]))
	}
	fmt.Fprintf(&b, "TBLPROPERTIES (\n%s\n);\n", strings.Join(kv, ",\n"))
	return b.String(), nil
}

// column is a column of the Athena table: name, Hive type, comment.
type column struct{ name, typ, doc string }

// athenaParts is what the DDL and the Glue table of a lake table are made
// of: its properties, columns, partition columns and location.
func athenaParts(t TableDDL) (props [][2]string, cols, parts []column, loc string, err error) {
	m := t.Manifest
	part := map[string]bool{}
	for _, p := range m.PartitionBy {
		part[p] = true
	}
	partCol := map[string]column{}
	for _, c := range m.Schema {
		at, err := AthenaType(c.Type)
		if err != nil {
			return nil, nil, nil, "", fmt.Errorf("%s.%s column %s: %w", m.Layer, m.Table, c.Name, err)
		}
		col := column{c.Name, at, t.ColumnDocs[c.Name]}
		if part[c.Name] {
			partCol[c.Name] = col
		} else {
			cols = append(cols, col)
		}
	}
	// A partition column is in the files' paths, not in the files (the
	// hive-partitioned files carry it in their directory names), in the
	// order of the paths.
	for _, p := range m.PartitionBy {
		c, ok := partCol[p]
		if !ok {
			c = column{p, "int", ""}
		}
		parts = append(parts, c)
	}
	loc = strings.TrimSuffix(t.Location, "/") + "/" + lake.AthenaManifestDir(m) + "/"
	props = [][2]string{{"nexus.table", m.Layer + "." + m.Table}, {versionParameter, strconv.FormatInt(m.Version, 10)}}
	if len(m.PartitionBy) > 0 {
		props = append(props, [2]string{"projection.enabled", "true"})
		var tmpl []string
		for _, p := range m.PartitionBy {
			vals := t.Partitions[p]
			if len(vals) == 0 {
				return nil, nil, nil, "", fmt.Errorf("%s.%s: no value of partition column %s in its files", m.Layer, m.Table, p)
			}
			lo, hi := vals[0], vals[len(vals)-1]
			// A month or a day has its calendar's range, so that a new one
			// needs no new DDL; a year has the data's.
			switch p {
			case "month":
				lo, hi = 1, 12
			case "day":
				lo, hi = 1, 31
			}
			props = append(props, [2]string{"projection." + p + ".type", "integer"},
				[2]string{"projection." + p + ".range", fmt.Sprintf("%d,%d", lo, hi)})
			tmpl = append(tmpl, p+"=${"+p+"}")
		}
		props = append(props, [2]string{"storage.location.template", loc + strings.Join(tmpl, "/") + "/"})
	}
	return props, cols, parts, loc, nil
}

// PartitionValues reads the partition columns' values from a table's file
// paths (…/year=2017/month=3/part-0.parquet), sorted.
func PartitionValues(m *lake.Manifest) (map[string][]int, error) {
	seen := map[string]map[int]bool{}
	for _, f := range m.Files {
		for _, k := range m.PartitionBy {
			v, ok := f.Partition(k)
			if !ok {
				continue
			}
			n, err := strconv.Atoi(v)
			if err != nil {
				return nil, fmt.Errorf("%s: partition %s=%q is not an integer", f.Path, k, v)
			}
			if seen[k] == nil {
				seen[k] = map[int]bool{}
			}
			seen[k][n] = true
		}
	}
	out := map[string][]int{}
	for k, vs := range seen {
		for v := range vs {
			out[k] = append(out[k], v)
		}
		sort.Ints(out[k])
	}
	return out, nil
}

func contains(list []string, s string) bool { return slices.Contains(list, s) }
