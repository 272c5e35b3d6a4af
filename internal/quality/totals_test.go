package quality

import "testing"

// Only aggregates that are totals over rows are taken from kept totals:
// anything else (DISTINCT, FILTER, two aggregates, a ratio) is read.
func TestParseAdditive(t *testing.T) {
	t.Parallel()
	tests := []struct {
		expr, inner, nonNull, wrap string
		ok                         bool
	}{
		{expr: "count(*)", inner: "count(*)", wrap: "%s", ok: true},
		{expr: "CAST((count(*)) AS DOUBLE)", inner: "count(*)", wrap: "CAST((%s) AS DOUBLE)", ok: true},
		{expr: "CAST((sum(price)) AS DOUBLE)", inner: "sum(price)", nonNull: "count(price)", wrap: "CAST((%s) AS DOUBLE)", ok: true},
		{expr: "sum(price + freight_value)", inner: "sum(price + freight_value)", nonNull: "count(price + freight_value)", wrap: "%s", ok: true},
		{expr: "sum(coalesce(x, ')'))", inner: "sum(coalesce(x, ')'))", nonNull: "count(coalesce(x, ')'))", wrap: "%s", ok: true},
		{expr: "CAST((sum(a) + sum(b)) AS DOUBLE)"},
		{expr: "sum(a) + sum(b)"},
		{expr: "sum(a) / count(*)"},
		{expr: "CAST((sum(a)) AS DOUBLE) + CAST((sum(b)) AS DOUBLE)"},
		{expr: "sum(DISTINCT price)"},
		{expr: "sum(price) FILTER (WHERE price > 0)"},
		{expr: "count(DISTINCT order_id)"},
		{expr: "max(price)"},
		{expr: "avg(price)"},
		{expr: "sum()"},
		{expr: "sum(price * (SELECT max(rate) FROM gold.fx))"},
	}
	for _, tc := range tests {
		a, ok := parseAdditive(tc.expr)
		if ok != tc.ok || (ok && (a.inner != tc.inner || a.nonNull != tc.nonNull || a.wrap != tc.wrap)) {
			t.Errorf("%q: %+v %t, want inner %q nonNull %q wrap %q %t", tc.expr, a, ok, tc.inner, tc.nonNull, tc.wrap, tc.ok)
		}
	}
}

// A stored total becomes a typed SQL value; a value this code did not
// write (an edited manifest) is not spliced into SQL.
func TestTotalsSQL(t *testing.T) {
	t.Parallel()
	tot := Totals{
		"table:sum(price)": "DECIMAL(38,2)=11609370.50",
		"table:count(*)":   "BIGINT=97535",
		"built:sum(x)":     "HUGEINT",
		"table:bad":        "BIGINT); DROP TABLE x; --=1",
		"table:quote":      "VARCHAR=it's",
	}
	for key, want := range map[string]string{
		"table:sum(price)": "CAST('11609370.50' AS DECIMAL(38,2))",
		"table:count(*)":   "CAST('97535' AS BIGINT)",
		"built:sum(x)":     "CAST(NULL AS HUGEINT)",
		"table:quote":      "CAST('it''s' AS VARCHAR)",
		"table:bad":        "",
		"table:missing":    "",
	} {
		got, ok := tot.sql(key)
		if got != want || ok != (want != "") {
			t.Errorf("%s: %q %t, want %q", key, got, ok, want)
		}
	}
}

// Only exact sums are kept: a DOUBLE total taken as total − replaced +
// added would drift from a read of the table.
func TestExactTotalTypes(t *testing.T) {
	t.Parallel()
	for typ, want := range map[string]bool{
		"BIGINT": true, "HUGEINT": true, "UBIGINT": true, "INTEGER": true, "DECIMAL(38,2)": true, "DECIMAL(18, 4)": true,
		"DOUBLE": false, "FLOAT": false, "VARCHAR": false, "DECIMAL": false, "INTERVAL": false,
	} {
		if got := exactType.MatchString(typ); got != want {
			t.Errorf("%s: exact %t, want %t", typ, got, want)
		}
	}
}
