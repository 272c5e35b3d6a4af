package transform

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/keystone/nexus/internal/engine"
)

// A map's rows of the changed values: filtered inside its own SELECT when
// that is a plain one whose first column is the map's, else from outside;
// the same rows either way.
func TestKeyMapSelect(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	eng, err := engine.Open(ctx, nil, engine.Options{Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	for _, stmt := range []string{
		`CREATE SCHEMA silver`,
		`CREATE TABLE silver.customers AS SELECT * FROM (VALUES ('c1', 'p1'), ('c2', 'p1'), ('c3', 'p2'), ('c4', NULL)) t(customer_id, customer_unique_id)`,
		`CREATE TABLE silver.orders AS SELECT * FROM (VALUES ('o1', 'c1'), ('o2', 'c2'), ('o3', 'c3'), ('o4', 'c4'), ('o5', 'c9')) t(order_id, customer_id)`,
		`CREATE TABLE changed AS SELECT * FROM (VALUES ('o1'), ('o3'), ('o5'), (NULL)) t(order_id)`,
	} {
		if _, err := eng.DB().ExecContext(ctx, stmt); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name, sql string
		inside    bool
		want      string
	}{
		{"join, qualified first column", "SELECT o.order_id, c.customer_unique_id FROM ref('silver.orders') AS o JOIN ref('silver.customers') AS c USING (customer_id)", true, "p1,p2"},
		{"one table", "SELECT order_id, customer_id FROM ref('silver.orders')", true, "c1,c3,c9"},
		{"left join", "SELECT o.order_id, c.customer_unique_id FROM ref('silver.orders') o LEFT JOIN ref('silver.customers') c ON c.customer_id = o.customer_id", true, "NULL,p1,p2"},
		{"first column is another", "SELECT c.customer_unique_id, o.order_id FROM ref('silver.orders') AS o JOIN ref('silver.customers') AS c USING (customer_id)", false, ""},
		{"an expression", "SELECT upper(o.order_id) AS order_id, o.customer_id FROM ref('silver.orders') o", false, ""},
		{"its own WHERE", "SELECT order_id, customer_id FROM ref('silver.orders') WHERE customer_id <> 'c3'", false, "c1,c9"},
		{"grouped", "SELECT order_id, max(customer_id) FROM ref('silver.orders') GROUP BY order_id", false, "c1,c3,c9"},
		{"DISTINCT", "SELECT DISTINCT order_id, customer_id FROM ref('silver.orders')", false, "c1,c3,c9"},
		{"a union", "SELECT order_id, customer_id FROM ref('silver.orders') UNION ALL SELECT 'o1', 'x'", false, "c1,c3,c9,x"},
		{"a limit", "SELECT order_id, customer_id FROM ref('silver.orders') LIMIT 2", false, "c1"},
		{"WHERE in a subquery only", "SELECT o.order_id, o.customer_id FROM (SELECT * FROM ref('silver.orders') WHERE order_id <> 'o3') o", true, "c1,c9"},
		{"a window", "SELECT order_id, count(*) OVER () FROM ref('silver.orders')", false, "5,5,5"},
		{"a window over the order", "SELECT order_id, lead(customer_id) OVER (ORDER BY order_id) FROM ref('silver.orders')", false, "NULL,c2,c4"},
		{"FETCH", "SELECT order_id, customer_id FROM ref('silver.orders') ORDER BY order_id FETCH FIRST 2 ROWS ONLY", false, "c1"},
		{"dollar-quoted text", "SELECT order_id, $$it's$$ AS x FROM ref('silver.orders') UNION ALL SELECT order_id, customer_id FROM ref('silver.orders')", false, "c1,c3,c9,it's,it's,it's"},
		{"a backslash escape", "SELECT order_id, E'a\\'b' AS x FROM ref('silver.orders') WHERE customer_id <> 'c1'", false, "a'b,a'b"},
		{"a keyword in a string", "SELECT order_id, 'GROUP BY' AS customer_id FROM ref('silver.orders')", true, "GROUP BY,GROUP BY,GROUP BY"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			km := KeyMap{Column: "order_id", SQL: tc.sql}
			q := km.Select("SELECT order_id FROM changed")
			outside := strings.HasPrefix(q, "SELECT * FROM (")
			if outside == tc.inside {
				t.Errorf("filtered inside = %v, want %v: %s", !outside, tc.inside, q)
			}
			rows := func(q string) string {
				got, err := engine.Strings(ctx, eng.DB(), "SELECT CAST(r AS VARCHAR) FROM ("+q+") AS r ORDER BY 1")
				if err != nil {
					t.Fatalf("%v: %s", err, q)
				}
				return strings.Join(got, ",")
			}
			// The same rows as the map filtered from outside.
			if got, want := rows(q), rows("SELECT * FROM ("+compileRefs(tc.sql)+") WHERE order_id IN (SELECT order_id FROM changed)"); got != want {
				t.Errorf("rows %s, want %s: %s", got, want, q)
			}
			if tc.want == "" {
				return
			}
			got, err := engine.Strings(ctx, eng.DB(), "SELECT coalesce(CAST(#2 AS VARCHAR), 'NULL') FROM ("+q+")")
			if err != nil {
				t.Fatalf("%v: %s", err, q)
			}
			slices.Sort(got)
			if strings.Join(got, ",") != tc.want {
				t.Errorf("second column %v, want %s: %s", got, tc.want, q)
			}
		})
	}
}
