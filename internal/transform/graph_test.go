package transform

import (
	"context"
	"reflect"
	"strings"
	"testing"

	"github.com/keystone/nexus/internal/engine"
)

func mustParse(t *testing.T, name, src string) *Model {
	t.Helper()
	m, err := ParseModel(name, "models/"+strings.Replace(name, ".", "/", 1)+".sql", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestParseModel(t *testing.T) {
	t.Parallel()
	m := mustParse(t, "silver.orders", `-- description: One row per order.
-- materialized: table
-- partition_by: purchase_date
-- key: order_id
-- column order_id: The order.
-- column purchase_date: Local business date.

SELECT o.order_id, o.purchase_date
FROM source('bronze.orders') o
JOIN ref('silver.customers') c USING (customer_id)
JOIN source('bronze', 'sellers') s ON true
`)
	if m.Description != "One row per order." || m.PartitionBy != "purchase_date" || m.Granularity != DefaultGranularity ||
		!reflect.DeepEqual(m.Key, []string{"order_id"}) || len(m.Columns) != 2 || m.Columns[1].Name != "purchase_date" {
		t.Errorf("header parsed as %+v", m)
	}
	want := []Ref{{"source", "bronze.orders", 9}, {"ref", "silver.customers", 10}, {"source", "bronze.sellers", 11}}
	if !reflect.DeepEqual(m.Refs, want) {
		t.Errorf("refs = %v, want %v", m.Refs, want)
	}
	if got := m.Compiled(); !strings.Contains(got, `FROM "bronze"."orders" o`) || !strings.Contains(got, `JOIN "silver"."customers" c`) ||
		!strings.Contains(got, `JOIN "bronze"."sellers" s`) || strings.Count(got, "\n") != strings.Count(m.SQL, "\n") {
		t.Errorf("compiled = %s", got)
	}
}

func TestParseModelErrors(t *testing.T) {
	t.Parallel()
	tests := []struct{ name, src, want string }{
		{"silver.a", "-- materialised: table\nSELECT 1", "models/silver/a.sql:1: unknown header key \"materialised\""},
		{"silver.a", "-- granularity: week\n-- partition_by: d\nSELECT 1", "models/silver/a.sql:1: granularity \"week\""},
		{"silver.a", "-- description: nothing\n", "no SQL after the header"},
		{"silver.a", "SELECT * FROM ref('orders')", "models/silver/a.sql:1: ref('orders') must name layer.table"},
		{"Silver.A", "SELECT 1", "must be layer.table in lower case"},
		{"gold.a", "-- incremental: m\n-- incremental_expr: gold.f\nSELECT 1 FROM ref('gold.f')", "models/gold/a.sql:2: incremental_expr \"gold.f\" must read layer.table: <expression"},
		{"gold.a", "-- incremental: m\n-- incremental_expr: gold.f:\nSELECT 1 FROM ref('gold.f')", "models/gold/a.sql:2: incremental_expr"},
		{"gold.a", "-- incremental: m\n-- incremental_expr: gold.g: d\nSELECT 1 FROM ref('gold.f')", "models/gold/a.sql:2: incremental_expr names gold.g, which the model's SQL does not read"},
		{"gold.a", "-- description: x\n-- incremental_expr: gold.f: d\nSELECT 1 FROM ref('gold.f')", "models/gold/a.sql:2: incremental_lookup, incremental_map or incremental_expr without incremental"},
		{"gold.a", "-- incremental: m\n-- incremental_expr: gold.f: d\n-- incremental_expr: gold.f: e\nSELECT 1 FROM ref('gold.f')", "models/gold/a.sql:3: incremental_expr for gold.f given twice"},
		{"gold.a", "-- incremental: m\n-- incremental_expr: gold.f: d\n-- incremental_lookup: gold.f.x -> m\nSELECT 1 FROM ref('gold.f')", "models/gold/a.sql:3: gold.f has an incremental_expr (line 2) and an incremental_lookup"},
		{"gold.a", "-- incremental: m\n-- incremental_map: x: SELECT x, m FROM ref('gold.g')\nSELECT 1 FROM ref('gold.f')", "models/gold/a.sql:2: incremental_map reads gold.g, which the model's SQL does not"},
		{"gold.a", "-- description: x\n-- incremental: m\n-- incremental_lookup: gold.g.x -> m\nSELECT 1 FROM ref('gold.f')", "models/gold/a.sql:3: incremental_lookup names gold.g"},
		{"gold.a", "-- description: x\n-- granularity: day\nSELECT 1", "models/gold/a.sql:2: granularity without partition_by"},
	}
	for _, tc := range tests {
		_, err := ParseModel(tc.name, "models/"+strings.Replace(strings.ToLower(tc.name), ".", "/", 1)+".sql", []byte(tc.src))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: err = %v, want %q", tc.src, err, tc.want)
		}
	}
}

func TestGraph(t *testing.T) {
	t.Parallel()
	sources := []string{"bronze.orders", "bronze.items"}
	a := mustParse(t, "silver.orders", "SELECT * FROM source('bronze.orders')")
	b := mustParse(t, "silver.items", "SELECT * FROM source('bronze.items')")
	c := mustParse(t, "gold.fact", "SELECT *\nFROM ref('silver.items')\nJOIN ref('silver.orders') USING (order_id)")
	d := mustParse(t, "gold.mart", "SELECT * FROM ref('gold.fact')")
	g, err := NewGraph([]*Model{d, c, b, a}, sources)
	if err != nil {
		t.Fatal(err)
	}
	pos := map[string]int{}
	for i, n := range g.Order {
		pos[n] = i
	}
	if len(g.Order) != 4 || pos["gold.fact"] < pos["silver.items"] || pos["gold.fact"] < pos["silver.orders"] || pos["gold.mart"] < pos["gold.fact"] {
		t.Errorf("order = %v", g.Order)
	}
	if got := g.Downstream("silver.orders"); !reflect.DeepEqual(got, []string{"gold.fact", "gold.mart"}) {
		t.Errorf("downstream = %v", got)
	}
	if got := g.Upstream("gold.mart"); !reflect.DeepEqual(got, []string{"bronze.items", "bronze.orders", "silver.items", "silver.orders", "gold.fact"}) {
		t.Errorf("upstream = %v", got)
	}

	cyc1 := mustParse(t, "gold.x", "SELECT *\nFROM ref('gold.y')")
	cyc2 := mustParse(t, "gold.y", "SELECT * FROM ref('gold.x')")
	if _, err := NewGraph([]*Model{cyc1, cyc2}, sources); err == nil || !strings.Contains(err.Error(), "dependency cycle") ||
		!strings.Contains(err.Error(), "gold.x → gold.y → gold.x") && !strings.Contains(err.Error(), "gold.y → gold.x → gold.y") {
		t.Errorf("cycle error = %v", err)
	}
	unknown := mustParse(t, "gold.z", "SELECT 1\nFROM ref('silver.nope')")
	if _, err := NewGraph([]*Model{unknown}, sources); err == nil || !strings.Contains(err.Error(), "models/gold/z.sql:2: model gold.z: ref('silver.nope') names no model") {
		t.Errorf("unknown ref error = %v", err)
	}
	wrongKind := mustParse(t, "gold.w", "SELECT 1 FROM ref('bronze.orders')")
	if _, err := NewGraph([]*Model{wrongKind}, sources); err == nil || !strings.Contains(err.Error(), "use source('bronze.orders')") {
		t.Errorf("ref to a source error = %v", err)
	}
	badSource := mustParse(t, "gold.v", "SELECT 1 FROM source('bronze.nope')")
	if _, err := NewGraph([]*Model{badSource}, sources); err == nil || !strings.Contains(err.Error(), "not a known source table") {
		t.Errorf("unknown source error = %v", err)
	}
}

func TestColumnLineage(t *testing.T) {
	t.Parallel()
	eng, err := engine.Open(context.Background(), nil, engine.Options{Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	items := mustParse(t, "silver.items", `SELECT order_id, price AS item_price, price + freight_value AS total, * EXCLUDE (price, freight_value)
FROM source('bronze.items')`)
	fact := mustParse(t, "gold.fact", `WITH pay AS (
  SELECT order_id, sum(payment_value) AS paid FROM source('bronze.payments') GROUP BY 1
)
SELECT i.order_id, i.item_price, round(p.paid * i.total / sum(i.total) OVER (PARTITION BY i.order_id), 2) AS allocated,
       (SELECT max(o.status) FROM source('bronze.orders') o WHERE o.order_id = i.order_id) AS status
FROM ref('silver.items') i LEFT JOIN pay p ON p.order_id = i.order_id`)
	g, err := NewGraph([]*Model{items, fact}, []string{"bronze.items", "bronze.payments", "bronze.orders"})
	if err != nil {
		t.Fatal(err)
	}
	l, err := BuildLineage(context.Background(), eng.DB(), g, Schemas{
		"bronze.items":    {"order_id", "price", "freight_value", "seller_id"},
		"bronze.payments": {"order_id", "payment_value"},
		"bronze.orders":   {"order_id", "status"},
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []ColumnLineage{
		{Column: "order_id", Direct: true, Sources: []string{"silver.items.order_id"}},
		{Column: "item_price", Direct: true, Sources: []string{"silver.items.item_price"}},
		{Column: "allocated", Sources: []string{"bronze.payments.payment_value", "silver.items.order_id", "silver.items.total"}},
		{Column: "status", Sources: []string{"bronze.orders.status"}}, // the value, not the filter
	}
	if got := l.Columns["gold.fact"]; !reflect.DeepEqual(got, want) {
		t.Errorf("gold.fact lineage\n got %+v\nwant %+v", got, want)
	}
	if got := l.Columns["silver.items"]; len(got) != 5 || got[3].Column != "order_id" || got[4].Column != "seller_id" {
		t.Errorf("silver.items lineage (with * EXCLUDE) = %+v", got)
	}
	tr, err := l.Trace("gold.fact.allocated")
	if err != nil {
		t.Fatal(err)
	}
	var sb strings.Builder
	if err := WriteTrace(&sb, "text", tr); err != nil {
		t.Fatal(err)
	}
	wantText := `gold.fact.allocated  (computed)
  ← bronze.payments.payment_value
  ← silver.items.order_id  (copied)
    ← bronze.items.order_id
  ← silver.items.total  (computed)
    ← bronze.items.freight_value
    ← bronze.items.price
`
	if sb.String() != wantText {
		t.Errorf("trace text:\n%s\nwant:\n%s", sb.String(), wantText)
	}
}
