package catalog

import (
	"flag"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/keystone/nexus/internal/lake"
)

var update = flag.Bool("update", false, "rewrite the golden files")

func TestAthenaType(t *testing.T) {
	for _, tc := range []struct{ duck, athena, err string }{
		{"VARCHAR", "string", ""},
		{"INTEGER", "int", ""},
		{"BIGINT", "bigint", ""},
		{"DOUBLE", "double", ""},
		{"BOOLEAN", "boolean", ""},
		{"DATE", "date", ""},
		{"DECIMAL(12,2)", "decimal(12,2)", ""},
		{"DECIMAL(38, 4)", "decimal(38,4)", ""},
		{"TIMESTAMP", "timestamp", ""},
		{"TIMESTAMP WITH TIME ZONE", "timestamp", ""},
		{"VARCHAR[]", "array<string>", ""},
		{"STRUCT(check_id VARCHAR, reason VARCHAR, quarantine BOOLEAN)[]", "array<struct<check_id:string,reason:string,quarantine:boolean>>", ""},
		{"STRUCT(a DECIMAL(9,2), b STRUCT(c INTEGER))", "struct<a:decimal(9,2),b:struct<c:int>>", ""},
		{"HUGEINT", "", "no Athena type"},
		{"UBIGINT", "", "no Athena type"},
		{"DECIMAL(40,2)", "", "at most 38"},
		{"STRUCT(a INTEGER", "", "no Athena type"},
	} {
		got, err := AthenaType(tc.duck)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s: %q %v, want an error with %q", tc.duck, got, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.athena {
			t.Errorf("%s: %q %v, want %q", tc.duck, got, err, tc.athena)
		}
	}
}

// The DDL of a partitioned and of a plain table, against golden files.
func TestAthenaDDL(t *testing.T) {
	fact := &lake.Manifest{Layer: "gold", Table: "fact_sales", Version: 12, Dir: "gold/fact_sales/v000012-r", PartitionBy: []string{"year", "month"},
		Schema: []lake.Column{{Name: "order_id", Type: "VARCHAR"}, {Name: "price", Type: "DECIMAL(12,2)"},
			{Name: "quality_flags", Type: "VARCHAR[]"}, {Name: "month", Type: "BIGINT"}, {Name: "year", Type: "BIGINT"}},
		Files: []lake.File{{Path: "gold/fact_sales/v000012-r/year=2017/month=1/part-0.parquet"},
			{Path: "gold/fact_sales/v000009-r/year=2016/month=10/part-0.parquet"},
			{Path: "gold/fact_sales/v000012-r/year=2018/month=8/part-0.parquet"}}}
	dim := &lake.Manifest{Layer: "silver", Table: "orders", Version: 3, Dir: "silver/orders/v000003-r",
		Schema: []lake.Column{{Name: "order_id", Type: "VARCHAR"}, {Name: "purchased_at", Type: "TIMESTAMP WITH TIME ZONE"}},
		Files:  []lake.File{{Path: "silver/orders/v000003-r/part-0.parquet"}}}
	for name, m := range map[string]*lake.Manifest{"fact_sales": fact, "orders": dim} {
		parts, err := PartitionValues(m)
		if err != nil {
			t.Fatal(err)
		}
		ddl, err := AthenaDDL(TableDDL{Database: "nexus", Manifest: m, Location: "s3://bucket/olist", Doc: "The table's doc, with a 'quote'.",
			ColumnDocs: map[string]string{"order_id": "Order id."}, Partitions: parts})
		if err != nil {
			t.Fatal(err)
		}
		var b strings.Builder
		b.WriteString(ddl)
		b.WriteString("\n-- symlink manifests\n")
		manifests := lake.AthenaManifests(m, "s3://bucket/olist")
		var keys []string
		for k := range manifests {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			b.WriteString("-- " + k + "\n" + string(manifests[k]))
		}
		golden := filepath.Join("testdata", name+".ddl")
		if *update {
			if err := os.WriteFile(golden, []byte(b.String()), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		want, err := os.ReadFile(golden)
		if err != nil {
			t.Fatal(err)
		}
		if b.String() != string(want) {
			t.Errorf("%s:\n%s\nwant (%s):\n%s", name, b.String(), golden, want)
		}
	}
	// A DuckDB-only type is refused, naming the column.
	bad := &lake.Manifest{Layer: "gold", Table: "x", Schema: []lake.Column{{Name: "n", Type: "HUGEINT"}}}
	if _, err := AthenaDDL(TableDDL{Database: "nexus", Manifest: bad, Location: "s3://b/p"}); err == nil || !strings.Contains(err.Error(), "gold.x column n") {
		t.Errorf("a HUGEINT column: %v", err)
	}
}

func TestParseBytes(t *testing.T) {
	for in, want := range map[string]int64{"1GB": 1e9, "500MB": 5e8, "10kB": 1e4, "1.5TB": 15e11, "42": 42, " 2 gb ": 2e9} {
		if got, err := ParseBytes(in); err != nil || got != want {
			t.Errorf("%q: %d %v, want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "GB", "-1MB", "1PB", "ten"} {
		if _, err := ParseBytes(in); err == nil {
			t.Errorf("%q: no error", in)
		}
	}
}
